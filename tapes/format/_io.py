"""Small drive adapters shared by the label and index writers/readers."""

from __future__ import annotations

from tapes.drivers.base import EndOfMedium


class Prefetched:
    """A drive whose first record was already read: hands it out once, then delegates."""

    def __init__(self, drive, first: bytes):
        self._drive = drive
        self._first: bytes | None = first

    def read_record(self, max_size: int) -> bytes:
        if self._first is not None:
            record, self._first = self._first, None
            return record
        return self._drive.read_record(max_size)


class TrailerWrites:
    """For small tape files that must end on this tape (label, index): early warning is
    ignored, and a record refused with ENOSPC is retried once — st accepts every second
    write in the early-warning zone (reference/tape-devices.md §1.7), so only the physical
    end of the tape stops it."""

    def __init__(self, drive):
        self._drive = drive
        self.early_warning = False

    def write_record(self, data) -> bool:
        try:
            self.early_warning |= bool(self._drive.write_record(data))
        except EndOfMedium:
            self.early_warning = True
            self._drive.write_record(data)
        return False
