"""``PaxReader``: read members of a pax (or ustar) archive in records from a ``TapeDrive``,
following GNU multi-volume continuations, GNU sparse 1.0 and hard links.

Hostile input gives a ``FormatError`` with one sentence: bad header checksums, negative or
absurd numbers, malformed extended headers or sparse maps, truncated archives. Memory use
is bounded (one record, an extended header of at most ``MAX_EXTENDED_HEADER`` bytes);
names come back as bytes, unchecked: the restore engine decides what is safe.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
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
# name mode uid gid size mtime chksum typeflag linkname magic version uname gname
# devmajor devminor prefix: one unpack instead of a slice per field (``_entry``).
_USTAR = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s")


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
        if type(record) is not bytes:
            record = bytes(record)  # headers are sliced from it as bytes (``header``)
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

    def header(self) -> bytes:
        """The next block as bytes (a header: parsed by slicing, so one copy is cheaper
        than a memoryview)."""
        if self.pos >= len(self.record) and not self.available():
            raise FormatError("The archive ends in the middle of a member.")
        start = self.pos
        self.pos += BLOCK
        return self.record[start : self.pos]

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
        records = self._records
        while True:
            if records.pos >= len(records.record) and not records.available():
                raise FormatError("The archive ends without an end-of-archive marker.")
            block = records.header()
            if block == ZERO_BLOCK:
                self._consume_second_zero_block()
                return None, 0
            if not _checksum_ok(block):
                raise FormatError("A header block has a bad checksum: this is not a tar archive or it is damaged.")
            typeflag = block[156:157]
            size = _number(block[124:136], "size")
            if typeflag in (b"x", b"g"):
                data = self._extended_data(size)
                simple = _simple_records(data) if typeflag == b"x" else None
                if simple is not None:  # the usual case
                    local.update(simple)
                    continue
                target = local if typeflag == b"x" else self._globals
                for keyword, value in parse_pax_records(data):
                    if keyword.startswith(b"SCHILY.xattr."):
                        xattrs[decode_xattr_name(keyword[13:])] = value
                    elif not keyword.startswith(b"GNU.volume."):
                        target[keyword] = value
                continue
            if typeflag in _SKIPPED_TYPES:
                self._skip_bytes(size)
                continue
            return self._entry(block, size, {**self._globals, **local} if self._globals else local, xattrs)

    def _consume_second_zero_block(self) -> None:
        records = self._records
        if records.pos < len(records.record):
            records.pos += BLOCK

    def _extended_data(self, size: int) -> bytes:
        if size > MAX_EXTENDED_HEADER:
            raise FormatError(f"An extended header claims {size} bytes, more than this reader accepts.")
        return self._read_bytes(size)

    def _read_bytes(self, size: int) -> bytes:
        records = self._records
        start = records.pos
        if start + padded(size) <= len(records.record):  # the usual case: in this record
            records.pos = start + padded(size)
            return records.record[start : start + size]
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

    def _entry(self, block: bytes, size: int, pax: dict, xattrs: dict) -> tuple[Entry, int]:
        """``size``: the header's own size field, parsed."""
        (name, mode, uid, gid, _, mtime, _, typeflag, linkname, magic, _, uname, gname,
         _, _, prefix) = _USTAR.unpack_from(block)
        etype = _TYPES.get(typeflag, EntryType.REGULAR)  # POSIX: unknown types read as files
        name = pax[b"path"] if b"path" in pax else _joined(name, prefix if magic[:5] == b"ustar" else b"")
        if b"size" in pax:
            size = parse_pax_int(pax[b"size"], "size", MAX_MEMBER_SIZE)
        if size > MAX_MEMBER_SIZE:
            raise FormatError(f"A member claims an absurd size ({size} bytes).")
        mtime_ns = _pax_time(pax[b"mtime"]) if b"mtime" in pax else _number(mtime, "mtime") * 1_000_000_000
        entry = Entry(
            name=name,
            type=etype,
            mode=_number(mode, "mode") & 0o7777,
            uid=_int(pax, b"uid", uid),
            gid=_int(pax, b"gid", gid),
            uname=pax.get(b"uname", uname.split(b"\0", 1)[0]).decode("utf-8", "surrogateescape"),
            gname=pax.get(b"gname", gname.split(b"\0", 1)[0]).decode("utf-8", "surrogateescape"),
            size=size if etype is EntryType.REGULAR else 0,
            mtime_ns=mtime_ns,
            atime_ns=_pax_time(pax[b"atime"]) if b"atime" in pax else None,
            ctime_ns=_pax_time(pax[b"ctime"]) if b"ctime" in pax else None,
            linkname=pax.get(b"linkpath", linkname.split(b"\0", 1)[0]),
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
            for keyword, value in parse_pax_records(self._extended_data(size)):
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
    return _number(field, key.decode())


def _joined(name: bytes, prefix: bytes) -> bytes:
    name = name.split(b"\0", 1)[0]
    prefix = prefix.split(b"\0", 1)[0]
    return prefix + b"/" + name if prefix else name


# The fast paths below give exactly what ``headers`` gives (they fall back to it for
# anything unusual); restoring many small files spends most of its time in header parsing.


def _number(field: bytes, what: str) -> int:
    """``parse_number``: the usual NUL/space-terminated octal field at C speed."""
    try:
        return int(field.rstrip(b"\0 ") or b"0", 8)
    except ValueError:
        return parse_number(field, what)


def _checksum_ok(block: bytes) -> bool:
    """``header_checksum_ok``. The low half of Adler-32 is 1 + the byte sum mod 65521,
    exact for up to 256 bytes, so three calls sum the block but its checksum field."""
    unsigned = ((zlib.adler32(block[:148]) & 0xFFFF) + (zlib.adler32(block[156:412]) & 0xFFFF)
                + (zlib.adler32(block[412:]) & 0xFFFF) - 3 + 256)
    try:
        if unsigned == int(block[148:156].rstrip(b"\0 ") or b"0", 8):
            return True
    except ValueError:
        pass
    return header_checksum_ok(block)  # old tars' signed sums, or an unusual field


def _pax_time(value: bytes) -> int:
    """``parse_pax_time`` for the usual ``SECONDS.NANOS`` form."""
    dot = len(value) - 10
    if 0 < dot <= 20 and value[dot] == 46:  # "." then nine digits: what we and GNU tar write
        digits = value[:dot] + value[dot + 1 :]
        if digits.isdigit():
            return int(digits)
    whole, dot, frac = value.partition(b".")
    if whole.isdigit() and len(whole) <= 20 and (frac.isdigit() and len(frac) <= 9 or not dot):
        return int(whole) * 1_000_000_000 + (int(frac.ljust(9, b"0")) if dot else 0)
    return parse_pax_time(value)


def _simple_records(data: bytes) -> dict[bytes, bytes] | None:
    """``parse_pax_records`` for the usual extended header — no newline in a value, no
    xattr or volume keyword, no padding — or None: then the strict parser decides."""
    if b"SCHILY.xattr." in data or b"GNU.volume." in data:
        return None
    lines = data.split(b"\n")
    if lines.pop():
        return None
    found = {}
    for line in lines:
        length, _, record = line.partition(b" ")
        keyword, eq, value = record.partition(b"=")
        if not (eq and keyword and length.isdigit() and int(length) == len(line) + 1):
            return None
        found[keyword] = value
    return found


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
        self._digest = None  # made when data is read (``read_raw`` makes none)
        self._finished = False
        self.done_reading = data_size == 0
        reader._current = self
        if entry.sparse is not None:
            self._read_sparse_map()

    def __iter__(self) -> Iterator[memoryview]:
        records = self._reader._records
        if self._digest is None and self.consumed < self.data_size:
            self._digest = hashlib.sha256()
        while self.consumed < self.data_size:
            chunk = records.take(self.data_size - self.consumed)
            useful = min(len(chunk), self.data_size - self.consumed)
            self.consumed += len(chunk)
            view = chunk[:useful]
            self._digest.update(view)
            yield view
        self._finish()

    def _in_one_slice(self) -> bytes | None:
        """The rest of the data when it lies in the record at hand (taken: one slice), else
        None."""
        records = self._reader._records
        left = self.data_size - self.consumed
        if records.pos + left <= len(records.record) and self._finished is False:
            start = records.pos
            records.pos = start + padded(left)
            self.consumed = self.data_size
            return records.record[start : start + left]
        return None

    def read(self) -> bytes:
        data = self._in_one_slice()
        if data is not None:  # one slice, one digest update
            if self._digest is None:
                self._digest = hashlib.sha256(data)
            else:
                self._digest.update(data)
            self._finish()
            return data
        return b"".join(bytes(chunk) for chunk in self)

    def read_raw(self) -> tuple[bytes, str | None]:
        """The whole data, not checked here: it and the checksum it must match (None: no
        check), for a caller that checks it elsewhere (``backups.extract_parallel``).
        ``checksum`` stays None."""
        expected, self.expected = self.expected, None
        data = self._in_one_slice()
        if data is None:
            return self.read(), expected
        self._finished = self.done_reading = True
        return data, expected

    def read_unchecked(self) -> tuple[bytes, bool]:
        """The whole data and whether it matches ``expected``: a mismatch is not raised,
        so the caller can keep what was read (``NAME.corrupt``)."""
        expected, self.expected = self.expected, None
        data = self.read()
        return data, expected is None or expected == self.checksum

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
            self.checksum = (self._digest or hashlib.sha256()).hexdigest()
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
