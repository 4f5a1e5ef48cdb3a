"""Services that touch the hardware: drive handles, loads and unloads through the changer,
labels, library inventory, and import/export through the mail slots.

This is the lowest layer that knows both the catalog's view of a tape and the tape itself,
so the rules that protect data are enforced here (DESIGN invariants 1 and 2), whoever calls:
a protected tape is never labelled or written at BOT, and a tape whose label does not match
the inventory is never written.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tapes.drivers.base import Changer, ChangerStatus, TapeDrive, TapeError
from tapes.models import (
    AuditRecord, Drive, Installation, Library, MediaPool, MediaSet, Slot, Tape, audit,
)
from tapes.retention_policy import FOREVER
from tapes.signals import tape_overwritten, tape_pre_overwrite
from tapes.services import (
    InventoryError, media_type_for_barcode, tape_create, tape_move_offline, tape_move_to_drive,
    tape_move_to_slot,
)


class WrongTape(InventoryError):
    """The tape in the drive is not the one the inventory expects; nothing was written."""


class ProtectedTape(InventoryError):
    """The tape holds data that must be kept; it cannot be labelled, erased or overwritten."""


# -- drive and changer handles ----------------------------------------------------------------


def virtual_library(library: Library):
    from tapes.drivers.virtual import VirtualLibrary

    path = Path(library.device_path) if library.device_path else settings.VTL_ROOT / "libraries" / library.name
    try:
        return VirtualLibrary.open(path.parent.parent, library.name)
    except TapeError as exc:
        raise InventoryError(str(exc)) from None


def changer_for(library: Library) -> Changer:
    if library.kind == Library.Kind.VIRTUAL:
        return virtual_library(library).changer()
    from tapes.drivers.mtx import MtxChanger

    return MtxChanger(library.device_path)


def open_drive(drive: Drive) -> TapeDrive:
    """A driver handle for the drive (close it when done; one handle per drive at a time)."""
    if not drive.enabled:
        raise InventoryError(f"{drive} is disabled.")
    try:
        if drive.library.kind == Library.Kind.VIRTUAL:
            return virtual_library(drive.library).drive(drive.index)
        from tapes.drivers.st import LinuxTapeDrive

        return LinuxTapeDrive(drive.device_path)
    except TapeError as exc:
        raise InventoryError(f"{drive}: {exc}") from None


def _changer_call(what: str, call, *args) -> None:
    try:
        call(*args)
    except TapeError as exc:
        raise InventoryError(f"Could not {what}: {exc}") from None


# -- loading and unloading ---------------------------------------------------------------------


def where_is(tape: Tape) -> str:
    """Where the tape is, for messages that ask an operator to fetch it."""
    return tape.location_text


def tape_load(*, tape: Tape, drive: Drive, reason: str = "", user=None) -> None:
    """Put the tape into the drive through the changer (unloading whatever is in it)."""
    tape.refresh_from_db()
    if tape.drive_id == drive.pk:
        return
    if tape.slot_id is None or tape.library_id != drive.library_id:
        raise InventoryError(
            f"Tape {tape.barcode} is {where_is(tape)}, not in a slot of library "
            f"{drive.library.name}; put it into a mail slot and run an inventory first."
        )
    occupant = Tape.objects.filter(drive=drive).first()
    if occupant is not None:
        tape_unload(drive=drive, reason=f"making room for {tape.barcode}", user=user)
    changer = changer_for(drive.library)
    _changer_call(f"load {tape.barcode} into {drive}", changer.load, tape.slot.number, drive.index)
    tape_move_to_drive(tape=tape, drive=drive, reason=reason or "loaded", user=user)
    # What the tape had written when it came in: its growth at unload is the drive's use.
    Drive.objects.filter(pk=drive.pk).update(loaded_bytes_mark=tape.bytes_written)


def tape_unload(*, drive: Drive, slot: int | None = None, reason: str = "", user=None) -> Tape | None:
    """Take the tape out of the drive back to its slot (or ``slot``); returns the tape."""
    changer = changer_for(drive.library)
    status = changer.status()
    element = next((d for d in status.drives if d.index == drive.index), None)
    if element is None:
        raise InventoryError(f"The changer of {drive.library.name} has no drive {drive.index}.")
    if not element.full:
        tape = Tape.objects.filter(drive=drive).first()
        if tape is None:
            raise InventoryError(f"{drive} is empty.")
        return tape  # the inventory was behind; the next inventory puts it right
    _eject(drive)
    _changer_call(f"unload {drive}", changer.unload, drive.index, slot)
    barcode = element.barcode
    placed = changer.status().find(barcode) if barcode else None
    tape = Tape.objects.filter(barcode=barcode).first() if barcode else None
    if tape is not None and placed is not None and hasattr(placed, "number"):
        tape_move_to_slot(tape=tape, library=drive.library, slot_number=placed.number,
                          reason=reason or "unloaded", user=user)
    if tape is not None:
        _count_drive_use(drive, tape)
    return tape


def _count_drive_use(drive: Drive, tape: Tape) -> None:
    """Add what was written during the load to the drive's use (cleaning is due after
    ``clean_after_bytes``), and retire the tape if this load took it past its end of life."""
    from tapes.lifecycle import tape_check_wear

    tape.refresh_from_db()
    drive.refresh_from_db()
    written = max(tape.bytes_written - drive.loaded_bytes_mark, 0)
    Drive.objects.filter(pk=drive.pk).update(
        bytes_since_cleaning=F("bytes_since_cleaning") + written, loaded_bytes_mark=0)
    tape_check_wear(tape=tape)


def _eject(drive: Drive) -> None:
    """MTOFFL before the robot pulls the cartridge (real libraries need it: reference §2.2)."""
    try:
        with open_drive(drive) as handle:
            if handle.status().loaded:
                handle.eject()
    except InventoryError as exc:
        raise InventoryError(f"Could not unload {drive}: it is in use ({exc})") from None
    except TapeError as exc:
        raise InventoryError(f"Could not eject the tape in {drive}: {exc}") from None


def free_drive_for(tape: Tape) -> Drive:
    """An enabled drive of the tape's library that reads its media type and holds no tape."""
    drives = Drive.objects.filter(library=tape.library, enabled=True,
                                  media_types=tape.media_type).order_by("index")
    for drive in drives:
        if not Tape.objects.filter(drive=drive).exists():
            return drive
    raise InventoryError(f"No free drive in {tape.library} can take {tape.barcode}.")


