"""``verify (--set ID | --tape BARCODE) [--level quick|data]``: check that tapes read
back as the catalog says (DESIGN §9)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from backups.errors import JobError
from backups.management.commands.restore import PrintingContext, without_waiting
from backups.models import BackupSet
from backups.services import drive_for_reading
from backups.verify import LEVELS, QUICK, verify_set, verify_tape
from scheduling.runner import execute_here
from scheduling.services import SchedulingError, run_start_here
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
        reports: list = []
        run = None
        try:
            if set_id is not None:
                backup_set = BackupSet.objects.filter(pk=set_id).first()
                if backup_set is None:
                    raise CommandError(f"There is no backup set {set_id}.")
                first = backup_set.segments.select_related("tape").order_by("sequence").first()
                first_tape = first.tape if first else None
            else:
                first_tape = tape_get(tape)
            drive_obj = drive_for_reading(first_tape, spec=drive)

            def body(*, context, drive_id):
                if set_id is not None:
                    report = verify_set(backup_set=backup_set, level=level, drive=drive_obj,
                                        context=context)
                else:
                    report = verify_tape(tape=first_tape, level=level, drive=drive_obj,
                                         context=context)
                reports.append(report)
                if not report.ok:
                    raise JobError(report.summary())
                return report.summary()

            # A job run executed here: it holds the drive and is in the history.
            run = run_start_here(kind="verify", drive=drive_obj, params={
                "set_id": set_id, "tape": tape, "level": level, "foreground": True})
            execute_here(run, echo=context, body=without_waiting(body))
        except (JobError, InventoryError, SchedulingError) as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            raise CommandError("Interrupted" + (f": job run #{run.pk} was cancelled."
                                                if run else ".")) from None
        run.refresh_from_db()
        if not reports:
            raise CommandError(run.error or f"Job run #{run.pk} ended {run.state}.")
        report = reports[0]
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
