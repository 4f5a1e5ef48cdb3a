"""Shared bits of the scheduling commands: subcommands, one-sentence errors, stable JSON."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from scheduling.services import SchedulingError


class SubcommandCommand(BaseCommand):
    """A command with subcommands (``jobs list``, ``jobs cancel`` …): ``handle_<name>``."""

    subcommands: dict[str, str] = {}

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True,
                                    metavar="{" + ",".join(self.subcommands) + "}")
        for name, help_text in self.subcommands.items():
            child = sub.add_parser(name, help=help_text)
            getattr(self, f"arguments_{name}", lambda p: None)(child)

    def handle(self, *args, subcommand: str, **options):
        try:
            return getattr(self, f"handle_{subcommand}")(**options)
        except SchedulingError as exc:
            raise CommandError(str(exc)) from None

    def print_json(self, data) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=True))