# -- labels ------------------------------------------------------------------------------------


def installation_id() -> str:
    return str(Installation.get().uuid)


def assert_may_write_at_bot(tape: Tape) -> None:
    """Invariant 1: refuse to label, erase or overwrite a tape that holds kept data.

    Besides ``protected_until``, the ``tape_pre_overwrite`` receivers (``backups.retention``)
    refuse a tape that still holds an unexpired backup set, whatever its date says."""
    if tape.is_protected:
        if tape.protected_until >= FOREVER - timezone.timedelta(days=3650):
            raise ProtectedTape(
                f"Tape {tape.barcode} holds backup data its retention policy keeps with no end "
                "date; it cannot be labelled, erased or overwritten until those sets expire."
            )
        until = timezone.localtime(tape.protected_until)
        raise ProtectedTape(
            f"Tape {tape.barcode} holds backup data kept until {until:%Y-%m-%d %H:%M}; it "
            "cannot be labelled, erased or overwritten before then."
        )
    if tape.status in (Tape.Status.DAMAGED, Tape.Status.RETIRED):
        raise ProtectedTape(f"Tape {tape.barcode} is {tape.get_status_display().lower()} and is "
                            "never written again.")
    if tape.media_type.is_cleaning:
        raise ProtectedTape(f"{tape.barcode} is a cleaning cartridge.")
    if tape.write_protected:
        raise ProtectedTape(f"Tape {tape.barcode} is write-protected.")
    tape_pre_overwrite.send(sender=Tape, tape=tape)


def _read_label(handle: TapeDrive, tape: Tape):
    from tapes.format.label import ForeignLabel, read_label

    try:
        return read_label(handle)
    except ForeignLabel as exc:
        raise WrongTape(f"Tape {tape.barcode} carries a label of another program or "
                        f"installation ({exc}).") from None
    except TapeError as exc:
        raise InventoryError(f"Could not read the label of {tape.barcode}: {exc}") from None


