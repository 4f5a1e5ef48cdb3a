"""Job-run services: enqueue, claim, drive reservation and dispatch, waiting for media,
cancel, stale runs and retries.

Every state change is a conditional UPDATE whose row count says whether this caller won, so
two clusters, a redelivered task, the watchdog and an operator can act on one run at once
and exactly one of them changes it (STYLE §8).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from scheduling import conf
from scheduling.models import JobRun, Schedule
from scheduling.registry import get_kind

if TYPE_CHECKING:
    from tapes.models import Drive

logger = logging.getLogger(__name__)

TASK = "scheduling.tasks.run_execute"


class SchedulingError(Exception):
    """A scheduling request that cannot be done; ``str()`` is one sentence for the operator."""


# Enqueue -------------------------------------------------------------------------------

def run_enqueue(*, kind: str, params: dict | None = None, requested_by=None,
                schedule: Schedule | None = None, priority: int = 0, node: str | None = None,
                not_before: datetime | None = None, retry_of: JobRun | None = None,
                scheduled_for: datetime | None = None) -> JobRun:
    """Create a run row and queue it (after commit), or let it wait for a drive.

    Commands (`backup run --queue`), the admin and schedules call this. A run that needs a
    drive gets one here if a compatible drive is free, in priority-then-age order with the
    runs already waiting; otherwise it waits and the dispatcher gives it one later.
    """
    spec = get_kind(kind)
    if spec is None:
        raise SchedulingError(f"There is no job kind {kind!r}.")
    params = dict(params or {})
    needs_drive = spec.drive_needed(params)
    with transaction.atomic():
        run = JobRun.objects.create(
            kind=kind, params=params, schedule=schedule, priority=priority,
            requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
            node=node or spec.node_for(params) or "", not_before=not_before, retry_of=retry_of,
            attempt=retry_of.attempt + 1 if retry_of else 1, scheduled_for=scheduled_for,
            state=JobRun.State.WAITING_DRIVE if needs_drive else JobRun.State.QUEUED,
            waiting_reason=_drive_reason(spec, params, node) if needs_drive else "",
        )
        if not_before is None or not_before <= timezone.now():
            if needs_drive:
                runs_dispatch()
            else:
                JobRun.objects.filter(pk=run.pk).update(not_before=None)
                _enqueue_task(run)
    run.refresh_from_db()
    return run


def _drive_reason(spec, params: dict, node: str | None) -> str:
    media = spec.media_type(params)
    what = f"a free {media} drive" if media else "a free drive"
    return f"Waiting for {what}" + (f" on node {node}." if node else ".")


def _enqueue_task(run: JobRun) -> None:
    """Send the run's task to its cluster once the surrounding transaction commits."""
    spec = get_kind(run.kind)
    cluster = conf.cluster_for_node(run.node or None)
    timeout = int(spec.timeout_for(run.params)) if spec else 600
    transaction.on_commit(partial(_send_task, run.pk, run.attempt, cluster, timeout))


def _send_task(run_id: int, attempt: int, cluster: str, timeout: int) -> None:
    from django_q.tasks import async_task

    # ack_failure is stamped into the payload by the enqueuer: a failed tape job is never
    # handed out again by the broker (reference/django-q2.md §1).
    task_id = async_task(TASK, run_id, cluster=cluster, timeout=timeout, ack_failure=True,
                         task_name=f"run-{run_id}-{attempt}-{uuid.uuid4().hex[:6]}")
    JobRun.objects.filter(pk=run_id).update(task_id=task_id)


