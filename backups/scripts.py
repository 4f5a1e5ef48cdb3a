"""Pre- and post-job scripts: a shell command with the job's name and set id in its
environment, a timeout that kills its whole process group, and its output in the job log."""

from __future__ import annotations

import os
import signal
import subprocess

from backups.context import JobContext
from backups.errors import JobError

MAX_LOG_LINES = 200


def script_run(*, command: str, env: dict[str, str], timeout: int, context: JobContext,
               what: str) -> int:
    """Run ``command`` with ``sh -c``; returns its exit status. Raises JobError on timeout."""
    context.log(f"Running the {what}: {command}")
    proc = subprocess.Popen(
        command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, env={**os.environ, **env}, start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the shell and everything it started
        output, _ = proc.communicate()
        _log_output(context, what, output)
        raise JobError(
            f"The {what} did not finish within {timeout} seconds and was killed.") from None
    _log_output(context, what, output)
    return proc.returncode


def _log_output(context: JobContext, what: str, output: bytes) -> None:
    lines = output.decode("utf-8", "replace").splitlines()
    if len(lines) > MAX_LOG_LINES:
        context.log(f"{what}: … {len(lines) - MAX_LOG_LINES} earlier lines not kept")
        lines = lines[-MAX_LOG_LINES:]
    for line in lines:
        context.log(f"{what}: {line}")