def label_verify(*, handle: TapeDrive, tape: Tape):
    """Invariant 2: the loaded tape's label must match the inventory before any write."""
    label = _read_label(handle, tape)
    if label is None:
        raise WrongTape(f"The tape in the drive is blank, but the inventory expects the labelled "
                        f"tape {tape.barcode}; nothing was written.")
    if label.barcode != tape.barcode:
        raise WrongTape(f"The tape in the drive is labelled {label.barcode}, not {tape.barcode}; "
                        "nothing was written.")
    if label.installation_id and label.installation_id != installation_id():
        raise WrongTape(f"Tape {tape.barcode} was labelled by another installation; nothing was "
                        "written.")
    expected_set = str(tape.media_set.uuid) if tape.media_set_id else None
    if (label.media_set_id or None) != expected_set:
        raise WrongTape(f"Tape {tape.barcode}'s label names media set {label.media_set_id or 'none'}, "
                        f"but the inventory says {expected_set or 'none'}; nothing was written.")
    return label


def tape_label(*, tape: Tape, handle: TapeDrive, pool: MediaPool | None = None,
               media_set: MediaSet | None = None, sequence: int | None = None,
               force_foreign: bool = False, user=None):
    """Write a new label on the tape loaded in ``handle``'s drive (tape file 0).

    Everything after the label is lost, so the tape must not be protected (invariant 1), and
    a label of another program or installation is overwritten only with ``force_foreign``.
    """
    from tapes.format.label import TapeLabel, write_label

    tape.refresh_from_db()
    assert_may_write_at_bot(tape)
    _check_loaded_is(handle, tape)
    try:
        _read_label(handle, tape)
    except WrongTape:
        if not force_foreign:
            raise WrongTape(f"Tape {tape.barcode} carries a foreign label; relabel it only with "
                            "--force-foreign (its data will be lost).") from None
    label = TapeLabel(
        barcode=tape.barcode, pool=pool.name if pool else "", record_size=(pool.record_size if pool else 256 * 1024),
        media_set_id=str(media_set.uuid) if media_set else "", sequence=sequence or 0,
        written_at=timezone.now().isoformat(), writer_host=socket.gethostname(),
        installation_id=installation_id(),
    )
    try:
        write_label(handle, label)
    except TapeError as exc:
        raise InventoryError(f"Could not write the label of {tape.barcode}: {exc}") from None
    _record_label(tape, pool, media_set, sequence)
    return label


def _check_loaded_is(handle: TapeDrive, tape: Tape) -> None:
    """The drive must hold the cartridge the inventory names (by the changer's barcode)."""
    status = handle.status()
    if not status.loaded:
        raise InventoryError(f"The drive for {tape.barcode} is empty.")
    if status.barcode and status.barcode != tape.barcode:
        raise WrongTape(f"The drive holds {status.barcode}, not {tape.barcode}; nothing was written.")


def _record_label(tape: Tape, pool, media_set, sequence) -> None:
    now = timezone.now()
    Tape.objects.filter(pk=tape.pk).update(
        label_written_at=now, status=Tape.Status.WRITABLE, pool=pool, media_set=media_set,
        sequence=sequence, foreign=False, bytes_written=0, first_written_at=None,
        lifetime_bytes_written=F("lifetime_bytes_written") + F("bytes_written"),
    )
    Drive.objects.filter(tape=tape).update(loaded_bytes_mark=0)
    tape.refresh_from_db()
    tape_overwritten.send(sender=Tape, tape=tape)


