"""The retention check: expire sets by their job's policy, keep each tape's protection in
step, close media sets their policy ends, retire worn tapes, and return a tape to scratch
only when every set with data on it has expired (late recycling: its data stays readable,
and its sets' catalog rows stay, until the tape is next written).

``retention_run`` first makes a plan (``retention_plan``: a list of ``Action``s computed
from the database without changing it), then — unless ``dry_run`` — carries out exactly
that plan, each change with a conditional update and an audit record (invariant 8). So the
dry run and the real run agree by construction, and a test checks it.

The evaluation itself is the pure ``tapes.retention_policy.evaluate``. This module is also
where ``backups`` listens to the label service (``tapes.signals``): it refuses to let a tape
that holds an unexpired set be overwritten, and deletes the catalog rows of the expired sets
a new label or an erase destroyed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

from backups.allocation import media_set_continues
from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
from tapes import retention_policy as rp
from tapes.lifecycle import tape_retire, tapes_worn
from tapes.models import AuditRecord, MediaPool, MediaSet, RetentionPolicy, Tape, audit
from tapes.retention_policy import FOREVER
from tapes.services import media_set_close
from tapes.signals import tape_overwritten, tape_pre_overwrite

PREVIEW_DAYS = 90
# Dates this far out mean "no end date" (the engine writes a provisional one: see
# ``provisional_days``); they compare equal to ``None``.
FAR = FOREVER - dt.timedelta(days=3650)


def provisional_days(policy: RetentionPolicy) -> int:
    """Days a just-written set is protected under ``policy``: its span for a time-span
    policy, else as good as forever (the retention check sets the real protection)."""
    if policy.kind == RetentionPolicy.Kind.TIME:
        return policy.keep_days
    return (FOREVER - timezone.now()).days - 1


def policy_for(job: BackupJob) -> rp.Policy:
    """The job's policy, its pool's, or (neither set) a time span of retention_days."""
    policy = job.effective_retention_policy
    if policy is not None:
        return policy.as_policy()
    return rp.Policy(kind=rp.TIME, keep_days=job.effective_retention_days,
                     name=f"{job.effective_retention_days} days")


def _info(backup_set: BackupSet) -> rp.SetInfo:
    return rp.SetInfo(id=backup_set.pk, started_at=backup_set.started_at,
                      status=backup_set.status, level=backup_set.level, hold=backup_set.hold)


def _no_date(value: dt.datetime | None) -> dt.datetime | None:
    """An expiry date, ``None`` standing for "no end date"."""
    return None if value is None or value >= FAR else value


def _forever(value: dt.datetime | None) -> dt.datetime | None:
    """A protection date, ``None`` standing for "not protected"."""
    return FOREVER if value is not None and value >= FAR else value


# -- the plan -------------------------------------------------------------------------------


@dataclass
class Action:
    """One change the retention check makes (or, in a dry run, would make)."""

    kind: str  # expire | expiry | protect | recycle | close | retire
    subject: str
    message: str
    set_id: int | None = None
    tape_id: int | None = None
    media_set_id: int | None = None
    value: str | None = None  # the new date (ISO) for expiry and protect

    def key(self) -> tuple:
        return (self.kind, self.set_id, self.tape_id, self.media_set_id, self.value)


@dataclass
class RetentionReport:
    """What a retention run did (or would do), and what expires in the coming days."""

    now: dt.datetime
    dry_run: bool
    actions: list[Action] = field(default_factory=list)
    applied: list[Action] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)

    def count(self, kind: str) -> int:
        done = self.actions if self.dry_run else self.applied
        return sum(1 for a in done if a.kind == kind)

    def summary(self) -> str:
        verb = "would expire" if self.dry_run else "expired"
        return (f"Retention check{' (dry run)' if self.dry_run else ''}: {verb} "
                f"{self.count('expire')} set(s), {self.count('recycle')} tape(s) back to "
                f"scratch, {self.count('protect')} protection change(s), "
                f"{self.count('retire')} tape(s) retired, {self.count('close')} media set(s) "
                f"closed; {len(self.preview)} set(s) expire in the next {PREVIEW_DAYS} days.")

    def as_dict(self) -> dict:
        return {"now": self.now.isoformat(), "dry_run": self.dry_run,
                "actions": [asdict(a) for a in (self.actions if self.dry_run else self.applied)],
                "skipped": self.skipped, "notes": self.notes, "preview": self.preview,
                "summary": self.summary()}


@dataclass
class _State:
    """The plan's working view: decisions per set, media sets closed in this plan."""

    decisions: dict[int, rp.Decision] = field(default_factory=dict)
    closing: set[int] = field(default_factory=set)
    retiring: set[int] = field(default_factory=set)