def run_start_here(*, kind: str, params: dict, drive: Drive | None = None,
                   requested_by=None) -> JobRun:
    """A run this process executes itself (``scheduling.runner.execute_here``: a command in
    the foreground), created already claimed and holding ``drive``: workers and other
    commands see the drive taken, and the run is in the history like any other."""
    spec = get_kind(kind)
    if spec is None:
        raise SchedulingError(f"There is no job kind {kind!r}.")
    now = timezone.now()
    try:
        with transaction.atomic():
            return JobRun.objects.create(
                kind=kind, params=dict(params), drive=drive, state=JobRun.State.RUNNING,
                requested_by=requested_by if getattr(requested_by, "is_authenticated", False)
                else None, node=spec.node_for(params) or "", claim_token=uuid.uuid4().hex,
                worker_host=socket.gethostname(), worker_pid=os.getpid(), cluster="",
                started_at=now, heartbeat_at=now)
    except IntegrityError:  # jobrun_one_active_per_drive
        holder = JobRun.objects.filter(drive=drive, state__in=JobRun.HOLDS_DRIVE).first()
        which = f"job run #{holder.pk} ({holder.kind})" if holder else "another job run"
        raise SchedulingError(f"{str(drive)[:1].upper()}{str(drive)[1:]} is in use by {which}; "
                              "wait for it, or name another drive with --drive.") from None


# Claim ---------------------------------------------------------------------------------

def run_claim(*, run_id: int) -> JobRun | None:
    """Take a queued run for this process; ``None`` if someone else has it (or it ended).

    The broker may deliver a task twice (leases, prefetch, redelivery after a crash); the
    second delivery finds the run no longer queued and exits at once.
    """
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = JobRun.objects.filter(pk=run_id, state=JobRun.State.QUEUED).update(
        state=JobRun.State.RUNNING, claim_token=token, worker_host=socket.gethostname(),
        worker_pid=os.getpid(), cluster=_current_cluster(), started_at=now, heartbeat_at=now,
        waiting_reason="",
    )
    if not claimed:
        return None
    return JobRun.objects.get(pk=run_id)


def _current_cluster() -> str:
    try:
        from django_q.conf import Conf

        return Conf.CLUSTER_NAME or ""
    except Exception:  # not inside a cluster (tests, `sync`)
        return ""


# Drives and dispatch --------------------------------------------------------------------

def runs_dispatch(*, now: datetime | None = None) -> int:
    """Give free drives to waiting runs (priority, then age) and queue due retries."""
    now = now or timezone.now()
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    started = 0
    waiting = JobRun.objects.filter(due, state=JobRun.State.WAITING_DRIVE)
    for run in waiting.order_by("-priority", "created_at", "id"):
        started += run_reserve_drive(run=run)
    for run in JobRun.objects.filter(state=JobRun.State.QUEUED, not_before__lte=now):
        if JobRun.objects.filter(pk=run.pk, state=JobRun.State.QUEUED,
                                 not_before=run.not_before).update(not_before=None):
            _enqueue_task(run)
            started += 1
    return started


def free_drives(*, media_type: str | None = None, node: str | None = None):
    from tapes.models import Drive

    drives = Drive.objects.filter(enabled=True).exclude(
        pk__in=JobRun.objects.filter(state__in=JobRun.HOLDS_DRIVE, drive__isnull=False)
        .values("drive_id")
    )
    if media_type:
        drives = drives.filter(media_types__name=media_type)
    if node:
        drives = drives.filter(node=node)
    return drives.select_related("library").order_by("library__name", "index").distinct()


def run_reserve_drive(*, run: JobRun) -> bool:
    """Give a waiting run a compatible, enabled, free drive and queue it.

    The database constraint ``jobrun_one_active_per_drive`` decides races: the loser gets an
    IntegrityError and tries the next drive.
    """
    spec = get_kind(run.kind)
    media = spec.media_type(run.params) if spec else None
    drives = free_drives(media_type=media, node=run.node or None)
    if run.params.get("drive_id"):  # a job for one particular drive (cleaning it, say)
        drives = drives.filter(pk=run.params["drive_id"])
    library = spec.library(run.params) if spec else None
    if library:  # a drive in the library that holds the run's tapes
        drives = drives.filter(library__name=library)
    for drive in drives:
        try:
            with transaction.atomic():
                won = JobRun.objects.filter(pk=run.pk, state=JobRun.State.WAITING_DRIVE).update(
                    state=JobRun.State.QUEUED, drive=drive, node=drive.node, waiting_reason="",
                    not_before=None,
                )
        except IntegrityError:
            continue  # another dispatcher took this drive a moment ago
        if won:
            run.drive, run.node = drive, drive.node
            _enqueue_task(run)
        return bool(won)
    return False