def tape_erase(*, tape: Tape, handle: TapeDrive, user=None) -> None:
    """Erase the tape loaded in ``handle``'s drive: a filemark at BOT, so nothing on it can be
    read any more, and the tape becomes new scratch. Refused on protected tapes (invariant 1)."""
    tape.refresh_from_db()
    assert_may_write_at_bot(tape)
    _check_loaded_is(handle, tape)
    try:
        handle.rewind()
        handle.write_filemarks(1)  # writing at BOT truncates everything after it
        handle.rewind()
    except TapeError as exc:
        raise InventoryError(f"Could not erase {tape.barcode}: {exc}") from None
    Tape.objects.filter(pk=tape.pk).update(
        status=Tape.Status.NEW, pool=None, media_set=None, sequence=None, label_written_at=None,
        lifetime_bytes_written=F("lifetime_bytes_written") + F("bytes_written"), bytes_written=0,
        first_written_at=None, protected_until=None, foreign=False,
    )
    Drive.objects.filter(tape=tape).update(loaded_bytes_mark=0)
    tape.refresh_from_db()
    audit(action=AuditRecord.Action.OVERWRITE, subject=tape, user=user,
          message=f"Tape {tape.barcode} erased; it is new scratch.")
    tape_overwritten.send(sender=Tape, tape=tape)


def tape_erase_in_library(*, tape: Tape, user=None) -> None:
    """Load the tape into a free drive, erase it, and put it back in its slot."""
    tape.refresh_from_db()
    assert_may_write_at_bot(tape)  # refuse before moving anything
    drive = tape.drive if tape.drive_id else free_drive_for(tape)
    tape_load(tape=tape, drive=drive, reason="loaded for erasing", user=user)
    try:
        with open_drive(drive) as handle:
            tape_erase(tape=tape, handle=handle, user=user)
    finally:
        tape_unload(drive=drive, reason="erased", user=user)


# -- inventory -----------------------------------------------------------------------------------


@dataclass
class InventoryReport:
    """What a library inventory found, for the operator."""

    appeared: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{len(self.appeared)} new, {len(self.moved)} moved, "
                f"{len(self.left)} gone from the library")
        return text + (f"; {len(self.problems)} problem(s)" if self.problems else "")


def library_inventory(*, library: Library, user=None) -> InventoryReport:
    """Read the changer and make the inventory match it: new barcodes become tapes, moved
    tapes are moved (with history), tapes no longer seen go to the shelf."""
    status = changer_for(library).status()
    report = InventoryReport()
    seen: set[str] = set()
    with transaction.atomic():
        _vacate_changed_places(library, status)
        for element in (*status.drives, *status.slots):
            if element.full and element.barcode:
                seen.add(element.barcode)
                _reconcile(library, element, report, user)
            elif element.full:
                report.problems.append(f"{_element_text(library, element)} holds a tape "
                                       "without a readable barcode.")
        for tape in Tape.objects.filter(library=library).exclude(barcode__in=seen):
            tape_move_offline(tape=tape, reason="not found by library inventory", user=user)
            report.left.append(tape.barcode)
        Library.objects.filter(pk=library.pk).update(last_inventory_at=timezone.now())
    return report


def _element_text(library: Library, element) -> str:
    if hasattr(element, "number"):
        return f"{library.name} {'mail slot' if element.mail_slot else 'slot'} {element.number}"
    return f"{library.name} drive {element.index}"


def _vacate_changed_places(library: Library, status: ChangerStatus) -> None:
    """Free every slot or drive whose occupant changed, so moves never collide."""
    holders = {("d", d.index): d.barcode for d in status.drives}
    holders.update({("s", s.number): s.barcode for s in status.slots})
    for tape in Tape.objects.filter(library=library).select_related("slot", "drive"):
        key = ("d", tape.drive.index) if tape.drive_id else ("s", tape.slot.number) if tape.slot_id else None
        if key is None or holders.get(key) != tape.barcode:
            Tape.objects.filter(pk=tape.pk).update(slot=None, drive=None)


def _reconcile(library: Library, element, report: InventoryReport, user) -> None:
    barcode = element.barcode
    tape = Tape.objects.filter(barcode=barcode).first()
    is_slot = hasattr(element, "number")
    if tape is None:
        try:
            media_type_for_barcode(barcode)
        except InventoryError as exc:
            report.problems.append(f"{_element_text(library, element)}: {exc}")
            return
        tape = tape_create(barcode=barcode, reason="found by library inventory", user=user)
        report.appeared.append(barcode)
    elif _same_place(tape, library, element):
        return
    else:
        report.moved.append(barcode)
    if is_slot:
        tape_move_to_slot(tape=tape, library=library, slot_number=element.number,
                          reason="found by library inventory", user=user)
    else:
        drive = Drive.objects.get(library=library, index=element.index)
        tape_move_to_drive(tape=tape, drive=drive, reason="found by library inventory", user=user)