def retention_plan(*, now: dt.datetime | None = None,
                   state: _State | None = None) -> tuple[list[Action], list[str]]:
    """Every change the retention check would make at ``now``, and notes for the operator."""
    now = now or timezone.now()
    state = state if state is not None else _State()
    actions, notes = [], []
    for job in BackupJob.objects.select_related("pool__retention_policy", "retention_policy"):
        actions += _plan_job(job, now, state)
    actions += _plan_media_sets(now, state)
    actions += _plan_retirements(now, state)
    tape_actions, tape_notes = _plan_tapes(state)
    return actions + tape_actions, notes + tape_notes


def _live_sets(job: BackupJob):
    return BackupSet.objects.filter(job=job, expired_at__isnull=True)


def _plan_job(job: BackupJob, now: dt.datetime, state: _State) -> list[Action]:
    policy = policy_for(job)
    sets = list(_live_sets(job))
    decisions = rp.evaluate(policy, [_info(s) for s in sets], now)
    state.decisions.update(decisions)
    actions = []
    for backup_set in sets:
        decision = decisions[backup_set.pk]
        subject = f"backup set #{backup_set.pk} of job {job.name}"
        if not decision.keep:
            actions.append(Action("expire", subject, f"Expired: {decision.reason}.",
                                  set_id=backup_set.pk))
        elif backup_set.restorable and _no_date(backup_set.expires_at) != decision.expires_at:
            new = decision.expires_at
            text = f"{new:%Y-%m-%d %H:%M} UTC" if new else "no end date"
            actions.append(Action("expiry", subject, f"Kept until {text}: {decision.reason}.",
                                  set_id=backup_set.pk, value=new.isoformat() if new else None))
    return actions


def _plan_media_sets(now: dt.datetime, state: _State) -> list[Action]:
    """Open media sets whose pool's policy says they end (``always``: after their run; a
    cron event: once it passed), unless a set is still being written into them."""
    actions = []
    open_sets = MediaSet.objects.filter(closed_at__isnull=True).select_related("pool")
    for media_set in open_sets:
        pool = media_set.pool
        if pool.allocation == MediaPool.Allocation.CONTINUE:
            continue
        if BackupSet.objects.filter(media_set=media_set, status=BackupSet.Status.RUNNING).exists():
            continue
        if pool.allocation == MediaPool.Allocation.ALWAYS and not media_set.backup_sets.exists():
            continue  # not written yet: its run is about to start
        if media_set_continues(pool=pool, media_set=media_set, now=now):
            continue
        why = ("the pool starts a new media set for every run"
               if pool.allocation == MediaPool.Allocation.ALWAYS
               else f"the pool's cron event ({pool.allocation_cron}) has passed")
        state.closing.add(media_set.pk)
        actions.append(Action("close", f"media set {media_set}", why, media_set_id=media_set.pk))
    return actions


def _plan_retirements(now: dt.datetime, state: _State) -> list[Action]:
    actions = []
    for tape, reasons in tapes_worn(now=now):
        state.retiring.add(tape.pk)
        actions.append(Action("retire", f"tape {tape.barcode}", "; ".join(reasons),
                              tape_id=tape.pk))
    return actions


def _sets_per_tape() -> dict[int, list[BackupSet]]:
    """The sets with data on each tape in its current life (sets whose tape was overwritten
    are history)."""
    per_tape: dict[int, dict[int, BackupSet]] = defaultdict(dict)
    segments = BackupSegment.objects.filter(backup_set__overwritten_at__isnull=True)
    for segment in segments.select_related("backup_set"):
        per_tape[segment.tape_id][segment.backup_set_id] = segment.backup_set
    return {tape_id: list(sets.values()) for tape_id, sets in per_tape.items()}


