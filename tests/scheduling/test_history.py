"""The daily retention run prunes the scheduler's history: old finished runs (keeping each
schedule's newest and every active one), old health reports (keeping the newest), and
django-q2's task rows; ``jobs prune --dry-run`` counts without deleting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Task

from scheduling.history import history_prune
from scheduling.models import HealthReport, JobRun, Schedule

pytestmark = pytest.mark.django_db


def _run(days_ago: int, state=JobRun.State.SUCCEEDED, schedule=None) -> JobRun:
    when = timezone.now() - timedelta(days=days_ago)
    return JobRun.objects.create(kind="health", state=state, created_at=when, schedule=schedule,
                                 finished_at=None if state in JobRun.ACTIVE else when,
                                 log="x" * 1000)


def _task(n: int, days_ago: int) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    Task.objects.create(id=f"t{n}", name=f"task-{n}", func="scheduling.runner.execute",
                        started=when, stopped=when, success=True)


def test_prune_keeps_what_the_operator_needs(capsys):
    yearly = Schedule.objects.create(name="yearly", kind="health", cron="0 0 1 1 *")
    old, recent = _run(500), _run(30)
    old_failed = _run(401, JobRun.State.FAILED)
    yearly_last = _run(700, schedule=yearly)  # a schedule's newest run stays, however old
    _run(900, schedule=yearly)
    stuck = _run(800, JobRun.State.WAITING_MEDIA)  # active: never pruned
    HealthReport.objects.create(status="ok", created_at=timezone.now() - timedelta(days=200))
    newest_report = HealthReport.objects.create(status="warning",
                                                created_at=timezone.now() - timedelta(days=100))
    fresh_report = HealthReport.objects.create(status="ok")
    fresh_report.created_at = timezone.now() - timedelta(days=1)  # newest, and recent
    fresh_report.save()
    for n, days in enumerate((40, 31, 2)):
        _task(n, days)

    call_command("jobs", "prune", "--dry-run")
    assert capsys.readouterr().out.strip() == (
        "Would prune 3 job runs, 2 health reports, 2 queue tasks.")
    assert JobRun.objects.count() == 6

    assert history_prune() == {"job runs": 3, "health reports": 2, "queue tasks": 2}
    assert set(JobRun.objects.values_list("pk", flat=True)) == {recent.pk, yearly_last.pk, stuck.pk}
    assert not JobRun.objects.filter(pk__in=[old.pk, old_failed.pk]).exists()
    assert list(HealthReport.objects.values_list("pk", flat=True)) == [fresh_report.pk]
    assert list(Task.objects.values_list("id", flat=True)) == ["t2"]
    assert newest_report.pk not in HealthReport.objects.values_list("pk", flat=True)


def test_only_report_is_kept_however_old():
    only = HealthReport.objects.create(status="ok", created_at=timezone.now() - timedelta(days=999))
    assert history_prune()["health reports"] == 0
    assert HealthReport.objects.get().pk == only.pk


def test_retention_run_prunes_history():
    from scheduling.runner import execute_run
    from scheduling.services import run_enqueue

    _run(500)
    run = run_enqueue(kind="retention")
    assert execute_run(run.pk) == JobRun.State.SUCCEEDED
    run.refresh_from_db()
    assert "Pruned 1 job runs, 0 health reports, 0 queue tasks." in run.log
