"""Tape end of life: loads, full passes, age and error counts against the media type's
limits. A tape past any limit is retired (with an audit record, invariant 8): it is never
written again (``tapes.media.assert_may_write_at_bot`` refuses it, allocation skips it) but
stays readable, so its data can still be restored.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from tapes.models import AuditRecord, Tape, audit


def tape_wear_reasons(tape: Tape, *, now: dt.datetime | None = None) -> list[str]:
    """Why the tape is past its end of life (empty: it is not)."""
    kind = tape.media_type
    if kind.is_cleaning:
        return []
    now = now or timezone.now()
    reasons = []
    if kind.max_loads and tape.mounts >= kind.max_loads:
        reasons.append(f"loaded {tape.mounts} times (limit {kind.max_loads})")
    if kind.max_full_passes and tape.full_passes >= kind.max_full_passes:
        reasons.append(f"{tape.full_passes:.0f} full passes written (limit {kind.max_full_passes})")
    if kind.max_age_days and tape.created_at and now - tape.created_at >= dt.timedelta(
            days=kind.max_age_days):
        reasons.append(f"{(now - tape.created_at).days} days in service (limit {kind.max_age_days})")
    if kind.max_write_errors and tape.write_errors >= kind.max_write_errors:
        reasons.append(f"{tape.write_errors} write errors (limit {kind.max_write_errors})")
    if kind.max_read_errors and tape.read_errors >= kind.max_read_errors:
        reasons.append(f"{tape.read_errors} read errors (limit {kind.max_read_errors})")
    return reasons


def tape_retire(*, tape: Tape, reason: str, user=None) -> bool:
    """Retire the tape (never written again, still readable); False if it already was."""
    changed = Tape.objects.filter(pk=tape.pk).exclude(status=Tape.Status.RETIRED).update(
        status=Tape.Status.RETIRED)
    if changed:
        tape.status = Tape.Status.RETIRED
        audit(action=AuditRecord.Action.RETIRE, subject=tape, user=user,
              message=f"Tape {tape.barcode} retired: {reason}. It is never written again; its "
                      "data stays readable.")
    return bool(changed)


def tape_check_wear(*, tape: Tape, now: dt.datetime | None = None) -> bool:
    """Retire the tape if it is past its end of life; True if it was retired now."""
    if tape.status == Tape.Status.RETIRED:
        return False
    reasons = tape_wear_reasons(tape, now=now)
    return bool(reasons) and tape_retire(tape=tape, reason="; ".join(reasons))


def tapes_worn(*, now: dt.datetime | None = None) -> list[tuple[Tape, list[str]]]:
    """Every tape not yet retired that is past its end of life, with why."""
    tapes = (Tape.objects.exclude(status=Tape.Status.RETIRED)
             .exclude(media_type__kind="cleaning").select_related("media_type"))
    return [(t, r) for t in tapes if (r := tape_wear_reasons(t, now=now))]
