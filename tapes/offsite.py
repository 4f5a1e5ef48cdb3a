"""Off-site rotation: pick lists of tapes to send to a vault or bring back, exported through
the mail slots in batches as the slots allow, then in transit, then in the vault (or back
in the library). Every move is a ``TapeLocation`` row (``tapes.services``).

Which tapes to send or recall depends on backup sets, which ``tapes`` does not know:
``backups.offsite`` chooses them and passes them here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from tapes.media import library_import, library_inventory, tape_export
from tapes.models import Library, PickList, Slot, Tape, Vault
from tapes.services import InventoryError, tape_move_offline


def vault_get(name: str) -> Vault:
    vault = Vault.objects.filter(name=name).first()
    if vault is None:
        raise InventoryError(f"There is no vault named {name!r}; create it with "
                             f"'offsite vault {name}'.")
    return vault


def picklist_get(pk: int) -> PickList:
    picklist = PickList.objects.select_related("vault", "library").filter(pk=pk).first()
    if picklist is None:
        raise InventoryError(f"There is no pick list #{pk}.")
    return picklist


@transaction.atomic
def picklist_create(*, kind: str, vault: Vault, tapes: list[Tape], library: Library | None = None,
                    reason: str = "", user=None) -> PickList:
    """A pick list of ``tapes`` (refused when empty: there is nothing to move)."""
    if not tapes:
        raise InventoryError("No tape qualifies; the pick list would be empty.")
    if library is None and kind == PickList.Kind.SEND:
        library = tapes[0].library
    picklist = PickList.objects.create(
        kind=kind, vault=vault, library=library, reason=reason[:200],
        created_by=user if getattr(user, "is_authenticated", False) else None)
    picklist.tapes.set(tapes)
    return picklist


@dataclass
class Batch:
    """What one export step put into the mail slots, and what still waits for room."""

    exported: list[tuple[str, int]] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = ", ".join(f"{b} in mail slot {s}" for b, s in self.exported) or "nothing"
        more = (f"; {len(self.waiting)} more wait for free mail slots: empty the slots, run "
                "'offsite ship', then export again") if self.waiting else ""
        return f"Exported {text}{more}."


def picklist_export(*, picklist: PickList, user=None) -> Batch:
    """Put as many of the send list's tapes still in the library into free mail slots as
    there are free slots (a drive's tape is unloaded first)."""
    _expect(picklist, PickList.Kind.SEND, (PickList.State.PLANNED, PickList.State.EXPORTING))
    batch = Batch()
    for tape in picklist.tapes.filter(library__isnull=False).select_related("slot").order_by("barcode"):
        if tape.slot_id and tape.slot.kind == Slot.Kind.MAIL:
            batch.exported.append((tape.barcode, tape.slot.number))
            continue
        if not _free_mail_slot(tape.library):
            batch.waiting.append(tape.barcode)
            continue
        batch.exported.append((tape.barcode, tape_export(tape=tape, user=user)))
    PickList.objects.filter(pk=picklist.pk).update(state=PickList.State.EXPORTING)
    return batch


def _free_mail_slot(library: Library) -> bool:
    return Slot.objects.filter(library=library, kind=Slot.Kind.MAIL, tape__isnull=True).exists()


def picklist_ship(*, picklist: PickList, user=None) -> list[str]:
    """The courier has the tapes: a send list's tapes taken out of the mail slots (an
    inventory finds them gone), or a recall list's tapes taken from the vault, are in
    transit. Returns their barcodes."""
    picklist.refresh_from_db()
    if picklist.kind == PickList.Kind.SEND:
        _expect(picklist, PickList.Kind.SEND, (PickList.State.EXPORTING, PickList.State.TRANSIT))
        if picklist.library_id:
            library_inventory(library=picklist.library, user=user)
        leaving = picklist.tapes.filter(place=Tape.Place.SHELF)
        destination, reason = picklist.vault.name, f"to vault {picklist.vault.name}"
    else:
        _expect(picklist, PickList.Kind.RECALL, (PickList.State.PLANNED, PickList.State.TRANSIT))
        leaving = picklist.tapes.filter(place=Tape.Place.VAULT, vault=picklist.vault.name)
        destination, reason = "", f"recalled from vault {picklist.vault.name}"
    shipped = []
    for tape in leaving:
        tape_move_offline(tape=tape, place=Tape.Place.TRANSIT, vault=destination,
                          reason=f"{reason} (pick list #{picklist.pk})", user=user)
        shipped.append(tape.barcode)
    if not picklist.tapes.filter(place__in=_before_transit(picklist)).exists():
        PickList.objects.filter(pk=picklist.pk).update(state=PickList.State.TRANSIT)
    return shipped


def _before_transit(picklist: PickList) -> list[str]:
    if picklist.kind == PickList.Kind.SEND:
        return [Tape.Place.LIBRARY, Tape.Place.SHELF]
    return [Tape.Place.VAULT]


def picklist_arrive(*, picklist: PickList, user=None) -> list[str]:
    """The vault received the send list's tapes in transit: they are in the vault."""
    _expect(picklist, PickList.Kind.SEND, (PickList.State.TRANSIT, PickList.State.EXPORTING))
    arrived = []
    for tape in picklist.tapes.filter(place=Tape.Place.TRANSIT):
        tape_move_offline(tape=tape, place=Tape.Place.VAULT, vault=picklist.vault.name,
                          reason=f"arrived (pick list #{picklist.pk})", user=user)
        arrived.append(tape.barcode)
    _finish_if_done(picklist, done=~_q_place(Tape.Place.VAULT, picklist.vault.name))
    return arrived


def picklist_import(*, picklist: PickList, library: Library, user=None) -> list[str]:
    """The recalled tapes are in the library's mail slots: import them into storage slots."""
    _expect(picklist, PickList.Kind.RECALL, (PickList.State.TRANSIT, PickList.State.PLANNED))
    imported = library_import(library=library, user=user)
    mine = set(picklist.tapes.values_list("barcode", flat=True))
    _finish_if_done(picklist, done=~_q_place(Tape.Place.LIBRARY))
    return [b for b in imported if b in mine]


def _q_place(place: str, vault: str | None = None):
    from django.db.models import Q

    q = Q(place=place)
    return q & Q(vault=vault) if vault is not None else q


def _finish_if_done(picklist: PickList, *, done) -> None:
    if not picklist.tapes.filter(done).exists():
        PickList.objects.filter(pk=picklist.pk).update(state=PickList.State.DONE,
                                                       finished_at=timezone.now())


def _expect(picklist: PickList, kind: str, states) -> None:
    picklist.refresh_from_db()
    if picklist.kind != kind:
        raise InventoryError(f"Pick list #{picklist.pk} is a {picklist.get_kind_display().lower()} "
                             "list; this step is for the other kind.")
    if picklist.state not in states:
        raise InventoryError(f"Pick list #{picklist.pk} is {picklist.get_state_display().lower()}; "
                             "this step does not apply now.")


def picklist_text(picklist: PickList) -> str:
    """The courier's pick list: barcodes, where each is, where it goes, the date."""
    picklist.refresh_from_db()
    verb = "to" if picklist.kind == PickList.Kind.SEND else "from"
    target = (f"vault {picklist.vault.name}" if picklist.kind == PickList.Kind.SEND
              else f"library {picklist.library.name}" if picklist.library_id else "the library")
    lines = [f"PICK LIST #{picklist.pk}: {picklist.get_kind_display()} ({verb} vault "
             f"{picklist.vault.name})",
             f"Date: {timezone.localtime(picklist.created_at):%Y-%m-%d %H:%M}   "
             f"State: {picklist.get_state_display()}",
             f"Destination: {target}" + (f"   Address: {picklist.vault.address}"
                                         if picklist.vault.address else "")]
    if picklist.reason:
        lines.append(f"Reason: {picklist.reason}")
    lines.append(f"{'BARCODE':10} {'NOW':32} DESTINATION")
    for tape in picklist.tapes.select_related("slot__library", "drive__library").order_by("barcode"):
        lines.append(f"{tape.barcode:10} {tape.location_text:32} {target}")
    lines.append(f"{picklist.tapes.count()} tape(s).  Signed: ______________")
    return "\n".join(lines)


# -- reports ------------------------------------------------------------------------------------


@dataclass
class OffsiteReport:
    """What is off-site where, what is due back, what has not been verified lately."""

    by_vault: dict[str, list[dict]] = field(default_factory=dict)
    in_transit: list[dict] = field(default_factory=list)
    due_back: list[dict] = field(default_factory=list)
    unverified: list[dict] = field(default_factory=list)
    unverified_days: int = 0

    def as_dict(self) -> dict:
        return {"by_vault": self.by_vault, "in_transit": self.in_transit,
                "due_back": self.due_back, "unverified": self.unverified,
                "unverified_days": self.unverified_days}


def _row(tape: Tape) -> dict:
    return {"barcode": tape.barcode, "vault": tape.vault, "status": tape.status,
            "pool": tape.pool.name if tape.pool_id else None,
            "protected_until": tape.protected_until.isoformat() if tape.is_protected else None,
            "last_verified_at": tape.last_verified_at.isoformat() if tape.last_verified_at else None}


def offsite_report(*, unverified_days: int = 90, now: dt.datetime | None = None) -> OffsiteReport:
    """Tapes due back are off-site tapes whose protection has ended (every set on them has
    expired: to reuse). Unverified: tapes holding data not verified for ``unverified_days``."""
    now = now or timezone.now()
    report = OffsiteReport(unverified_days=unverified_days)
    offsite = Tape.objects.filter(place__in=[Tape.Place.VAULT, Tape.Place.TRANSIT]).select_related(
        "pool").order_by("vault", "barcode")
    for tape in offsite:
        row = _row(tape)
        if tape.place == Tape.Place.VAULT:
            report.by_vault.setdefault(tape.vault, []).append(row)
        else:
            report.in_transit.append(row)
        if not (tape.protected_until and tape.protected_until > now):
            report.due_back.append(row)
    cutoff = now - dt.timedelta(days=unverified_days)
    stale = Tape.objects.filter(bytes_written__gt=0).exclude(media_type__kind="cleaning").filter(
        models_q_unverified(cutoff)).select_related("pool").order_by("barcode")
    report.unverified = [_row(t) for t in stale]
    return report


def models_q_unverified(cutoff: dt.datetime):
    from django.db.models import Q

    return Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=cutoff)
