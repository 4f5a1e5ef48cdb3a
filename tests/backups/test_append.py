"""A second set of a continuing pool appends after the first set's index file; both stay
readable with GNU tar, and the tape is protected until the later expiry."""

from __future__ import annotations

import subprocess

from backups.context import JobContext
from backups.engine import backup_run
from tapes.models import Tape
from tests.backups.conftest import tape_file


def test_second_set_appends_after_the_first_index(make_job, drive, vlib, tmp_path):
    (tmp_path / "one").write_text("first")
    (tmp_path / "two").write_text("second")
    first = backup_run(job_id=make_job(str(tmp_path / "one"), name="one").pk,
                       drive_id=drive.pk, context=JobContext())
    second = backup_run(job_id=make_job(str(tmp_path / "two"), name="two",
                                        retention_days=90).pk,
                        drive_id=drive.pk, context=JobContext())
    a, b = first.segments.get(), second.segments.get()
    assert a.tape_id == b.tape_id and first.media_set_id == second.media_set_id
    assert (a.data_file, a.index_file, b.data_file, b.index_file) == (1, 2, 3, 4)
    for segment, name in ((a, "one"), (b, "two")):
        listing = subprocess.run(["tar", "-tf", tape_file(vlib, "LA0001L8", segment.data_file)],
                                 capture_output=True, text=True, check=True).stdout
        assert listing.strip().endswith(name)
    tape = Tape.objects.get(pk=a.tape_id)
    assert tape.protected_until == second.expires_at > first.expires_at
    assert tape.bytes_written > 0 and tape.first_written_at <= tape.last_written_at


def test_always_policy_starts_a_new_media_set_on_a_new_tape(make_job, pool, drive, tmp_path):
    pool.allocation = "always"
    pool.save()
    (tmp_path / "f").write_text("x")
    job = make_job(str(tmp_path / "f"))
    first = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    second = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert first.media_set_id != second.media_set_id
    assert first.segments.get().tape_id != second.segments.get().tape_id
    assert first.media_set.closed_at is not None or second.media_set.closed_at is None


def test_cron_policy_starts_a_new_set_once_the_event_passed(make_job, pool, drive, tmp_path):
    from django.utils import timezone

    from tapes.models import MediaSet

    pool.allocation, pool.allocation_cron = "cron", "0 0 1 * *"
    pool.save()
    (tmp_path / "f").write_text("x")
    job = make_job(str(tmp_path / "f"))
    first = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    same = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert same.media_set_id == first.media_set_id
    MediaSet.objects.filter(pk=first.media_set_id).update(
        created_at=timezone.now() - timezone.timedelta(days=40))
    later = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert later.media_set_id != first.media_set_id