# Waiting for media -----------------------------------------------------------------------

def media_need(exc) -> dict:
    """The machine-readable part of a ``NeedsMedia``, kept on the run to re-check it."""
    return {"barcodes": list(exc.barcodes), "where": exc.where, "pool": exc.pool,
            "media_type": exc.media_type, "count": exc.count}


def media_reason(exc) -> str:
    """What a waiting run needs, in one sentence with where the tapes are."""
    if exc.barcodes:
        places = [f"{b}, which is {_where(exc.where.get(b))}" for b in exc.barcodes]
        noun = "tape" if len(places) == 1 else "tapes"
        return f"Needs {noun} " + "; ".join(places) + "."
    if exc.count:
        media = f" {exc.media_type}" if exc.media_type else ""
        noun = "tape" if exc.count == 1 else "tapes"
        pool = f" for pool {exc.pool}" if exc.pool else ""
        return f"Needs {exc.count} scratch{media} {noun}{pool}."
    return str(exc)


def _where(text: str | None) -> str:
    if not text:
        return "not in the library"
    return text if text.startswith(("in ", "on ", "not ")) else f"in {text}"


def media_available(need: dict) -> bool:
    """Whether what a waiting run needs is now in a library."""
    from tapes.models import Tape

    in_library = Tape.objects.filter(place=Tape.Place.LIBRARY)
    barcodes = need.get("barcodes") or []
    if barcodes:
        return in_library.filter(barcode__in=barcodes).count() == len(set(barcodes))
    count = need.get("count") or 0
    if not count:
        return True  # nothing specific: let the run look again
    usable = in_library.filter(
        status__in=[Tape.Status.NEW, Tape.Status.WRITABLE], write_protected=False,
        foreign=False,
    ).exclude(media_type__kind="cleaning")
    if need.get("media_type"):
        usable = usable.filter(media_type__name=need["media_type"])
    pool = need.get("pool")
    usable = usable.filter(Q(pool__isnull=True) | Q(pool__name=pool)) if pool else usable.filter(
        pool__isnull=True)
    return usable.count() >= count


def runs_recheck_media(*, now: datetime | None = None) -> int:
    """Re-queue runs whose media has appeared; fail those that waited past the deadline."""
    now = now or timezone.now()
    deadline = timedelta(seconds=conf.media_deadline_seconds())
    resumed = 0
    for run in JobRun.objects.filter(state=JobRun.State.WAITING_MEDIA):
        if run.waiting_since and now - run.waiting_since > deadline:
            run_give_up_waiting(run=run, now=now)
        elif media_available(run.waiting_for):
            resumed += run_resume(run=run)
    return resumed


def run_resume(*, run: JobRun) -> int:
    """A run waiting for media goes back to the queue (or to waiting for a drive)."""
    spec = get_kind(run.kind)
    needs_drive = bool(spec and spec.drive_needed(run.params))
    state = JobRun.State.WAITING_DRIVE if needs_drive else JobRun.State.QUEUED
    with transaction.atomic():
        if not JobRun.objects.filter(pk=run.pk, state=JobRun.State.WAITING_MEDIA).update(
                state=state, not_before=None,
                waiting_reason=_drive_reason(spec, run.params, run.node) if needs_drive else ""):
            return 0
        _run_log_append(run.pk, "Resumed: the media it waited for is in the library.")
        if needs_drive:
            runs_dispatch()
        else:
            _enqueue_task(JobRun.objects.get(pk=run.pk))
    return 1


