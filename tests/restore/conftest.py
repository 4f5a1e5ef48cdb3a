"""The restore cast: the shared engine cast of tests/conftest.py with library ``rl`` (2
drives, 8 slots, 2 mail slots, 6 blank 16 MiB cartridges), plus a ``backup`` helper that runs
the real engine. Only the hardware is replaced (by the virtual tape library); nothing of ours
is mocked."""

from __future__ import annotations

import os

import pytest

from backups.context import JobContext
from backups.models import BackupSet
from tests.conftest import MiB, tape_file  # noqa: F401  (tests import it from here)

CAPACITY = 16 * MiB
RECORD = 64 * 1024


@pytest.fixture
def library_spec() -> dict:
    return dict(name="rl", drives=2, slots=8, mailslots=2, tapes=6, capacity=CAPACITY)


@pytest.fixture
def backup(drive):
    """Run the real backup engine for a job; returns the (complete) set."""
    from backups.engine import backup_run

    def run(job) -> BackupSet:
        backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
        assert backup_set.restorable, backup_set.error
        return backup_set

    return run


def bytes_read(vlib, barcode: str) -> int:
    return vlib.cartridge_meta(barcode)["counters"]["bytes_read"]


@pytest.fixture(params=["in-process", "parallel"])
def extraction(request, monkeypatch, settings) -> str:
    """Run a restore test both ways: in the restore's own process, and with worker
    processes creating the files (``backups.extract_parallel``) — normally only for many
    entries, here for every restore into a new directory."""
    if request.param == "parallel":
        if len(os.sched_getaffinity(0)) < 2:
            pytest.skip("on one core a restore uses no worker processes")
        monkeypatch.setattr("backups.restore.PARALLEL_MIN", 1)
        settings.TAPEBACKUP_RESTORE_WORKERS = 2
    else:
        settings.TAPEBACKUP_RESTORE_WORKERS = 0
    return request.param
