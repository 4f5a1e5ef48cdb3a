"""How a long job talks to whoever runs it: progress, log lines, and the cancel flag.

The backup, restore and verify services take a ``JobContext``; the scheduling layer passes
one backed by the job-run row (progress, heartbeat, bounded log, cancel requests), a
command passes one that draws a progress bar, tests pass ``JobContext()`` (which records).
Services must call ``check_cancelled()`` at safe points (record boundaries) and never hold a
database transaction open across tape I/O.
"""

from __future__ import annotations

from backups.errors import Cancelled


class JobContext:
    """Base context: keeps the log in memory and never cancels. Subclasses override."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.last_progress: dict = {}

    def progress(self, *, files: int = 0, bytes: int = 0, total_files: int | None = None,
                 total_bytes: int | None = None, current: str = "") -> None:
        """Called often (per file or per few MiB); implementations throttle their writes."""
        self.last_progress = dict(files=files, bytes=bytes, total_files=total_files,
                                  total_bytes=total_bytes, current=current)

    def log(self, message: str, *, level: str = "info") -> None:
        self.lines.append(f"{level.upper()}: {message}" if level != "info" else message)

    def cancel_requested(self) -> bool:
        return False

    def check_cancelled(self) -> None:
        if self.cancel_requested():
            raise Cancelled("The job was cancelled by an operator.")

    def waiting(self, reason: str) -> None:
        """The job waits (for a drive or a tape) and says which; runners show it."""
        self.log(f"Waiting: {reason}")
