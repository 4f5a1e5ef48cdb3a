"""Pruning the history the scheduler leaves: finished job runs (with their logs), health
reports, and django-q2's task rows.

Nothing else prunes them: django-q2's ``save_limit`` is 0 (never prune, reference/django-q2.md
§5: its pruning transaction lost results on SQLite), and every run keeps up to
``TAPEBACKUP_LOG_MAX_BYTES`` of log. The daily retention run calls ``history_prune``; so can
``manage.py jobs prune``. What is kept:

- job runs that are still active, that ended less than ``TAPEBACKUP_RUN_HISTORY_DAYS`` ago
  (400: a year of monthly fulls and the month before), and each schedule's newest run;
- health reports of the last ``TAPEBACKUP_HEALTH_HISTORY_DAYS`` (90), and the newest one,
  which the next check compares with before it notifies;
- django-q2 task rows of the last ``TAPEBACKUP_TASK_HISTORY_DAYS`` (30): they are transport;
  the job run is the record.

Backup sets, catalogs, verify results and audit records are never pruned here: the sets go
with retention, the rest is the tapes' history. Deletes go in batches of short transactions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from scheduling.models import HealthReport, JobRun, Schedule

BATCH = 2000


def history_prune(*, now: datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete what is older than the settings say; the number of rows per kind."""
    from django_q.models import Task

    now = now or timezone.now()
    newest = JobRun.objects.filter(schedule=OuterRef("pk")).order_by("-created_at", "-id")
    keep_runs = {pk for pk in Schedule.objects.annotate(newest=Subquery(newest.values("pk")[:1]))
                 .values_list("newest", flat=True) if pk is not None}
    runs = (JobRun.objects.filter(state__in=JobRun.FINISHED, finished_at__lt=now - timedelta(
        days=settings.TAPEBACKUP_RUN_HISTORY_DAYS)).exclude(pk__in=keep_runs))
    newest_report = HealthReport.objects.order_by("-created_at", "-id").values("pk")[:1]
    reports = HealthReport.objects.filter(created_at__lt=now - timedelta(
        days=settings.TAPEBACKUP_HEALTH_HISTORY_DAYS)).exclude(pk__in=newest_report)
    tasks = Task.objects.filter(stopped__lt=now - timedelta(
        days=settings.TAPEBACKUP_TASK_HISTORY_DAYS))
    return {"job runs": _delete(runs, dry_run), "health reports": _delete(reports, dry_run),
            "queue tasks": _delete(tasks, dry_run)}


def history_prune_text(counts: dict[str, int], *, dry_run: bool = False) -> str:
    verb = "Would prune" if dry_run else "Pruned"
    return f"{verb} " + ", ".join(f"{n} {what}" for what, n in counts.items()) + "."


def _delete(rows, dry_run: bool) -> int:
    if dry_run:
        return rows.count()
    total = 0
    while ids := list(rows.values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic():
            total += rows.model.objects.filter(pk__in=ids).delete()[1].get(
                rows.model._meta.label, 0)
    return total
