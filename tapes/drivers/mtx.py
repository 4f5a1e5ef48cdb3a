"""Media changers through the ``mtx`` command (mtx 1.3.12), and its ``status`` parser.

The grammar is the one tested against the Bareos and PBS fixtures (reference/tape-devices.md
§2.2, Appendix C). The virtual library prints the same text (``VirtualLibrary.
mtx_status_text``), so this parser is exercised by both.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from tapes.drivers.base import Changer, ChangerError, ChangerStatus, DriveElement, SlotElement

HEADER = re.compile(
    r"^\s*Storage Changer\s+(?P<dev>.*?):(?P<drives>\d+) Drives, (?P<slots>\d+) Slots "
    r"\( (?P<ie>\d+) Import/Export \)\s*$"
)
DRIVE = re.compile(
    r"^Data Transfer Element (?P<n>\d+):(?:(?P<empty>Empty)|Full \((?:Storage Element "
    r"(?P<src>\d+)|(?P<unk>Unknown Storage Element)) Loaded\)(?::VolumeTag\s*=\s*"
    r"(?P<tag>[^:]*?))?(?::AlternateVolumeTag\s*=\s*(?P<alt>.*?))?)\s*$"
)
SLOT = re.compile(
    r"^\s*Storage Element (?P<n>\d+)(?P<ie> IMPORT/EXPORT)?:(?:(?P<empty>Empty)|Full\s*"
    r"(?::VolumeTag=(?P<tag>[^:]*?))?(?::AlternateVolumeTag=(?P<alt>.*?))?)\s*$"
)

# mtx.c messages (reference §2.2) → one operator sentence; groups fill the placeholders.
ERRORS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Drive (\d+) Full \(Storage Element (\d+) loaded\)"),
     "Drive {0} already holds the cartridge from slot {1}."),
    (re.compile(r"Storage Element (\d+) is Already Full"), "Slot {0} is already full."),
    (re.compile(r"Data Transfer Element (\d+) is Empty"), "Drive {0} is empty."),
    (re.compile(r"Source Element Address (\d+) is Empty"),
     "The source element (address {0}) is empty."),
    (re.compile(r"Destination Element Address (\d+) is Already Full"),
     "The destination element (address {0}) is already full."),
    (re.compile(r"Drive needs offline before move"),
     "The drive needs offline before move: eject the tape first."),
    (re.compile(r"Cleaning Cartridge Installed and Ejected"),
     "A cleaning cartridge was installed and ejected instead."),
    (re.compile(r"READ ELEMENT STATUS Command Failed"),
     "The changer could not report its inventory (READ ELEMENT STATUS failed)."),
]


def _tag(value: str | None) -> str | None:
    """Volume tags are space-padded 32-byte SCSI fields; an all-blank tag is no tag."""
    return (value or "").strip() or None


def _drive_element(match: re.Match[str]) -> DriveElement:
    group = match.groupdict()
    return DriveElement(
        index=int(group["n"]),
        barcode=_tag(group["tag"]),
        full=not group["empty"],
        source_slot=int(group["src"]) if group["src"] else None,
    )


def _slot_element(match: re.Match[str]) -> SlotElement:
    group = match.groupdict()
    return SlotElement(
        number=int(group["n"]),
        barcode=_tag(group["tag"]),
        full=not group["empty"],
        mail_slot=bool(group["ie"]),
    )


def parse_mtx_status(text: str) -> ChangerStatus:
    """Parse ``mtx status`` output; any line that fits none of the grammar raises."""
    drives: list[DriveElement] = []
    slots: list[SlotElement] = []
    header: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if match := HEADER.match(line):
            header = match.groupdict()
        elif match := DRIVE.match(line):
            drives.append(_drive_element(match))
        elif match := SLOT.match(line):
            slots.append(_slot_element(match))
        else:
            raise ChangerError(f"Cannot understand this line of mtx status: {line.strip()!r}.")
    if header is None:
        raise ChangerError("The mtx status output has no 'Storage Changer' header line.")
    _check_counts(header, drives, slots)
    return ChangerStatus(drives=tuple(drives), slots=tuple(slots))


def _check_counts(header: dict[str, Any], drives: list, slots: list) -> None:
    """A truncated output (mtx killed midway) must not look like an emptier library."""
    if int(header["drives"]) != len(drives) or int(header["slots"]) != len(slots):
        raise ChangerError(
            f"mtx status announced {header['drives']} drives and {header['slots']} slots "
            f"but listed {len(drives)} and {len(slots)}."
        )


def mtx_error_sentence(output: str) -> str:
    """The operator sentence for mtx's error output (its last line when unknown)."""
    for pattern, sentence in ERRORS:
        if match := pattern.search(output):
            return sentence.format(*match.groups())
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"mtx failed: {lines[-1] if lines else 'no output'}."


Runner = Callable[..., subprocess.CompletedProcess]


class MtxChanger(Changer):
    """A SCSI media changer driven by ``mtx -f DEVICE ...`` (``run`` is injectable for tests)."""

    def __init__(self, device: str, *, run: Runner = subprocess.run, mtx: str = "mtx",
                 timeout: float = 600.0):
        self.device = device
        self._run = run
        self._mtx = mtx
        # A robot move on a big library takes minutes; a hung SCSI bus should not hang us.
        self._timeout = timeout

    def _command(self, *args: str | int) -> str:
        argv: Sequence[str] = [self._mtx, "-f", self.device, *map(str, args)]
        try:
            result = self._run(argv, capture_output=True, text=True, timeout=self._timeout)
        except FileNotFoundError:
            raise ChangerError("The mtx command is not installed.") from None
        except subprocess.TimeoutExpired:
            raise ChangerError(f"mtx {' '.join(map(str, args))} on {self.device} did not "
                               f"finish within {self._timeout:.0f} seconds.") from None
        if result.returncode != 0:
            raise ChangerError(mtx_error_sentence(f"{result.stdout}\n{result.stderr}"))
        return result.stdout

    def status(self) -> ChangerStatus:
        return parse_mtx_status(self._command("status"))

    def load(self, slot: int, drive: int) -> None:
        self._command("load", slot, drive)

    def unload(self, drive: int, slot: int | None = None) -> None:
        """``mtx unload [slot] [drive]``: without a slot mtx returns it to where it came from."""
        if slot is None:
            source = self.status().drives[drive].source_slot
            if source is None:
                raise ChangerError(f"Drive {drive} does not know which slot its cartridge "
                                   "came from; name a slot.")
            slot = source
        self._command("unload", slot, drive)

    def transfer(self, source: int, destination: int) -> None:
        self._command("transfer", source, destination)
