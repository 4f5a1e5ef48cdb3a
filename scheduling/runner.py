"""The runner: one class owns a run's lifecycle, and a ``JobContext`` backed by the run row.

``execute_run(run_id)`` is what the django-q2 task calls: claim (or exit at once on a
duplicate delivery), heartbeat from a thread in short transactions, call the kind's service,
then end the run honestly — succeeded, succeeded with warnings, failed (one sentence on the
row, the traceback in its log), cancelled, waiting for media or for a drive. Whatever
happens, child processes the job started are killed with their process groups.

No transaction is held across the job (reference/django-q2.md §5): every write is one UPDATE
filtered by the claim token, so a run the watchdog has already marked interrupted is never
overwritten by a worker that comes back.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
import traceback
from collections import deque
from datetime import timedelta

from django.db import close_old_connections, connection
from django.utils import timezone

from backups.context import JobContext
from backups.errors import Cancelled, JobError, NeedsDrive, NeedsMedia
from scheduling import conf
from scheduling.models import JobRun
from scheduling.registry import KindNotAvailable, get_kind

logger = logging.getLogger(__name__)

NOT_AVAILABLE = "This job kind is not available yet."


def bounded_log(text: str, new_lines: list[str], dropped: int,
                limit: int | None = None) -> tuple[str, int]:
    """Append lines and keep only the last ``limit`` bytes, counting the lines dropped.

    The stored text starts with a note saying how many earlier lines were dropped.
    """
    limit = limit or conf.log_max_bytes()
    lines = deque(line for line in text.splitlines() if not line.startswith("[… "))
    lines.extend(new_lines)
    size = sum(len(line.encode()) + 1 for line in lines)
    while lines and size > limit:
        size -= len(lines.popleft().encode()) + 1
        dropped += 1
    head = [f"[… {dropped} earlier lines dropped]"] if dropped else []
    return "\n".join([*head, *lines]), dropped


class RunContext(JobContext):
    """The context a service gets when it runs as a job run: writes go to the run row."""

    def __init__(self, run: JobRun, *, echo: JobContext | None = None) -> None:
        super().__init__()
        self.echo = echo  # a command's own context (progress bar), told everything too
        self.run_id = run.pk
        self.token = run.claim_token
        self.warnings = 0
        self.lost = False  # the run was taken away (watchdog): stop at the next safe point
        self._cancel = run.cancel_requested_at is not None
        self._log_text, self._dropped = run.log, run.log_dropped_lines
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._last_progress_write = 0.0
        self._last_beat = time.monotonic()
        self._rate_mark: tuple[float, int] | None = None
        self._children: list[subprocess.Popen] = []

    # -- JobContext ---------------------------------------------------------------------

    def progress(self, *, files: int = 0, bytes: int = 0, total_files: int | None = None,
                 total_bytes: int | None = None, current: str = "") -> None:
        super().progress(files=files, bytes=bytes, total_files=total_files,
                         total_bytes=total_bytes, current=current)
        if self.echo is not None:
            self.echo.progress(files=files, bytes=bytes, total_files=total_files,
                               total_bytes=total_bytes, current=current)
        now = time.monotonic()
        if now - self._last_beat >= conf.heartbeat_seconds():
            self.heartbeat()
        if now - self._last_progress_write < conf.progress_seconds():
            return
        self._last_progress_write = now
        self._write(**self._progress_fields(now, files, bytes, total_files, total_bytes, current))

    def log(self, message: str, *, level: str = "info") -> None:
        if self.echo is not None and not message.startswith("Traceback "):  # the log has it
            self.echo.log(message, level=level)
        if level in ("warning", "warn"):
            self.warnings += 1
        prefix = "" if level == "info" else f"{level.upper()}: "
        with self._lock:
            self._pending.append(f"{timezone.now():%Y-%m-%d %H:%M:%S} {prefix}{message}")
        if len(self._pending) >= 50:
            self.flush()

    def cancel_requested(self) -> bool:
        return self._cancel or self.lost

    def check_cancelled(self) -> None:
        if self.lost:
            raise Cancelled("The run was taken away from this worker (marked interrupted).")
        super().check_cancelled()

    def waiting(self, reason: str) -> None:
        super().waiting(reason)
        self._write(waiting_reason=reason[:500])

    # -- child processes ------------------------------------------------------------------

    def spawn(self, args, **kwargs) -> subprocess.Popen:
        """Start a subprocess in its own process group, killed when the run ends (and, on
        Linux, when the worker dies)."""
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("preexec_fn", _die_with_parent)
        child = subprocess.Popen(args, **kwargs)
        self._children.append(child)
        return child

    # -- writes -----------------------------------------------------------------------------

    def _progress_fields(self, now, files, bytes_, total_files, total_bytes, current) -> dict:
        fields = dict(files=files, bytes=bytes_, total_files=total_files,
                      total_bytes=total_bytes, current_path=current[:1000])
        if self._rate_mark is not None and now > self._rate_mark[0]:
            rate = max(0.0, (bytes_ - self._rate_mark[1]) / (now - self._rate_mark[0]))
            fields["rate"] = rate
            if total_bytes and rate > 0:
                left = max(0, total_bytes - bytes_) / rate
                fields["eta"] = timezone.now() + timedelta(seconds=left)
        self._rate_mark = (now, bytes_)
        return fields

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            if not pending:
                return
            self._log_text, self._dropped = bounded_log(self._log_text, pending, self._dropped)
            text, dropped = self._log_text, self._dropped
        self._write(log=text, log_dropped_lines=dropped)

    def heartbeat(self) -> None:
        """Write the heartbeat and read the cancel flag (one short transaction each)."""
        self._last_beat = time.monotonic()
        self._write(heartbeat_at=timezone.now())
        row = JobRun.objects.filter(pk=self.run_id).values(
            "cancel_requested_at", "state", "claim_token").first()
        if row is None or row["state"] != JobRun.State.RUNNING or row["claim_token"] != self.token:
            self.lost = True
        elif row["cancel_requested_at"] is not None:
            self._cancel = True

    def _write(self, **fields) -> bool:
        changed = JobRun.objects.filter(
            pk=self.run_id, state=JobRun.State.RUNNING, claim_token=self.token
        ).update(**fields)
        if not changed:
            self.lost = True
        return bool(changed)

    def log_text(self) -> tuple[str, int]:
        with self._lock:
            self._log_text, self._dropped = bounded_log(self._log_text, self._pending,
                                                        self._dropped)
            self._pending = []
            return self._log_text, self._dropped


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the worker that started it dies (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class _Heartbeat(threading.Thread):
    """Writes the run's heartbeat every few seconds while the job runs."""

    def __init__(self, context: RunContext) -> None:
        super().__init__(name=f"heartbeat-run-{context.run_id}", daemon=True)
        self.context = context
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(conf.heartbeat_seconds()):
                try:
                    self.context.heartbeat()
                    self.context.flush()
                except Exception:  # the database is away for a moment: try again
                    logger.exception("Heartbeat of run %s failed", self.context.run_id)
                    close_old_connections()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=conf.heartbeat_seconds() + 30)