def _decision_for(backup_set: BackupSet, state: _State) -> rp.Decision:
    if backup_set.pk in state.decisions:
        return state.decisions[backup_set.pk]
    return rp.Decision(backup_set.pk, False, ("expired earlier",))  # already expired


def _plan_tapes(state: _State) -> tuple[list[Action], list[str]]:
    actions, notes = [], []
    per_tape = _sets_per_tape()
    tapes = Tape.objects.filter(pk__in=per_tape).select_related("media_set", "media_type")
    for tape in tapes:
        decisions = [_decision_for(s, state) for s in per_tape[tape.pk]]
        kept = [d for d in decisions if d.keep]
        until = rp.protection_until(decisions)
        if _forever(tape.protected_until) != _forever(until):
            actions.append(_protect_action(tape, until, kept))
        if rp.tape_reusable(decisions) and not tape.is_scratch:
            action, note = _recycle_action(tape, state)
            if action:
                actions.append(action)
            if note:
                notes.append(note)
    return actions, notes


def _protect_action(tape: Tape, until: dt.datetime | None, kept: list[rp.Decision]) -> Action:
    if until is None:
        message = "Protection ended: every backup set on it has expired."
    else:
        text = "no end date" if until >= FAR else f"{until:%Y-%m-%d %H:%M} UTC"
        sets = ", ".join(f"#{d.set_id}" for d in kept[:5])
        message = f"Protected until {text}: it holds kept backup set(s) {sets}."
    return Action("protect", f"tape {tape.barcode}", message, tape_id=tape.pk,
                  value=until.isoformat() if until else None)


def _recycle_action(tape: Tape, state: _State) -> tuple[Action | None, str | None]:
    """Back to scratch, if nothing more can be appended to it and it may be written again."""
    if tape.status in (Tape.Status.RETIRED, Tape.Status.DAMAGED) or tape.pk in state.retiring:
        return None, (f"Tape {tape.barcode} holds only expired sets but is "
                      f"{'retired' if tape.pk in state.retiring else tape.get_status_display().lower()}; "
                      "take it out of service.")
    media_set = tape.media_set
    appendable = (media_set is not None and media_set.closed_at is None
                  and media_set.pk not in state.closing and tape.status != Tape.Status.FULL)
    if appendable:
        return None, None  # its media set may still append to it: wait until it closes
    return Action("recycle", f"tape {tape.barcode}",
                  "Returned to scratch: every backup set on it has expired; its data stays "
                  "readable until it is next written.", tape_id=tape.pk), None


# -- carrying it out ------------------------------------------------------------------------


def retention_run(*, context, dry_run: bool = False, now: dt.datetime | None = None,
                  preview_days: int = PREVIEW_DAYS) -> RetentionReport:
    """The retention check (scheduled daily; ``retention run [--dry-run]``)."""
    now = now or timezone.now()
    state = _State()
    actions, notes = retention_plan(now=now, state=state)
    report = RetentionReport(now=now, dry_run=dry_run, actions=actions, notes=notes)
    for action in actions:
        if dry_run:
            context.log(f"Would: {action.subject}: {action.message}")
            continue
        if _apply(action, now):
            report.applied.append(action)
            context.log(f"{action.subject}: {action.message}")
        else:
            report.skipped.append(f"{action.subject}: changed meanwhile, left as it is.")
    for note in notes:
        context.log(note, level="warning")
    if not dry_run:
        _record_kept_because(state)
    report.preview = [asdict_row(row) for row in retention_preview(now=now, days=preview_days)]
    context.log(report.summary())
    return report


def _record_kept_because(state: _State) -> None:
    """Why each kept set is kept (shown in the admin), and the engine's provisional "no end
    date" written as none. Bookkeeping of what the decisions already say: not audited."""
    for set_id, decision in state.decisions.items():
        if decision.keep:
            BackupSet.objects.filter(pk=set_id, expired_at__isnull=True).exclude(
                kept_because=decision.reason[:300]).update(kept_because=decision.reason[:300])
            if decision.expires_at is None:
                BackupSet.objects.filter(pk=set_id, expires_at__gte=FAR).update(expires_at=None)


