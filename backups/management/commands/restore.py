"""``restore (--set ID | --job NAME [--at DATETIME]) [--path PATH...] --target DIR``:
restore files from tape in the foreground (DESIGN §9)."""

from __future__ import annotations

import json
import os

from django.core.management.base import BaseCommand, CommandError

from backups.context import JobContext
from backups.errors import JobError, NeedsMedia
from backups.extract import MODES, ON_EXISTING, SAFE, SKIP
from backups.paths import path_text
from backups.restore import restore_choose, restore_set
from backups.services import drive_for_reading
from scheduling.models import JobRun
from scheduling.runner import execute_here
from scheduling.services import SchedulingError, run_start_here
from tapes.services import InventoryError


def without_waiting(body):
    """A foreground restore or verify does not wait for media (a worker would carry it on,
    later, unasked): a missing tape fails it with the sentence naming where the tape is."""
    def call(**kwargs):
        try:
            return body(**kwargs)
        except NeedsMedia as exc:
            raise JobError(str(exc)) from None
    return call


class PrintingContext(JobContext):
    """Progress on stderr as one rewritten line; log lines as they come."""

    def __init__(self, command: BaseCommand, *, quiet: bool):
        super().__init__()
        self.command, self.quiet = command, quiet

    def progress(self, **kwargs) -> None:
        super().progress(**kwargs)
        if self.quiet:
            return
        total = kwargs.get("total_files") or 0
        done = kwargs.get("files", 0)
        self.command.stderr.write(f"\r{done}/{total} entries, {kwargs.get('bytes', 0)} bytes",
                                  ending="")

    def log(self, message: str, *, level: str = "info") -> None:
        super().log(message, level=level)
        if not self.quiet and level != "info":
            self.command.stderr.write(f"\n{level}: {message}")


class Command(BaseCommand):
    help = "Restore a backup set, chosen paths of it, or paths as they were at a given time."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--set", type=int, dest="set_id", help="the backup set's id")
        which.add_argument("--job", help="the job; with --at, the newest set at that time")
        parser.add_argument("--at", help="date and time (ISO 8601) for --job")
        parser.add_argument("--path", action="append", dest="paths", default=[],
                            help="a file, directory or glob to restore (repeatable); all if none")
        parser.add_argument("--target", required=True, help="directory to restore into")
        parser.add_argument("--mode", choices=MODES, default=SAFE,
                            help="safe (default) or faithful (device nodes, setuid, owners)")
        parser.add_argument("--existing", choices=ON_EXISTING, default=SKIP,
                            help="what to do with files that exist: skip, overwrite, rename")
        parser.add_argument("--drive", help="LIBRARY:INDEX of the drive to read with")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, set_id, job, at, paths, target, mode, existing, drive, json: bool,
               **options):
        if at and not job:
            raise CommandError("--at needs --job.")
        context = PrintingContext(self, quiet=json or options["verbosity"] == 0)
        reports: list = []
        run = None
        try:
            chosen = restore_choose(set_id=set_id, job=job, at=at, paths=paths)
            first = chosen[0][0].segments.select_related("tape").order_by("sequence").first()
            drive_obj = drive_for_reading(first.tape if first else None, spec=drive)

            def body(*, context, drive_id):
                for backup_set, chosen_paths in chosen:
                    reports.append(restore_set(
                        backup_set=backup_set, target=target, paths=chosen_paths, mode=mode,
                        on_existing=existing, drive=drive_obj, context=context))
                failed = sum(len(r.problems()) for r in reports)
                if failed:
                    raise JobError(f"{failed} entries were not restored.")
                return " ".join(r.summary() for r in reports)

            # A job run executed here: it holds the drive and is in the history.
            run = run_start_here(kind="restore", drive=drive_obj, params={
                "set_id": set_id, "job": job, "at": at, "mode": mode, "on_existing": existing,
                "catalog_paths": [path_text(os.fsencode(p)) for p in paths],
                "target": path_text(os.fsencode(target)), "foreground": True})
            execute_here(run, echo=context, body=without_waiting(body))
        except (JobError, InventoryError, SchedulingError) as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            raise CommandError("Interrupted" + (f": job run #{run.pk} was cancelled."
                                                if run else ".")) from None
        run.refresh_from_db()
        self._print(reports, json)
        failed = sum(len(r.problems()) for r in reports)
        if failed:
            raise CommandError(f"{failed} entries could not be restored; see the messages above.")
        if run.state not in (JobRun.State.SUCCEEDED, JobRun.State.WARNINGS):
            raise CommandError(run.error or f"Job run #{run.pk} ended {run.state}.")

    def _print(self, reports, as_json: bool) -> None:
        if as_json:
            self.stdout.write(_json([r.as_dict() for r in reports]))
            return
        self.stderr.write("")
        for report in reports:
            for line in report.problems():
                self.stderr.write(f"error: {line}")
            self.stdout.write(report.summary())


def _json(data) -> str:
    return json.dumps(data, indent=2, default=str)
