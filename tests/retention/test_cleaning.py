"""Drive cleaning on the virtual library: a drive that asks is cleaned with a cartridge that
has uses left, the use is recorded; an expired cartridge is reported; use-based cleaning."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tapes.cleaning import drive_cleaning_reasons, drives_due
from tapes.media import library_inventory, tape_unload
from tapes.models import AuditRecord, Drive, Tape


@pytest.fixture
def cleaner(library, vlib):
    vlib.create_cleaning_cartridge("CLN001CU", uses=2)
    library_inventory(library=library)
    tape = Tape.objects.get(barcode="CLN001CU")
    Tape.objects.filter(pk=tape.pk).update(cleaning_uses_left=2)
    return tape


def test_a_drive_that_asks_is_cleaned_and_the_use_recorded(cleaner, drive, vlib, capsys):
    vlib.inject_fault(drive=0, cleaning_requested=True)
    assert [d for d, _ in drives_due()] == [drive]
    call_command("drive", "clean", "--due")
    assert "cleaned with CLN001CU" in capsys.readouterr().out
    drive.refresh_from_db()
    cleaner.refresh_from_db()
    assert drive.last_cleaned_at and not drive.cleaning_requested
    assert cleaner.cleaning_uses_left == 1 and cleaner.slot is not None  # back in its slot
    assert vlib.cartridge_meta("CLN001CU")["cleaning_uses_left"] == 1
    assert drives_due() == []
    assert AuditRecord.objects.filter(action="clean", subject_id=drive.pk).exists()


def test_an_expired_cleaning_cartridge_is_reported(cleaner, drive, vlib):
    Tape.objects.filter(pk=cleaner.pk).update(cleaning_uses_left=0)
    with pytest.raises(CommandError, match="CLN001CU has no cleaning uses left"):
        call_command("drive", "clean", "--drive", "ret:0")
    assert AuditRecord.objects.filter(tape=cleaner, action="cleaning").exists()


def test_the_drive_reporting_expired_media_is_believed(cleaner, drive, vlib):
    from tapes.drivers.virtual import _update_cartridge_meta

    _update_cartridge_meta(vlib.root, "CLN001CU", lambda m: m.update(cleaning_uses_left=0))
    with pytest.raises(CommandError, match="expired"):
        call_command("drive", "clean", "--drive", "ret:0")
    cleaner.refresh_from_db()
    assert cleaner.cleaning_uses_left == 0


def test_cleaning_after_an_amount_of_use(cleaner, drive, backup):
    Drive.objects.filter(pk=drive.pk).update(clean_after_bytes=1)
    backup()  # writes through drive 0; unloading counts the bytes
    tape_unload(drive=drive)
    drive.refresh_from_db()
    assert drive.bytes_since_cleaning > 0
    assert "bytes written since the last cleaning" in drive_cleaning_reasons(drive)[0]
    call_command("drive", "clean", "--drive", "ret:0")
    drive.refresh_from_db()
    assert drive.bytes_since_cleaning == 0
