"""The inventory's rules hold in the database, and every move leaves history."""

import pytest
from django.db import IntegrityError, transaction

from tapes.models import Drive, MediaType, Slot, Tape
from tapes.services import (
    InventoryError, library_create, tape_create, tape_move_offline, tape_move_to_drive,
    tape_move_to_slot,
)


def test_library_create_makes_drives_and_slots_with_mail_slots_last(inventory_library):
    slots = list(inventory_library.slots.values_list("number", "kind"))
    assert slots[-1] == (7, Slot.Kind.MAIL) and slots[0] == (1, Slot.Kind.STORAGE)
    assert inventory_library.drives.count() == 2
    drive = inventory_library.drives.first()
    assert set(drive.media_types.values_list("name", flat=True)) >= {"LTO-8", "LTO-7"}


def test_library_names_are_unique(inventory_library):
    with pytest.raises(InventoryError, match="already exists"):
        library_create(name="lib1")


def test_barcodes_are_unique(inventory_library):
    with pytest.raises(InventoryError, match="TST001L8 is already in the inventory"):
        tape_create(barcode="TST001L8")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tape.objects.create(barcode="TST001L8", media_type=MediaType.objects.get(barcode_suffix="L8"))


def test_a_slot_holds_at_most_one_tape(inventory_library):
    tape = tape_create(barcode="TST009L8")
    with pytest.raises(InventoryError, match="slot 1 already holds TST001L8"):
        tape_move_to_slot(tape=tape, library=inventory_library, slot_number=1)
    slot = Slot.objects.get(library=inventory_library, number=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Tape.objects.filter(pk=tape.pk).update(slot=slot, place=Tape.Place.LIBRARY)


def test_slot_numbers_are_unique_in_a_library(inventory_library):
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.create(library=inventory_library, number=1)


def test_a_tape_is_never_in_a_slot_and_a_drive(inventory_library):
    tape = Tape.objects.get(barcode="TST001L8")
    drive = Drive.objects.get(library=inventory_library, index=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Tape.objects.filter(pk=tape.pk).update(drive=drive)


def test_an_offline_tape_occupies_no_slot(inventory_library):
    with pytest.raises(IntegrityError), transaction.atomic():
        Tape.objects.filter(barcode="TST001L8").update(place=Tape.Place.SHELF)


def test_every_move_is_in_the_history(inventory_library, olga):
    tape = Tape.objects.get(barcode="TST002L8")
    drive = Drive.objects.get(library=inventory_library, index=1)
    tape_move_to_drive(tape=tape, drive=drive, reason="load for backup", user=olga)
    tape_move_to_slot(tape=tape, library=inventory_library, slot_number=7, reason="export")
    tape_move_offline(tape=tape, place=Tape.Place.VAULT, vault="Iron Mountain", reason="off-site")
    moves = list(tape.moves.order_by("id").values_list("description", "reason"))
    assert moves == [
        ("in lib1 slot 2", "added to the inventory"),
        ("in lib1 drive 1", "load for backup"),
        ("in lib1 mail slot 7", "export"),
        ("in vault Iron Mountain", "off-site"),
    ]
    assert tape.moves.get(reason="load for backup").moved_by == olga
    tape.refresh_from_db()
    assert tape.mounts == 1 and str(tape) == "TST002L8 (LTO-8, new)"


def test_a_drive_holds_one_tape(inventory_library):
    drive = Drive.objects.get(library=inventory_library, index=0)
    tape_move_to_drive(tape=Tape.objects.get(barcode="TST001L8"), drive=drive)
    with pytest.raises(InventoryError, match="already holds TST001L8"):
        tape_move_to_drive(tape=Tape.objects.get(barcode="TST002L8"), drive=drive)
