"""Errors of the backup, restore and verify services, each one sentence for the operator.

The scheduling layer turns ``NeedsMedia`` into a run that waits (and resumes when the media
appears) and ``Cancelled`` into a cancelled run; any other ``JobError`` fails the run with its
sentence stored on the run row.
"""

from __future__ import annotations


class JobError(Exception):
    """A job that cannot go on; ``str()`` is one sentence saying what failed and why."""


class NeedsMedia(JobError):
    """The job needs tapes that are not in the library (or not usable).

    Either specific tapes (``barcodes``, with ``where`` saying where each is now: "vault
    Iron Mountain", "on the shelf") or any ``count`` tapes of ``media_type`` for ``pool``.
    """

    def __init__(self, message: str, *, pool: str | None = None, media_type: str | None = None,
                 count: int = 0, barcodes: tuple[str, ...] = (), where: dict[str, str] | None = None):
        super().__init__(message)
        self.pool = pool
        self.media_type = media_type
        self.count = count
        self.barcodes = tuple(barcodes)
        self.where = dict(where or {})


class NeedsDrive(JobError):
    """No compatible drive is free; the run waits for one."""


class Cancelled(JobError):
    """The operator cancelled the job; it stopped at a record boundary and ended honestly."""
