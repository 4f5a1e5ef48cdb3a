"""Linux SCSI tape (the st driver) through MTIOCTOP / MTIOCGET / MTIOCPOS, variable-block mode.

Struct layouts and op codes are x86_64's (reference/tape-devices.md §1.2, Appendix A).
``ioctl`` and ``os_module`` are injectable so the exact op sequences and struct bytes are
unit-tested against a recorded fake (tests/drivers/test_st.py) without hardware.

Positioning is Bareos style — rewind if going backwards, then MTFSF and MTFSR — because
``scsi2logical`` (needed for MTSEEK to mean logical objects) is not guaranteed on a host.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tapes.drivers.base import (
    DriveBusy,
    DriveStatus,
    EndOfData,
    EndOfMedium,
    FilemarkDetected,
    MediaError,
    NoMedium,
    TapeDrive,
    TapeError,
    WriteProtected,
    WrongRecordSize,
)

MTIOCTOP, MTIOCGET, MTIOCPOS = 0x40086D01, 0x80306D02, 0x80086D03  # x86_64
MTOP_FMT, MTGET_FMT, MTPOS_FMT = "@hi", "@5l2i", "@l"  # 8, 48, 8 bytes

MTFSF, MTBSF, MTFSR, MTBSR, MTWEOF, MTREW, MTOFFL, MTNOP = 1, 2, 3, 4, 5, 6, 7, 8
MTEOM, MTSETBLK, MTSEEK, MTCOMPRESSION = 12, 20, 22, 32

GMT_EOF, GMT_BOT, GMT_EOT, GMT_SM = 0x80000000, 0x40000000, 0x20000000, 0x10000000
GMT_EOD, GMT_WR_PROT, GMT_ONLINE = 0x08000000, 0x04000000, 0x01000000
GMT_DR_OPEN, GMT_IM_REP_EN, GMT_CLN = 0x00040000, 0x00010000, 0x00008000

DEFAULT_MAX_BLOCK = 1 << 20
_NON_REWINDING = re.compile(r"^n(?:st|osst)\d+[lma]?$")
_REWINDING = re.compile(r"^(?:st|osst)\d+[lma]?$")

Ioctl = Callable[..., Any]


def pack_mtop(op: int, count: int = 1) -> bytes:
    return struct.pack(MTOP_FMT, op, count)


def pack_mtget(gstat: int, fileno: int = 0, blkno: int = 0, *, blksize: int = 0,
               density: int = 0, mt_type: int = 0x72, resid: int = 0, erreg: int = 0) -> bytes:
    """A ``struct mtget`` as the kernel fills it (used by tests to prepare answers)."""
    dsreg = (density << 24) | (blksize & 0xFFFFFF)
    return struct.pack(MTGET_FMT, mt_type, resid, dsreg, gstat, erreg, fileno, blkno)


@dataclass(frozen=True)
class MtGet:
    """The decoded ``struct mtget`` (only what st reports meaningfully)."""

    gstat: int
    fileno: int
    blkno: int
    blksize: int
    density: int
    partition: int

    @classmethod
    def unpack(cls, raw: bytes) -> MtGet:
        _, resid, dsreg, gstat, _, fileno, blkno = struct.unpack(MTGET_FMT, raw)
        return cls(gstat=gstat & 0xFFFFFFFF, fileno=fileno, blkno=blkno,
                   blksize=dsreg & 0xFFFFFF, density=(dsreg >> 24) & 0xFF, partition=resid)

    def has(self, bit: int) -> bool:
        return bool(self.gstat & bit)


def resolve_tape_device(path: str) -> str:
    """Validate a tape device path: it must exist and resolve to a non-rewinding node.

    ``/dev/tape/by-id/...-nst`` names are preferred because ``/dev/nstN`` numbers change
    across reboots; a rewinding ``/dev/stN`` would rewind on every close and let the next
    write overwrite the tape from BOT, so it is refused.
    """
    real = os.path.realpath(path)
    name = os.path.basename(real)
    if _REWINDING.match(name):
        raise TapeError(f"{path} is a rewinding tape device; use its non-rewinding twin "
                        "(/dev/nstN or /dev/tape/by-id/...-nst).")
    if not os.path.exists(real):
        raise TapeError(f"The tape device {path} does not exist.")
    if not _NON_REWINDING.match(name):
        raise TapeError(f"{path} is not a Linux tape device (expected /dev/nstN or "
                        "/dev/tape/by-id/...-nst).")
    return path


def _error(err: OSError, action: str, device: str) -> TapeError:
    """Map an st errno to our error class, with one sentence naming what failed."""
    code = err.errno
    where = f"{action} on {device}"
    if code == errno.ENOSPC:
        return EndOfMedium(f"The tape is at its end: {where} was not done.")
    if code in (errno.EACCES, errno.EROFS):
        return WriteProtected(f"The tape is write-protected: {where} was refused.", errno=code)
    if code == errno.ENOMEDIUM:
        return NoMedium(f"There is no tape in the drive ({where}).")
    if code in (errno.ENOMEM, errno.EINVAL, errno.EOVERFLOW):
        return WrongRecordSize(f"The record size does not fit the drive ({where}).",
                               errno=code)
    if code == errno.EBUSY:
        return DriveBusy(f"The drive is in use by another program ({where}).")
    if code == errno.EIO:
        return MediaError(f"The drive reported an I/O error during {where}.")
    return TapeError(f"{where} failed: {os.strerror(code or 0)}.", errno=code)


class LinuxTapeDrive(TapeDrive):
    """A tape drive behind the Linux st driver (``/dev/nstN``), variable-block mode."""

    def __init__(self, device_path: str, *, ioctl: Ioctl = fcntl.ioctl, os_module: Any = os,
                 max_block: int = DEFAULT_MAX_BLOCK, validate_path: bool = True):
        self.device = resolve_tape_device(device_path) if validate_path else device_path
        self.max_block = max_block
        self._ioctl = ioctl
        self._os = os_module
        self._fd: int | None = None
        self._open()

    # -- opening --------------------------------------------------------------------------

    def _open(self) -> None:
        """Probe with O_NONBLOCK (no 120 s wait for a missing tape), then reopen for I/O.

        Bareos does the same; a blocking read-write open of a write-protected tape fails
        EROFS, so that one is reopened read-only (writes then fail EACCES).
        """
        self._fd = self._open_flags(self._os.O_RDWR | self._os.O_NONBLOCK, "opening")
        if not self._mtget().has(GMT_ONLINE):
            return  # keep the probe handle: status() works, I/O raises NoMedium
        self._os.close(self._fd)
        self._fd = None
        try:
            self._fd = self._open_flags(self._os.O_RDWR, "opening")
        except WriteProtected:
            self._fd = self._open_flags(self._os.O_RDONLY, "opening")
        self._op(MTSETBLK, 0, "setting variable-block mode")

    def _open_flags(self, flags: int, action: str) -> int:
        try:
            return self._os.open(self.device, flags)
        except OSError as err:
            raise _error(err, action, self.device) from None

    # -- ioctls ---------------------------------------------------------------------------

    def _handle(self) -> int:
        if self._fd is None:
            raise TapeError(f"The handle on {self.device} is closed.")
        return self._fd

    def _op(self, op: int, count: int, action: str) -> None:
        try:
            self._ioctl(self._handle(), MTIOCTOP, pack_mtop(op, count))
        except OSError as err:
            raise _error(err, action, self.device) from None

    def _mtget(self) -> MtGet:
        try:
            raw = self._ioctl(self._handle(), MTIOCGET, bytes(struct.calcsize(MTGET_FMT)))
        except OSError as err:
            raise _error(err, "reading the status", self.device) from None
        return MtGet.unpack(raw)

    def tell(self) -> int:
        """MTIOCPOS: the drive's block address (a logical object id only with scsi2logical)."""
        try:
            raw = self._ioctl(self._handle(), MTIOCPOS, bytes(struct.calcsize(MTPOS_FMT)))
        except OSError as err:
            raise _error(err, "reading the position", self.device) from None
        return struct.unpack(MTPOS_FMT, raw)[0]

    def _require_online(self, action: str) -> MtGet:
        status = self._mtget()
        if not status.has(GMT_ONLINE):
            raise NoMedium(f"There is no tape ready in {self.device} ({action}).")
        return status

    # -- TapeDrive ------------------------------------------------------------------------

    def status(self) -> DriveStatus:
        mt = self._mtget()
        online = mt.has(GMT_ONLINE)
        return DriveStatus(
            online=online,
            loaded=online and not mt.has(GMT_DR_OPEN),
            bot=mt.has(GMT_BOT),
            eof=mt.has(GMT_EOF),
            eot=mt.has(GMT_EOT),
            eod=mt.has(GMT_EOD),
            write_protected=mt.has(GMT_WR_PROT),
            file_number=mt.fileno,
            block_number=mt.blkno,
            record_size=mt.blksize,
            cleaning_requested=mt.has(GMT_CLN),
        )

    def rewind(self) -> None:
        self._op(MTREW, 1, "rewinding")

    def locate(self, file_number: int, block_number: int = 0) -> None:
        """Rewind if the target is behind us (or the position is unknown), then space
        forward over filemarks and records."""
        mt = self._require_online("locating")
        here = (mt.fileno, mt.blkno)
        if here[0] < 0 or here[1] < 0 or (file_number, block_number) < here:
            self.rewind()
            here = (0, 0)
        if file_number > here[0]:
            self._space(MTFSF, file_number - here[0], "spacing forward over filemarks")
            here = (file_number, 0)
        if block_number > here[1]:
            self._space(MTFSR, block_number - here[1], "spacing forward over records")

    def _space(self, op: int, count: int, action: str) -> None:
        """MTFSF/MTFSR/…; an EIO is told apart by where the drive ended up."""
        try:
            self._ioctl(self._handle(), MTIOCTOP, pack_mtop(op, count))
        except OSError as err:
            if err.errno != errno.EIO:
                raise _error(err, action, self.device) from None
            mt = self._mtget()
            if mt.has(GMT_EOD):
                raise EndOfData(f"Reached the end of recorded data while {action}.") from None
            if op in (MTFSR, MTBSR) and not mt.has(GMT_BOT):
                raise FilemarkDetected(f"A filemark stopped {action}.") from None
            raise TapeError(f"The drive could not finish {action}.", errno=errno.EIO) from None

    def space_files(self, count: int) -> None:
        if count > 0:
            self._space(MTFSF, count, "spacing forward over filemarks")
        elif count < 0:
            self._space(MTBSF, -count, "spacing back over filemarks")

    def space_records(self, count: int) -> None:
        if count > 0:
            self._space(MTFSR, count, "spacing forward over records")
        elif count < 0:
            self._space(MTBSR, -count, "spacing back over records")

    def seek_end_of_data(self) -> None:
        self._op(MTEOM, 1, "spacing to the end of data")

    def read_record(self, max_size: int) -> bytes:
        """One ``read()`` is one record; b"" is a filemark (or the BLANK CHECK after one)."""
        if not 1 <= max_size <= self.max_block:
            raise WrongRecordSize(f"A read buffer of {max_size} bytes is outside the drive's "
                                  f"limits (1 to {self.max_block}).")
        try:
            return self._os.read(self._handle(), max_size)
        except OSError as err:
            if err.errno == errno.ENOMEM:
                raise WrongRecordSize(f"A record larger than {max_size} bytes was skipped on "
                                      f"{self.device}.", errno=err.errno) from None
            if err.errno == errno.EIO and self._at_end_of_data():
                raise EndOfData(f"Reached the end of recorded data on {self.device}.") from None
            raise _error(err, "reading", self.device) from None

    def _at_end_of_data(self) -> bool:
        try:
            return self._mtget().has(GMT_EOD)
        except TapeError:
            return False

    def write_record(self, data: bytes | bytearray | memoryview) -> bool:
        """One ``write()`` is one record; returns whether the drive reports early warning."""
        size = len(data)
        if not 1 <= size <= self.max_block:
            raise WrongRecordSize(f"A record of {size} bytes is outside the drive's limits "
                                  f"(1 to {self.max_block}).")
        try:
            written = self._os.write(self._handle(), data)
        except OSError as err:
            raise _error(err, "writing a record", self.device) from None
        if written != size:  # st never does this in variable mode; treat as failure
            raise MediaError(f"The drive wrote {written} of {size} bytes on {self.device}.")
        return self._mtget().has(GMT_EOT)

    def write_filemarks(self, count: int = 1) -> None:
        self._op(MTWEOF, count, "writing filemarks")

    def eject(self) -> None:
        self._op(MTOFFL, 1, "ejecting")

    def set_compression(self, enabled: bool) -> None:
        """MTCOMPRESSION: the drive's hardware compression on or off."""
        self._op(MTCOMPRESSION, int(enabled), "setting compression")

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self._os.close(fd)
