"""The virtual tape library: file-backed cartridges behind an st-like drive and an mtx-like changer.

It is the embedded default device and every test's device, so it behaves like an LTO drive
behind the Linux st driver in variable-block mode (reference/tape-devices.md §6.2), not like
an idealised file: filemarks, end of data, overwrite-truncates, the early-warning/ENOSPC
alternation, write-protect and WORM, one open handle per drive, faults for tests.

On disk, under a root directory (the product passes ``<data_dir>/vtl``)::

    cartridges/<BARCODE>/...        one store per cartridge (see ``cartridge.py``), shared by
                                    every library under the root: "the shelf"
    libraries/<NAME>/library.json   slots, drives, positions, faults (atomic writes)
    libraries/<NAME>/library.lock   flock held around every read-modify-write of it
    libraries/<NAME>/drive<N>.lock  flock held by the one open handle of drive N

Changer unload of a drive whose handle is open is refused unless the drive was ejected
(MTOFFL) first, as a real library answers "Drive needs offline before move".
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tapes.drivers.base import (
    Changer,
    ChangerError,
    ChangerStatus,
    DriveBusy,
    DriveElement,
    DriveOffline,
    DriveStatus,
    EndOfData,
    EndOfMedium,
    FilemarkDetected,
    MediaError,
    NoMedium,
    SlotElement,
    TapeDrive,
    TapeError,
    WriteProtected,
    WrongRecordSize,
)
from tapes.drivers.cartridge import CartridgeStore, new_meta, write_json_atomic

MiB = 1 << 20
DEFAULT_CAPACITY = 1 << 30
DEFAULT_MAX_BLOCK = 1 * MiB
LARGEST_MAX_BLOCK = 8 * MiB
DEFAULT_CLEANING_USES = 50
BARCODE_RE = re.compile(r"^[A-Z0-9]{1,16}$")
# mhvtl's make_vtl_media maps only LT..LW; LTO-7..9 WORM are LX, LY, LZ (reference §4.1).
WORM_SUFFIXES = {"LT", "LU", "LV", "LW", "LX", "LY", "LZ"}
STATE_VERSION = 1

# TapeAlert flags the virtual drive raises (numbers from reference §3.1).
TA_READ_FAILURE = 0x05
TA_WRITE_FAILURE = 0x06
TA_CLEAN_NOW = 0x14
TA_CLEAN_PERIODIC = 0x15
TA_EXPIRED_CLEANING_MEDIA = 0x16

# st's early-warning states (st.h ST_EOM_OK / ST_EOD_1): after the write that enters the
# zone the next write is refused, the one after that allowed, and so on.
_EW_NONE, _EW_REFUSE_NEXT, _EW_ALLOW_NEXT = 0, 1, 2


def default_early_warning(capacity: int) -> int:
    """2 % of the capacity, or mhvtl's 2 MiB when that is larger, capped at an eighth of a
    tiny test cartridge so that a few-MiB cartridge still has room before the zone."""
    return max(capacity // 50, min(2 * MiB, capacity // 8))


def is_worm_barcode(barcode: str) -> bool:
    return barcode[-2:] in WORM_SUFFIXES


def is_cleaning_barcode(barcode: str) -> bool:
    return barcode.startswith("CLN")


def check_barcode(barcode: str) -> str:
    """Return the barcode if it is a valid VOLSER (A–Z, 0–9), else raise one sentence."""
    if not BARCODE_RE.match(barcode or ""):
        raise TapeError(f"{barcode!r} is not a valid barcode (1–16 characters A–Z and 0–9).")
    return barcode


def cartridge_dir(root: Path, barcode: str) -> Path:
    return Path(root) / "cartridges" / barcode


def create_cartridge(root: Path, barcode: str, **fields: Any) -> CartridgeStore:
    """Create a blank cartridge on the shelf; WORM and cleaning follow from the barcode."""
    check_barcode(barcode)
    fields.setdefault("worm", is_worm_barcode(barcode))
    if is_cleaning_barcode(barcode):
        fields["cleaning"] = True
        fields.setdefault("cleaning_uses_left", DEFAULT_CLEANING_USES)
    return CartridgeStore.create(cartridge_dir(root, barcode), new_meta(barcode, **fields))


@contextmanager
def _flocked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _update_cartridge_meta(root: Path, barcode: str, change: Callable[[dict], None]) -> None:
    """Read-modify-write one cartridge's meta.json (only while no drive handle holds it)."""
    path = cartridge_dir(root, barcode) / "meta.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    change(meta)
    write_json_atomic(path, meta)


def _empty_drive_state() -> dict[str, Any]:
    return {
        "barcode": None,
        "source_slot": None,
        "file": 0,
        "block": 0,
        "ejected": False,
        "last_op": None,
        "cleaning_requested": False,
        "alerts": [],
        "faults": {},
    }


