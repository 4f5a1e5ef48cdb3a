"""``healthcheck [--json]``: run the health check now, print it, exit 1 on critical."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from scheduling.health import health_check


class Command(BaseCommand):
    help = "Run the health check now and print the report; exits 1 when it is critical."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--no-notify", action="store_true", help="do not send mail")

    def handle(self, *args, json=False, no_notify=False, **options):
        report = health_check(notify=not no_notify)
        if json:
            self.stdout.write(_json(report))
        else:
            self.stdout.write(f"Health: {report.get_status_display()}")
            for reason in report.reasons:
                self.stdout.write(f"  - {reason}")
        if report.status == report.Status.CRITICAL:
            sys.exit(1)


def _json(report) -> str:
    return json.dumps({"status": report.status, "reasons": report.reasons,
                       "checks": report.checks, "created_at": report.created_at},
                      default=str, indent=2, sort_keys=True)
