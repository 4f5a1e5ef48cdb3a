"""The reader runs in a process of its own: one that dies fails the set (never a set that
looks complete), one that is stopped leaves nothing behind, and a large file passed to the
writer by descriptor is stored whole."""

from __future__ import annotations

import glob
import hashlib
import os
import signal

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.errors import JobError
from backups.models import BackupSet, CatalogEntry

MiB = 1 << 20


def _children() -> set[int]:
    pids = set()
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        with open(path) as f:
            pids.update(int(pid) for pid in f.read().split())
    return pids


class KillReader(JobContext):
    """At the first progress report, SIGKILL the reader process (it is waiting for the
    writer to finish the large file it passed)."""

    def __init__(self):
        super().__init__()
        self.killed = None

    def progress(self, **kwargs) -> None:
        super().progress(**kwargs)
        if self.killed is None:
            (self.killed,) = _children()
            os.kill(self.killed, signal.SIGKILL)


def test_a_reader_that_dies_fails_the_set(make_job, drive, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a_big").write_bytes(os.urandom(4 * MiB))
    for n in range(50):
        (source / f"small{n:02d}").write_bytes(b"x" * n)
    job = make_job(str(source))
    with pytest.raises(JobError, match="its process ended unexpectedly"):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=KillReader())
    backup_set = BackupSet.objects.get()
    assert backup_set.status == BackupSet.Status.FAILED
    assert "Reading the source failed" in backup_set.error
    assert not _children()


def test_large_and_small_files_are_stored_whole(make_job, drive, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    files = {"a_big": os.urandom(3 * MiB + 5), "b_small": b"small", "c_empty": b""}
    for name, data in files.items():
        (source / name).write_bytes(data)
    job = make_job(str(source))
    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert backup_set.status == BackupSet.Status.COMPLETE
    rows = dict(CatalogEntry.objects.filter(backup_set=backup_set, type="0")
                .values_list("name", "checksum"))
    assert rows == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert not _children()