class VirtualLibrary:
    """A library of slots, mail slots and drives whose state lives in ``library.json``."""

    def __init__(self, root: Path, name: str):
        self.root = Path(root)
        self.name = name
        self.path = self.root / "libraries" / name
        self.state_path = self.path / "library.json"
        self.lock_path = self.path / "library.lock"
        if not self.state_path.is_file():
            raise TapeError(f"There is no virtual library named {name!r} under {self.root}.")
        self._state = self._read_state()

    # -- creation -------------------------------------------------------------------------

    @classmethod
    def exists(cls, root: Path, name: str) -> bool:
        return (Path(root) / "libraries" / name / "library.json").is_file()

    @classmethod
    def open(cls, root: Path, name: str) -> VirtualLibrary:
        return cls(root, name)

    @classmethod
    def create(
        cls,
        root: Path,
        name: str,
        *,
        drives: int = 2,
        slots: int = 24,
        mailslots: int = 2,
        tapes: int = 20,
        media_suffix: str = "L8",
        capacity: int = DEFAULT_CAPACITY,
        early_warning: int | None = None,
        barcode_prefix: str | None = None,
        compression: bool = False,
    ) -> VirtualLibrary:
        """Create the library and ``tapes`` blank cartridges in slots 1..tapes."""
        root = Path(root)
        if early_warning is None:
            early_warning = default_early_warning(capacity)
        _check_create_args(root, name, drives, slots, mailslots, tapes, capacity, early_warning)
        _check_media_suffix(media_suffix)
        prefix = _barcode_prefix(name, barcode_prefix)
        defaults = {"capacity": capacity, "early_warning": early_warning,
                    "compression": compression, "media_suffix": media_suffix}
        barcodes = _new_barcodes(root, prefix, media_suffix, tapes)
        path = root / "libraries" / name
        path.mkdir(parents=True)
        state = {
            "version": STATE_VERSION,
            "name": name,
            "storage_slots": slots,
            "mail_slots": mailslots,
            "slots": barcodes + [None] * (slots + mailslots - tapes),
            "drives": [_empty_drive_state() for _ in range(drives)],
            "cartridge_faults": {},
            "defaults": defaults,
        }
        for barcode in barcodes:
            create_cartridge(root, barcode, capacity=capacity, early_warning=early_warning,
                             compression=compression)
        write_json_atomic(path / "library.json", state)
        return cls(root, name)

    # -- state ----------------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def state(self) -> dict[str, Any]:
        """A fresh copy of the persisted state (another process may have changed it)."""
        self._state = self._read_state()
        return self._state

    def update(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Read-modify-write the state under the library lock; returns ``change``'s result."""
        with _flocked(self.lock_path):
            state = self._read_state()
            result = change(state)
            write_json_atomic(self.state_path, state)
            self._state = state
        return result

    @property
    def drive_count(self) -> int:
        return len(self._state["drives"])

    @property
    def slot_count(self) -> int:
        """Storage slots, without the mail slots."""
        return self._state["storage_slots"]

    @property
    def mailslot_count(self) -> int:
        return self._state["mail_slots"]

    @property
    def mailslot_numbers(self) -> range:
        """mtx numbers mail slots after the storage slots."""
        return range(self.slot_count + 1, self.slot_count + self.mailslot_count + 1)

    @property
    def defaults(self) -> dict[str, Any]:
        return self._state["defaults"]

    def cartridge_path(self, barcode: str) -> Path:
        return cartridge_dir(self.root, barcode)

    def cartridge_meta(self, barcode: str) -> dict[str, Any]:
        """The cartridge's meta.json (flags, counters, layout) as stored."""
        return json.loads((self.cartridge_path(barcode) / "meta.json").read_text("utf-8"))

    def drive_lock_path(self, index: int) -> Path:
        return self.path / f"drive{index}.lock"

    # -- devices --------------------------------------------------------------------------

    def changer(self) -> VirtualChanger:
        return VirtualChanger(self)

    def drive(self, index: int, *, max_block: int = DEFAULT_MAX_BLOCK) -> VirtualTapeDrive:
        """Open drive ``index`` (0-based); ``DriveBusy`` if a handle is open anywhere."""
        self.state()
        _check_drive_index(self._state, index)
        return VirtualTapeDrive(library=self, index=index, max_block=max_block)

    def mtx_status_text(self) -> str:
        """The state in exactly the text ``mtx -f DEV status`` prints (reference §2.2)."""
        return format_mtx_status(f"/dev/vtl/{self.name}", self.changer().status())

    # -- operator actions -----------------------------------------------------------------

    def insert_into_mailslot(
        self, barcode: str, *, slot: int | None = None, create: bool = False, **fields: Any
    ) -> int:
        """Put a cartridge from the shelf (or, with ``create``, a new blank one) into a mail
        slot; returns the slot number."""
        check_barcode(barcode)
        if create:
            params = {k: self.defaults[k] for k in ("capacity", "early_warning", "compression")}
            params.update(fields)
            create_cartridge(self.root, barcode, **params)
        elif not (self.cartridge_path(barcode) / "meta.json").is_file():
            raise TapeError(f"Cartridge {barcode} is not on the shelf.")

        def change(state: dict[str, Any]) -> int:
            _refuse_if_in_library(state, barcode)
            target = slot or _first_free(state, self.mailslot_numbers)
            if target is None:
                raise ChangerError("Every mail slot is full.")
            if target not in self.mailslot_numbers:
                raise ChangerError(f"Slot {target} is not a mail slot.")
            _check_slot_empty(state, target)
            state["slots"][target - 1] = barcode
            return target

        return self.update(change)

    def remove_from_mailslot(self, slot: int) -> str:
        """Take the cartridge out of a mail slot onto the shelf; returns its barcode."""

        def change(state: dict[str, Any]) -> str:
            if slot not in self.mailslot_numbers:
                raise ChangerError(f"Slot {slot} is not a mail slot.")
            barcode = state["slots"][slot - 1]
            if barcode is None:
                raise ChangerError(f"Slot {slot} is empty.")
            state["slots"][slot - 1] = None
            return barcode

        return self.update(change)

    def create_cleaning_cartridge(
        self, barcode: str = "CLN001CU", *, uses: int = DEFAULT_CLEANING_USES,
        slot: int | None = None,
    ) -> int:
        """Create a cleaning cartridge and place it in ``slot`` (default: first free storage
        slot); returns the slot number."""
        if not is_cleaning_barcode(barcode):
            raise TapeError(f"A cleaning cartridge's barcode must start with CLN, not {barcode}.")
        create_cartridge(self.root, barcode, cleaning_uses_left=uses)

        def change(state: dict[str, Any]) -> int:
            target = slot or _first_free(state, range(1, self.slot_count + 1))
            if target is None:
                raise ChangerError("Every storage slot is full.")
            _check_slot_exists(state, target)
            _check_slot_empty(state, target)
            state["slots"][target - 1] = barcode
            return target

        return self.update(change)

    def set_write_protected(self, barcode: str, protected: bool = True) -> None:
        """Slide the write-protect tab; like a real one, not while the cartridge is in a drive."""
        for element in self.changer().status().drives:
            if element.barcode == barcode:
                raise TapeError(
                    f"Take {barcode} out of drive {element.index} before changing its "
                    "write-protect tab."
                )
        _update_cartridge_meta(self.root, barcode,
                               lambda meta: meta.update(write_protected=protected))

    # -- faults ---------------------------------------------------------------------------

    def inject_fault(
        self,
        *,
        drive: int | None = None,
        barcode: str | None = None,
        write_error_at: int | tuple[int, int] | None = None,
        read_error_at: int | tuple[int, int] | None = None,
        offline: bool | None = None,
        bytes_per_second: int | None = None,
        cleaning_requested: bool | None = None,
    ) -> None:
        """Inject faults for one drive or one cartridge; another process sees them at once.

        ``write_error_at`` / ``read_error_at``: ``N`` = block number N (0-based) of any tape
        file, or ``(file, N)`` = block N of that tape file only. The spot stays bad (every
        attempt fails with ``MediaError``, nothing is written, the position does not move)
        until the fault is cleared.
        ``offline`` and ``cleaning_requested`` apply to drives only.
        """
        faults: dict[str, Any] = {}
        if write_error_at is not None:
            faults["write_error"] = _fault_position(write_error_at)
        if read_error_at is not None:
            faults["read_error"] = _fault_position(read_error_at)
        if offline is not None:
            faults["offline"] = offline
        if bytes_per_second is not None:
            faults["bytes_per_second"] = bytes_per_second

        def change(state: dict[str, Any]) -> None:
            if drive is not None:
                _check_drive_index(state, drive)
                state["drives"][drive]["faults"].update(faults)
                if cleaning_requested is not None:
                    state["drives"][drive]["cleaning_requested"] = cleaning_requested
            if barcode is not None:
                state["cartridge_faults"].setdefault(barcode, {}).update(faults)

        if (drive is None) == (barcode is None):
            raise TapeError("Name exactly one of a drive or a cartridge to inject a fault into.")
        self.update(change)

    def clear_faults(self, *, drive: int | None = None, barcode: str | None = None) -> None:
        """Clear injected faults (and TapeAlert flags) of a drive, a cartridge, or all."""

        def change(state: dict[str, Any]) -> None:
            for index, element in enumerate(state["drives"]):
                if drive is None or drive == index:
                    element.update(faults={}, alerts=[], cleaning_requested=False)
            for code in list(state["cartridge_faults"]):
                if barcode is None or code == barcode:
                    del state["cartridge_faults"][code]

        self.update(change)


def _check_create_args(
    root: Path, name: str, drives: int, slots: int, mailslots: int, tapes: int,
    capacity: int, early_warning: int,
) -> None:
    """Refuse impossible libraries with one sentence each."""
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name or ""):
        raise TapeError(f"{name!r} is not a valid library name (letters, digits, _ . -).")
    if VirtualLibrary.exists(root, name):
        raise TapeError(f"The virtual library {name!r} already exists.")
    if drives < 1:
        raise TapeError("A library needs at least one drive.")
    if slots < 1 or mailslots < 0:
        raise TapeError("A library needs at least one storage slot and no negative mail slots.")
    if not 0 <= tapes <= slots:
        raise TapeError(f"{tapes} cartridges do not fit into {slots} storage slots.")
    if early_warning < 0 or capacity <= early_warning:
        raise TapeError("The capacity must be larger than the early-warning reserve.")


