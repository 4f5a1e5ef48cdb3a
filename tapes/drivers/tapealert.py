"""TapeAlert flags (log page 0x2E): the flag table, the ``sg_logs -p 0x2e`` parser, a reader.

Numbers, names (sg3_utils ``sg_lib_tapealert_strs``) and classes (PBS critical, media-life
and cleaning masks) from reference/tape-devices.md §3.1. Reading page 0x2E clears the flags
on the drive, so read it once after a load and after a failure, and keep what it said.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

NAMES: dict[int, str] = {
    0x01: "Read warning", 0x02: "Write warning", 0x03: "Hard error", 0x04: "Media",
    0x05: "Read failure", 0x06: "Write failure", 0x07: "Media life",
    0x08: "Not data grade", 0x09: "Write protect", 0x0A: "No removal",
    0x0B: "Cleaning media", 0x0C: "Unsupported format",
    0x0D: "Recoverable mechanical cartridge failure",
    0x0E: "Unrecoverable mechanical cartridge failure",
    0x0F: "Memory chip in cartridge failure", 0x10: "Forced eject",
    0x11: "Read only format", 0x12: "Tape directory corrupted on load",
    0x13: "Nearing media life", 0x14: "Cleaning required", 0x15: "Cleaning requested",
    0x16: "Expired cleaning media", 0x17: "Invalid cleaning tape",
    0x18: "Retension requested", 0x19: "Dual port interface error",
    0x1A: "Cooling fan failing", 0x1B: "Power supply failure", 0x1C: "Power consumption",
    0x1D: "Drive maintenance", 0x1E: "Hardware A", 0x1F: "Hardware B", 0x20: "Interface",
    0x21: "Eject media", 0x22: "Microcode update fail", 0x23: "Drive humidity",
    0x24: "Drive temperature", 0x25: "Drive voltage", 0x26: "Predictive failure",
    0x27: "Diagnostics required",
    # 29h/2Ah/2Dh are "Reserved" in sg3_utils; the LTO SCSI reference names them.
    0x29: "Loader stray tape", 0x2A: "Loader hardware", 0x2D: "Loader magazine",
    0x2F: "External data encryption control - communications failure",
    0x30: "External data encryption control - key manager returned error",
    0x31: "Diminished native capacity", 0x32: "Lost statistics",
    0x33: "Tape directory invalid at unload", 0x34: "Tape system area write failure",
    0x35: "Tape system area read failure", 0x36: "No start of data",
    0x37: "Loading failure", 0x38: "Unrecoverable unload failure",
    0x39: "Automation interface failure", 0x3A: "Firmware failure",
    0x3B: "WORM medium - integrity check failed", 0x3C: "WORM medium - overwrite attempted",
    0x3D: "Encryption policy violation",
}

# PBS CRITICAL_FLAG_MASK: any of these marks the medium or drive unusable for a job.
CRITICAL = frozenset({0x04, 0x05, 0x06, 0x09, 0x0E, 0x10, 0x16, 0x17, 0x1E, 0x1F, 0x21,
                      0x26, 0x29, 0x2D, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39})
MEDIA_LIFE = frozenset({0x07, 0x13})
CLEANING = frozenset({0x14, 0x15})


@dataclass(frozen=True)
class TapeAlertFlag:
    """One flag number with its name and what it means for the operator."""

    number: int

    @property
    def name(self) -> str:
        return NAMES.get(self.number, f"Reserved ({self.number:02X}h)")

    @property
    def critical(self) -> bool:
        return self.number in CRITICAL

    @property
    def media_life(self) -> bool:
        return self.number in MEDIA_LIFE

    @property
    def cleaning(self) -> bool:
        return self.number in CLEANING

    def __str__(self) -> str:
        return f"TapeAlert {self.number:02X}h: {self.name}"


_BY_NAME = {name.lower(): number for number, name in NAMES.items()}
_LINE = re.compile(r"^\s+(?P<name>.+?):\s*(?P<value>[01])\s*$")
_RESERVED_CODE = re.compile(r"\b(?:0x)?([0-9a-fA-F]{2})h?\b")


def _flag_number(name: str, previous: int) -> int:
    """A known name, else a code written in a "Reserved (2Bh)" name, else the next code:
    sg_logs prints the parameters in parameter-code order."""
    number = _BY_NAME.get(name.lower().replace("\u2013", "-"))
    if number is not None:
        return number
    if name.lower().startswith(("reserved", "parameter code")):
        if match := _RESERVED_CODE.search(name):
            return int(match.group(1), 16)
    return previous + 1


def parse_sg_logs_tapealert(text: str) -> tuple[int, ...]:
    """The flag numbers set (value 1) in ``sg_logs -p 0x2e`` output, sorted."""
    if "Tape alert page" not in text:
        raise ValueError("This is not sg_logs TapeAlert output (no 'Tape alert page' line).")
    body = text.split("Tape alert page", 1)[1].split("\n", 1)[-1]
    flags: list[int] = []
    previous = 0
    for line in body.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        previous = _flag_number(match.group("name").strip(), previous)
        if match.group("value") == "1":
            flags.append(previous)
    return tuple(sorted(flags))


def critical_flags(flags: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(flag for flag in flags if flag in CRITICAL)


def describe(flags: tuple[int, ...]) -> str:
    """One sentence for the operator listing the flags set."""
    if not flags:
        return "The drive reports no TapeAlert flags."
    return "The drive reports " + "; ".join(str(TapeAlertFlag(f)) for f in flags) + "."


def read_tapealert_flags(
    sg_device: str,
    *,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    which: Callable[[str], str | None] = shutil.which,
    timeout: float = 60.0,
) -> tuple[int, ...] | None:
    """Read (and so clear) the drive's TapeAlert flags with ``sg_logs -p 0x2e``.

    Returns None when sg_logs is not installed or cannot read the page (no permission, not
    a tape device): TapeAlert is advisory, and its absence must not stop a backup.
    """
    sg_logs = which("sg_logs")
    if sg_logs is None:
        return None
    try:
        result = run([sg_logs, "-p", "0x2e", sg_device], capture_output=True, text=True,
                     timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return parse_sg_logs_tapealert(result.stdout)
    except ValueError:
        return None
