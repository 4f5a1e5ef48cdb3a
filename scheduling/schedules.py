"""Schedule services: create, enable/disable, fire due schedules, defaults for a backup job.

Why our own scheduler pass rather than one django-q2 ``Schedule`` per schedule: django-q2's
cron entries fire twice on the night daylight saving time ends, count from "now" instead of
the slot, and can only be fired by one cluster per schedule (reference/django-q2.md §2).
One django-q2 schedule (``TICK_NAME``, every minute, default cluster) runs
``scheduling.tasks.scheduler_tick``; it claims each due slot of ours with a conditional
UPDATE on ``next_run_at``, so a slot fires once however many clusters or nodes tick at once
(docs/scheduling.md).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from scheduling import cron
from scheduling.conf import TICK_FUNC, TICK_NAME  # noqa: F401  (the watchdog reads TICK_NAME)
from scheduling.models import JobRun, Schedule
from scheduling.services import SchedulingError, run_enqueue

logger = logging.getLogger(__name__)


def schedule_create(*, name: str, kind: str, cron_expr: str, time_zone: str = "UTC",
                    params: dict | None = None, node: str = "", enabled: bool = True,
                    **options) -> Schedule:
    """Create a schedule, validated as the admin validates it (one sentence on error)."""
    from scheduling.registry import get_kind

    if get_kind(kind) is None:
        raise SchedulingError(f"There is no job kind {kind!r}.")
    schedule = Schedule(name=name, kind=kind, cron=cron_expr, time_zone=time_zone,
                        params=params or {}, node=node or "", enabled=enabled, **options)
    try:
        schedule.full_clean()
    except ValidationError as exc:
        raise SchedulingError(_first_message(exc)) from None
    schedule.save()
    return schedule


def _first_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        for field, messages in exc.message_dict.items():
            if messages:
                return messages[0] if field == "__all__" else f"{field}: {messages[0]}"
    return exc.messages[0]


def schedules_set_enabled(*, schedules, enabled: bool) -> int:
    """Enable or disable schedules; returns how many changed. Enabling counts from now."""
    changed = 0
    for schedule in schedules:
        if schedule.enabled != enabled:
            schedule.enabled = enabled
            schedule.save(update_fields=["enabled", "updated_at"])
            changed += 1
    return changed


def schedules_fire_due(*, now: datetime | None = None) -> list[JobRun]:
    """Fire every enabled schedule whose slot is due, once per slot.

    A schedule whose slots were missed (cluster down) fires once and then continues with
    the next slot after ``now``. A schedule whose previous run is still active does not
    start a second one: the slot is recorded as a cancelled run saying so.
    """
    now = now or timezone.now()
    fired = []
    for schedule in Schedule.objects.filter(enabled=True, next_run_at__lte=now):
        run = _fire(schedule, now)
        if run is not None:
            fired.append(run)
    return fired


def _fire(schedule: Schedule, now: datetime) -> JobRun | None:
    slot = schedule.next_run_at
    following = cron.next_after(schedule.cron, schedule.time_zone, now)
    with transaction.atomic():
        won = Schedule.objects.filter(pk=schedule.pk, enabled=True, next_run_at=slot).update(
            next_run_at=following, last_fired_at=now)
        if not won:
            return None  # another cluster or node fired this slot
        if schedule.runs.filter(state__in=JobRun.ACTIVE).exists():
            return JobRun.objects.create(
                kind=schedule.kind, params=schedule.params, schedule=schedule,
                scheduled_for=slot, state=JobRun.State.CANCELLED, finished_at=now,
                error="Skipped: the previous run of this schedule had not finished.")
        try:
            return run_enqueue(kind=schedule.kind, params=schedule.params, schedule=schedule,
                               priority=schedule.priority, node=schedule.node or None,
                               scheduled_for=slot)
        except SchedulingError as exc:
            return JobRun.objects.create(
                kind=schedule.kind, params=schedule.params, schedule=schedule,
                scheduled_for=slot, state=JobRun.State.FAILED, finished_at=now,
                error=str(exc)[:500])


def schedules_overdue(*, now: datetime | None = None, grace: timedelta = timedelta(minutes=5)):
    """Enabled schedules whose slot passed more than ``grace`` ago: the scheduler is not
    running (the watchdog alerts)."""
    now = now or timezone.now()
    return Schedule.objects.filter(enabled=True, next_run_at__lt=now - grace)


def schedule_defaults_for_job(job, *, cron_expr: str = "0 1 1 * *",
                              time_zone: str | None = None) -> Schedule:
    """The monthly full backup schedule of a backup job, created once (then editable).

    The backup engine calls this when a job is defined. If the job already has one it is
    returned unchanged, so an operator's edits stay.
    """
    from django.conf import settings

    name = f"Monthly full backup: {job}"
    existing = Schedule.objects.filter(kind="backup", params__job_id=job.pk,
                                       params__level="full").first()
    if existing is not None:
        return existing
    return Schedule.objects.create(
        name=name[:100], kind="backup", params={"job_id": job.pk, "level": "full"},
        cron=cron_expr, time_zone=time_zone or settings.TIME_ZONE, retry_attempts=1,
    )


@transaction.atomic
def backup_job_define(**fields):
    """Define a backup job (``backups.services.job_define``) with its default monthly full
    schedule, in one transaction: what `backup define` and the admin's add page call."""
    from backups.services import job_define

    job = job_define(**fields)
    schedule_defaults_for_job(job)
    return job


def next_runs_text(schedule: Schedule, count: int = 5, *, after: datetime | None = None) -> list[str]:
    """The next run times as the admin shows them: 'Sun 1 Feb 2027 02:00 CET'."""
    if cron.cron_error(schedule.cron):
        return []
    return [cron.describe(t) for t in schedule.next_runs(count, after=after)]