class JobRunner:
    """Owns one claimed run: runs its kind, then ends it in exactly one state."""

    def __init__(self, run: JobRun, *, echo: JobContext | None = None, body=None) -> None:
        self.run = run
        self.spec = get_kind(run.kind)
        self.context = RunContext(run, echo=echo)
        self.body = body  # instead of the kind's function: body(context=, drive_id=)

    def execute(self) -> str:
        before = _descendants(os.getpid())
        beat = _Heartbeat(self.context) if conf.heartbeat_thread() else None
        if beat:
            beat.start()
        self.context.log(f"Started on {self.run.worker_host} (pid {self.run.worker_pid}"
                         f"{', cluster ' + self.run.cluster if self.run.cluster else ''}).")
        try:
            return self._call()
        finally:
            if beat:
                beat.stop()
            _kill_children(self.context._children, before)
            self._after()

    def _call(self) -> str:
        try:
            if self.spec is None:
                raise KindNotAvailable(NOT_AVAILABLE)
            drive_id = self.run.drive_id
            if self.body is not None:
                result = self.body(context=self.context, drive_id=drive_id)
            else:
                result = self.spec.call(run=self.run, context=self.context, drive_id=drive_id)
        except Cancelled as exc:
            return self.cancelled(str(exc))
        except NeedsMedia as exc:
            return self.wait_for_media(exc)
        except NeedsDrive as exc:
            return self.wait_for_drive(str(exc))
        except KindNotAvailable as exc:
            return self.fail(str(exc) or NOT_AVAILABLE)
        except JobError as exc:
            return self.fail(str(exc), traceback.format_exc())
        except SystemExit as exc:  # django-q2's TimeoutException: the task hit its limit
            limit = self.spec.timeout_for(self.run.params) if self.spec else 0
            self.fail(f"The run took longer than its time limit of {limit} seconds and was "
                      "stopped.", traceback.format_exc())
            raise exc
        except Exception as exc:
            return self.fail(_sentence(exc), traceback.format_exc())
        return self.succeed(result or "")

    # -- endings ----------------------------------------------------------------------------

    def _end(self, state: str, **fields) -> bool:
        text, dropped = self.context.log_text()
        ended = JobRun.objects.filter(
            pk=self.run.pk, state=JobRun.State.RUNNING, claim_token=self.context.token
        ).update(state=state, log=text, log_dropped_lines=dropped, warnings=self.context.warnings,
                 heartbeat_at=timezone.now(), **fields)
        self.ended_state = state if ended else None
        if not ended:
            logger.warning("Run %s ended as %s, but it was no longer this worker's",
                           self.run.pk, state)
        return bool(ended)

    def _finish_fields(self) -> dict:
        fields = {"finished_at": timezone.now()}
        p = self.context.last_progress
        if p:
            fields.update(files=p["files"], bytes=p["bytes"], current_path="",
                          total_files=p["total_files"], total_bytes=p["total_bytes"], eta=None)
        return fields

    def succeed(self, result: str) -> str:
        state = JobRun.State.WARNINGS if self.context.warnings else JobRun.State.SUCCEEDED
        self.context.log(f"Finished: {result}" if result else "Finished.")
        self._end(state, result=str(result)[:500], waiting_for={}, **self._finish_fields())
        return state

    def fail(self, error: str, trace: str = "") -> str:
        if trace:
            self.context.log(trace.rstrip(), level="error")
        self.context.log(f"Failed: {error}", level="error")
        self._end(JobRun.State.FAILED, error=error[:500], **self._finish_fields())
        return JobRun.State.FAILED

    def cancelled(self, message: str) -> str:
        self.context.log(f"Cancelled: {message}")
        self._end(JobRun.State.CANCELLED, error=message[:500], **self._finish_fields())
        return JobRun.State.CANCELLED

    def wait_for_media(self, exc: NeedsMedia) -> str:
        from scheduling.services import media_need, media_reason

        reason = media_reason(exc)
        self.context.log(f"Waiting: {reason}")
        # The drive is given back while the run waits; it gets one again when it resumes.
        self._end(JobRun.State.WAITING_MEDIA, waiting_reason=reason[:500], drive=None,
                  waiting_for=media_need(exc), waiting_since=self.run.waiting_since
                  or timezone.now(), claim_token="")
        return JobRun.State.WAITING_MEDIA

    def wait_for_drive(self, reason: str) -> str:
        self.context.log(f"Waiting: {reason}")
        self._end(JobRun.State.WAITING_DRIVE, waiting_reason=reason[:500], drive=None,
                  claim_token="")
        return JobRun.State.WAITING_DRIVE

    def _after(self) -> None:
        """Notifications, retries and giving freed drives to waiting runs."""
        from scheduling.notify import notify_run
        from scheduling.services import run_after_failure, runs_dispatch

        state = getattr(self, "ended_state", None)
        run = JobRun.objects.get(pk=self.run.pk)
        try:
            if state in (JobRun.State.FAILED, JobRun.State.INTERRUPTED):
                run_after_failure(run=run)
            elif state == JobRun.State.WAITING_MEDIA and self.run.waiting_since is None:
                notify_run(run=run, event="waiting_media")  # once: the first time it waits
            elif state in (JobRun.State.SUCCEEDED, JobRun.State.WARNINGS):
                notify_run(run=run, event=state)
            runs_dispatch()
        except Exception:
            logger.exception("After-run work for run %s failed", run.pk)


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.rstrip(".")
    what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"The run failed unexpectedly ({what}); the traceback is in the log."


