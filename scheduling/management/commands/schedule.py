"""``schedule list [--json]``, ``schedule add NAME --kind K --cron 'EXPR' [--tz Z]
[--params JSON] [--node N]``, ``schedule enable NAME``, ``schedule disable NAME``."""

from __future__ import annotations

import json as jsonlib

from scheduling.management.commands._base import SubcommandCommand
from scheduling.models import Schedule
from scheduling.schedules import next_runs_text, schedule_create, schedules_set_enabled
from scheduling.services import SchedulingError


def schedule_json(s: Schedule) -> dict:
    return {"name": s.name, "kind": s.kind, "params": s.params, "cron": s.cron,
            "time_zone": s.time_zone, "enabled": s.enabled, "node": s.node,
            "next_run_at": s.next_run_at, "last_fired_at": s.last_fired_at,
            "retry_attempts": s.retry_attempts, "notify": s.notify}


class Command(SubcommandCommand):
    help = "List, add, enable and disable schedules."
    subcommands = {"list": "every schedule with its next run", "add": "add a schedule",
                   "enable": "enable a schedule", "disable": "disable a schedule"}

    def arguments_list(self, parser):
        parser.add_argument("--json", action="store_true")

    def arguments_add(self, parser):
        parser.add_argument("name")
        parser.add_argument("--kind", required=True)
        parser.add_argument("--cron", required=True, help="e.g. '0 2 1 * *'")
        parser.add_argument("--tz", default=None, help="time zone, e.g. Europe/Berlin")
        parser.add_argument("--params", default="{}", help="JSON object")
        parser.add_argument("--node", default="")
        parser.add_argument("--disabled", action="store_true")

    def arguments_enable(self, parser):
        parser.add_argument("name")

    arguments_disable = arguments_enable

    def handle_list(self, *, json=False, **_):
        schedules = list(Schedule.objects.all())
        if json:
            return self.print_json([schedule_json(s) for s in schedules])
        for s in schedules:
            upcoming = next_runs_text(s, 1) if s.enabled else []
            when = f"next {upcoming[0]}" if upcoming else "disabled"
            self.stdout.write(f"{s.name:<32} {s.kind:<10} {s.cron:<16} {s.time_zone:<16} {when}")

    def handle_add(self, *, name, kind, cron, tz=None, params="{}", node="", disabled=False,
                   **_):
        from django.conf import settings

        try:
            parsed = jsonlib.loads(params)
        except ValueError as exc:
            raise SchedulingError(f"--params is not JSON ({exc}).") from None
        if not isinstance(parsed, dict):
            raise SchedulingError("--params must be a JSON object, e.g. '{\"level\": \"full\"}'.")
        if Schedule.objects.filter(name=name).exists():
            raise SchedulingError(f"A schedule named {name!r} already exists.")
        s = schedule_create(name=name, kind=kind, cron_expr=cron,
                            time_zone=tz or settings.TIME_ZONE, params=parsed, node=node,
                            enabled=not disabled)
        first = next_runs_text(s, 1)
        self.stdout.write(f"Schedule {s.name!r} added" +
                          (f"; first run {first[0]}." if s.enabled else " (disabled)."))

    def _set(self, name: str, enabled: bool) -> None:
        schedules = Schedule.objects.filter(name=name)
        if not schedules.exists():
            raise SchedulingError(f"There is no schedule named {name!r}.")
        changed = schedules_set_enabled(schedules=schedules, enabled=enabled)
        word = "enabled" if enabled else "disabled"
        self.stdout.write(f"Schedule {name!r} {word}." if changed
                          else f"Schedule {name!r} was already {word}.")

    def handle_enable(self, *, name, **_):
        self._set(name, True)

    def handle_disable(self, *, name, **_):
        self._set(name, False)
