"""Inventory services: creating libraries and tapes, and moving tapes (with history).

Every function takes keyword arguments and raises ``InventoryError`` with one sentence for
the operator; commands, admin actions and tasks are thin callers.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from tapes.barcodes import BarcodeError, is_cleaning, split_barcode
from tapes.models import Drive, Library, MediaType, Slot, Tape, TapeLocation


class InventoryError(Exception):
    """An inventory operation that cannot be done; ``str()`` is one operator sentence."""


def tape_get(barcode: str) -> Tape:
    """The tape with this barcode, or one sentence saying there is none."""
    tape = Tape.objects.select_related("media_type", "library", "slot", "drive").filter(
        barcode=barcode).first()
    if tape is None:
        raise InventoryError(f"There is no tape with barcode {barcode!r} in the inventory.")
    return tape


def library_get(name: str) -> Library:
    """The library of this name, or one sentence saying there is none."""
    library = Library.objects.filter(name=name).first()
    if library is None:
        raise InventoryError(f"There is no library named {name!r}.")
    return library


def media_type_for_barcode(barcode: str) -> MediaType:
    """The media type a barcode names by its two-character suffix."""
    try:
        _, suffix = split_barcode(barcode)
    except BarcodeError as exc:
        raise InventoryError(str(exc)) from None
    media_type = MediaType.objects.filter(barcode_suffix=suffix).first()
    if media_type is None:
        raise InventoryError(f"Barcode {barcode} ends in {suffix}, which is no known media type.")
    if is_cleaning(barcode) != media_type.is_cleaning:
        raise InventoryError(
            f"Barcode {barcode}: cleaning cartridges, and only they, start with CLN and end in CU."
        )
    return media_type


@transaction.atomic
def library_create(
    *, name: str, kind: str = Library.Kind.VIRTUAL, device_path: str = "", drives: int = 2,
    slots: int = 24, mailslots: int = 2, node: str = "local", media: str = "LTO-8",
) -> Library:
    """Create a library with its drives and slots (mail slots numbered after storage slots)."""
    if Library.objects.filter(name=name).exists():
        raise InventoryError(f"A library named {name!r} already exists.")
    if drives < 1 or slots < 1 or mailslots < 0:
        raise InventoryError("A library needs at least one drive and one slot.")
    media_type = MediaType.objects.filter(name=media).first()
    if media_type is None:
        raise InventoryError(f"There is no media type named {media!r}.")
    library = Library.objects.create(name=name, kind=kind, device_path=device_path, node=node)
    Slot.objects.bulk_create(
        [Slot(library=library, number=n, kind=Slot.Kind.STORAGE) for n in range(1, slots + 1)]
        + [Slot(library=library, number=slots + n, kind=Slot.Kind.MAIL)
           for n in range(1, mailslots + 1)]
    )
    readable = MediaType.objects.filter(generation__in=_generations_for(media_type))
    for index in range(drives):
        drive = Drive.objects.create(library=library, index=index, node=node)
        drive.media_types.set(readable)
    return library


def _generations_for(media_type: MediaType) -> list[int]:
    """A drive reads and writes its own generation and one back (LTO-8 and later: one back)."""
    generation = media_type.generation or 8
    return [generation, generation - 1]


def tape_create(*, barcode: str, library: Library | None = None, slot_number: int | None = None,
                reason: str = "added to the inventory", user=None) -> Tape:
    """Add a tape to the inventory, optionally in a library slot."""
    media_type = media_type_for_barcode(barcode)
    tape = Tape(barcode=barcode, media_type=media_type,
                cleaning_uses_left=media_type.cleaning_uses if media_type.is_cleaning else None)
    try:
        with transaction.atomic():
            tape.save()
    except IntegrityError:
        raise InventoryError(f"Tape {barcode} is already in the inventory.") from None
    if library is not None and slot_number is not None:
        tape_move_to_slot(tape=tape, library=library, slot_number=slot_number, reason=reason,
                          user=user)
    else:
        _record(tape, reason=reason, user=user)
    return tape


def _slot(library: Library, number: int) -> Slot:
    slot = Slot.objects.filter(library=library, number=number).first()
    if slot is None:
        raise InventoryError(f"Library {library.name} has no slot {number}.")
    return slot


@transaction.atomic
def tape_move_to_slot(*, tape: Tape, library: Library, slot_number: int, reason: str = "",
                      user=None) -> Tape:
    slot = _slot(library, slot_number)
    occupant = Tape.objects.filter(slot=slot).exclude(pk=tape.pk).first()
    if occupant is not None:
        raise InventoryError(f"{slot} already holds {occupant.barcode}.")
    tape.slot, tape.drive, tape.library = slot, None, library
    tape.place, tape.vault = Tape.Place.LIBRARY, ""
    tape.save(update_fields=["slot", "drive", "library", "place", "vault"])
    _record(tape, reason=reason, user=user)
    return tape


@transaction.atomic
def tape_move_to_drive(*, tape: Tape, drive: Drive, reason: str = "", user=None) -> Tape:
    occupant = Tape.objects.filter(drive=drive).exclude(pk=tape.pk).first()
    if occupant is not None:
        raise InventoryError(f"{drive} already holds {occupant.barcode}.")
    tape.slot, tape.drive, tape.library = None, drive, drive.library
    tape.place, tape.vault = Tape.Place.LIBRARY, ""
    tape.mounts += 1
    tape.save(update_fields=["slot", "drive", "library", "place", "vault", "mounts"])
    _record(tape, reason=reason, user=user)
    return tape


@transaction.atomic
def tape_move_offline(*, tape: Tape, place: str = Tape.Place.SHELF, vault: str = "",
                      reason: str = "", user=None) -> Tape:
    """The tape left the library: to the shelf, in transit, or into a named vault."""
    if place == Tape.Place.LIBRARY:
        raise InventoryError("Use a slot or a drive to put a tape into a library.")
    if place in (Tape.Place.VAULT,) and not vault:
        raise InventoryError("Name the vault the tape goes to.")
    tape.slot = tape.drive = tape.library = None
    tape.place, tape.vault = place, vault
    tape.save(update_fields=["slot", "drive", "library", "place", "vault"])
    _record(tape, reason=reason, user=user)
    return tape


def _record(tape: Tape, *, reason: str, user) -> TapeLocation:
    slot = tape.slot
    return TapeLocation.objects.create(
        tape=tape, place=tape.place, library=tape.library,
        slot_number=slot.number if slot else None,
        mail_slot=bool(slot and slot.kind == Slot.Kind.MAIL),
        drive_index=tape.drive.index if tape.drive_id else None,
        vault=tape.vault, description=tape.location_text, reason=reason[:200],
        moved_by=user if getattr(user, "is_authenticated", False) else None,
    )


def media_set_close(*, media_set, reason: str, user=None) -> bool:
    """Close the media set (no run appends to it any more); False if it was closed already.
    An automatic close (``user`` empty) and an operator's both leave an audit record."""
    from django.utils import timezone

    from tapes.models import AuditRecord, MediaSet, audit

    changed = MediaSet.objects.filter(pk=media_set.pk, closed_at__isnull=True).update(
        closed_at=timezone.now(), closed_reason=reason[:200])
    if changed:
        media_set.refresh_from_db()
        who = "by an operator" if user is not None else "automatically"
        audit(action=AuditRecord.Action.CLOSE, subject=media_set, user=user,
              message=f"Media set {media_set} closed {who}: {reason}.")
    return bool(changed)