def _check_media_suffix(suffix: str) -> None:
    if not re.match(r"^[A-Z0-9]{2}$", suffix or ""):
        raise TapeError(f"{suffix!r} is not a media suffix (two characters A–Z, 0–9, e.g. L8).")


def _barcode_prefix(name: str, prefix: str | None) -> str:
    """The characters before the number: given, or the library name's first two letters."""
    if prefix is None:
        letters = re.sub(r"[^A-Z0-9]", "", name.upper())
        prefix = (letters + "XX")[:2]
    if not re.match(r"^[A-Z0-9]{0,5}$", prefix):
        raise TapeError(f"{prefix!r} is not a barcode prefix (up to 5 characters A–Z, 0–9).")
    return prefix


def _new_barcodes(root: Path, prefix: str, suffix: str, count: int) -> list[str]:
    """``count`` barcodes not yet on the shelf: prefix + number to 6 characters + suffix.

    The shelf is shared by every library under the root, so numbers already used (by a
    library with the same prefix) are skipped and barcodes stay unique under the root.
    """
    width = 6 - len(prefix)
    found: list[str] = []
    number = 1
    while len(found) < count:
        if number >= 10**width:
            raise TapeError(f"No more free barcodes with the prefix {prefix!r}.")
        barcode = f"{prefix}{number:0{width}d}{suffix}"
        if not cartridge_dir(root, barcode).exists():
            found.append(barcode)
        number += 1
    return found


