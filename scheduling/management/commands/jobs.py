"""``jobs list [--state S] [--json]``, ``jobs show ID [--json]``, ``jobs cancel ID``,
``jobs prune [--dry-run]``."""

from __future__ import annotations

from scheduling.management.commands._base import SubcommandCommand
from scheduling.history import history_prune, history_prune_text
from scheduling.models import JobRun
from scheduling.services import SchedulingError, run_cancel


def run_json(run: JobRun, *, log: bool = False) -> dict:
    """The stable JSON form of a run (keys only ever get added)."""
    data = {
        "id": run.pk, "kind": run.kind, "state": run.state, "params": run.params,
        "attempt": run.attempt, "priority": run.priority, "node": run.node,
        "drive": str(run.drive) if run.drive_id else None, "cluster": run.cluster,
        "schedule": run.schedule.name if run.schedule_id else None,
        "requested_by": run.requested_by.get_username() if run.requested_by_id else None,
        "files": run.files, "bytes": run.bytes, "total_files": run.total_files,
        "total_bytes": run.total_bytes, "rate": run.rate, "eta": run.eta,
        "heartbeat_at": run.heartbeat_at, "error": run.error, "result": run.result,
        "waiting_reason": run.waiting_reason, "created_at": run.created_at,
        "started_at": run.started_at, "finished_at": run.finished_at,
        "cancel_requested_at": run.cancel_requested_at,
    }
    if log:
        data["log"] = run.log
    return data


def get_run(run_id: int) -> JobRun:
    run = JobRun.objects.select_related("drive__library", "schedule", "requested_by") \
        .filter(pk=run_id).first()
    if run is None:
        raise SchedulingError(f"There is no job run #{run_id}.")
    return run


class Command(SubcommandCommand):
    help = "List, show and cancel job runs."
    subcommands = {"list": "recent job runs, newest first", "show": "one run with its log",
                   "cancel": "cancel a run (at once if it has not started)",
                   "prune": "delete old finished runs, health reports and queue tasks "
                            "(the daily retention run does it too)"}

    def arguments_list(self, parser):
        parser.add_argument("--state", choices=JobRun.State.values)
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--json", action="store_true")

    def arguments_show(self, parser):
        parser.add_argument("id", type=int)
        parser.add_argument("--json", action="store_true")

    def arguments_cancel(self, parser):
        parser.add_argument("id", type=int)

    def arguments_prune(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle_prune(self, *, dry_run=False, **_):
        self.stdout.write(history_prune_text(history_prune(dry_run=dry_run), dry_run=dry_run))

    def handle_list(self, *, state=None, limit=50, json=False, **_):
        runs = JobRun.objects.select_related("drive__library", "schedule").order_by(
            "-created_at", "-id")
        if state:
            runs = runs.filter(state=state)
        runs = list(runs[:limit])
        if json:
            return self.print_json([run_json(r) for r in runs])
        for r in runs:
            where = f" on {r.drive}" if r.drive_id else ""
            extra = r.error or r.progress_text
            self.stdout.write(f"#{r.pk:<6} {r.kind:<10} {r.get_state_display():<24} "
                              f"{r.created_at:%Y-%m-%d %H:%M}{where}"
                              + (f"  {extra}" if extra else ""))
        if not runs:
            self.stdout.write("No job runs.")

    def handle_show(self, *, id, json=False, **_):
        run = get_run(id)
        if json:
            return self.print_json(run_json(run, log=True))
        for key, value in run_json(run).items():
            if value not in (None, "", {}):
                self.stdout.write(f"{key:>20}: {value}")
        self.stdout.write("")
        self.stdout.write(run.log or "(no log)")

    def handle_cancel(self, *, id, **_):
        run = get_run(id)
        if not run.is_active:
            raise SchedulingError(f"Run #{id} has already ended ({run.get_state_display().lower()}).")
        if not run_cancel(run=run):
            raise SchedulingError(f"Run #{id} is already being cancelled.")
        run.refresh_from_db()
        if run.state == JobRun.State.CANCELLED:
            self.stdout.write(f"Run #{id} cancelled.")
        else:
            self.stdout.write(f"Run #{id} will stop at its next safe point.")