def _apply(action: Action, now: dt.datetime) -> bool:
    with transaction.atomic():
        return {"expire": _apply_expire, "expiry": _apply_expiry, "protect": _apply_protect,
                "recycle": _apply_recycle, "close": _apply_close,
                "retire": _apply_retire}[action.kind](action, now)


def _audit_set(action: Action, kind: str, backup_set_id: int) -> None:
    AuditRecord.objects.create(action=kind, subject_type="backup set", subject_id=backup_set_id,
                               subject=action.subject, message=action.message)


def _apply_expire(action: Action, now: dt.datetime) -> bool:
    reason = action.message.removeprefix("Expired: ").rstrip(".")
    done = BackupSet.objects.filter(pk=action.set_id, expired_at__isnull=True).exclude(
        status=BackupSet.Status.RUNNING).update(expired_at=now, expiry_reason=reason[:300],
                                                kept_because="")
    if done:
        _audit_set(action, AuditRecord.Action.EXPIRE, action.set_id)
    return bool(done)


def _apply_expiry(action: Action, now: dt.datetime) -> bool:
    value = dt.datetime.fromisoformat(action.value) if action.value else None
    reason = action.message.split(": ", 1)[-1].rstrip(".")
    done = BackupSet.objects.filter(pk=action.set_id, expired_at__isnull=True).update(
        expires_at=value, kept_because=reason[:300])
    if done:
        _audit_set(action, AuditRecord.Action.EXPIRY, action.set_id)
    return bool(done)


def _apply_protect(action: Action, now: dt.datetime) -> bool:
    value = dt.datetime.fromisoformat(action.value) if action.value else None
    tape = Tape.objects.select_for_update().filter(pk=action.tape_id).first()
    if tape is None:
        return False
    floor = _protection_floor(tape)
    if floor is not None and (value is None or value < floor):
        return False  # a set came or was kept meanwhile: never protect less than it needs
    Tape.objects.filter(pk=tape.pk).update(protected_until=value)
    audit(action=AuditRecord.Action.PROTECT, subject=tape, message=action.message)
    return True


def _protection_floor(tape: Tape) -> dt.datetime | None:
    """What the tape's unexpired sets need now, read from the database at the change."""
    dates = [_no_date(s.expires_at) or FOREVER for s in _unexpired_sets(tape)]
    return max(dates) if dates else None


def _unexpired_sets(tape: Tape):
    """Sets with data on the tape that have not expired (running ones included)."""
    return BackupSet.objects.filter(segments__tape=tape, expired_at__isnull=True,
                                    overwritten_at__isnull=True).distinct()


def _apply_recycle(action: Action, now: dt.datetime) -> bool:
    tape = Tape.objects.select_for_update().filter(pk=action.tape_id).first()
    if tape is None or tape.is_scratch or _unexpired_sets(tape).exists():
        return False  # late recycling, checked again at the moment of the change
    if tape.status in (Tape.Status.RETIRED, Tape.Status.DAMAGED):
        return False
    # bytes_written moves to the lifetime count: the engine's ``tape_unclaim`` treats a
    # scratch tape with bytes_written 0 as "nothing written since it was claimed".
    done = Tape.objects.filter(pk=tape.pk, media_set=tape.media_set_id, pool=tape.pool_id).update(
        pool=None, media_set=None, sequence=None, status=Tape.Status.WRITABLE,
        protected_until=None, bytes_written=0,
        lifetime_bytes_written=F("lifetime_bytes_written") + F("bytes_written"))
    if done:
        audit(action=AuditRecord.Action.RECYCLE, subject=tape,
              message=f"{action.message} It was in pool {tape.pool.name if tape.pool_id else '–'}"
                      f"{', media set ' + str(tape.media_set) if tape.media_set_id else ''}.")
    return bool(done)


def _apply_close(action: Action, now: dt.datetime) -> bool:
    media_set = MediaSet.objects.filter(pk=action.media_set_id).first()
    return media_set is not None and media_set_close(media_set=media_set, reason=action.message)


def _apply_retire(action: Action, now: dt.datetime) -> bool:
    tape = Tape.objects.filter(pk=action.tape_id).first()
    return tape is not None and tape_retire(tape=tape, reason=action.message)