def _fault_position(value: int | tuple[int, int]) -> dict[str, int | None]:
    if isinstance(value, tuple):
        return {"file": value[0], "block": value[1]}
    return {"file": None, "block": value}


def _check_drive_index(state: dict[str, Any], index: int) -> None:
    if not 0 <= index < len(state["drives"]):
        raise ChangerError(f"The library has no drive {index}.")


def _check_slot_exists(state: dict[str, Any], slot: int) -> None:
    if not 1 <= slot <= len(state["slots"]):
        raise ChangerError(f"The library has no slot {slot}.")


def _check_slot_empty(state: dict[str, Any], slot: int) -> None:
    _check_slot_exists(state, slot)
    if state["slots"][slot - 1] is not None:
        raise ChangerError(f"Slot {slot} is already full.")


def _first_free(state: dict[str, Any], numbers: range) -> int | None:
    return next((n for n in numbers if state["slots"][n - 1] is None), None)


def _refuse_if_in_library(state: dict[str, Any], barcode: str) -> None:
    in_slots = barcode in state["slots"]
    in_drives = any(d["barcode"] == barcode for d in state["drives"])
    if in_slots or in_drives:
        raise ChangerError(f"Cartridge {barcode} is already in the library.")


def format_mtx_status(device: str, status: ChangerStatus) -> str:
    """Render a ``ChangerStatus`` as ``mtx status`` prints it, tags space-padded to 32 bytes
    as the SCSI VOLUME TAG field is (so parsers must strip them, as for real libraries)."""
    mail = sum(1 for slot in status.slots if slot.mail_slot)
    lines = [f"  Storage Changer {device}:{len(status.drives)} Drives, "
             f"{len(status.slots)} Slots ( {mail} Import/Export )"]
    for drive in status.drives:
        lines.append(f"Data Transfer Element {drive.index}:{_mtx_drive_text(drive)}")
    for slot in status.slots:
        kind = " IMPORT/EXPORT" if slot.mail_slot else ""
        content = "Empty"
        if slot.full:
            content = "Full " + (f":VolumeTag={slot.barcode:<32}" if slot.barcode else "")
        lines.append(f"      Storage Element {slot.number}{kind}:{content}")
    return "\n".join(lines) + "\n"


def _mtx_drive_text(drive: DriveElement) -> str:
    if not drive.full:
        return "Empty"
    source = (f"Storage Element {drive.source_slot}" if drive.source_slot
              else "Unknown Storage Element")
    tag = f":VolumeTag = {drive.barcode:<32}" if drive.barcode else ""
    return f"Full ({source} Loaded){tag}"


