"""The restore cast: a small virtual library (16 MiB cartridges), a pool, a job factory and a
``backup`` helper that runs the real engine. Only the hardware is replaced (by the virtual
tape library); nothing of ours is mocked."""

from __future__ import annotations

import os

import pytest

from backups.context import JobContext
from backups.models import BackupJob, BackupSet
from tapes.models import Drive, MediaPool, MediaType

MiB = 1 << 20
CAPACITY = 16 * MiB
RECORD = 64 * 1024


@pytest.fixture
def library(db, vtl_root):
    """Library ``rl``: 2 drives, 8 slots, 2 mail slots, 6 blank 16 MiB cartridges."""
    from tapes.vtl import vtl_create

    return vtl_create(name="rl", drives=2, slots=8, mailslots=2, tapes=6, capacity=CAPACITY)


@pytest.fixture
def vlib(library, vtl_root):
    from tapes.drivers.virtual import VirtualLibrary

    return VirtualLibrary.open(vtl_root, library.name)


@pytest.fixture
def drive(library) -> Drive:
    return Drive.objects.get(library=library, index=0)


@pytest.fixture
def pool(db) -> MediaPool:
    return MediaPool.objects.create(name="daily", record_size=RECORD,
                                    media_type=MediaType.objects.get(name="LTO-8"))


@pytest.fixture
def make_job(pool):
    def make(source, name="home", **fields) -> BackupJob:
        sources = [os.fsdecode(s) for s in (source if isinstance(source, list) else [source])]
        return BackupJob.objects.create(name=name, sources=sources, pool=pool, **fields)

    return make


@pytest.fixture
def backup(drive):
    """Run the real backup engine for a job; returns the (complete) set."""
    from backups.engine import backup_run

    def run(job) -> BackupSet:
        backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
        assert backup_set.restorable, backup_set.error
        return backup_set

    return run


def tape_file(vlib, barcode: str, number: int):
    """A tape file's bytes on disk, exactly what ``tar -f /dev/nst0`` reads from it."""
    return vlib.cartridge_path(barcode) / "files" / f"{number:06d}.tape"


def bytes_read(vlib, barcode: str) -> int:
    return vlib.cartridge_meta(barcode)["counters"]["bytes_read"]
