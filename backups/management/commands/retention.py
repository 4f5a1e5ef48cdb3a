"""``retention run [--dry-run] [--json]`` and ``retention preview``: the retention check,
and what expires when over the coming days."""

from __future__ import annotations

from django.core.management.base import CommandError

from backups.context import JobContext
from backups.models import BackupJob
from backups.retention import PREVIEW_DAYS, asdict_row, retention_preview, retention_run
from tapes.management.commands._base import SubcommandCommand


def future_runs(days: int) -> dict[int, list]:
    """The backup runs the schedules will start in the next ``days``, per job (so the
    preview shows what newer sets push out). Empty when scheduling is not installed."""
    from django.utils import timezone

    from scheduling.models import Schedule

    now = timezone.now()
    end = now + timezone.timedelta(days=days)
    runs: dict[int, list] = {}
    for schedule in Schedule.objects.filter(kind="backup", enabled=True):
        job_id = (schedule.params or {}).get("job_id")
        if not job_id:
            continue
        try:
            times = [t for t in schedule.next_runs(400, after=now) if t <= end]
        except (AttributeError, ValueError):
            continue
        runs.setdefault(int(job_id), []).extend(times)
    return runs


class Command(SubcommandCommand):
    help = "Run the retention check (or preview it) and show what expires when."
    subcommands = {"run": "expire sets, protect and recycle tapes",
                   "preview": "what expires when over the coming days"}

    def arguments_run(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="change nothing; show what "
                            "would change and what expires when")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--days", type=int, default=PREVIEW_DAYS)

    def arguments_preview(self, parser):
        parser.add_argument("--job")
        parser.add_argument("--days", type=int, default=PREVIEW_DAYS)
        parser.add_argument("--json", action="store_true")

    def handle_run(self, *, dry_run: bool, json: bool, days: int, **options):
        context = JobContext()
        report = retention_run(context=context, dry_run=dry_run, preview_days=days)
        if json:
            return self.print_json(report.as_dict())
        for line in context.lines[:-1]:
            self.stdout.write(line)
        if dry_run:
            self._preview_table([asdict_row(r) for r in self._preview(None, days)], days)
        self.stdout.write(report.summary())

    def handle_preview(self, *, job: str | None, days: int, json: bool, **options):
        backup_job = None
        if job:
            backup_job = BackupJob.objects.filter(name=job).first()
            if backup_job is None:
                raise CommandError(f"There is no backup job named {job!r}.")
        rows = [asdict_row(r) for r in self._preview(backup_job, days)]
        if json:
            return self.print_json(rows)
        self._preview_table(rows, days)

    def _preview(self, job, days):
        return retention_preview(job=job, days=days, future_runs=future_runs(days))

    def _preview_table(self, rows: list[dict], days: int) -> None:
        self.stdout.write(f"What expires in the next {days} days "
                          "(assuming the scheduled backups run):")
        if not rows:
            self.stdout.write("  nothing.")
        for row in rows:
            tapes = ", ".join(row["tapes"]) or "no tape"
            self.stdout.write(f"  {row['at'][:16]}  {row['job']} set #{row['set_id']} "
                              f"(started {row['started_at'][:16]}, on {tapes}): {row['reason']}")
