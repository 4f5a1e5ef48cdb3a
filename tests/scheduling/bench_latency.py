"""Benchmark, not a test (not collected): enqueue → running, and schedule due → running, on
one default cluster with the shipped poll of 1 s. Run it explicitly:
``bin/test tests/scheduling/bench_latency.py -s`` (and with DATABASE_URL for PostgreSQL)."""

from __future__ import annotations

import statistics

import pytest
from django.utils import timezone

from scheduling.models import JobRun, Schedule
from scheduling.services import run_enqueue
from tests.scheduling.clusters import clusters, wait_for


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_latency(tmp_path, sleep_params):
    from django_q.models import Schedule as QSchedule

    from scheduling.conf import TICK_NAME

    with clusters(tmp_path, "tapebackup", Q_POLL="1"):
        runs = []
        for _ in range(10):
            runs.append(run_enqueue(kind="sleep", params=sleep_params(0)))
            wait_for(lambda: JobRun.objects.get(pk=runs[-1].pk).started_at is not None, 30)
        lat = [(r.started_at - r.created_at).total_seconds()
               for r in JobRun.objects.filter(pk__in=[r.pk for r in runs])]
        due = timezone.now()
        s = Schedule.objects.create(name="b", kind="sleep", cron="* * * * *",
                                    params=sleep_params(0))
        Schedule.objects.filter(pk=s.pk).update(next_run_at=due)
        QSchedule.objects.filter(name=TICK_NAME).update(next_run=due)
        wait_for(lambda: s.runs.filter(started_at__isnull=False).exists(), 120, 0.2)
        fired = s.runs.get()
    print(f"\nenqueue -> running: median {statistics.median(lat):.2f} s, max {max(lat):.2f} s")
    print(f"schedule due -> running: {(fired.started_at - due).total_seconds():.1f} s "
          "(includes the cluster's first scheduler pass, ~30 s after start)")
