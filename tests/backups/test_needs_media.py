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


class _ImportsATapeWhenAsked(JobContext):
    """An operator who, told the set waits for a tape, puts a new one in the mail slot and
    imports it (through the real inventory services)."""

    def __init__(self, library, vlib, barcode="NEW001L8"):
        super().__init__()
        self.library, self.vlib, self.barcode, self.asked = library, vlib, barcode, []

    def waiting(self, reason: str) -> None:
        super().waiting(reason)
        self.asked.append(reason)
        from tapes.media import library_import

        self.vlib.insert_into_mailslot(self.barcode, create=True, capacity=16 << 20)
        library_import(library=self.library)


def _only_one_scratch_tape():
    Tape.objects.exclude(barcode="LA0001L8").update(status="damaged")


def _two_tapes_of_data(tmp_path):
    import os

    source = tmp_path / "big"
    source.mkdir()
    for n in range(3):
        (source / f"part{n}.bin").write_bytes(os.urandom(6 << 20))  # 18 MiB > one cartridge
    return source


def test_mid_set_the_backup_waits_for_the_next_tape_and_goes_on(
        make_job, drive, library, vlib, tmp_path, settings):
    settings.TAPEBACKUP_MEDIA_POLL_SECONDS = 0
    _only_one_scratch_tape()
    job = make_job(str(_two_tapes_of_data(tmp_path)))
    context = _ImportsATapeWhenAsked(library, vlib)

    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=context)

    assert backup_set.restorable, backup_set.error
    assert len(context.asked) == 1 and "Pool daily needs 1 scratch tape (LTO-8)" in context.asked[0]
    assert [s.tape.barcode for s in backup_set.segments.order_by("sequence")] == [
        "LA0001L8", "NEW001L8"]


def test_mid_set_the_wait_ends_at_the_deadline_with_the_set_failed(
        make_job, drive, tmp_path, settings):
    from backups.errors import JobError

    settings.TAPEBACKUP_MEDIA_POLL_SECONDS = 0
    settings.TAPEBACKUP_MEDIA_DEADLINE_SECONDS = 0
    _only_one_scratch_tape()
    job = make_job(str(_two_tapes_of_data(tmp_path)))
    with pytest.raises(JobError, match="Gave up waiting for the next tape: Pool daily needs 1 scratch tape"):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert BackupSet.objects.get().status == BackupSet.Status.FAILED
