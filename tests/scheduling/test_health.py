"""The health check's findings, its stored report, and mail on changes only; the watchdog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from scheduling.health import health_check
from scheduling.models import ClusterHeartbeat, HealthReport, JobRun
from scheduling.services import run_claim, run_enqueue
from scheduling.watchdog import watchdog_cron, watchdog_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def alive():
    """The default cluster has just reported."""
    return ClusterHeartbeat.objects.create(cluster="tapebackup", host="h", pid=1)


def test_all_well_is_ok_and_sends_no_mail(alive):
    report = health_check()
    assert (report.status, report.reasons) == ("ok", [])
    assert HealthReport.objects.count() == 1 and mail.outbox == []


def test_a_dead_cluster_is_critical(alive):
    ClusterHeartbeat.objects.update(last_seen=timezone.now() - timedelta(hours=1))
    report = health_check()
    assert report.status == "critical"
    assert report.reasons[0].startswith("Cluster 'tapebackup' was last seen at ")


def test_drive_findings_scratch_wear_and_old_runs(alive, inventory_library, sleep_params,
                                                  settings):
    from tapes.models import MediaPool, Tape

    settings.TAPEBACKUP_QUEUED_TOO_LONG_SECONDS = 60
    first, second = inventory_library.drives.order_by("index")
    first.cleaning_requested = True
    first.last_status = {"tapealert": [{"flag": 20, "text": "Clean now",
                                        "severity": "critical"}]}
    first.save()
    second.enabled = False
    second.save()
    MediaPool.objects.create(name="monthly", min_scratch=5)
    Tape.objects.filter(barcode="TST001L8").update(mounts=19000)
    run = run_enqueue(kind="sleep", params=sleep_params())
    JobRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=2))
    report = health_check()
    assert report.status == "critical"
    text = "\n".join(report.reasons)
    assert "Drive lib1 drive 0 asks to be cleaned." in text
    assert "Drive lib1 drive 0 reports TapeAlert: Clean now." in text
    assert "Drive lib1 drive 1 is disabled." in text
    assert ("Pool monthly has 4 scratch tape(s) in the library, fewer than its minimum of 5."
            in text)
    assert "Tape TST001L8 has been loaded 19000 times" in text
    assert f"Run #{run.pk} (Sleep) has been queued since" in text


def test_mail_goes_out_on_changes_only(alive):
    ClusterHeartbeat.objects.update(last_seen=timezone.now() - timedelta(hours=1))
    assert health_check().notified is True
    assert health_check().notified is False  # same findings: no second mail
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "[tapebackup] Health: Critical"
    ClusterHeartbeat.objects.update(last_seen=timezone.now())
    assert health_check().status == "ok"
    assert len(mail.outbox) == 2 and "from Critical to OK" in mail.outbox[1].body


def test_the_health_job_kind_stores_a_report(alive):
    from scheduling.runner import JobRunner

    run = run_claim(run_id=run_enqueue(kind="health").pk)
    assert JobRunner(run).execute() == JobRun.State.SUCCEEDED
    assert HealthReport.objects.count() == 1


def test_the_watchdog_interrupts_stale_runs_and_retries_per_schedule(alive, sleep_params):
    from scheduling.models import Schedule

    schedule = Schedule.objects.create(name="s", kind="sleep", cron="0 3 * * *",
                                       params=sleep_params(), retry_attempts=1)
    run = run_enqueue(kind="sleep", params=sleep_params(), schedule=schedule)
    run = run_claim(run_id=run.pk)
    fresh = run_claim(run_id=run_enqueue(kind="sleep", params=sleep_params()).pk)
    JobRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    report = watchdog_run(notify=False)
    assert [r.pk for r in report.interrupted] == [run.pk]
    run.refresh_from_db()
    assert run.state == JobRun.State.INTERRUPTED
    assert run.error.startswith(f"The worker on {run.worker_host} (pid {run.worker_pid}) "
                                "stopped sending heartbeats at ")
    assert JobRun.objects.get(pk=fresh.pk).state == JobRun.State.RUNNING
    retry = run.retries.get()
    assert retry.attempt == 2 and retry.not_before > timezone.now()
    assert retry.state == JobRun.State.QUEUED and "Retried as run" in run.log
    assert "was interrupted" in mail.outbox[0].subject
    # The retry is itself interrupted: attempt 2 > retry_attempts 1, so no third run.
    retry = run_claim(run_id=JobRun.objects.filter(pk=retry.pk).update(not_before=None)
                      and retry.pk)
    JobRun.objects.filter(pk=retry.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    watchdog_run(notify=False)
    assert not JobRun.objects.get(pk=retry.pk).retries.exists()


def test_a_retry_waits_for_its_delay_then_is_queued(sleep_params):
    from scheduling.services import runs_dispatch

    retry = run_enqueue(kind="sleep", params=sleep_params(),
                        not_before=timezone.now() + timedelta(minutes=30))
    assert retry.state == JobRun.State.QUEUED and not retry.task_id
    assert runs_dispatch() == 0
    assert runs_dispatch(now=timezone.now() + timedelta(minutes=31)) == 1
    assert JobRun.objects.get(pk=retry.pk).not_before is None


def test_the_watchdog_alerts_on_overdue_schedules_and_a_missing_tick(alive):
    from django_q.models import Schedule as QSchedule

    from scheduling.models import Schedule

    Schedule.objects.filter(name="Hourly health check").update(
        next_run_at=timezone.now() - timedelta(hours=2))
    QSchedule.objects.all().delete()
    alerts = watchdog_run(notify=True).alerts
    assert "Schedule 'Hourly health check' is overdue since" in alerts[-1]
    assert "scheduler tick' is missing" in alerts[0]
    assert mail.outbox[0].subject == "[tapebackup] Watchdog alert"
    watchdog_run(notify=True)
    assert len(mail.outbox) == 1  # same alerts: mailed once


def test_the_cron_wrapper_fails_loudly(capfd):
    """django-crontab swallows exceptions and exits 0: the wrapper leaves with os._exit(1)."""
    import os

    pid = os.fork()
    if pid == 0:  # the child runs the wrapper as cron would; it must not return normally
        try:
            watchdog_cron()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert "ALERT: No fresh heartbeat" in capfd.readouterr().err
