"""``PaxReader``: read members of a pax (or ustar) archive in records from a ``TapeDrive``,
following GNU multi-volume continuations, GNU sparse 1.0 and hard links.

Hostile input gives a ``FormatError`` with one sentence: bad header checksums, negative or
absurd numbers, malformed extended headers or sparse maps, truncated archives. Memory use
is bounded (one record, an extended header of at most ``MAX_EXTENDED_HEADER`` bytes);
names come back as bytes, unchecked: the restore engine decides what is safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tapes.drivers.base import EndOfData, TapeDrive, WrongRecordSize

from .entry import Entry, EntryType
from .headers import (
    BLOCK,
    ZERO_BLOCK,
    FormatError,
    decode_xattr_name,
    header_checksum_ok,
    padded,
    parse_number,
    parse_pax_int,
    parse_pax_records,
    parse_pax_time,
)
from .pax import MAX_RECORD_SIZE

MAX_EXTENDED_HEADER = 16 * 1024 * 1024
MAX_SPARSE_REGIONS = 1 << 20
MAX_MEMBER_SIZE = 1 << 60
_TYPES = {t.value.encode(): t for t in EntryType}
_SKIPPED_TYPES = (b"V",)  # GNU volume label: not a file


class ChecksumMismatch(FormatError):
    """A member's data does not match the checksum recorded for it."""


@dataclass(slots=True)
class _Continuation:
    filename: bytes | None = None
    size: int | None = None
    offset: int | None = None


class _Records:
    """The archive as a stream of 512-byte blocks over records of one or more volumes."""

    def __init__(self, drive, record_size, start_offset, on_next_volume):
        self.drive = drive
        self.max_size = record_size or MAX_RECORD_SIZE
        self.record = b""
        self.view = memoryview(b"")
        self.pos = 0
        self.on_next_volume = on_next_volume
        self.volume = 0
        self.records_read = 0
        if start_offset % BLOCK:
            raise ValueError("start_offset must be a multiple of 512")
        self._skip = start_offset

    def _fill(self) -> bool:
        """Read the next record of this volume; False at its end (filemark or EOD)."""
        try:
            record = self.drive.read_record(self.max_size)
        except EndOfData:
            return False
        except WrongRecordSize:
            raise FormatError(
                "A record is larger than any record size this reader supports.") from None
        if not record:
            return False
        if len(record) % BLOCK:
            raise FormatError(f"A record of {len(record)} bytes is not a multiple of 512.")
        self.records_read += 1
        self.record, self.view, self.pos = record, memoryview(record), 0
        if self._skip:
            if self._skip >= len(record):
                raise FormatError("The start offset lies beyond the first record.")
            self.pos, self._skip = self._skip, 0
        return True

    def available(self) -> bool:
        """Make sure a block is at hand, moving to the next volume when needed."""
        if self.pos < len(self.record):
            return True
        if self._fill():
            return True
        return self.on_next_volume()

    def block(self) -> memoryview:
        if not self.available():
            raise FormatError("The archive ends in the middle of a member.")
        start = self.pos
        self.pos += BLOCK
        return self.view[start : self.pos]

    def take(self, limit: int) -> memoryview:
        """Up to ``limit`` bytes (whole blocks) of the current record."""
        if not self.available():
            raise FormatError("The archive ends in the middle of a member's data.")
        end = min(len(self.record), self.pos + padded(limit))
        start, self.pos = self.pos, end
        return self.view[start:end]


