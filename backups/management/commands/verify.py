"""``verify (--set ID | --tape BARCODE) [--level quick|data]``: check that tapes read
back as the catalog says (DESIGN §9)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from backups.errors import JobError
from backups.management.commands.restore import PrintingContext
from backups.models import BackupSet
from backups.verify import LEVELS, QUICK, verify_set, verify_tape
from tapes.media import resolve_drive
from tapes.services import InventoryError, tape_get


class Command(BaseCommand):
    help = "Verify a backup set or a tape: its index against the catalog (quick) or every checksum (data)."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--set", type=int, dest="set_id")
        which.add_argument("--tape", help="a tape's barcode: every set on it")
        parser.add_argument("--level", choices=LEVELS, default=QUICK)
        parser.add_argument("--drive", help="LIBRARY:INDEX of the drive to read with")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, set_id, tape, level, drive, json: bool, **options):
        context = PrintingContext(self, quiet=True)
        try:
            drive_obj = resolve_drive(drive) if drive else None
            if set_id is not None:
                backup_set = BackupSet.objects.filter(pk=set_id).first()
                if backup_set is None:
                    raise CommandError(f"There is no backup set {set_id}.")
                report = verify_set(backup_set=backup_set, level=level, drive=drive_obj,
                                    context=context)
            else:
                tape_obj = tape_get(tape)
                report = verify_tape(tape=tape_obj, level=level, drive=drive_obj, context=context)
        except (JobError, InventoryError) as exc:
            raise CommandError(str(exc)) from None
        if json:
            self.stdout.write(_dumps(report.as_dict()))
        else:
            for line in report.errors:
                self.stderr.write(f"error: {line}")
            self.stdout.write(report.summary())
        if not report.ok:
            raise CommandError(f"Verify found {report.error_count} error(s).")


def _dumps(data) -> str:
    return json.dumps(data, indent=2, default=str)