# -- preview ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    """In the preview: ``set_id`` of ``job`` expires at ``at`` (``tapes``: where it is)."""

    job: str
    set_id: int
    started_at: dt.datetime
    at: dt.datetime
    reason: str
    tapes: tuple[str, ...]


def asdict_row(row: PreviewRow) -> dict:
    data = asdict(row)
    data["started_at"], data["at"] = row.started_at.isoformat(), row.at.isoformat()
    data["tapes"] = list(row.tapes)
    return data


def retention_preview(*, job: BackupJob | None = None, policy: RetentionPolicy | None = None,
                      now: dt.datetime | None = None, days: int = PREVIEW_DAYS,
                      future_runs: dict[int, list[dt.datetime]] | None = None) -> list[PreviewRow]:
    """What expires when over the next ``days``, per job (all jobs, ``job``'s, or those under
    ``policy``), assuming the runs in ``future_runs[job id]`` happen and complete."""
    now = now or timezone.now()
    jobs = BackupJob.objects.select_related("pool__retention_policy", "retention_policy")
    if job is not None:
        jobs = jobs.filter(pk=job.pk)
    rows = []
    for each in jobs:
        if policy is not None and each.effective_retention_policy != policy:
            continue
        sets = {s.pk: s for s in _live_sets(each)}
        runs = (future_runs or {}).get(each.pk, [])
        for expiry in rp.preview(policy_for(each), [_info(s) for s in sets.values()], now,
                                 days=days, future_runs=runs):
            backup_set = sets[expiry.set_id]
            barcodes = tuple(backup_set.segments.order_by("sequence")
                             .values_list("tape__barcode", flat=True))
            rows.append(PreviewRow(each.name, backup_set.pk, backup_set.started_at, expiry.at,
                                   expiry.reason, barcodes))
    return sorted(rows, key=lambda r: (r.at, r.job, r.set_id))


# -- operator actions -------------------------------------------------------------------------


def backup_set_hold(*, backup_set: BackupSet, hold: bool, user=None, reason: str = "") -> bool:
    """Put a hold on a set (kept whatever the policy says) or lift it; audited."""
    done = BackupSet.objects.filter(pk=backup_set.pk, expired_at__isnull=True).exclude(
        hold=hold).update(hold=hold)
    if done:
        verb = "Hold put on the set" if hold else "Hold lifted"
        AuditRecord.objects.create(
            action=AuditRecord.Action.HOLD, subject_type="backup set", subject_id=backup_set.pk,
            subject=str(backup_set), message=f"{verb} by an operator{': ' + reason if reason else ''}.",
            user=user if getattr(user, "is_authenticated", False) else None)
    return bool(done)


# -- the label service's signals ----------------------------------------------------------------


@receiver(tape_pre_overwrite, dispatch_uid="backups.retention.refuse_kept_data")
def _refuse_kept_data(sender, *, tape: Tape, **kwargs) -> None:
    """Invariant 1, whatever ``protected_until`` says: a tape with an unexpired set on it
    (complete, running or failed but not yet expired) is never overwritten."""
    from tapes.media import ProtectedTape

    live = _unexpired_sets(tape).select_related("job").first()
    if live is not None:
        raise ProtectedTape(
            f"Tape {tape.barcode} holds backup set #{live.pk} of job {live.job.name}, which "
            "has not expired; it cannot be labelled, erased or overwritten until it does."
        )


@receiver(tape_overwritten, dispatch_uid="backups.retention.forget_overwritten")
def _forget_overwritten(sender, *, tape: Tape, **kwargs) -> None:
    """The tape's old data is gone: drop the catalog rows of the expired sets it held."""
    gone = BackupSet.objects.filter(segments__tape=tape, overwritten_at__isnull=True,
                                    expired_at__isnull=False).distinct()
    for backup_set in list(gone):
        CatalogEntry.objects.filter(backup_set=backup_set).delete()
        BackupSet.objects.filter(pk=backup_set.pk).update(overwritten_at=timezone.now())
        AuditRecord.objects.create(
            action=AuditRecord.Action.OVERWRITE, subject_type="backup set",
            subject_id=backup_set.pk, subject=str(backup_set), tape=tape,
            message=f"Tape {tape.barcode} was overwritten, so expired set #{backup_set.pk} is "
                    "gone: its catalog rows were deleted.")