# Child processes ---------------------------------------------------------------------------

def _descendants(pid: int) -> set[int]:
    """All descendants of ``pid`` (from /proc; empty where there is no /proc)."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _kill_children(spawned: list[subprocess.Popen], before: set[int]) -> None:
    """Kill the process groups of every process the job left behind."""
    pids = (_descendants(os.getpid()) - before) | {c.pid for c in spawned if c.poll() is None}
    if not pids:
        return
    own_group = os.getpgrp()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                group = os.getpgid(pid)
                if group != own_group:
                    os.killpg(group, sig)
                else:
                    os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and _alive(pids, spawned):
            time.sleep(0.05)
        if not _alive(pids, spawned):
            break
    for child in spawned:
        child.poll()


def _alive(pids: set[int], spawned: list[subprocess.Popen]) -> bool:
    for child in spawned:
        child.poll()
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except (OSError, IndexError):
            continue
    return False


def execute_run(run_id: int) -> str:
    """The task body: claim the run, or exit at once if it is not ours to run."""
    from scheduling.services import run_claim

    run = run_claim(run_id=run_id)
    if run is None:
        return f"run {run_id} was not queued any more: nothing to do"
    return JobRunner(run).execute()


def execute_here(run: JobRun, *, echo: JobContext | None = None, body=None) -> str:
    """Execute, in this process, a run made by ``scheduling.services.run_start_here`` (a
    command in the foreground); ``echo`` is told its progress and log as well; ``body``, if
    given, is called instead of the kind's function (a command that wants the service's
    report, not its summary). The run ends in one state as a worker's would; Ctrl-C cancels
    it (and is raised again)."""
    runner = JobRunner(run, echo=echo, body=body)
    try:
        return runner.execute()
    except KeyboardInterrupt:
        runner.cancelled("Interrupted at the terminal (Ctrl-C).")
        raise
