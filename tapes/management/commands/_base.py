"""Shared bits of every subcommand-style command (``tape``, ``backup``, ``jobs`` …):
subcommands, and turning the services' operator errors into one sentence on stderr with a
non-zero exit. Commands of other apps add their own error classes to ``operator_errors``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from tapes.drivers.base import TapeError
from tapes.services import InventoryError


class SubcommandCommand(BaseCommand):
    """A command with subcommands (``tape list``, ``tape label`` …): ``handle_<name>``."""

    subcommands: dict[str, str] = {}
    operator_errors: tuple[type[Exception], ...] = (InventoryError, TapeError)
    json_sort_keys = False

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True,
                                    metavar="{" + ",".join(self.subcommands) + "}")
        for name, help_text in self.subcommands.items():
            child = sub.add_parser(name, help=help_text)
            getattr(self, f"arguments_{_method(name)}", lambda p: None)(child)

    def handle(self, *args, subcommand: str, **options):
        try:
            return getattr(self, f"handle_{_method(subcommand)}")(**options)
        except self.operator_errors as exc:
            raise CommandError(str(exc)) from None

    def print_json(self, data) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=self.json_sort_keys))


def _method(subcommand: str) -> str:
    """``search-index`` is handled by ``handle_search_index``."""
    return subcommand.replace("-", "_")
