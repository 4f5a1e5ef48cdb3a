"""A write error mid-set fails the set honestly, counts the error on the tape, and leaves
the catalog consistent; the next run appends after the broken data file."""

from __future__ import annotations

import os

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.errors import JobError
from backups.models import BackupSet
from tapes.models import Tape


def test_write_error_fails_the_set_and_counts_on_the_tape(make_job, drive, vlib, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "data.bin").write_bytes(os.urandom(2 << 20))
    job = make_job(str(source))
    vlib.inject_fault(drive=0, write_error_at=(1, 10))

    with pytest.raises(JobError, match="write error"):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())

    failed = BackupSet.objects.get()
    assert failed.status == BackupSet.Status.FAILED and "write error" in failed.error
    assert not failed.restorable and failed.finished_at is not None
    tape = Tape.objects.get(barcode=failed.segments.get().tape.barcode)
    assert tape.write_errors == 1
    assert tape.protected_until is None  # a failed set protects nothing
    assert failed.segments.get().index_file is None

    vlib.clear_faults(drive=0)
    again = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert again.status == BackupSet.Status.COMPLETE
    segment = again.segments.get()
    assert segment.tape_id == tape.pk and segment.data_file == 2  # after the broken file
