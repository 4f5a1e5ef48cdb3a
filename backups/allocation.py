"""Media allocation: which media set a run writes to, and which tape comes next.

The pool's allocation policy picks the media set (continue the open one; a new one for
every run; a new one once the pool's cron event has passed since the set began, read in
``settings.TIME_ZONE``). The next tape is the set's last tape while it is writable, else
a scratch tape in the drive's library, claimed for the set with a conditional UPDATE (so
two runs never take the same tape) and labelled by the engine before its first write.

``allocation_check`` answers the same question without changing anything, so a run that
would wait for media says so before it creates a set.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backups.errors import JobError, NeedsMedia
from tapes.models import Drive, MediaPool, MediaSet, MediaType, Slot, Tape

UNUSABLE = (Tape.Status.FULL, Tape.Status.DAMAGED, Tape.Status.RETIRED)


@dataclass(frozen=True)
class NextTape:
    """The tape to write next, and whether it is a scratch tape to label first."""

    tape: Tape
    sequence: int
    fresh: bool


def media_set_continues(*, pool: MediaPool, media_set: MediaSet | None,
                        now: dt.datetime | None = None) -> bool:
    """Whether a run may keep writing to ``media_set`` under the pool's policy."""
    if media_set is None or media_set.closed_at is not None:
        return False
    if pool.allocation == MediaPool.Allocation.ALWAYS:
        return False
    if pool.allocation == MediaPool.Allocation.CRON:
        return _next_event(pool.allocation_cron, media_set.created_at) > (now or timezone.now())
    return True


def _next_event(expression: str, after: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(settings.TIME_ZONE)
    return croniter(expression, after.astimezone(zone)).get_next(dt.datetime)


def media_set_open(pool: MediaPool) -> MediaSet | None:
    return MediaSet.objects.filter(pool=pool, closed_at__isnull=True).order_by("-created_at").first()


@transaction.atomic
def media_set_for_run(*, pool: MediaPool, now: dt.datetime | None = None) -> MediaSet:
    """The media set this run writes to: the open one if the policy continues it, else a
    new one (the old one is closed)."""
    now = now or timezone.now()
    current = media_set_open(pool)
    if media_set_continues(pool=pool, media_set=current, now=now):
        return current
    MediaSet.objects.filter(pool=pool, closed_at__isnull=True).update(closed_at=now)
    return MediaSet.objects.create(pool=pool, created_at=now)


def _writable(tape: Tape) -> bool:
    return not (tape.status in UNUSABLE or tape.write_protected or tape.foreign)


def _in_library(tape: Tape, drive: Drive) -> bool:
    in_slot = tape.slot_id is not None and tape.slot.kind == Slot.Kind.STORAGE
    return tape.library_id == drive.library_id and (in_slot or tape.drive_id == drive.pk)


def scratch_tapes(*, pool: MediaPool, drive: Drive):
    """Scratch tapes the drive can write, in its library: the drive's own tape first, then
    tapes in storage slots (never mail slots: those are on their way out)."""
    now = timezone.now()
    kinds = MediaType.objects.filter(kind=MediaType.Kind.DATA)
    types = [pool.media_type_id] if pool.media_type_id else list(kinds.values_list("pk", flat=True))
    return (
        Tape.objects.select_related("slot", "media_type")
        .filter(pool__isnull=True, media_set__isnull=True,
                status__in=(Tape.Status.NEW, Tape.Status.WRITABLE),
                write_protected=False, foreign=False, media_type__in=types,
                library=drive.library, media_type__drives=drive)
        .filter(Q(protected_until__isnull=True) | Q(protected_until__lte=now))
        .filter(Q(drive=drive) | Q(slot__kind=Slot.Kind.STORAGE))
        .order_by("slot__number")
    )


def _scratch_candidate(pool: MediaPool, drive: Drive) -> Tape | None:
    """The tape already in the drive saves a changer move; else the lowest slot."""
    in_drive = scratch_tapes(pool=pool, drive=drive).filter(drive=drive).first()
    return in_drive or scratch_tapes(pool=pool, drive=drive).first()


def _needs_scratch(pool: MediaPool) -> NeedsMedia:
    media = pool.media_type.name if pool.media_type_id else "any data"
    return NeedsMedia(
        f"Pool {pool.name} needs 1 scratch tape ({media}) in the library; none is usable.",
        pool=pool.name, media_type=media, count=1,
    )


def _last_tape(media_set: MediaSet | None) -> Tape | None:
    if media_set is None:
        return None
    return (Tape.objects.select_related("slot", "media_type")
            .filter(media_set=media_set).order_by("-sequence").first())


def allocation_check(*, pool: MediaPool, drive: Drive) -> NextTape | None:
    """What the run would write to first, without changing anything; raises NeedsMedia.
    Returns None when a new scratch tape would be taken (it is not claimed here)."""
    current = media_set_open(pool)
    if not media_set_continues(pool=pool, media_set=current):
        current = None
    return _next_tape(pool=pool, media_set=current, drive=drive, claim=False)


def tape_next(*, pool: MediaPool, media_set: MediaSet, drive: Drive) -> NextTape:
    """The next tape of ``media_set`` for ``drive``: its last tape while writable, else a
    scratch tape claimed for the set with the next sequence number. Raises NeedsMedia."""
    return _next_tape(pool=pool, media_set=media_set, drive=drive, claim=True)


def _next_tape(*, pool, media_set, drive, claim: bool) -> NextTape | None:
    last = _last_tape(media_set)
    if last is not None and _writable(last):
        if not _in_library(last, drive):
            raise NeedsMedia(
                f"Pool {pool.name} continues on tape {last.barcode}, which is "
                f"{last.location_text}; put it into library {drive.library.name}.",
                pool=pool.name, media_type=last.media_type.name, count=1,
                barcodes=(last.barcode,), where={last.barcode: last.location_text},
            )
        return NextTape(last, last.sequence, fresh=False)
    sequence = (last.sequence + 1) if last is not None else 0
    for _ in range(5):  # another run may claim the same scratch tape first
        tape = _scratch_candidate(pool, drive)
        if tape is None:
            raise _needs_scratch(pool)
        if not claim:
            return None
        if _claim(tape, pool=pool, media_set=media_set, sequence=sequence):
            tape.refresh_from_db()
            return NextTape(tape, sequence, fresh=True)
    raise JobError(f"Could not claim a scratch tape for pool {pool.name}; try again.")


def _claim(tape: Tape, *, pool: MediaPool, media_set: MediaSet, sequence: int) -> bool:
    claimed = Tape.objects.filter(pk=tape.pk, pool__isnull=True, media_set__isnull=True).update(
        pool=pool, media_set=media_set, sequence=sequence
    )
    return claimed == 1


def tape_unclaim(*, tape: Tape) -> None:
    """Give back a claimed scratch tape that could not be labelled (it stays scratch)."""
    Tape.objects.filter(pk=tape.pk, bytes_written=0).update(pool=None, media_set=None,
                                                            sequence=None)
