"""The watchdog: runs outside the cluster (cron, every 5 minutes on each node).

It marks runs whose heartbeat stopped as interrupted (and retries them per their schedule),
and alerts when no cluster heartbeat is fresh, when the scheduler tick or a schedule is
overdue. Alerts are mailed when they change, and always printed to stderr with a non-zero
exit status, because django-crontab swallows exceptions and exits 0 (reference §6).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from scheduling import conf
from scheduling.models import ClusterHeartbeat, JobRun
from scheduling.schedules import TICK_NAME, schedules_overdue
from scheduling.services import runs_mark_stale

_LAST_ALERTS = "tapebackup:watchdog:alerts"


@dataclass
class WatchdogReport:
    interrupted: list[JobRun] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Run #{run.pk} marked interrupted: {run.error}" for run in self.interrupted]
        return out + [f"ALERT: {alert}" for alert in self.alerts]


def watchdog_run(*, now: datetime | None = None, notify: bool = True) -> WatchdogReport:
    now = now or timezone.now()
    report = WatchdogReport(interrupted=runs_mark_stale(now=now))
    report.alerts += _cluster_alerts(now)
    report.alerts += _scheduler_alerts(now)
    if notify:
        _mail_if_changed(report.alerts)
    return report


def _cluster_alerts(now: datetime) -> list[str]:
    fresh_after = now - timedelta(seconds=conf.cluster_stale_seconds())
    alerts = []
    for name in sorted({conf.default_cluster(), *conf.node_clusters()}):
        last = (ClusterHeartbeat.objects.filter(cluster=name).order_by("-last_seen")
                .values_list("last_seen", flat=True).first())
        if last is None or last < fresh_after:
            since = f"since {last:%Y-%m-%d %H:%M:%S} UTC" if last else "ever"
            alerts.append(f"No fresh heartbeat from django-q2 cluster {name!r} ({since}).")
    return alerts


def _scheduler_alerts(now: datetime) -> list[str]:
    from django_q.models import Schedule as QSchedule

    alerts = []
    tick = QSchedule.objects.filter(name=TICK_NAME).first()
    if tick is None:
        alerts.append(f"The django-q2 schedule {TICK_NAME!r} is missing; run migrate.")
    elif tick.next_run and tick.next_run < now - timedelta(minutes=5):
        alerts.append(f"The scheduler tick is overdue since {tick.next_run:%Y-%m-%d %H:%M} UTC; "
                      "the default cluster is not running its scheduler.")
    for schedule in schedules_overdue(now=now)[:20]:
        alerts.append(f"Schedule {schedule.name!r} is overdue since "
                      f"{schedule.next_run_at:%Y-%m-%d %H:%M} UTC.")
    return alerts


def _mail_if_changed(alerts: list[str]) -> None:
    from django.conf import settings

    from scheduling.notify import send

    try:
        previous = cache.get(_LAST_ALERTS)
    except Exception:
        previous = None
    if sorted(alerts) == sorted(previous or []):
        return
    if alerts:
        send("Watchdog alert", "\n".join(alerts), list(settings.TAPEBACKUP_NOTIFY_EMAILS))
    try:
        cache.set(_LAST_ALERTS, alerts, None)
    except Exception:
        pass


def watchdog_cron() -> None:
    """The CRONJOBS entry: print what was found; on alerts or errors exit non-zero.

    django-crontab's ``run`` catches everything (even SystemExit) and exits 0, so failure
    leaves with ``os._exit`` after writing to stderr, which cron mails to MAILTO.
    """
    import traceback

    try:
        report = watchdog_run()
    except Exception:
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        os._exit(2)
    for line in report.lines():
        print(line, file=sys.stderr if line.startswith("ALERT") else sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()
    if report.alerts:
        os._exit(1)
