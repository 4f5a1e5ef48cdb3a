"""Invariant 2: the label of the loaded tape must match the catalog; a wrong tape is
refused and nothing is written on it."""

from __future__ import annotations

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.errors import JobError
from backups.models import BackupSet


def test_a_cartridge_swapped_behind_the_inventorys_back_is_refused(make_job, drive, vlib,
                                                                     tmp_path):
    (tmp_path / "f").write_text("x")
    job = make_job(str(tmp_path / "f"))
    first = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    expected = first.segments.get().tape.barcode  # stays in drive 0, the set continues on it
    changer = vlib.changer()
    changer.unload(0)
    changer.load(2, 0)  # LA0002L8, blank, where the inventory believes LA0001L8 is
    written_before = vlib.cartridge_meta("LA0002L8")["counters"]["bytes_written"]

    with pytest.raises(JobError, match="nothing was written"):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())

    refused = BackupSet.objects.order_by("-pk").first()
    assert refused.status == BackupSet.Status.FAILED and not refused.segments.exists()
    assert vlib.cartridge_meta("LA0002L8")["counters"]["bytes_written"] == written_before
    assert expected == "LA0001L8"


def test_a_tape_labelled_for_another_set_is_refused(make_job, drive, vlib, tmp_path):
    (tmp_path / "f").write_text("x")
    first_job = make_job(str(tmp_path / "f"))
    backup_run(job_id=first_job.pk, drive_id=drive.pk, context=JobContext())
    # the inventory's record of which set the tape belongs to no longer matches its label
    from tapes.models import MediaSet, Tape

    tape = Tape.objects.get(barcode="LA0001L8")
    other = MediaSet.objects.create(pool=tape.pool)
    Tape.objects.filter(pk=tape.pk).update(media_set=other)
    MediaSet.objects.exclude(pk=other.pk).update(closed_at="2000-01-01T00:00:00Z")
    with pytest.raises(JobError, match="nothing was written"):
        backup_run(job_id=first_job.pk, drive_id=drive.pk, context=JobContext())