def run_give_up_waiting(*, run: JobRun, now: datetime) -> bool:
    hours = conf.media_deadline_seconds() / 3600
    error = (f"Gave up after waiting {hours:g} hours for media: "
             f"{run.waiting_reason.rstrip('.')}.")[:500]
    if not JobRun.objects.filter(pk=run.pk, state=JobRun.State.WAITING_MEDIA).update(
            state=JobRun.State.FAILED, error=error, finished_at=now):
        return False
    from scheduling.notify import notify_run

    notify_run(run=JobRun.objects.get(pk=run.pk), event="failed")
    return True


def _run_log_append(run_id: int, line: str) -> None:
    from scheduling.runner import bounded_log

    run = JobRun.objects.only("log", "log_dropped_lines").get(pk=run_id)
    text, dropped = bounded_log(run.log, [f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}"],
                                run.log_dropped_lines)
    JobRun.objects.filter(pk=run_id).update(log=text, log_dropped_lines=dropped)


# Cancel ----------------------------------------------------------------------------------

def run_cancel(*, run: JobRun, user=None) -> bool:
    """Cancel a run: at once if it has not started, at the next safe point if it runs.

    Returns whether anything changed (for the admin's count).
    """
    now = timezone.now()
    who = user if getattr(user, "is_authenticated", False) else None
    by = f" by {user.get_username()}" if who else ""
    not_started = JobRun.objects.filter(
        pk=run.pk, state__in=[JobRun.State.QUEUED, *JobRun.WAITING])
    if not_started.update(state=JobRun.State.CANCELLED, finished_at=now, cancel_requested_at=now,
                          cancel_requested_by=who, error=f"Cancelled{by} before it started."):
        _run_log_append(run.pk, f"Cancelled{by} before it started.")
        runs_dispatch()
        return True
    return bool(JobRun.objects.filter(
        pk=run.pk, state=JobRun.State.RUNNING, cancel_requested_at__isnull=True
    ).update(cancel_requested_at=now, cancel_requested_by=who))


# Stale runs and retries --------------------------------------------------------------------

def runs_mark_stale(*, now: datetime | None = None) -> list[JobRun]:
    """Mark running runs whose heartbeat stopped as interrupted, and retry them per policy."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=conf.stale_seconds())
    stale = JobRun.objects.filter(state=JobRun.State.RUNNING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, started_at__lt=limit))
    marked = []
    for run in stale:
        seen = run.heartbeat_at or run.started_at
        error = (f"The worker on {run.worker_host or 'an unknown host'} (pid {run.worker_pid}) "
                 f"stopped sending heartbeats at {seen:%Y-%m-%d %H:%M:%S} UTC, so the run was "
                 f"marked interrupted.")
        if JobRun.objects.filter(pk=run.pk, state=JobRun.State.RUNNING,
                                 claim_token=run.claim_token).update(
                state=JobRun.State.INTERRUPTED, error=error, finished_at=now):
            _run_log_append(run.pk, error)
            run.refresh_from_db()
            marked.append(run)
            run_after_failure(run=run)
    if marked:
        runs_dispatch()
    return marked


def run_after_failure(*, run: JobRun) -> JobRun | None:
    """Notify, and retry as a new run if the run's schedule says so.

    A retry is always a new run (a backup retried writes a new set; nothing resumes a half
    written one).
    """
    from scheduling.notify import notify_run

    notify_run(run=run, event=run.state)
    schedule = run.schedule
    if schedule is None or run.attempt > schedule.retry_attempts:
        return None
    retry = run_enqueue(
        kind=run.kind, params=run.params, schedule=schedule, priority=run.priority,
        node=schedule.node or None, retry_of=run, scheduled_for=run.scheduled_for,
        not_before=timezone.now() + timedelta(minutes=schedule.retry_delay_minutes),
    )
    _run_log_append(run.pk, f"Retried as run #{retry.pk} (attempt {retry.attempt}).")
    return retry
