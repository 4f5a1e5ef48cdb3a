"""Cancelling between records ends the set failed (never complete) and raises Cancelled."""

from __future__ import annotations

import os

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.errors import Cancelled
from backups.models import BackupSet


class CancelAfterStart(JobContext):
    def cancel_requested(self) -> bool:
        return bool(self.last_progress)


def test_cancel_fails_the_set(make_job, drive, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "data.bin").write_bytes(os.urandom(1 << 20))
    job = make_job(str(source))
    with pytest.raises(Cancelled):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=CancelAfterStart())
    backup_set = BackupSet.objects.get()
    assert backup_set.status == BackupSet.Status.FAILED
    assert "Cancelled" in backup_set.error