class VirtualChanger(Changer):
    """The library's robot: moves cartridges between slots and drives, with mtx's errors."""

    def __init__(self, library: VirtualLibrary):
        self.library = library

    def status(self) -> ChangerStatus:
        state = self.library.state()
        mail = set(self.library.mailslot_numbers)
        drives = tuple(
            DriveElement(index=i, barcode=d["barcode"], full=d["barcode"] is not None,
                         source_slot=d["source_slot"])
            for i, d in enumerate(state["drives"])
        )
        slots = tuple(
            SlotElement(number=n, barcode=code, full=code is not None, mail_slot=n in mail)
            for n, code in enumerate(state["slots"], start=1)
        )
        return ChangerStatus(drives=drives, slots=slots)

    def load(self, slot: int, drive: int) -> None:
        """Move a cartridge from a slot into an empty drive (rewound, counted as a load)."""

        def change(state: dict[str, Any]) -> str:
            _check_drive_index(state, drive)
            _check_slot_exists(state, slot)
            barcode = state["slots"][slot - 1]
            if barcode is None:
                raise ChangerError(f"Slot {slot} is empty.")
            holder = state["drives"][drive]
            if holder["barcode"] is not None:
                raise ChangerError(f"Drive {drive} already holds {holder['barcode']}.")
            state["slots"][slot - 1] = None
            holder.update(barcode=barcode, source_slot=slot, file=0, block=0, ejected=False,
                          last_op="load")
            # A new cartridge: read/write failure flags were about the previous medium.
            holder["alerts"] = [a for a in holder["alerts"]
                                if a not in (TA_READ_FAILURE, TA_WRITE_FAILURE)]
            self._count_load(barcode, holder)
            return barcode

        self.library.update(change)

    def _count_load(self, barcode: str, holder: dict[str, Any]) -> None:
        """Count the load; a cleaning cartridge cleans the drive or, expired, flags 0x16."""
        cleaned = False

        def change(meta: dict[str, Any]) -> None:
            nonlocal cleaned
            meta["counters"]["loads"] += 1
            if meta["cleaning"] and meta["cleaning_uses_left"] > 0:
                meta["cleaning_uses_left"] -= 1
                cleaned = True

        _update_cartridge_meta(self.library.root, barcode, change)
        if is_cleaning_barcode(barcode) or self.library.cartridge_meta(barcode)["cleaning"]:
            if cleaned:
                holder["cleaning_requested"] = False
                holder["alerts"] = [a for a in holder["alerts"]
                                    if a not in (TA_CLEAN_NOW, TA_CLEAN_PERIODIC,
                                                 TA_EXPIRED_CLEANING_MEDIA)]
            elif TA_EXPIRED_CLEANING_MEDIA not in holder["alerts"]:
                holder["alerts"].append(TA_EXPIRED_CLEANING_MEDIA)

    def unload(self, drive: int, slot: int | None = None) -> None:
        """Move the drive's cartridge to ``slot``, else where it came from, else the first
        free storage slot. Refused while a handle is open on a drive that was not ejected."""

        def change(state: dict[str, Any]) -> None:
            _check_drive_index(state, drive)
            holder = state["drives"][drive]
            if holder["barcode"] is None:
                raise ChangerError(f"Drive {drive} is empty.")
            if not holder["ejected"] and self._handle_open(drive):
                raise ChangerError(
                    f"Drive {drive} needs offline before move: eject it or close its handle."
                )
            target = slot if slot is not None else self._unload_target(state, holder)
            _check_slot_empty(state, target)
            state["slots"][target - 1] = holder["barcode"]
            keep = {k: holder[k] for k in ("faults", "cleaning_requested", "alerts")}
            holder.clear()
            holder.update(_empty_drive_state(), **keep)

        self.library.update(change)

    def _unload_target(self, state: dict[str, Any], holder: dict[str, Any]) -> int:
        source = holder["source_slot"]
        if source is not None and state["slots"][source - 1] is None:
            return source
        target = _first_free(state, range(1, self.library.slot_count + 1))
        if target is None:
            raise ChangerError("Every storage slot is full.")
        return target

    def _handle_open(self, drive: int) -> bool:
        """Whether some process holds drive ``drive`` open (its flock is taken)."""
        with open(self.library.drive_lock_path(drive), "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    def transfer(self, source: int, destination: int) -> None:
        """Slot to slot, mail slots included (import and export)."""

        def change(state: dict[str, Any]) -> None:
            _check_slot_exists(state, source)
            barcode = state["slots"][source - 1]
            if barcode is None:
                raise ChangerError(f"Slot {source} is empty.")
            _check_slot_empty(state, destination)
            state["slots"][source - 1] = None
            state["slots"][destination - 1] = barcode

        self.library.update(change)


class VirtualTapeDrive(TapeDrive):
    """One virtual drive handle with st semantics in variable-block mode.

    Positions are (tape file, record within it), mapped to the cartridge store's index so
    locate is O(1). Only the drive's own handle changes the cartridge; the library state is
    re-read (when its file changed) before every operation, so loads, unloads and faults
    done by other processes are seen.
    """

    def __init__(
        self,
        *,
        library: VirtualLibrary | None = None,
        index: int = 0,
        cartridge: Path | None = None,
        max_block: int = DEFAULT_MAX_BLOCK,
    ):
        if not 1 <= max_block <= LARGEST_MAX_BLOCK:
            raise WrongRecordSize(f"The maximum block size must be 1 byte to 8 MiB, not "
                                  f"{max_block}.")
        self.library = library
        self.index = index
        self.max_block = max_block
        self._cartridge_path = Path(cartridge) if cartridge else None
        self._drive_lock = None
        self._cart_lock = None
        self._store: CartridgeStore | None = None
        self._drive_state: dict[str, Any] = _empty_drive_state()
        self._cartridge_faults: dict[str, Any] = {}
        self._state_stamp: tuple[int, int, int] | None = None
        self._file = self._block = 0
        self._reset_transient()
        self._closed = False
        if library is not None:
            self._drive_lock = self._take_lock(
                library.drive_lock_path(index),
                f"Drive {index} of library {library.name} is already open.",
            )
        try:
            self._refresh()
        except BaseException:
            self._release_locks()
            raise

    @classmethod
    def for_cartridge(cls, path: Path, *, max_block: int = DEFAULT_MAX_BLOCK) -> VirtualTapeDrive:
        """A drive with the cartridge at ``path`` loaded, outside any library (recovery
        tools, tests). Position starts at BOT."""
        return cls(cartridge=Path(path), max_block=max_block)

    # -- locking and state ----------------------------------------------------------------

    @staticmethod
    def _take_lock(path: Path, message: str) -> Any:
        handle = open(path, "a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DriveBusy(message) from None
        return handle

    def _release_locks(self) -> None:
        for handle in (self._cart_lock, self._drive_lock):
            if handle is not None:
                handle.close()  # closing the descriptor drops the flock
        self._cart_lock = self._drive_lock = None

    def _reset_transient(self) -> None:
        """st forgets its eof/EOM state whenever the tape is repositioned."""
        self._blank_check_given = False
        self._ew_state = _EW_NONE
        self._last_write = False

    def _refresh(self) -> None:
        """Re-read the library state if it changed; follow loads and unloads."""
        if self.library is None:
            if self._store is None and not self._drive_state.get("ejected"):
                self._open_store(self._cartridge_path)
            return
        stat = os.stat(self.library.state_path)
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp == self._state_stamp:
            return
        self._state_stamp = stamp
        state = self.library.state()
        self._drive_state = state["drives"][self.index]
        barcode = None if self._drive_state["ejected"] else self._drive_state["barcode"]
        self._cartridge_faults = state["cartridge_faults"].get(barcode or "", {})
        current = self._store.barcode if self._store else None
        if barcode != current:
            self._close_store()
            if barcode is not None:
                self._open_store(self.library.cartridge_path(barcode))
                self._file = self._drive_state["file"]
                self._block = self._drive_state["block"]
                self._clamp_position()

    def _open_store(self, path: Path) -> None:
        self._cart_lock = self._take_lock(path / "lock", f"Cartridge {path.name} is already "
                                          "open in another drive or tool.")
        self._store = CartridgeStore(path)
        self._reset_transient()

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._cart_lock is not None:
            self._cart_lock.close()
            self._cart_lock = None

    def _clamp_position(self) -> None:
        """A persisted position beyond a (repaired) end of data becomes the end of data."""
        store = self._store
        if self._file > store.filemarks or (
            self._file == store.filemarks and self._block > store.counts[self._file]
        ):
            self._file, self._block = store.filemarks, store.counts[store.filemarks]
        self._block = min(self._block, store.counts[self._file])

    def _faults(self) -> dict[str, Any]:
        return {**self._drive_state.get("faults", {}), **self._cartridge_faults}

    def _name(self) -> str:
        if self.library is None:
            return f"The virtual drive for {self._cartridge_path.name}"
        return f"Drive {self.index} of library {self.library.name}"

    def _ready(self) -> CartridgeStore:
        """The loaded cartridge, or the st error an application would see instead."""
        if self._closed:
            raise TapeError(f"{self._name()} handle is closed.")
        self._refresh()
        if self._faults().get("offline"):
            raise DriveOffline(f"{self._name()} is offline.")
        if self._store is None:
            raise NoMedium(f"{self._name()} has no cartridge loaded.")
        return self._store

    def _raise_alert(self, flag: int) -> None:
        if self.library is None:
            return

        def change(state: dict[str, Any]) -> None:
            alerts = state["drives"][self.index]["alerts"]
            if flag not in alerts:
                alerts.append(flag)

        self.library.update(change)

    def _throttle(self, size: int) -> None:
        rate = self._faults().get("bytes_per_second")
        if rate:
            time.sleep(size / rate)

    def _fault_hit(self, kind: str) -> bool:
        fault = self._faults().get(kind)
        if not fault:
            return False
        return fault["block"] == self._block and fault["file"] in (None, self._file)

    # -- positions ------------------------------------------------------------------------

    def _at_eod(self, store: CartridgeStore) -> bool:
        return self._file == store.filemarks and self._block == store.counts[self._file]

    def _set_position(self, file_number: int, block: int) -> None:
        self._file, self._block = file_number, block
        self._reset_transient()

    def _flush_before_move(self, store: CartridgeStore) -> None:
        """st writes a filemark before MTREW, MTOFFL, MTBSF, MTSEEK and close after a data
        write (not before MTBSR or MTEOM); ``locate`` counts as MTSEEK."""
        if self._last_write:
            store.add_filemarks(1)
            self._file, self._block = store.filemarks, 0
            self._last_write = False

    def status(self) -> DriveStatus:
        if self._closed:
            raise TapeError(f"{self._name()} handle is closed.")
        self._refresh()
        faults = self._faults()
        alerts = set(self._drive_state.get("alerts", []))
        cleaning = bool(self._drive_state.get("cleaning_requested"))
        if cleaning:
            alerts.add(TA_CLEAN_NOW)
        store = self._store
        common = {"online": store is not None and not faults.get("offline"),
                  "loaded": store is not None, "cleaning_requested": cleaning,
                  "tape_alerts": tuple(sorted(alerts))}
        if store is None:
            return DriveStatus(**common)
        at_eod = self._at_eod(store)
        return DriveStatus(
            **common,
            barcode=store.barcode,
            bot=self._file == 0 and self._block == 0,
            eof=self._block == 0 and self._file > 0,
            eot=self._ew_state != _EW_NONE or (at_eod and store.used >= store.early_warning_point),
            eod=at_eod,
            write_protected=bool(store.meta["write_protected"] or store.meta["cleaning"]),
            worm=bool(store.meta["worm"]),
            file_number=self._file,
            block_number=self._block,
        )

    def rewind(self) -> None:
        store = self._ready()
        self._flush_before_move(store)
        self._set_position(0, 0)

    def locate(self, file_number: int, block_number: int = 0) -> None:
        """O(1) from the index. Beyond the end of data: positioned at EOD, ``EndOfData``."""
        store = self._ready()
        self._flush_before_move(store)
        if file_number < 0 or block_number < 0:
            raise TapeError(f"Cannot locate to file {file_number}, block {block_number}.")
        if file_number > store.filemarks or block_number > store.counts[file_number]:
            self._set_position(store.filemarks, store.counts[store.filemarks])
            raise EndOfData(f"File {file_number} block {block_number} is beyond the end of "
                            f"data on {store.barcode}.")
        self._set_position(file_number, block_number)

    def space_files(self, count: int) -> None:
        store = self._ready()
        if count >= 0:
            self._space_files_forward(store, count)
        else:
            self._flush_before_move(store)
            self._space_files_backward(store, -count)

    def _space_files_forward(self, store: CartridgeStore, count: int) -> None:
        target = self._file + count
        if target > store.filemarks:
            self._set_position(store.filemarks, store.counts[store.filemarks])
            raise EndOfData(f"Reached the end of data on {store.barcode} after "
                            f"{store.filemarks - (target - count)} filemarks.")
        if count:
            self._set_position(target, 0)

    def _space_files_backward(self, store: CartridgeStore, count: int) -> None:
        """Onto the BOT side of the count-th filemark behind us (filemark k ends file k)."""
        mark = self._file - count
        if mark < 0:
            self._set_position(0, 0)
            raise TapeError(f"Reached the beginning of {store.barcode} while spacing back "
                            f"{count} filemarks.", errno=5)
        self._set_position(mark, store.counts[mark])

    def space_records(self, count: int) -> None:
        store = self._ready()
        if count >= 0:
            self._space_records_forward(store, count)
        else:
            self._space_records_backward(store, -count)

    def _space_records_forward(self, store: CartridgeStore, count: int) -> None:
        remaining = store.counts[self._file] - self._block
        if count <= remaining:
            self._set_position(self._file, self._block + count)
        elif self._file < store.filemarks:
            self._set_position(self._file + 1, 0)
            raise FilemarkDetected(f"Spacing {count} records forward met a filemark after "
                                   f"{remaining}.")
        else:
            self._set_position(self._file, store.counts[self._file])
            raise EndOfData(f"Spacing {count} records forward reached the end of data on "
                            f"{store.barcode}.")

    def _space_records_backward(self, store: CartridgeStore, count: int) -> None:
        if count <= self._block:
            self._set_position(self._file, self._block - count)
        elif self._file == 0:
            self._set_position(0, 0)
            raise TapeError(f"Reached the beginning of {store.barcode} while spacing back "
                            f"{count} records.", errno=5)
        else:
            self._set_position(self._file - 1, store.counts[self._file - 1])
            raise FilemarkDetected(f"Spacing {count} records back met a filemark after "
                                   f"{self._block} records.")

    def seek_end_of_data(self) -> None:
        store = self._ready()
        self._last_write = False
        self._set_position(store.filemarks, store.counts[store.filemarks])

    # -- reading --------------------------------------------------------------------------

    def read_record(self, max_size: int) -> bytes:
        store = self._ready()
        if not 1 <= max_size <= self.max_block:
            raise WrongRecordSize(f"A read buffer of {max_size} bytes is outside the drive's "
                                  f"limits (1 to {self.max_block}).")
        self._last_write = False
        if self._block < store.counts[self._file]:
            return self._read_data(store, max_size)
        if self._file < store.filemarks:
            self._set_position(self._file + 1, 0)
            return b""
        return self._read_at_eod(store)

    def _read_data(self, store: CartridgeStore, max_size: int) -> bytes:
        if self._fault_hit("read_error"):
            self._raise_alert(TA_READ_FAILURE)
            raise MediaError(f"Unrecoverable read error at file {self._file} block "
                             f"{self._block} of {store.barcode}.")
        data = store.read_record(self._file, self._block)
        self._throttle(len(data))
        self._block += 1
        self._blank_check_given = False
        if len(data) > max_size:
            # st: ENOMEM and the record is skipped.
            raise WrongRecordSize(f"Failed to read a {len(data)} byte record with a "
                                  f"{max_size} byte buffer; the record was skipped.")
        store.meta["counters"]["bytes_read"] += len(data)
        return data

    def _read_at_eod(self, store: CartridgeStore) -> bytes:
        """After a filemark the first read at EOD returns b"" (BLANK CHECK); then EIO."""
        after_filemark = self._file > 0 and self._block == 0
        if after_filemark and not self._blank_check_given:
            self._blank_check_given = True
            return b""
        raise EndOfData(f"Reached the end of recorded data on {store.barcode}.")

    # -- writing --------------------------------------------------------------------------

    def _writable(self) -> CartridgeStore:
        store = self._ready()
        if store.meta["cleaning"]:
            raise WriteProtected(f"{store.barcode} is a cleaning cartridge and cannot be "
                                 "written.")
        if store.meta["write_protected"]:
            raise WriteProtected(f"{store.barcode} is write-protected.")
        if store.meta["worm"] and not self._at_eod(store):
            raise WriteProtected(f"{store.barcode} is a WORM cartridge: it can only be "
                                 "appended to at the end of data.")
        return store

    def _truncate_here(self, store: CartridgeStore) -> None:
        """Writing before the end of data forgets everything after (mhvtl check_for_overwrite)."""
        if not self._at_eod(store):
            store.truncate(self._file, self._block)

    def write_record(self, data: bytes | bytearray | memoryview) -> bool:
        size = len(data)
        if not 1 <= size <= self.max_block:
            raise WrongRecordSize(f"A record of {size} bytes is outside the drive's limits "
                                  f"(1 to {self.max_block}).")
        store = self._writable()
        if self._ew_state == _EW_REFUSE_NEXT:
            self._ew_state = _EW_ALLOW_NEXT
            raise EndOfMedium(f"{store.barcode} is in the early-warning zone; the record was "
                              "not written.")
        if self._fault_hit("write_error"):
            self._raise_alert(TA_WRITE_FAILURE)
            raise MediaError(f"Unrecoverable write error at file {self._file} block "
                             f"{self._block} of {store.barcode}.")
        stored = store.stored_size(bytes(data))
        used = self._used_before_position(store)
        if used + len(stored) > store.capacity:
            raise EndOfMedium(f"{store.barcode} is full: the record does not fit before the "
                              "physical end of the tape.")
        self._truncate_here(store)
        self._throttle(size)
        store.append_record(stored)
        store.meta["counters"]["bytes_written"] += size
        self._block += 1
        self._last_write = True
        self._blank_check_given = False
        if used + len(stored) >= store.early_warning_point:
            self._ew_state = _EW_REFUSE_NEXT
            return True
        return False

    def _used_before_position(self, store: CartridgeStore) -> int:
        """Bytes that stay on tape if we write here (everything after is truncated)."""
        if self._at_eod(store):
            return store.used
        before = sum(store.sizes[: self._file])
        if self._block:
            before += store.record_span(self._file, self._block - 1)[1]
        return before

    def write_filemarks(self, count: int = 1) -> None:
        """Write filemarks here (truncating what follows); fsyncs data, index and meta."""
        if count < 0:
            raise TapeError(f"Cannot write {count} filemarks.")
        if count == 0:
            self._ready().sync()
            return
        store = self._writable()
        self._truncate_here(store)
        store.add_filemarks(count)
        self._file, self._block = store.filemarks, 0
        self._last_write = False
        self._blank_check_given = False

    # -- unloading and closing ------------------------------------------------------------

    def eject(self) -> None:
        """MTOFFL: rewind and unload. The drive then reports no medium; the changer still
        shows the cartridge in the drive until it is unloaded (as a real library does)."""
        store = self._ready()
        self._flush_before_move(store)
        self._set_position(0, 0)
        self._close_store()
        if self.library is None:
            self._drive_state["ejected"] = True
            return

        def change(state: dict[str, Any]) -> None:
            state["drives"][self.index].update(ejected=True, file=0, block=0, last_op="eject")

        self.library.update(change)

    def close(self) -> None:
        """Write the implicit filemark after a data write, persist the position, unlock."""
        if self._closed:
            return
        try:
            if self._store is not None:
                self._flush_before_move(self._store)
                self._persist_position()
        finally:
            self._close_store()
            self._release_locks()
            self._closed = True

    def _persist_position(self) -> None:
        if self.library is None:
            return
        barcode = self._store.barcode
        file_number, block = self._file, self._block

        def change(state: dict[str, Any]) -> None:
            drive = state["drives"][self.index]
            if drive["barcode"] == barcode:
                drive.update(file=file_number, block=block, last_op="close")

        self.library.update(change)

    def __del__(self) -> None:  # a forgotten handle must not keep the drive locked
        try:
            self._release_locks()
        except Exception:
            pass
