"""``drive clean [--drive LIB:N | --due]`` and ``drive due``: drive cleaning."""

from __future__ import annotations

from tapes.cleaning import drive_clean, drives_due
from tapes.management.commands._base import SubcommandCommand
from tapes.media import resolve_drive
from tapes.services import InventoryError


class Command(SubcommandCommand):
    help = "Clean tape drives and show which are due."
    subcommands = {"clean": "load a cleaning cartridge into drives", "due": "drives due"}

    def arguments_clean(self, parser):
        parser.add_argument("--drive", help="LIBRARY:INDEX")
        parser.add_argument("--due", action="store_true", help="every drive that is due")

    def handle_clean(self, *, drive, due, **_):
        if bool(drive) == due:
            raise InventoryError("Name a drive with --drive LIBRARY:INDEX, or use --due.")
        targets = [resolve_drive(drive)] if drive else [d for d, _ in drives_due()]
        failed = []
        for target in targets:
            result = drive_clean(drive=target)
            self.stdout.write(result.summary())
            if not result.cleaned:
                failed.append(result.summary())
        if not targets:
            self.stdout.write("No drive is due for cleaning.")
        if failed:
            raise InventoryError(failed[0])

    def handle_due(self, **_):
        due = drives_due()
        for target, reasons in due:
            self.stdout.write(f"{target}: {'; '.join(reasons)}")
        if not due:
            self.stdout.write("No drive is due for cleaning.")
