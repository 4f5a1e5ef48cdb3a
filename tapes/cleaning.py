"""Drive cleaning: a drive is due when it asks (TapeAlert 0x14 clean now, 0x15 clean
periodic, or the virtual drive's ``cleaning_requested``) or has written its
``clean_after_bytes`` since the last cleaning. ``drive_clean`` loads a cleaning cartridge
with uses left, records the use, and unloads it; a cartridge with no uses left (or one the
drive reports expired, TapeAlert 0x16) is reported and the next one tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F
from django.utils import timezone

from tapes.media import drive_status, tape_load, tape_unload
from tapes.models import AuditRecord, Drive, Tape, audit
from tapes.services import InventoryError

CLEAN_NOW, CLEAN_PERIODIC, EXPIRED_CLEANING_MEDIA = 0x14, 0x15, 0x16


def drive_cleaning_reasons(drive: Drive) -> list[str]:
    """Why the drive is due for cleaning (empty: it is not), from its last status."""
    reasons = []
    alerts = set((drive.last_status or {}).get("tape_alerts") or [])
    if drive.cleaning_requested or CLEAN_NOW in alerts:
        reasons.append("the drive asks to be cleaned")
    elif CLEAN_PERIODIC in alerts:
        reasons.append("the drive asks for its periodic cleaning")
    if drive.clean_after_bytes and drive.bytes_since_cleaning >= drive.clean_after_bytes:
        reasons.append(f"{drive.bytes_since_cleaning} bytes written since the last cleaning "
                       f"(clean every {drive.clean_after_bytes})")
    return reasons


def drives_due(*, refresh: bool = True) -> list[tuple[Drive, list[str]]]:
    """Every enabled drive due for cleaning; ``refresh`` reads each drive's status first."""
    due = []
    for drive in Drive.objects.filter(enabled=True).select_related("library"):
        if refresh:
            try:
                drive_status(drive=drive)
                drive.refresh_from_db()
            except InventoryError:
                pass  # busy or offline: judge by what is known
        if reasons := drive_cleaning_reasons(drive):
            due.append((drive, reasons))
    return due


@dataclass
class CleaningResult:
    drive: str
    cleaned: bool = False
    cartridge: str | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.cleaned:
            return f"{self.drive} cleaned with {self.cartridge}."
        return f"{self.drive} was not cleaned: " + " ".join(self.problems)


def cleaning_cartridges(drive: Drive):
    """Cleaning cartridges in the drive's library storage slots, most uses left first."""
    return (Tape.objects.filter(library=drive.library, media_type__kind="cleaning",
                                slot__kind="storage").select_related("slot")
            .order_by(F("cleaning_uses_left").desc(nulls_last=True), "barcode"))


def drive_clean(*, drive: Drive, context=None, user=None) -> CleaningResult:
    """Clean the drive with a cartridge that has uses left; report expired ones."""
    result = CleaningResult(drive=str(drive))
    for cartridge in cleaning_cartridges(drive):
        if not cartridge.cleaning_uses_left:
            _report_expired(cartridge, result, "has no cleaning uses left")
            continue
        if _clean_with(drive, cartridge, result, user):
            break
    else:
        if not result.problems:
            result.problems.append(f"No cleaning cartridge is in library {drive.library.name}.")
        else:
            result.problems.append("No usable cleaning cartridge is left; put a new one in.")
    if context is not None:
        context.log(result.summary(), level="info" if result.cleaned else "warning")
    return result


def _clean_with(drive: Drive, cartridge: Tape, result: CleaningResult, user) -> bool:
    tape_load(tape=cartridge, drive=drive, reason="loaded to clean the drive", user=user)
    try:
        status = drive_status(drive=drive)
    finally:
        tape_unload(drive=drive, reason="cleaning done", user=user)
    if EXPIRED_CLEANING_MEDIA in set(status.get("tape_alerts") or []):
        Tape.objects.filter(pk=cartridge.pk).update(cleaning_uses_left=0)
        _report_expired(cartridge, result, "is expired (the drive reports TapeAlert 0x16)")
        return False
    now = timezone.now()
    Tape.objects.filter(pk=cartridge.pk).update(cleaning_uses_left=F("cleaning_uses_left") - 1)
    Drive.objects.filter(pk=drive.pk).update(last_cleaned_at=now, bytes_since_cleaning=0,
                                             cleaning_requested=False)
    cartridge.refresh_from_db()
    audit(action=AuditRecord.Action.CLEAN, subject=drive, tape=cartridge, user=user,
          message=f"{drive} cleaned with {cartridge.barcode} "
                  f"({cartridge.cleaning_uses_left} use(s) left).")
    result.cleaned, result.cartridge = True, cartridge.barcode
    return True


def _report_expired(cartridge: Tape, result: CleaningResult, why: str) -> None:
    message = f"Cleaning cartridge {cartridge.barcode} {why}; replace it."
    result.problems.append(message)
    if not AuditRecord.objects.filter(tape=cartridge, action=AuditRecord.Action.CLEANING_MEDIA).exists():
        audit(action=AuditRecord.Action.CLEANING_MEDIA, subject=cartridge, message=message)


def drives_clean_due(*, context=None, user=None) -> list[CleaningResult]:
    """Clean every drive that is due (the ``clean`` job kind's service without a drive)."""
    return [drive_clean(drive=drive, context=context, user=user) for drive, _ in drives_due()]
