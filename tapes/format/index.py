"""The index: the tape file after each data file, so the catalog can be rebuilt from tapes
alone (DESIGN §4). A pax archive, readable with GNU tar, holding:

``TAPEBACKUP-SET.json``
    The set's own record, one JSON object, as the engine passes it — by convention
    ``format`` ("tapebackup-index"), ``format_version`` (1), ``set_id``, ``job``,
    ``level``, ``started_at``/``finished_at`` (ISO 8601 UTC), ``segment`` (0-based segment
    sequence number), ``media_set_id``, ``tape_sequence``, ``data_file`` (tape file number
    of the data file), ``record_size``, ``continues`` / ``continued`` (the segment is split
    from / onto other tapes). ``format`` and ``format_version`` are added when missing.
``TAPEBACKUP-CATALOG-000001.jsonl``, ``-000002`` …
    The segment's catalog rows, one JSON object a line, each member at most ``chunk_bytes``
    (64 MiB by default). Rows as produced by ``catalog_row``:

    ========================= ============================================================
    ``path`` / ``path_b64``   archive name: text when valid UTF-8, else base64 of the bytes
    ``type``                  regular, hardlink, symlink, chardev, blockdev, directory, fifo
    ``size``                  real size in bytes (sparse files: logical size)
    ``stored_size``           bytes stored (sparse files: data regions only)
    ``mode``                  permission bits incl. setuid/setgid/sticky, as an integer
    ``uid`` ``gid`` ``uname`` ``gname``
    ``mtime_ns`` ``atime_ns`` ``ctime_ns``  integers, nanoseconds since the epoch (or null)
    ``checksum``              SHA-256 hex of the stored data, null for members without data
    ``link`` / ``link_b64``   symlink target or hard-link target's archive name ("" if none)
    ``devmajor`` ``devminor``
    ``xattrs`` ``acl``        whether the member carries xattrs / POSIX ACLs (booleans)
    ``sparse``                whether it is stored as a GNU sparse file
    ``changed``               the file changed while it was read
    ``volume``                0-based volume of the segment (tape) its header starts in
    ``record`` ``offset``     record within that tape file, byte offset inside the record
    ========================= ============================================================

Any other key a caller adds is stored as given; any ``bytes`` value is stored as text when
valid UTF-8, else under ``<key>_b64``. ``read_index`` gives ``path`` and ``link`` back as
bytes (from either form) and every ``<key>_b64`` as bytes under ``<key>``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ._io import TrailerWrites
from .entry import Entry, EntryType
from .headers import FormatError
from .pax import DEFAULT_RECORD_SIZE, MemberInfo, PaxWriter
from .reader import PaxReader

INDEX_FORMAT = "tapebackup-index"
FORMAT_VERSION = 1
SET_MEMBER = b"TAPEBACKUP-SET.json"
CATALOG_PREFIX = b"TAPEBACKUP-CATALOG-"
DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024
MAX_LINE = 16 * 1024 * 1024
BYTES_FIELDS = ("path", "link")


@dataclass(frozen=True)
class IndexSummary:
    rows: int
    members: int
    records: int
    early_warning: bool


_TYPE_NAMES = {t: t.name.lower() for t in EntryType}


def catalog_row(entry: Entry, info: MemberInfo) -> dict:
    """The catalog row of one member, in the schema above."""
    return {
        "path": entry.name,
        "type": _TYPE_NAMES[entry.type],
        "size": entry.size,
        "stored_size": info.stored_size,
        "mode": entry.mode,
        "uid": entry.uid,
        "gid": entry.gid,
        "uname": entry.uname,
        "gname": entry.gname,
        "mtime_ns": entry.mtime_ns,
        "atime_ns": entry.atime_ns,
        "ctime_ns": entry.ctime_ns,
        "checksum": info.checksum,
        "link": entry.linkname,
        "devmajor": entry.devmajor,
        "devminor": entry.devminor,
        "xattrs": bool(entry.xattrs),
        "acl": bool(entry.acl_access or entry.acl_default),
        "sparse": entry.sparse is not None,
        "changed": info.changed,
        "volume": info.volume,
        "record": info.record,
        "offset": info.offset,
    }


def encode_row(row: dict) -> bytes:
    out = {}
    for key, value in row.items():
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
            try:
                out[key] = value.decode("utf-8")
            except UnicodeDecodeError:
                out[key + "_b64"] = base64.b64encode(value).decode("ascii")
        else:
            out[key] = value
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def decode_row(line: bytes) -> dict:
    row = json.loads(line)
    if not isinstance(row, dict):
        raise FormatError("An index row is not a JSON object.")
    for key in [k for k in row if k.endswith("_b64")]:
        row[key[:-4]] = base64.b64decode(row.pop(key), validate=True)
    for key in BYTES_FIELDS:
        if isinstance(row.get(key), str):
            row[key] = row[key].encode("utf-8")
    return row


def write_index(
    drive,
    set_record: dict,
    rows: Iterable[dict],
    *,
    record_size: int = DEFAULT_RECORD_SIZE,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> IndexSummary:
    """Write the index archive and its filemark at the current position. Memory stays
    within one chunk (``chunk_bytes``) whatever the number of rows. The index must end on
    this tape: early warning is ignored (see ``_io.TrailerWrites``).

    A row is a dict (encoded with ``encode_row``) or ``bytes``: one row already encoded,
    one JSON object (a newline is added when it does not end with one)."""
    trailer = TrailerWrites(drive)
    writer = PaxWriter(trailer, record_size=record_size)
    record = {"format": INDEX_FORMAT, "format_version": FORMAT_VERSION, **set_record}
    _add_member(writer, SET_MEMBER, json.dumps(record, indent=1, sort_keys=True).encode() + b"\n")
    count, chunk, chunk_len, members = 0, [], 0, 1
    for row in rows:
        if isinstance(row, (bytes, bytearray)):
            line = row if row.endswith(b"\n") else row + b"\n"
        else:
            line = encode_row(row)
        if chunk and chunk_len + len(line) > chunk_bytes:
            _add_member(writer, b"%s%06d.jsonl" % (CATALOG_PREFIX, members), b"".join(chunk))
            members += 1
            chunk, chunk_len = [], 0
        chunk.append(line)
        chunk_len += len(line)
        count += 1
    if chunk or count == 0:
        _add_member(writer, b"%s%06d.jsonl" % (CATALOG_PREFIX, members), b"".join(chunk))
        members += 1
    summary = writer.close()
    drive.write_filemarks(1)
    return IndexSummary(count, members, summary.bytes_written // record_size, trailer.early_warning)


def _add_member(writer: PaxWriter, name: bytes, payload: bytes) -> None:
    now = time.time_ns()
    entry = Entry(name=name, type=EntryType.REGULAR, mode=0o444, uname="root", gname="root",
                  size=len(payload), mtime_ns=now, atime_ns=now, ctime_ns=now)
    writer.add(entry, [payload])


def read_index(drive, *, record_size: int | None = None) -> tuple[dict, Iterator[dict]]:
    """Read an index archive from the current position: the set record, and the rows
    (lazily: read them before moving the tape)."""
    reader = PaxReader(drive, record_size=record_size)
    member = reader.next_member()
    if member is None or member[0].name != SET_MEMBER:
        raise FormatError("This tape file is not a tapebackup index.")
    entry, data = member
    if entry.size > MAX_LINE:
        raise FormatError("The index's set record is absurdly large.")
    set_record = json.loads(data.read())
    if not isinstance(set_record, dict) or set_record.get("format") != INDEX_FORMAT:
        raise FormatError("This tape file is not a tapebackup index.")
    if set_record.get("format_version", 0) > FORMAT_VERSION:
        raise FormatError("The index was written by a newer version of tapebackup.")
    return set_record, _rows(reader)


def _rows(reader: PaxReader) -> Iterator[dict]:
    for entry, data in reader:
        if not entry.name.startswith(CATALOG_PREFIX):
            continue
        pending = b""
        for chunk in data:
            lines = (pending + bytes(chunk)).split(b"\n")
            pending = lines.pop()
            if len(pending) > MAX_LINE:
                raise FormatError("An index row is absurdly long.")
            for line in lines:
                if line:
                    yield decode_row(line)
        if pending:
            yield decode_row(pending)
