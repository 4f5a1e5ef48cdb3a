"""``watchdog``: mark stale runs interrupted, alert on dead clusters and overdue schedules.

Exits 1 when there are alerts, so cron (or a systemd timer) reports it loudly.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from scheduling.watchdog import watchdog_run


class Command(BaseCommand):
    help = "Mark runs whose heartbeat stopped as interrupted; alert when no cluster is alive."

    def add_arguments(self, parser):
        parser.add_argument("--no-notify", action="store_true", help="do not send mail")

    def handle(self, *args, no_notify=False, **options):
        report = watchdog_run(notify=not no_notify)
        for run in report.interrupted:
            self.stdout.write(f"Run #{run.pk} marked interrupted: {run.error}")
        for alert in report.alerts:
            self.stderr.write(f"ALERT: {alert}")
        if not report.interrupted and not report.alerts:
            self.stdout.write("All clusters alive, no stale runs, no overdue schedules.")
        if report.alerts:
            sys.exit(1)
