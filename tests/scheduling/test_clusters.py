"""Real qcluster processes: no run executes twice, whatever the broker does.

Slow (each starts clusters), but run by default: these are the issue's "done means".
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from scheduling.models import ClusterHeartbeat, JobRun, Schedule
from scheduling.services import run_enqueue
from tests.scheduling.clusters import clusters, queue_empty, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _ended(*runs) -> bool:
    return not JobRun.objects.filter(pk__in=[r.pk for r in runs], state__in=JobRun.ACTIVE).exists()


def _dump(started) -> str:
    return "\n".join(f"--- {c.name}\n{c.output()[-4000:]}" for c in started)


def test_a_run_longer_than_the_lease_executes_once(tmp_path, counter, sleep_params):
    # The stock ORM broker leases for `retry` (here 3 s) and hands the still-running task out
    # again; the second delivery finds the run claimed and exits at once.
    with clusters(tmp_path, "tapebackup", Q_BROKER_CLASS="django_q.brokers.orm.ORM",
                  TAPEBACKUP_JOB_TIMEOUT="2") as started:
        run = run_enqueue(kind="sleep", params=sleep_params(6, timeout=30))
        wait_for(lambda: _ended(run) and queue_empty(), timeout=30, message=_dump(started))
        output = _dump(started)
    run.refresh_from_db()
    assert run.state == JobRun.State.SUCCEEDED, output
    assert counter.starts() == 1 and counter.ends() == 1
    assert "was not queued any more" in output or output.count("run_execute") >= 2, output


def test_fifty_runs_over_two_clusters_each_execute_once(tmp_path, counter, sleep_params):
    with clusters(tmp_path, "tapebackup", "tapebackup") as started:
        runs = [run_enqueue(kind="sleep", params=sleep_params(0.05, tag=f"r{n}"))
                for n in range(50)]
        wait_for(lambda: _ended(*runs), timeout=90, message=_dump(started))
        pids = {r.worker_pid for r in JobRun.objects.all()}
        hosts = {(r.worker_pid, r.cluster) for r in JobRun.objects.all()}
    assert JobRun.objects.filter(state=JobRun.State.SUCCEEDED).count() == 50
    assert counter.starts() == 50 and counter.ends() == 50
    assert len({line.split()[1] for line in counter.lines("START")}) == 50
    assert len(pids) >= 2, hosts  # both clusters took work
    # Each cluster's sentinel wrote its database heartbeat under its main pid.
    beats = set(ClusterHeartbeat.objects.filter(cluster="tapebackup").values_list("pid", flat=True))
    assert beats == {c.process.pid for c in started}


def test_kill_9_of_a_worker_is_found_by_the_watchdog_and_never_runs_again(
        tmp_path, counter, sleep_params, settings):
    from scheduling.watchdog import watchdog_run

    settings.TAPEBACKUP_STALE_SECONDS = 1.5
    with clusters(tmp_path, "tapebackup") as started:
        # Lease = timeout 6 s + margin 1 s: the broker hands the task out again at +7 s.
        run = run_enqueue(kind="sleep", params=sleep_params(20, timeout=6))
        wait_for(lambda: counter.starts() == 1, timeout=20, message=_dump(started))
        pid = JobRun.objects.get(pk=run.pk).worker_pid
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: [r.pk for r in watchdog_run(notify=False).interrupted] == [run.pk]
                 or JobRun.objects.get(pk=run.pk).state == JobRun.State.INTERRUPTED,
                 timeout=10, interval=0.25)
        found_after = time.monotonic() - killed
        # Past the lease: the broker redelivers, the claim refuses, the task is acknowledged.
        wait_for(queue_empty, timeout=20, message=_dump(started))
        time.sleep(1)
        output = _dump(started)
    run.refresh_from_db()
    assert run.state == JobRun.State.INTERRUPTED and "stopped sending heartbeats" in run.error
    assert found_after < 1.5 + 0.3 + 2, found_after  # stale limit + heartbeat + a poll
    assert counter.starts() == 1, output


def test_a_run_for_a_drive_on_node_b_is_executed_by_node_b_only(
        tmp_path, counter, sleep_params, settings):
    from tapes.services import library_create

    settings.TAPEBACKUP_NODES = ["nodeA", "nodeB"]
    library_create(name="libA", drives=1, slots=2, mailslots=0, node="nodeA")
    library_create(name="libB", drives=1, slots=2, mailslots=0, node="nodeB")
    env = {"TAPEBACKUP_NODES": "nodeA,nodeB", "Q_WORKERS": "1"}
    with clusters(tmp_path, "nodeA", "nodeB", **env) as started:
        on_b = [run_enqueue(kind="sleep", node="nodeB", params=sleep_params(0.2, drive=True,
                                                                             tag=f"b{n}"))
                for n in range(3)]
        on_a = run_enqueue(kind="sleep", node="nodeA", params=sleep_params(0.2, drive=True))
        # Three runs for one drive on B: one holds it, two wait (dispatched as it frees).
        assert [r.state for r in on_b].count(JobRun.State.WAITING_DRIVE) == 2
        wait_for(lambda: _ended(on_a, *on_b), timeout=40, message=_dump(started))
    for run in on_b:
        run.refresh_from_db()
        assert (run.state, run.cluster, run.drive.node) == ("succeeded", "nodeB", "nodeB")
    on_a.refresh_from_db()
    assert on_a.cluster == "nodeA" and counter.starts() == 4


def test_a_schedule_due_while_two_clusters_run_fires_once_without_lock_errors(
        tmp_path, counter, sleep_params, inventory_library):
    """Through django-q2's own scheduler (its first pass comes ~30 s after start) firing our
    tick in both clusters, while this process writes like a busy web server."""
    from django_q.models import Schedule as QSchedule

    from scheduling.conf import TICK_NAME
    from tapes.models import Tape

    schedule = Schedule.objects.create(name="every minute", kind="sleep", cron="* * * * *",
                                       params=sleep_params(0.2))
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timezone.timedelta(minutes=10))  # missed: catch up once
    QSchedule.objects.filter(name=TICK_NAME).update(next_run=timezone.now())
    stop = threading.Event()

    def web_writes():
        try:
            while not stop.is_set():
                Tape.objects.filter(barcode="TST001L8").update(mounts=1)
                time.sleep(0.02)
        finally:
            connection.close()

    writer = threading.Thread(target=web_writes)
    with clusters(tmp_path, "tapebackup", "tapebackup") as started:
        writer.start()
        try:
            wait_for(lambda: counter.ends() >= 1, timeout=60, interval=0.5,
                     message=_dump(started))
            time.sleep(2)  # a second tick (other cluster, SQLite without FOR UPDATE) may run
            wait_for(queue_empty, timeout=10)
        finally:
            stop.set()
            writer.join()
        output = _dump(started)
    assert schedule.runs.count() == 1 and counter.starts() == 1, output
    assert "database is locked" not in output and "Could not" not in output, output
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now() - timezone.timedelta(minutes=1)
