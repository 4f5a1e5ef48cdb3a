"""The virtual library's robot and operator actions: loads, unloads, transfers, mail slots."""

from __future__ import annotations

import pytest

from tapes.drivers.base import ChangerError, TapeError
from tapes.drivers.mtx import parse_mtx_status
from tapes.drivers.virtual import VirtualLibrary


def test_create_places_cartridges_in_the_first_slots(library) -> None:
    status = library.changer().status()
    assert [s.barcode for s in status.slots[:7]] == [f"LA000{n}L8" for n in range(1, 7)] + [None]
    assert [s.number for s in status.slots if s.mail_slot] == [9, 10]
    assert (library.drive_count, library.slot_count, library.mailslot_count) == (2, 8, 2)


def test_create_refuses_bad_counts_and_duplicates(vtl_root, library) -> None:
    with pytest.raises(TapeError, match="already exists"):
        VirtualLibrary.create(vtl_root, "lab")
    with pytest.raises(TapeError, match="do not fit"):
        VirtualLibrary.create(vtl_root, "x1", slots=4, tapes=5)
    with pytest.raises(TapeError, match="at least one drive"):
        VirtualLibrary.create(vtl_root, "x2", drives=0)
    with pytest.raises(TapeError, match="early-warning"):
        VirtualLibrary.create(vtl_root, "x3", capacity=1000, early_warning=1000)
    assert not VirtualLibrary.exists(vtl_root, "x1")


def test_barcodes_stay_unique_on_the_shared_shelf(vtl_root, library) -> None:
    other = VirtualLibrary.create(vtl_root, "laser", tapes=2, slots=4)  # same "LA" prefix
    assert [s.barcode for s in other.changer().status().slots[:2]] == ["LA0007L8", "LA0008L8"]
    custom = VirtualLibrary.create(vtl_root, "c", tapes=1, slots=2, barcode_prefix="QQ",
                                   media_suffix="L9")
    assert custom.changer().status().slots[0].barcode == "QQ0001L9"


def test_load_and_unload_back_to_the_source_slot(library) -> None:
    changer = library.changer()
    changer.load(2, 1)
    status = changer.status()
    assert status.drives[1].barcode == "LA0002L8" and status.drives[1].source_slot == 2
    assert not status.slot(2).full
    changer.unload(1)
    assert changer.status().slot(2).barcode == "LA0002L8"
    assert library.cartridge_meta("LA0002L8")["counters"]["loads"] == 1


def test_unload_to_first_free_slot_when_source_is_taken(library) -> None:
    changer = library.changer()
    changer.load(2, 0)
    changer.transfer(3, 2)
    changer.unload(0)
    assert changer.status().slot(3).barcode == "LA0002L8"


def test_mtx_error_conditions(library) -> None:
    changer = library.changer()
    changer.load(1, 0)
    cases = [
        (lambda: changer.load(7, 1), "Slot 7 is empty."),
        (lambda: changer.load(2, 0), "Drive 0 already holds LA0001L8."),
        (lambda: changer.unload(1), "Drive 1 is empty."),
        (lambda: changer.unload(0, 2), "Slot 2 is already full."),
        (lambda: changer.transfer(8, 9), "Slot 8 is empty."),
        (lambda: changer.transfer(2, 3), "Slot 3 is already full."),
        (lambda: changer.load(99, 1), "The library has no slot 99."),
        (lambda: changer.load(2, 5), "The library has no drive 5."),
    ]
    for action, message in cases:
        with pytest.raises(ChangerError) as caught:
            action()
        assert str(caught.value) == message


def test_export_and_import_through_a_mail_slot(vtl_root, library) -> None:
    changer = library.changer()
    changer.transfer(4, 9)  # export
    assert library.remove_from_mailslot(9) == "LA0004L8"
    assert library.changer().status().find("LA0004L8") is None
    other = VirtualLibrary.create(vtl_root, "second", tapes=0, slots=4, mailslots=1)
    slot = other.insert_into_mailslot("LA0004L8")  # from the shelf into another library
    assert slot == 5
    other.changer().transfer(5, 1)
    assert other.changer().status().slot(1).barcode == "LA0004L8"


def test_import_of_a_new_blank_cartridge(library) -> None:
    slot = library.insert_into_mailslot("NEW001L8", create=True)
    assert library.changer().status().slot(slot).barcode == "NEW001L8"
    with pytest.raises(ChangerError, match="already in the library"):
        library.insert_into_mailslot("NEW001L8")
    with pytest.raises(TapeError, match="not on the shelf"):
        library.insert_into_mailslot("GHOST1L8")


def test_state_survives_reopen(vtl_root, library) -> None:
    library.changer().load(5, 0)
    library.changer().transfer(6, 10)
    again = VirtualLibrary.open(vtl_root, "lab").changer().status()
    assert again.drives[0].barcode == "LA0005L8"
    assert again.slot(10).barcode == "LA0006L8" and again.slot(10).mail_slot


def test_open_missing_library(vtl_root) -> None:
    with pytest.raises(TapeError, match="no virtual library"):
        VirtualLibrary.open(vtl_root, "nope")


def test_mtx_status_text_parses_back(library) -> None:
    library.changer().load(2, 1)
    text = library.mtx_status_text()
    lines = text.splitlines()
    assert lines[0] == "  Storage Changer /dev/vtl/lab:2 Drives, 10 Slots ( 2 Import/Export )"
    assert lines[1] == "Data Transfer Element 0:Empty"
    assert lines[2].startswith("Data Transfer Element 1:Full (Storage Element 2 Loaded)"
                               ":VolumeTag = LA0002L8 ")
    assert lines[3].startswith("      Storage Element 1:Full :VolumeTag=LA0001L8 ")
    assert lines[-1] == "      Storage Element 10 IMPORT/EXPORT:Empty"
    assert parse_mtx_status(text) == library.changer().status()


def _shuffle(root: str, source: int, destination: int, rounds: int) -> None:
    """Move one cartridge back and forth; run in parallel processes."""
    changer = VirtualLibrary.open(root, "lab").changer()
    for _ in range(rounds):
        changer.transfer(source, destination)
        changer.transfer(destination, source)


def test_concurrent_processes_do_not_corrupt_the_state(vtl_root, library) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    # Three processes, disjoint slot pairs (1↔7, 2↔8, 3↔9), one shared library.json: a lost
    # update would leave a cartridge twice or not at all.
    workers = [context.Process(target=_shuffle, args=(str(vtl_root), s, s + 6, 15))
               for s in (1, 2, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    slots = library.changer().status().slots
    assert [s.barcode for s in slots[:6]] == [f"LA000{n}L8" for n in range(1, 7)]