class PaxReader:
    """Iterate ``(Entry, MemberData)`` pairs. Consume (or abandon) each member's data before
    asking for the next member; what is left is skipped.

    ``record_size=None`` accepts records of any size up to 1 MiB. ``start_offset`` is the
    byte offset of the first header inside the first record (``MemberInfo.offset``).
    ``on_volume_end()`` returns the drive holding the next volume (positioned at its data
    file) or None; without it an archive that continues elsewhere raises FormatError.
    """

    def __init__(
        self,
        drive: TapeDrive,
        *,
        record_size: int | None = None,
        start_offset: int = 0,
        on_volume_end: Callable[[], TapeDrive | None] | None = None,
    ):
        self._records = _Records(drive, record_size, start_offset, self._next_volume)
        self._on_volume_end = on_volume_end
        self._globals: dict[bytes, bytes] = {}
        self._current: MemberData | None = None
        self._switching = False
        self.finished = False

    def __iter__(self) -> Iterator[tuple[Entry, MemberData]]:
        while (member := self.next_member()) is not None:
            yield member

    @property
    def volume(self) -> int:
        return self._records.volume

    def next_member(self, expected_checksum: str | None = None):
        """The next ``(Entry, MemberData)``, or None at the end of the archive.
        ``expected_checksum`` (hex SHA-256): reading the data to its end raises
        ``ChecksumMismatch`` if it differs."""
        if self._current is not None:
            self._current.skip()
            self._current = None
        if self.finished:
            return None
        entry, data_size = self._read_headers()
        if entry is None:
            self.finished = True
            return None
        data = MemberData(self, entry, data_size, expected_checksum)
        self._current = data
        return entry, data

    # --- headers -------------------------------------------------------------------------

    def _read_headers(self) -> tuple[Entry | None, int]:
        local: dict[bytes, bytes] = {}
        xattrs: dict[str, bytes] = {}
        while True:
            if not self._records.available():
                raise FormatError("The archive ends without an end-of-archive marker.")
            block = bytes(self._records.block())
            if block == ZERO_BLOCK:
                self._consume_second_zero_block()
                return None, 0
            if not header_checksum_ok(block):
                raise FormatError("A header block has a bad checksum: this is not a tar archive or it is damaged.")
            typeflag = block[156:157]
            size = parse_number(block[124:136], "size")
            if typeflag in (b"x", b"g"):
                records = self._extended_records(size)
                target = local if typeflag == b"x" else self._globals
                for keyword, value in records:
                    if keyword.startswith(b"SCHILY.xattr."):
                        xattrs[decode_xattr_name(keyword[13:])] = value
                    elif not keyword.startswith(b"GNU.volume."):
                        target[keyword] = value
                continue
            if typeflag in _SKIPPED_TYPES:
                self._skip_bytes(size)
                continue
            return self._entry(block, {**self._globals, **local}, xattrs)

    def _consume_second_zero_block(self) -> None:
        records = self._records
        if records.pos < len(records.record):
            records.pos += BLOCK

    def _extended_records(self, size: int) -> list[tuple[bytes, bytes]]:
        if size > MAX_EXTENDED_HEADER:
            raise FormatError(f"An extended header claims {size} bytes, more than this reader accepts.")
        return parse_pax_records(self._read_bytes(size))

    def _read_bytes(self, size: int) -> bytes:
        parts = []
        left = size
        while left > 0:
            chunk = self._records.take(left)
            parts.append(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        return b"".join(parts)

    def _skip_bytes(self, size: int) -> None:
        left = padded(size)
        while left > 0:
            left -= len(self._records.take(left))

    def _entry(self, block: bytes, pax: dict, xattrs: dict) -> tuple[Entry, int]:
        typeflag = block[156:157]
        etype = _TYPES.get(typeflag, EntryType.REGULAR)  # POSIX: unknown types read as files
        name = block[:100].split(b"\0", 1)[0]
        prefix = block[345:500].split(b"\0", 1)[0] if block[257:262] == b"ustar" else b""
        if prefix:
            name = prefix + b"/" + name
        name = pax.get(b"path", name)
        size = parse_number(block[124:136], "size")
        if b"size" in pax:
            size = parse_pax_int(pax[b"size"], "size", MAX_MEMBER_SIZE)
        if size > MAX_MEMBER_SIZE:
            raise FormatError(f"A member claims an absurd size ({size} bytes).")
        mtime_ns = parse_number(block[136:148], "mtime") * 1_000_000_000
        entry = Entry(
            name=name,
            type=etype,
            mode=parse_number(block[100:108], "mode") & 0o7777,
            uid=_int(pax, b"uid", block[108:116]),
            gid=_int(pax, b"gid", block[116:124]),
            uname=pax.get(b"uname", block[265:297].split(b"\0", 1)[0]).decode("utf-8", "surrogateescape"),
            gname=pax.get(b"gname", block[297:329].split(b"\0", 1)[0]).decode("utf-8", "surrogateescape"),
            size=size if etype is EntryType.REGULAR else 0,
            mtime_ns=parse_pax_time(pax[b"mtime"]) if b"mtime" in pax else mtime_ns,
            atime_ns=parse_pax_time(pax[b"atime"]) if b"atime" in pax else None,
            ctime_ns=parse_pax_time(pax[b"ctime"]) if b"ctime" in pax else None,
            linkname=pax.get(b"linkpath", block[157:257].split(b"\0", 1)[0]),
            xattrs=xattrs,
        )
        if etype in (EntryType.CHARDEV, EntryType.BLOCKDEV):
            entry.devmajor = parse_number(block[329:337], "devmajor")
            entry.devminor = parse_number(block[337:345], "devminor")
        if etype is EntryType.DIRECTORY and len(entry.name) > 1:
            entry.name = entry.name.rstrip(b"/") or b"/"
        if b"SCHILY.acl.access" in pax:
            entry.acl_access = pax[b"SCHILY.acl.access"].decode("utf-8", "surrogateescape")
        if b"SCHILY.acl.default" in pax:
            entry.acl_default = pax[b"SCHILY.acl.default"].decode("utf-8", "surrogateescape")
        if pax.get(b"GNU.sparse.major") == b"1" and etype is EntryType.REGULAR:
            entry.name = pax.get(b"GNU.sparse.name", entry.name)
            entry.size = parse_pax_int(pax.get(b"GNU.sparse.realsize", b""), "sparse real size", MAX_MEMBER_SIZE)
            entry.sparse = ()  # the map is read from the data
        elif b"GNU.sparse.major" in pax or b"GNU.sparse.numblocks" in pax:
            raise FormatError("The archive uses a GNU sparse format other than 1.0.")
        return entry, size

    # --- volumes -------------------------------------------------------------------------

    def _next_volume(self) -> bool:
        """At the end of a volume: open the next, check its GNU continuation header."""
        if self._switching:
            return False
        drive = self._on_volume_end() if self._on_volume_end else None
        if drive is None:
            return False
        records = self._records
        records.drive, records.volume, records._skip = drive, records.volume + 1, 0
        records.record, records.view, records.pos = b"", memoryview(b""), 0
        self._switching = True
        try:
            continuation = self._read_continuation()
        finally:
            self._switching = False
        self._check_continuation(continuation)
        return True

    def _read_continuation(self) -> _Continuation | None:
        records = self._records
        if not records.available():
            raise FormatError("The next volume is empty.")
        if records.record[records.pos + 156 : records.pos + 157] != b"g":
            return None
        found = _Continuation()
        while True:
            block = bytes(records.block())
            if not header_checksum_ok(block):
                raise FormatError("The next volume's continuation header has a bad checksum.")
            typeflag = block[156:157]
            size = parse_number(block[124:136], "size")
            if typeflag not in (b"g", b"x"):
                return found  # the GNUFileParts header: skipped, as GNU tar does
            for keyword, value in self._extended_records(size):
                if keyword == b"GNU.volume.filename":
                    found.filename = value
                elif keyword == b"GNU.volume.size":
                    found.size = parse_pax_int(value, "volume size")
                elif keyword == b"GNU.volume.offset":
                    found.offset = parse_pax_int(value, "volume offset")

    def _check_continuation(self, found: _Continuation | None) -> None:
        current = self._current
        if current is None or current.done_reading:
            return  # between members or inside headers: nothing to match (as GNU tar)
        name = current.entry.name
        if found is None or found.filename is None:
            raise FormatError(f"{name!r} is not continued on the next volume.")
        if found.filename.rstrip(b"/") != name.rstrip(b"/"):
            raise FormatError(f"The next volume continues {found.filename!r}, not {name!r}.")
        if found.offset != current.consumed or found.size != current.data_size - current.consumed:
            raise FormatError(f"The next volume is out of sequence for {name!r}.")


def _int(pax: dict, key: bytes, field: bytes) -> int:
    if key in pax:
        return parse_pax_int(pax[key], key.decode())
    return parse_number(field, key.decode())


class MemberData:
    """The data of one member: iterate for memoryview chunks (valid until the next read),
    or ``read()`` it whole. ``checksum`` (hex) is set once the data was read to its end."""

    def __init__(self, reader: PaxReader, entry: Entry, data_size: int, expected: str | None):
        self._reader = reader
        self.entry = entry
        self.data_size = data_size
        self.consumed = 0
        self.expected = expected
        self.checksum: str | None = None
        self._digest = hashlib.sha256()
        self._finished = False
        self.done_reading = data_size == 0
        reader._current = self
        if entry.sparse is not None:
            self._read_sparse_map()

    def __iter__(self) -> Iterator[memoryview]:
        records = self._reader._records
        while self.consumed < self.data_size:
            chunk = records.take(self.data_size - self.consumed)
            useful = min(len(chunk), self.data_size - self.consumed)
            self.consumed += len(chunk)
            view = chunk[:useful]
            self._digest.update(view)
            yield view
        self._finish()

    def read(self) -> bytes:
        return b"".join(bytes(chunk) for chunk in self)

    def skip(self) -> None:
        for _ in self:
            pass

    def _finish(self) -> None:
        if self.consumed >= self.data_size and self.done_reading and self._finished:
            return
        self._finished = True
        self.done_reading = True
        self.consumed = self.data_size
        if self.entry.type is EntryType.REGULAR:
            self.checksum = self._digest.hexdigest()
        if self.expected is not None and self.expected != self.checksum:
            raise ChecksumMismatch(f"The data of {self.entry.name!r} does not match its checksum.")

    def _read_sparse_map(self) -> None:
        """GNU sparse 1.0: decimal numbers, one a line, at the start of the data."""
        numbers: list[int] = []
        pending = b""
        wanted = None
        records = self._reader._records
        while wanted is None or len(numbers) < wanted:
            if self.consumed >= self.data_size:
                raise FormatError(f"The sparse map of {self.entry.name!r} is truncated.")
            block = bytes(records.block())
            self.consumed += BLOCK
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if wanted is not None and len(numbers) >= wanted:
                    break
                if not line.isdigit() or len(line) > 20:
                    raise FormatError(f"The sparse map of {self.entry.name!r} is malformed.")
                numbers.append(int(line))
                if wanted is None:
                    if numbers[0] > MAX_SPARSE_REGIONS:
                        raise FormatError(f"The sparse map of {self.entry.name!r} is absurdly long.")
                    wanted = 1 + 2 * numbers[0]
            if (wanted is None or len(numbers) < wanted) and len(pending) > 40:
                raise FormatError(f"The sparse map of {self.entry.name!r} is malformed.")
        regions = tuple(zip(numbers[1::2], numbers[2::2]))
        end = 0
        for offset, length in regions:
            if offset < end or offset + length > self.entry.size:
                raise FormatError(f"The sparse map of {self.entry.name!r} is not in order or too big.")
            end = offset + length
        if sum(length for _, length in regions) != self.data_size - self.consumed:
            raise FormatError(f"The sparse map of {self.entry.name!r} does not match its data size.")
        self.entry.sparse = regions
        self.done_reading = self.consumed >= self.data_size
