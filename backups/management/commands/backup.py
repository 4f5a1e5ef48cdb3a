"""``backup define|run|list`` (DESIGN §9): thin shells over ``backups.services`` and the
engine; every failure is one sentence on stderr and a non-zero exit."""

from __future__ import annotations

import sys
import time

from django.core.management.base import CommandError

from backups.context import JobContext
from backups.errors import JobError
from backups.models import BackupJob, BackupSet
from backups.services import drive_for_job, set_list, set_summary
from scheduling.kinds import backup_set_run
from scheduling.models import JobRun
from scheduling.runner import execute_here
from scheduling.schedules import backup_job_define
from scheduling.services import SchedulingError, run_enqueue, run_start_here
from tapes.management.commands._base import SubcommandCommand


class ProgressContext(JobContext):
    """Draws one progress line on a terminal (files, bytes, rate, ETA, current path)."""

    def __init__(self, stream, *, quiet: bool = False):
        super().__init__()
        self.stream, self.quiet, self.started = stream, quiet, time.monotonic()

    def progress(self, *, files=0, bytes=0, total_files=None, total_bytes=None, current=""):
        super().progress(files=files, bytes=bytes, total_files=total_files,
                         total_bytes=total_bytes, current=current)
        if self.quiet:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = bytes / elapsed
        line = f"{files} files  {bytes / 1e6:,.1f} MB  {rate / 1e6:,.1f} MB/s"
        if total_bytes and rate > 0 and total_bytes > bytes:
            line += f"  ETA {int((total_bytes - bytes) / rate)} s"
        line += f"  {current[-40:]}"
        self.stream.write("\r" + line[:110].ljust(110))
        self.stream.flush()

    def log(self, message, *, level="info"):
        super().log(message, level=level)
        if not self.quiet:
            self.stream.write("\r" + " " * 110 + "\r" + self.lines[-1] + "\n")


class Command(SubcommandCommand):
    help = "Define, run and list backups."
    subcommands = {"define": "Define a backup job.", "run": "Run a backup job.",
                   "list": "List backup sets."}
    operator_errors = (*SubcommandCommand.operator_errors, JobError, SchedulingError)

    def arguments_define(self, parser):
        parser.add_argument("name")
        parser.add_argument("--source", nargs="+", required=True, metavar="PATH")
        parser.add_argument("--exclude", nargs="+", default=[], metavar="GLOB")
        parser.add_argument("--pool", required=True)
        parser.add_argument("--retention", type=int, default=None, metavar="DAYS")
        parser.add_argument("--pre-script", default="")
        parser.add_argument("--post-script", default="")
        parser.add_argument("--script-timeout", type=int, default=600, metavar="SECONDS")
        parser.add_argument("--json", action="store_true")

    def handle_define(self, *, name, source, exclude, pool, retention, pre_script, post_script,
                      script_timeout, json, **_):
        job = backup_job_define(name=name, sources=source, excludes=exclude, pool=pool,
                         retention_days=retention, pre_script=pre_script,
                         post_script=post_script, script_timeout=script_timeout)
        if json:
            return self.print_json({"id": job.pk, "name": job.name, "sources": job.sources,
                                    "excludes": job.excludes, "pool": job.pool.name,
                                    "retention_days": job.retention_days})
        self.stdout.write(f"Backup job {job.name} defined ({len(job.sources)} source(s), "
                          f"pool {job.pool.name}).")

    def arguments_run(self, parser):
        parser.add_argument("name")
        parser.add_argument("--level", default="full", choices=BackupSet.Level.values)
        parser.add_argument("--drive", metavar="LIB:INDEX")
        parser.add_argument("--queue", action="store_true", help="Queue it for the workers.")
        parser.add_argument("--json", action="store_true")

    def handle_run(self, *, name, level, drive, queue, json, **_):
        job = BackupJob.objects.select_related("pool").filter(name=name).first()
        if job is None:
            raise CommandError(f"There is no backup job named {name!r}.")
        if queue:
            return self._enqueue(job, level, json)
        target = drive_for_job(job=job, spec=drive)
        context = ProgressContext(self.stderr if json else self.stdout,
                                  quiet=json or not sys.stdout.isatty())
        # A job run like a worker's, executed here: it holds the drive (so no worker or
        # other command uses it meanwhile) and is in the history.
        params = {"job_id": job.pk, "level": level}
        run = run_start_here(kind="backup", params=params, drive=target)
        sets: list = []

        def body(*, context, drive_id):
            backup_set, text = backup_set_run(params, context=context, drive_id=drive_id)
            sets.append(backup_set)
            return text

        try:
            state = execute_here(run, echo=context, body=body)
        except KeyboardInterrupt:
            raise CommandError(f"Interrupted: job run #{run.pk} was cancelled.") from None
        run.refresh_from_db()
        if state == JobRun.State.WAITING_MEDIA:
            raise CommandError(f"{run.waiting_reason.rstrip('.')}: job run #{run.pk} waits, "
                               "and a worker carries it on when the tape is in the library.")
        if state not in (JobRun.State.SUCCEEDED, JobRun.State.WARNINGS):
            raise CommandError(run.error or f"Job run #{run.pk} ended {state}.")
        backup_set = sets[0]
        if json:
            return self.print_json(set_summary(backup_set))
        self.stdout.write(f"Backup set #{backup_set.pk}: {backup_set.get_status_display()}, "
                          f"{backup_set.files} files, {backup_set.bytes} bytes (job run "
                          f"#{run.pk}).")

    def _enqueue(self, job, level, json):
        run = run_enqueue(kind="backup", params={"job_id": job.pk, "level": level})
        if json:
            return self.print_json({"run_id": run.pk, "job": job.name, "level": level})
        self.stdout.write(f"Backup of {job.name} queued as job run #{run.pk}.")

    def arguments_list(self, parser):
        parser.add_argument("--job")
        parser.add_argument("--json", action="store_true")

    def handle_list(self, *, job, json, **_):
        sets = set_list(job=job)
        if json:
            return self.print_json([set_summary(s) for s in sets])
        for s in sets:
            tapes = ",".join(sorted({g.tape.barcode for g in s.segments.all()})) or "-"
            self.stdout.write(f"#{s.pk:<5} {s.job.name:<20} {s.level:<5} {s.status:<9} "
                              f"{s.started_at:%Y-%m-%d %H:%M}  {s.files:>9} files "
                              f"{s.bytes:>14} B  {tapes}")
