"""No usable tape in the library: the run stops with NeedsMedia naming pool, media type and
count (or the set's next tape and where it is) before it creates anything."""

from __future__ import annotations

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.errors import NeedsMedia
from backups.models import BackupSet
from tapes.models import MediaType, Tape
from tapes.services import tape_move_offline


def test_no_scratch_tape_of_the_pools_type(make_job, pool, drive, tmp_path):
    pool.media_type = MediaType.objects.get(name="LTO-9")
    pool.save()
    job = make_job(str(tmp_path))
    with pytest.raises(NeedsMedia) as caught:
        backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert (caught.value.pool, caught.value.media_type, caught.value.count) == ("daily", "LTO-9", 1)
    assert "daily" in str(caught.value) and not BackupSet.objects.exists()


def test_damaged_and_protected_tapes_are_not_scratch(make_job, drive, tmp_path):
    Tape.objects.filter(barcode__in=["LA0001L8", "LA0002L8", "LA0003L8"]).update(status="damaged")
    Tape.objects.filter(barcode__in=["LA0004L8", "LA0005L8"]).update(write_protected=True)
    Tape.objects.filter(barcode="LA0006L8").update(
        protected_until="2999-01-01T00:00:00Z")
    job = make_job(str(tmp_path))
    with pytest.raises(NeedsMedia):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())


def test_the_sets_next_tape_is_on_the_shelf(make_job, drive, tmp_path):
    job = make_job(str(tmp_path))
    first = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    tape = first.segments.get().tape
    tape_move_offline(tape=tape, reason="taken out for the test")
    with pytest.raises(NeedsMedia) as caught:
        backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert caught.value.barcodes == (tape.barcode,)
    assert caught.value.where == {tape.barcode: "on the shelf"}