def _same_place(tape: Tape, library: Library, element) -> bool:
    tape.refresh_from_db()
    if tape.library_id != library.pk:
        return False
    if hasattr(element, "number"):
        return tape.slot_id is not None and tape.slot.number == element.number
    return tape.drive_id is not None and tape.drive.index == element.index


# -- import and export ----------------------------------------------------------------------------


def tape_export(*, tape: Tape, user=None) -> int:
    """Move the tape to a free mail slot, where an operator can take it out; returns the slot."""
    tape.refresh_from_db()
    if tape.library_id is None:
        raise InventoryError(f"Tape {tape.barcode} is {where_is(tape)}, not in a library.")
    library = tape.library
    if tape.drive_id:
        tape_unload(drive=tape.drive, reason="unloaded for export", user=user)
        tape.refresh_from_db()
    if tape.slot.kind == Slot.Kind.MAIL:
        return tape.slot.number
    free = _free_slot(library, Slot.Kind.MAIL)
    if free is None:
        raise InventoryError(f"Every mail slot of {library.name} is full; empty one first.")
    _changer_call(f"export {tape.barcode}", changer_for(library).transfer, tape.slot.number, free.number)
    tape_move_to_slot(tape=tape, library=library, slot_number=free.number, reason="exported",
                      user=user)
    return free.number


def library_import(*, library: Library, user=None) -> list[str]:
    """Move every tape in the mail slots into free storage slots (after an inventory)."""
    library_inventory(library=library, user=user)
    imported = []
    for tape in Tape.objects.filter(slot__library=library, slot__kind=Slot.Kind.MAIL).select_related("slot"):
        free = _free_slot(library, Slot.Kind.STORAGE)
        if free is None:
            raise InventoryError(f"No free storage slot in {library.name} for {tape.barcode}.")
        _changer_call(f"import {tape.barcode}", changer_for(library).transfer, tape.slot.number,
                      free.number)
        tape_move_to_slot(tape=tape, library=library, slot_number=free.number, reason="imported",
                          user=user)
        imported.append(tape.barcode)
    return imported


def _free_slot(library: Library, kind: str) -> Slot | None:
    return (Slot.objects.filter(library=library, kind=kind, tape__isnull=True)
            .order_by("number").first())


def tape_label_in_library(*, tape: Tape, pool: MediaPool | None = None,
                          force_foreign: bool = False, user=None, drive: Drive | None = None):
    """Load the tape into ``drive`` (default: a free one), label it, and put it back."""
    tape.refresh_from_db()
    assert_may_write_at_bot(tape)  # refuse before moving anything
    drive = drive or (tape.drive if tape.drive_id else free_drive_for(tape))
    tape_load(tape=tape, drive=drive, reason="loaded for labelling", user=user)
    try:
        with open_drive(drive) as handle:
            label = tape_label(tape=tape, handle=handle, pool=pool, force_foreign=force_foreign,
                               user=user)
    finally:
        tape_unload(drive=drive, reason="labelled", user=user)
    return label


def drive_status(*, drive: Drive) -> dict:
    """The drive's status as a dict (stored on the drive row for the admin and health check)."""
    with open_drive(drive) as handle:
        status = handle.status()
    data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in status.__dict__.items()}
    Drive.objects.filter(pk=drive.pk).update(
        last_status=data, last_status_at=timezone.now(),
        cleaning_requested=status.cleaning_requested,
    )
    return data


def resolve_drive(spec: str) -> Drive:
    """A drive from ``LIBRARY:INDEX``, or ``INDEX`` when there is one library."""
    library_name, _, index = spec.rpartition(":")
    if not index.isdigit():
        raise InventoryError(f"{spec!r} is not a drive; write LIBRARY:INDEX, e.g. demo:0.")
    drives = Drive.objects.select_related("library").filter(index=int(index))
    if library_name:
        drives = drives.filter(library__name=library_name)
    found = list(drives[:2])
    if len(found) != 1:
        raise InventoryError(f"There is no drive {spec!r}." if not found else
                             f"Drive {spec!r} is ambiguous; write LIBRARY:INDEX.")
    return found[0]
