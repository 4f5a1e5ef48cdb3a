"""`library inventory` makes the database match the changer, and import/export move tapes
through the mail slots."""

from django.core.management import call_command

from tapes.media import library_inventory, tape_export
from tapes.models import Tape


def test_inventory_picks_up_a_tape_placed_in_a_mail_slot(vlib, disk):
    slot = disk.insert_into_mailslot("NEW001L8", create=True)
    report = library_inventory(library=vlib)
    assert report.appeared == ["NEW001L8"]
    tape = Tape.objects.get(barcode="NEW001L8")
    assert tape.slot.number == slot and tape.slot.kind == "mail"
    assert tape.media_type.name == "LTO-8"
    call_command("library", "import", "tl")
    tape.refresh_from_db()
    assert tape.slot.kind == "storage" and tape.moves.filter(reason="imported").exists()


def test_inventory_notices_moves_and_departures(vlib, disk):
    changer = disk.changer()
    changer.transfer(1, 6)  # someone moved a tape behind our back
    changer.transfer(4, 7)
    disk.remove_from_mailslot(7)  # and took TL0004L8 out of the library
    report = library_inventory(library=vlib)
    assert report.moved == ["TL0001L8"] and report.left == ["TL0004L8"]
    assert Tape.objects.get(barcode="TL0001L8").slot.number == 6
    gone = Tape.objects.get(barcode="TL0004L8")
    assert gone.place == Tape.Place.SHELF and gone.slot is None


def test_inventory_reports_unusable_barcodes(vlib, disk):
    disk.insert_into_mailslot("ODD1", create=True)
    report = library_inventory(library=vlib)
    assert report.problems and "ODD1" in report.problems[0]
    assert not Tape.objects.filter(barcode="ODD1").exists()


def test_export_then_removal_puts_the_tape_on_the_shelf(vlib, disk):
    tape = Tape.objects.get(barcode="TL0002L8")
    slot = tape_export(tape=tape)
    assert slot == 7 and disk.changer().status().slot(7).barcode == "TL0002L8"
    disk.remove_from_mailslot(7)
    library_inventory(library=vlib)
    tape.refresh_from_db()
    assert tape.place == Tape.Place.SHELF
    assert list(tape.moves.order_by("id").values_list("reason", flat=True))[-2:] == [
        "exported", "not found by library inventory"]
