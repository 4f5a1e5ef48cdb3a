"""Tape file 0, the label: a pax archive holding one JSON member, ``TAPEBACKUP-LABEL.json``.

Readable with ``mt -f /dev/nst0 rewind; tar -xOf /dev/nst0 TAPEBACKUP-LABEL.json``.
The JSON object (format version 1)::

    {"format": "tapebackup-label", "format_version": 1,
     "barcode": "A00017L8", "pool": "monthly",
     "media_set_id": "<uuid>", "sequence": 0,       # this tape's 0-based place in the set
     "record_size": 262144,                          # every data file on the tape uses it
     "written_at": "2026-01-31T23:00:00Z",           # ISO 8601, UTC
     "writer_host": "backup1", "installation_id": "<uuid>"}

Readers ignore keys they do not know; a newer ``format_version`` is refused. The checks
whether a tape may be labelled (DESIGN §6.1–2) live above this layer.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from dataclasses import asdict, dataclass, field

from tapes.drivers.base import EndOfData, WrongRecordSize

from ._io import Prefetched, TrailerWrites
from .entry import Entry, EntryType
from .headers import FormatError
from .pax import DEFAULT_RECORD_SIZE, MAX_RECORD_SIZE, PaxWriter
from .reader import PaxReader

LABEL_MEMBER = b"TAPEBACKUP-LABEL.json"
LABEL_FORMAT = "tapebackup-label"
FORMAT_VERSION = 1
_MAX_LABEL_BYTES = 64 * 1024

# First bytes of other programs' labels, to name what was found (reference §4.3).
_SIGNATURES = (
    (b"VOL1", "an ANSI/IBM standard label (LTFS, Bareos ANSI or a mainframe tape)"),
    (b"AMANDA: ", "an Amanda label"),
)


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TapeLabel:
    barcode: str
    pool: str
    media_set_id: str
    sequence: int
    record_size: int = DEFAULT_RECORD_SIZE
    written_at: str = field(default_factory=_utc_now)
    writer_host: str = field(default_factory=socket.gethostname)
    installation_id: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        return json.dumps({"format": LABEL_FORMAT, **asdict(self)}, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> TapeLabel:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != LABEL_FORMAT:
            raise ValueError("not a tapebackup label")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


class ForeignLabel(Exception):
    """Tape file 0 is not a tapebackup label. ``found`` says what it is, in words."""

    def __init__(self, found: str, *, member: bytes | None = None):
        super().__init__(f"The tape holds {found}, not a tapebackup label.")
        self.found = found
        self.member = member


def write_label(drive, label: TapeLabel) -> None:
    """Rewind and write tape file 0 (the label archive) and its filemark."""
    drive.rewind()
    payload = label.to_json()
    now = time.time_ns()
    entry = Entry(name=LABEL_MEMBER, type=EntryType.REGULAR, mode=0o444, uname="root",
                  gname="root", size=len(payload), mtime_ns=now, atime_ns=now, ctime_ns=now)
    writer = PaxWriter(TrailerWrites(drive), record_size=label.record_size)
    writer.add(entry, [payload])
    writer.close()
    drive.write_filemarks(1)


def read_label(drive) -> TapeLabel | None:
    """Rewind and read tape file 0. None: the tape is blank (end of data at BOT).
    Leaves the tape inside file 0; callers position before writing."""
    drive.rewind()
    try:
        first = drive.read_record(MAX_RECORD_SIZE)
    except EndOfData:
        return None
    except WrongRecordSize:
        raise ForeignLabel("records larger than 1 MiB (an unknown format)") from None
    if not first:
        raise ForeignLabel("an empty first tape file")
    for magic, found in _SIGNATURES:
        if first.startswith(magic):
            raise ForeignLabel(found)
    return _parse_label(PaxReader(Prefetched(drive, first)), first)


def _parse_label(reader: PaxReader, first: bytes) -> TapeLabel:
    try:
        member = reader.next_member()
        if member is None:
            raise ForeignLabel("an empty tar archive in its first file")
        entry, data = member
        if entry.name != LABEL_MEMBER:
            raise ForeignLabel(f"a tar archive of another program (first member {entry.name!r})",
                               member=entry.name)
        if entry.size > _MAX_LABEL_BYTES:
            raise ForeignLabel("a tar archive with an oversized label member")
        raw = data.read()
    except FormatError:
        raise ForeignLabel(f"an unknown format (first bytes {first[:16]!r})") from None
    try:
        label = TapeLabel.from_json(raw)
    except (ValueError, TypeError):
        raise ForeignLabel("a tar archive with a label member that is not ours") from None
    if label.format_version > FORMAT_VERSION:
        raise ForeignLabel(f"a tapebackup label of a newer format ({label.format_version})")
    return label
