"""The two interfaces everything above the drivers talks to: a tape drive and a changer.

Plain Python, no Django: the format layer, the engine and an offline recovery tool all use
these. Implementations: ``virtual`` (the embedded virtual tape library, and every test's
device) and ``st`` / ``mtx`` (Linux SCSI tape and changers).

Semantics follow the Linux st driver in variable-block mode (reference/tape-devices.md §1):
one ``write_record`` is one tape record; a read at a filemark returns ``b""`` once and moves
past it; the write that enters the early-warning zone succeeds and reports it; the next one
raises ``EndOfMedium`` and writes nothing.
"""

from __future__ import annotations

import errno as _errno
from abc import ABC, abstractmethod
from dataclasses import dataclass, field


class TapeError(Exception):
    """A drive or changer failure. ``str(error)`` is one sentence for the operator."""

    errno: int | None = None

    def __init__(self, message: str, *, errno: int | None = None):
        super().__init__(message)
        if errno is not None:
            self.errno = errno


class NoMedium(TapeError):
    errno = _errno.ENOMEDIUM


class WriteProtected(TapeError):
    errno = _errno.EACCES


class EndOfMedium(TapeError):
    """ENOSPC: the record was not written (early warning passed, or the physical end)."""

    errno = _errno.ENOSPC


class EndOfData(TapeError):
    """A read or space ran into the end of recorded data (st: EIO after BLANK CHECK)."""

    errno = _errno.EIO


class MediaError(TapeError):
    """An unrecoverable read or write error on the medium."""

    errno = _errno.EIO


class DriveOffline(TapeError):
    errno = _errno.EIO


class WrongRecordSize(TapeError):
    """A record larger than the read buffer (ENOMEM), or a size outside the limits (EINVAL)."""

    errno = _errno.EINVAL


class DriveBusy(TapeError):
    errno = _errno.EBUSY


class FilemarkDetected(TapeError):
    """Spacing over records met a filemark and stopped there (st: EIO from MTFSR/MTBSR)."""

    errno = _errno.EIO


class ChangerError(TapeError):
    """A changer move that cannot be done: source empty, destination full, drive not empty."""


@dataclass(frozen=True)
class DriveStatus:
    """What MTIOCGET tells, in words. Positions are -1 when unknown (as st reports)."""

    online: bool
    loaded: bool
    barcode: str | None = None
    bot: bool = False
    eof: bool = False  # just after a filemark
    eot: bool = False  # in the early-warning zone (or past it)
    eod: bool = False  # at end of recorded data
    write_protected: bool = False
    worm: bool = False
    file_number: int = -1
    block_number: int = -1
    record_size: int = 0  # 0 = variable-block mode
    cleaning_requested: bool = False
    tape_alerts: tuple[int, ...] = field(default_factory=tuple)  # TapeAlert flag numbers set


class TapeDrive(ABC):
    """One tape drive with (or without) a cartridge loaded."""

    @abstractmethod
    def status(self) -> DriveStatus: ...

    @abstractmethod
    def rewind(self) -> None: ...

    @abstractmethod
    def locate(self, file_number: int, block_number: int = 0) -> None:
        """Position at record ``block_number`` of tape file ``file_number`` directly."""

    @abstractmethod
    def space_files(self, count: int) -> None:
        """Forward: just after the count-th filemark. Backward: on the BOT side of it."""

    @abstractmethod
    def space_records(self, count: int) -> None:
        """Space over records; a filemark met on the way stops there and raises EndOfData-like
        ``TapeError`` (st: EIO), positioned as st would be."""

    @abstractmethod
    def seek_end_of_data(self) -> None:
        """MTEOM: position at end of recorded data, ready to append."""

    @abstractmethod
    def read_record(self, max_size: int) -> bytes:
        """Read one record; ``b""`` means a filemark was read (and passed)."""

    @abstractmethod
    def write_record(self, data: bytes | bytearray | memoryview) -> bool:
        """Write one record. Returns True when the drive is now in the early-warning zone:
        finish the tape file (a filemark and a small trailer still fit) and change tapes."""

    @abstractmethod
    def write_filemarks(self, count: int = 1) -> None:
        """Write filemarks; a synchronisation point: everything before is on tape after it."""

    @abstractmethod
    def eject(self) -> None:
        """Rewind and unload (MTOFFL)."""

    def close(self) -> None:
        """Release the device handle; the cartridge stays where it is."""

    def __enter__(self) -> TapeDrive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class DriveElement:
    index: int  # 0-based, as mtx numbers drives
    barcode: str | None  # None: empty, or full without a readable barcode (see ``full``)
    full: bool
    source_slot: int | None = None


@dataclass(frozen=True)
class SlotElement:
    number: int  # 1-based, mail slots numbered after storage slots, as mtx does
    barcode: str | None
    full: bool
    mail_slot: bool = False


@dataclass(frozen=True)
class ChangerStatus:
    drives: tuple[DriveElement, ...]
    slots: tuple[SlotElement, ...]

    def slot(self, number: int) -> SlotElement:
        for element in self.slots:
            if element.number == number:
                return element
        raise ChangerError(f"The library has no slot {number}.")

    def find(self, barcode: str) -> DriveElement | SlotElement | None:
        for element in (*self.drives, *self.slots):
            if element.barcode == barcode:
                return element
        return None


class Changer(ABC):
    """A media changer: slots, mail (import/export) slots and drives, moved by a robot."""

    @abstractmethod
    def status(self) -> ChangerStatus: ...

    @abstractmethod
    def load(self, slot: int, drive: int) -> None: ...

    @abstractmethod
    def unload(self, drive: int, slot: int | None = None) -> None:
        """Move the drive's cartridge to ``slot`` (default: the slot it came from)."""

    @abstractmethod
    def transfer(self, source: int, destination: int) -> None:
        """Slot to slot, including to and from mail slots (import / export)."""