def tape_verified(*, tape: Tape, at=None, data: bool = False) -> None:
    """Record that a verify read the tape without error (the off-site report reads it); a
    clean *data* verify also lifts a suspicion, since every record was read back."""
    from django.utils import timezone

    changes = {"last_verified_at": at or timezone.now()}
    if data and tape.suspect_since is not None:
        tape_clear_suspect(tape=tape, reason="a data verify read every record without error")
    Tape.objects.filter(pk=tape.pk).update(**changes)


def tape_mark_suspect(*, tape: Tape, reason: str) -> bool:
    """Count a read error and mark the tape suspect; the first time writes an audit record
    (invariant 8). Returns whether the tape became suspect just now."""
    from django.db.models import F
    from django.utils import timezone

    from tapes.models import AuditRecord, audit

    Tape.objects.filter(pk=tape.pk).update(read_errors=F("read_errors") + 1)
    became = Tape.objects.filter(pk=tape.pk, suspect_since__isnull=True).update(
        suspect_since=timezone.now())
    tape.refresh_from_db()
    if became:
        audit(action=AuditRecord.Action.SUSPECT, subject=tape,
              message=f"Tape {tape.barcode} is suspect after a read error: {reason}")
    return bool(became)


def tape_clear_suspect(*, tape: Tape, reason: str, user=None) -> bool:
    from tapes.models import AuditRecord, audit

    cleared = Tape.objects.filter(pk=tape.pk, suspect_since__isnull=False).update(
        suspect_since=None)
    if cleared:
        who = "by an operator" if user is not None else "automatically"
        audit(action=AuditRecord.Action.SUSPECT, subject=tape, user=user,
              message=f"Tape {tape.barcode} is no longer suspect ({who}): {reason}.")
    tape.refresh_from_db()
    return bool(cleared)
