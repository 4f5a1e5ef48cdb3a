"""The retention cast: a small virtual library (8 MiB cartridges, 3 mail slots), a pool
that starts a media set for every run, a job over a tiny source tree, and ``backup`` to
write real sets through the engine."""

from __future__ import annotations

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.models import BackupJob
from tapes.models import MediaPool, RetentionPolicy

MiB = 1 << 20


@pytest.fixture
def library_spec() -> dict:
    """Library ``ret``: 2 drives, 10 slots, 3 mail slots, 7 blank 8 MiB cartridges."""
    return dict(name="ret", drives=2, slots=10, mailslots=3, tapes=7, capacity=8 * MiB)


@pytest.fixture
def pool_spec() -> dict:
    """Pool ``nightly``: a new media set for every run."""
    return dict(name="nightly", record_size=64 * 1024, allocation=MediaPool.Allocation.ALWAYS)


@pytest.fixture
def keep_last_2(db) -> RetentionPolicy:
    return RetentionPolicy.objects.create(name="last2", kind=RetentionPolicy.Kind.LAST,
                                          keep_last=2)


@pytest.fixture
def job(pool, keep_last_2, tmp_path) -> BackupJob:
    source = tmp_path / "src"
    source.mkdir()
    for n in range(3):
        (source / f"file{n}.txt").write_text(f"contents {n}\n" * 100)
    return BackupJob.objects.create(name="home", sources=[str(source)], pool=pool,
                                    retention_policy=keep_last_2)


@pytest.fixture
def backup(job, drive):
    """Write one full set of ``job`` (or another job) through the engine."""

    def run(backup_job: BackupJob | None = None):
        return backup_run(job_id=(backup_job or job).pk, level="full", drive_id=drive.pk,
                          context=JobContext())

    return run
