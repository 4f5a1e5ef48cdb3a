"""``PaxWriter``: a POSIX pax archive (as GNU tar 1.34 writes ``--format=pax``) in fixed
records on a ``TapeDrive``, continued across volumes in GNU tar's multi-volume form.

Records are all ``record_size`` bytes (the last one zero-padded, like ``tar -b``). Each
member's data is hashed (SHA-256) while it streams; the checksum goes to the catalog and
the index, since the header is on tape before the data has been read.

Volume switching. ``drive.write_record`` returning True means the drive entered the early
warning zone: the record was written, and it is the last one on this volume. The writer
calls ``on_volume_full()`` for the next drive just before it needs to write more, and opens
the new volume as GNU tar does (``tar -M``), depending on where the boundary fell:

- inside a member's data (or right after its headers): a global header with
  ``GNU.volume.filename``/``size``/``offset``, a ``<dir>/GNUFileParts/<base>.<n>`` header
  for the rest of the data, then the rest of the data;
- inside a member's header sequence: the same global and chunk headers (offset 0), then
  the rest of the header sequence — GNU tar writes exactly this and ``tar -M`` reads it;
- exactly between members: nothing; the new volume starts with the next member's headers,
  so it is also a clean archive for a plain ``tar -x`` (``tar -M`` accepts it; GNU tar
  itself would add a misleading continuation header for the next member here).
"""

from __future__ import annotations

import hashlib
import os
import queue
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple
from zlib import adler32

from tapes.drivers.base import TapeDrive

from .entry import Entry, EntryType
from .headers import (
    _CHKSUM,
    _MAGIC,
    _PRIVATE_MODE,
    _PRIVATE_SUM,
    _ZERO_DEV,
    BLOCK,
    MAX_OCTAL_7,
    MAX_OCTAL_11,
    encode_xattr_name,
    extended_header,
    padded,
    _RECORD_LENGTHS,
    pax_header_name,
    pax_record,
    pax_time,
    private_header,
    ustar_header,
)

DEFAULT_RECORD_SIZE = 256 * 1024
PLAIN_HEADERS = 3 * BLOCK  # plain_member's headers (extended, its records, ustar): data after
MAX_RECORD_SIZE = 1024 * 1024
# Members at least this large are hashed in a helper thread (see _HashBehind).
BACKGROUND_HASH_MIN = 4 * 1024 * 1024
_ZEROS = bytes(MAX_RECORD_SIZE)
_REGULAR = EntryType.REGULAR
_DIRECTORY = EntryType.DIRECTORY
_TYPEFLAGS = {t: t.value.encode() for t in EntryType}
_EMPTY_SHA256 = hashlib.sha256().hexdigest()
_sha256 = hashlib.sha256


class ArchiveFull(Exception):
    """The drive reached early warning and there is no next volume to continue on."""


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """Where a member went and what was stored.

    ``volume`` is the 0-based volume (tape file of this set) its first header block is in,
    ``record`` the record index within that tape file, ``offset`` the byte offset of the
    header inside that record: ``drive.locate(file, record)`` then
    ``PaxReader(drive, start_offset=offset)`` reads it back. ``checksum`` is the SHA-256
    (hex) of the stored data (for a sparse file: its data regions in order; None for
    members without data). ``changed``: the data source gave fewer or more bytes than
    ``entry.size`` (the file changed while being read); the archive stays valid (padded
    with zeros / cut at the size), the catalog should flag the file.
    """

    name: bytes
    type: EntryType
    volume: int
    record: int
    offset: int
    size: int
    stored_size: int
    checksum: str | None
    changed: bool = False
    end_volume: int = 0  # the volume its last data byte is in (> volume when split)


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    record_size: int
    records_per_volume: tuple[int, ...]
    members: int
    bytes_written: int  # records * record_size, all volumes
    early_warning: bool  # the last record written entered the early-warning zone

    @property
    def volumes(self) -> int:
        return len(self.records_per_volume)


class PreparedMember(NamedTuple):
    """A member ready to be appended: its header blocks, then (regular files) its data and
    padding to a block, in one ``blob``. (A tuple: cheap to make from what the engine's
    reader process sends for every file.)"""

    entry: Entry
    blob: bytes
    header_size: int


def prepare_member(entry: Entry, data: bytes | None = None) -> PreparedMember | None:
    """What ``PaxWriter.add(entry, [data])`` would append, made in advance (the engine's
    reader process does it, off the writer's core). ``data`` is a regular file's whole
    content; None (nothing prepared: ``add`` it instead) for a sparse file or data that is
    not exactly ``entry.size`` bytes, whose handling (zeros, cut) belongs to the writer."""
    regular = entry.type is _REGULAR
    if regular:
        if entry.sparse is not None or data is None or len(data) != entry.size:
            return None
        headers = (_plain_header_sequence(entry, entry.size)
                   or _full_header_sequence(entry, entry.size, 0))  # pid: sparse files only
        pad = -entry.size % BLOCK
        blob = b"".join((headers, data, _ZEROS[:pad])) if data else headers
        return PreparedMember(entry, blob, len(headers))
    if data:
        return None
    headers = _header_sequence(entry, 0, 0)
    return PreparedMember(entry, headers, len(headers))


@dataclass(slots=True)
class _Current:
    entry: Entry
    data_size: int  # size of the member's data area in the archive (sparse map included)
    in_data: bool = False
    data_done: int = 0


class PaxWriter:
    """Write members with ``add``; ``close`` ends the archive (not the tape file: the
    caller writes the filemark)."""

    def __init__(
        self,
        drive: TapeDrive,
        *,
        record_size: int = DEFAULT_RECORD_SIZE,
        on_volume_full: Callable[[], TapeDrive | None] | None = None,
    ):
        if record_size % BLOCK or not BLOCK <= record_size <= MAX_RECORD_SIZE:
            raise ValueError("record_size must be a multiple of 512 between 512 and 1 MiB")
        self.record_size = record_size
        self._drive = drive
        self._on_volume_full = on_volume_full
        self._buf = bytearray(record_size)
        self._mv = memoryview(self._buf)
        self._pos = 0
        self._switch_pending = False
        self._early_warning = False
        self._continuing = False
        self._current: _Current | None = None
        self._records = [0]
        self._global_headers = 0
        self._start_time = int(time.time())
        self._pid = os.getpid()
        self._closed = False
        self.members = 0
        self.records_written = 0

    @property
    def volume(self) -> int:
        return len(self._records) - 1

    @property
    def bytes_written(self) -> int:
        return self.records_written * self.record_size

    # --- members -------------------------------------------------------------------------

    def add(self, entry: Entry, data: Iterable[bytes | memoryview] | None = None) -> MemberInfo:
        """Append one member; ``data`` (regular files only) yields the file's bytes — for a
        sparse entry its data regions one after another — in chunks of any size."""
        if self._closed:
            raise ValueError("the archive is closed")
        if self._pos == self.record_size or self._switch_pending:
            self._settle()
        regular = entry.type is _REGULAR
        sparse_block = None
        if regular and entry.sparse is not None:
            sparse_block = _sparse_map_block(entry.sparse)
            stored = entry.stored_size
            data_size = len(sparse_block) + stored
        else:
            stored = data_size = entry.size if regular else 0
        headers = _header_sequence(entry, data_size, self._pid)
        volume, record, offset = len(self._records) - 1, self._records[-1], self._pos
        if sparse_block is None and offset + len(headers) + padded(data_size) <= self.record_size:
            checksum, changed = self._add_in_record(headers, stored, data, regular)
        else:
            checksum, changed = self._add_spanning(entry, headers, data_size, sparse_block, data)
        self.members += 1
        return MemberInfo(entry.name, entry.type, volume, record, offset, entry.size, stored,
                          checksum, changed, len(self._records) - 1)

    def add_prepared(self, member: PreparedMember) -> MemberInfo:
        """Append a member ``prepare_member`` made (maybe in another process): what ``add``
        does with its entry and data, without building headers here. The checksum is of
        the data bytes appended, as ``add``'s."""
        if self._closed:
            raise ValueError("the archive is closed")
        if self._pos == self.record_size or self._switch_pending:
            self._settle()
        entry, blob = member.entry, member.blob
        volume, record, offset = len(self._records) - 1, self._records[-1], self._pos
        end = offset + len(blob)
        if end <= self.record_size:  # the common case: copied whole, nothing written yet
            self._mv[offset:end] = blob
            self._pos = end
        else:
            self._add_prepared_spanning(member)
        self.members += 1
        checksum = None
        size = 0
        if entry.type is _REGULAR:
            size = entry.size
            start = member.header_size
            checksum = _sha256(memoryview(blob)[start : start + size]).hexdigest()
        return MemberInfo(entry.name, entry.type, volume, record, offset, entry.size, size,
                          checksum, False, len(self._records) - 1)

    def add_plain(self, blob: bytes, size: int) -> tuple[int, int, int, str] | None:
        """Append ``plain_member``'s blob of a regular file (``size`` bytes of data) when it
        ends inside the current record — most small files — and give its ``(volume,
        record, offset, checksum)``: ``add_prepared`` without the objects, for the engine's
        loop. None, with nothing appended, when it would cross a record boundary (then
        ``add_prepared`` it: a volume may end inside it)."""
        if self._closed:
            raise ValueError("the archive is closed")
        if self._pos == self.record_size or self._switch_pending:
            self._settle()
        offset = self._pos
        end = offset + len(blob)
        if end > self.record_size:
            return None
        self._mv[offset:end] = blob
        self._pos = end
        self.members += 1
        checksum = _sha256(memoryview(blob)[PLAIN_HEADERS : PLAIN_HEADERS + size]).hexdigest()
        return len(self._records) - 1, self._records[-1], offset, checksum

    def _add_prepared_spanning(self, member: PreparedMember) -> None:
        """``_add_spanning`` for a prepared member: headers, then data and padding, so a
        volume switch inside either continues the member as GNU tar does."""
        view = memoryview(member.blob)
        entry = member.entry
        self._current = _Current(entry, entry.size if entry.type is _REGULAR else 0)
        self._put(view[: member.header_size])
        self._current.in_data = True
        if len(view) > member.header_size:
            self._put_data(view[member.header_size :])
        self._current = None

    def close(self) -> ArchiveSummary:
        """Two zero blocks, then zeros to the record boundary; write the last record."""
        if not self._closed:
            self._settle()
            self._put(_ZEROS[: 2 * BLOCK])
            self._put(_ZEROS[: self.record_size - self._pos])
            self._emit()
            self._closed = True
        return ArchiveSummary(
            record_size=self.record_size,
            records_per_volume=tuple(self._records),
            members=self.members,
            bytes_written=self.bytes_written,
            early_warning=self._early_warning,
        )

    def _add_in_record(self, headers: bytes, size: int, data, regular: bool):
        """The fast path for a member that ends inside the current record (most small
        files): copied straight into the buffer; nothing is written to the drive, so no
        volume boundary can fall inside it."""
        mv = self._mv
        pos = self._pos
        start = pos + len(headers)
        mv[pos:start] = headers
        if not regular:
            self._pos = start
            return None, False
        end = start + size
        if type(data) in (list, tuple) and len(data) == 1 and len(data[0]) == size:
            chunk = data[0]  # what the engine's reader hands over: the whole file
            mv[start:end] = chunk
            checksum, changed = _sha256(chunk).hexdigest(), False
        elif not size and not data:
            checksum, changed = _EMPTY_SHA256, False
        else:
            checksum, changed = self._copy_small_data(start, size, data)
        pad = -size % BLOCK
        mv[end : end + pad] = _ZEROS[:pad]
        self._pos = end + pad
        return checksum, changed

    def _copy_small_data(self, pos: int, size: int, data) -> tuple[str, bool]:
        """``_put_file_data`` for data that fits the buffer at ``pos``: same checks."""
        mv = self._mv
        digest = _sha256()
        remaining = size
        changed = False
        for chunk in data or ():
            if not remaining:
                changed = changed or len(chunk) > 0
                if changed:
                    break
                continue
            if len(chunk) > remaining:
                chunk = memoryview(chunk)[:remaining]
                changed = True
            n = len(chunk)
            digest.update(chunk)
            mv[pos : pos + n] = chunk
            pos += n
            remaining -= n
        if remaining:  # the file shrank: keep the archive valid
            changed = True
            digest.update(_ZEROS[:remaining])
            mv[pos : pos + remaining] = _ZEROS[:remaining]
        return digest.hexdigest(), changed

    def _add_spanning(self, entry: Entry, headers: bytes, data_size: int,
                      sparse_block: bytes | None, data) -> tuple[str | None, bool]:
        """A member that crosses a record boundary (and so maybe a volume boundary)."""
        current = _Current(entry, data_size)
        self._current = current
        self._put(headers)
        current.in_data = True
        checksum, changed = None, False
        if entry.type is _REGULAR:
            if sparse_block is not None:
                self._put_data(sparse_block)
            checksum, changed = self._put_file_data(entry.stored_size, data or ())
        self._current = None
        return checksum, changed

    def _put_file_data(self, size: int, data: Iterable) -> tuple[str, bool]:
        hasher = _HashBehind() if size >= BACKGROUND_HASH_MIN else None
        digest = hasher or _sha256()
        remaining = size
        changed = False
        try:
            for chunk in data:
                if not remaining:
                    changed = changed or len(chunk) > 0
                    if changed:
                        break
                    continue
                stable = hasher is not None and _immutable(chunk)
                if len(chunk) > remaining:
                    chunk = memoryview(chunk)[:remaining]
                    changed = True
                digest.update(chunk)
                self._put_data(chunk)
                remaining -= len(chunk)
                if hasher is not None and not stable:
                    hasher.wait()  # the source may reuse its buffer for the next chunk
            if remaining:  # the file shrank: keep the archive valid
                changed = True
                while remaining:
                    fill = _ZEROS[: min(remaining, MAX_RECORD_SIZE)]
                    digest.update(fill)
                    self._put_data(fill)
                    remaining -= len(fill)
            self._put_data(_ZEROS[: padded(size) - size])
            return digest.hexdigest(), changed
        finally:
            if hasher is not None:
                hasher.close()

    # --- headers -------------------------------------------------------------------------

    def _continuation_headers(self, current: _Current) -> bytes:
        """What GNU tar puts at the start of a volume that continues ``current``."""
        entry = current.entry
        offset = current.data_done if current.in_data else 0
        left = current.data_size - offset
        self._global_headers += 1
        volume_records = (
            pax_record(b"GNU.volume.filename", entry.name)
            + pax_record(b"GNU.volume.size", b"%d" % left)
            + pax_record(b"GNU.volume.offset", b"%d" % offset)
        )
        glob = extended_header(
            b"/tmp/GlobalHead.%d" % self._global_headers, volume_records, self._start_time, b"g"
        )
        part_name = pax_header_name(entry.name, b"GNUFileParts") + b".%d" % (self.volume + 1)
        part_records = pax_record(b"atime", b"0") + pax_record(b"ctime", b"0")
        if len(part_name) > 100 or not part_name.isascii():
            part_records = pax_record(b"path", part_name) + part_records
        part_x = extended_header(pax_header_name(part_name), part_records, 0)
        uname, gname = _owner_name(entry.uname)[:32], _owner_name(entry.gname)[:32]
        part = ustar_header(
            part_name,
            entry.mode & 0o7777,
            entry.uid if entry.uid <= MAX_OCTAL_7 else 0,
            entry.gid if entry.gid <= MAX_OCTAL_7 else 0,
            left if left <= MAX_OCTAL_11 else 0,
            0,
            b"0",
            b"",
            uname,
            gname,
        )
        return glob + part_x + part

    # --- the record buffer ---------------------------------------------------------------

    def _put(self, data: bytes | memoryview) -> None:
        """Append header bytes (or end-of-archive zeros) to the stream."""
        n = len(data)
        pos = self._pos
        if pos + n <= self.record_size and not self._switch_pending:
            self._mv[pos : pos + n] = data
            self._pos = pos + n
            return
        view = memoryview(data)
        done = 0
        while done < n:
            if self._pos == self.record_size:
                self._emit()
            if self._switch_pending:
                self._switch_volume(between=done == 0 and not self._in_member_data())
            take = min(self.record_size - self._pos, n - done)
            self._mv[self._pos : self._pos + take] = view[done : done + take]
            self._pos += take
            done += take

    def _put_data(self, data: bytes | memoryview) -> None:
        """Append member data; counts it, so a volume switch knows the split offset."""
        n = len(data)
        pos = self._pos
        current = self._current
        if pos + n < self.record_size and not self._switch_pending:
            self._mv[pos : pos + n] = data
            self._pos = pos + n
            current.data_done += n
            return
        view = memoryview(data)
        done = 0
        rs = self.record_size
        while done < n:
            if self._pos == rs:
                self._emit()
            if self._switch_pending:
                self._switch_volume(between=False)
            if self._pos == 0 and n - done >= rs:
                self._write(view[done : done + rs])  # a whole record: no copy
                take = rs
            else:
                take = min(rs - self._pos, n - done)
                self._mv[self._pos : self._pos + take] = view[done : done + take]
                self._pos += take
            done += take
            current.data_done += take

    def _in_member_data(self) -> bool:
        return self._current is not None and self._current.in_data

    def _settle(self) -> None:
        """Write a full buffer and open the next volume if one is due, so that the next
        member's position is known. Only called between members."""
        if self._pos == self.record_size:
            self._emit()
        if self._switch_pending:
            self._switch_volume(between=True)

    def _emit(self) -> None:
        self._write(self._mv)
        self._pos = 0

    def _write(self, record: memoryview) -> None:
        early_warning = self._drive.write_record(record)
        self.records_written += 1
        self._records[-1] += 1
        self._early_warning = bool(early_warning)
        if early_warning:
            if self._continuing:
                raise ArchiveFull("The new volume reached early warning at once.")
            self._switch_pending = True

    def _switch_volume(self, *, between: bool) -> None:
        self._switch_pending = False
        drive = self._on_volume_full() if self._on_volume_full else None
        if drive is None:
            raise ArchiveFull("The tape reached early warning and there is no next volume.")
        self._drive = drive
        self._records.append(0)
        self._early_warning = False
        if between or self._current is None:
            return
        self._continuing = True
        try:
            self._put(self._continuation_headers(self._current))
        finally:
            self._continuing = False


class _HashBehind:
    """SHA-256 of a large member in a helper thread, one chunk behind the writer: hashing
    a chunk overlaps copying and writing it (hashlib releases the GIL for large buffers),
    so the writer costs about max(hash, write) per chunk instead of their sum. A chunk
    must stay unchanged until the next ``update`` or ``wait``; ``_put_file_data`` waits
    before asking the source for another chunk unless the chunk is immutable."""

    def __init__(self):
        self._digest = hashlib.sha256()
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="pax-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        update, get, put = self._digest.update, self._todo.get, self._done.put
        while (chunk := get()) is not None:
            try:
                update(chunk)
            except BaseException as exc:  # handed to the writer in wait()
                put(exc)
            else:
                put(None)

    def update(self, chunk) -> None:
        self.wait()
        self._todo.put(chunk)
        self._busy = True

    def wait(self) -> None:
        if self._busy:
            self._busy = False
            error = self._done.get()
            if error is not None:
                raise error

    def hexdigest(self) -> str:
        self.wait()
        return self._digest.hexdigest()

    def close(self) -> None:
        self._todo.put(None)
        self._thread.join()


def _immutable(chunk) -> bool:
    return type(chunk) is bytes or (type(chunk) is memoryview and type(chunk.obj) is bytes)


# --- headers -------------------------------------------------------------------------------


def _header_sequence(entry: Entry, data_size: int, pid: int) -> bytes:
    """The extended header and the ustar header of one member."""
    headers = _plain_header_sequence(entry, data_size)
    if headers is not None:
        return headers
    return _full_header_sequence(entry, data_size, pid)


def _plain_header_sequence(entry: Entry, size: int) -> bytes | None:
    """``_full_header_sequence`` for most members — a file or directory with a short ASCII
    name, no link, xattrs, ACLs or holes, times after 1970 — by ``plain_member``. None for
    the rest."""
    if entry.linkname or entry.xattrs or entry.acl_access or entry.acl_default:
        return None
    if entry.sparse is not None and entry.type is _REGULAR:
        return None
    atime_ns, ctime_ns = entry.atime_ns, entry.ctime_ns
    if atime_ns is None or ctime_ns is None:
        return None
    return plain_member(entry.name, entry.type, entry.mode, entry.uid, entry.gid, entry.uname,
                        entry.gname, size, entry.mtime_ns, atime_ns, ctime_ns)


def plain_member(name: bytes, etype: EntryType, mode: int, uid: int, gid: int, uname: str,
                 gname: str, size: int, mtime_ns: int, atime_ns: int, ctime_ns: int,
                 data: bytes = b"") -> bytes | None:
    """The headers (``_full_header_sequence``'s) of a file or directory without link,
    xattrs, ACLs or holes, then ``data`` (exactly ``size`` bytes, or b"" for the headers
    alone) padded to a block: what
    ``prepare_member`` makes of such an entry, from its fields (the engine's reader process
    calls it for every small file, without an ``Entry``). None when the name is long or not
    ASCII, an owner does not fit the ustar header or a time is before 1970: the general
    path adds records for those.

    It runs once per file, so it is cheap rather than plain: the fields an owner, mode and
    type share are packed and summed once (``_plain_fields``), the three blocks and the
    data are one ``struct`` pack (which NUL-pads each field), and the checksums are sums
    of the parts that vary (``_byte_sum``)."""
    key = (etype, mode, uid, gid, uname, gname)
    fields = _PLAIN_FIELDS.get(key)
    if fields is None:
        fields = _plain_fields(*key)
        if len(_PLAIN_FIELDS) < 4096:
            _PLAIN_FIELDS[key] = fields
    if not fields:
        return None
    if fields[0]:  # a directory: its name ends in a slash
        if not name.endswith(b"/"):
            name += b"/"
    if (len(name) > 100 or not name.isascii() or size > MAX_OCTAL_11 or mtime_ns < 0
            or atime_ns < 0 or ctime_ns < 0):
        return None
    mtime, fraction = divmod(mtime_ns, 1_000_000_000)
    if mtime > MAX_OCTAL_11:
        return None
    m = (b"%d.%09d" % (mtime, fraction)).rstrip(b"0") if fraction else b"%d" % mtime
    a = m if atime_ns == mtime_ns else _pax_time(atime_ns)
    c = m if ctime_ns == mtime_ns else a if ctime_ns == atime_ns else _pax_time(ctime_ns)
    records = _TIME_RECORDS % (_RECORD_LENGTHS[len(m) + 8], m, _RECORD_LENGTHS[len(a) + 8], a,
                               _RECORD_LENGTHS[len(c) + 8], c)
    name_sum = _byte_sum(name)
    head, slash, base = name.rstrip(b"/").rpartition(b"/")
    if slash and len(name) <= 89 and not fields[0]:  # pax_header_name: one more part, same sum
        x_name, x_name_sum = head + b"/PaxHeaders/" + base, name_sum + _PAX_HEADERS_SUM
    else:
        x_name = pax_header_name(name)[:100]
        x_name_sum = _byte_sum(x_name)
    mtime_field = b"%011o\x00" % mtime
    x_numbers = b"%011o\x00" % len(records) + mtime_field
    numbers = b"%011o\x00" % size + mtime_field
    x_sum = _PLAIN_X_SUM + x_name_sum + _byte_sum(x_numbers)
    member_sum = fields[3] + name_sum + _byte_sum(numbers)
    padded_size = (size + BLOCK - 1) & -BLOCK if data else 0
    layout = _PLAIN_LAYOUTS.get(padded_size)
    if layout is None:
        layout = _PLAIN_LAYOUTS[padded_size] = struct.Struct(_PLAIN_LAYOUT % padded_size)
    return layout.pack(x_name, _PRIVATE_MODE, x_numbers, _CHKSUM % x_sum, _PLAIN_X_TAIL,
                       records, name, fields[1], numbers, _CHKSUM % member_sum, fields[2], data)


def _byte_sum(data: bytes) -> int:
    """``sum(data)`` for at most 256 bytes, a third of the time: below 65521 the low half of
    an Adler-32 is one plus the sum."""
    return (adler32(data) & 0xFFFF) - 1


# The extended header block, its three time records in a block, the ustar header block
# (each: name, mode/uid/gid, size/mtime, checksum, the rest), then the data: packing pads
# every part with NULs. Layouts by padded data size (at most CHUNK / BLOCK + 1 of them).
_PLAIN_LAYOUT = "100s24s24s8s356s512s100s24s24s8s356s%ds"
_PLAIN_LAYOUTS: dict[int, struct.Struct] = {}
_PAX_HEADERS_SUM = sum(b"PaxHeaders/")


_PLAIN_FIELDS: dict[tuple, tuple | None] = {}
# The extended header's fields after the checksum: typeflag, empty link name, magic, empty
# owner names, NUL device fields, empty prefix (ustar_header(..., private=True)'s).
_PLAIN_X_TAIL = b"x" + bytes(100) + _MAGIC + bytes(64) + bytes(16) + bytes(167)
_PLAIN_X_SUM = _PRIVATE_SUM + ord("x")


def _plain_fields(etype: EntryType, mode: int, uid: int, gid: int, uname: str,
                  gname: str) -> tuple | None:
    """(is a directory, mode/uid/gid fields, the fields after the checksum, the checksum
    of all but name, size and mtime) for ``_plain_header_sequence``; None when owner
    ids or names do not fit the ustar header (``_full_header_sequence`` then adds records)."""
    raw_uname, raw_gname = _owner_name(uname), _owner_name(gname)
    if (etype not in (_REGULAR, _DIRECTORY) or uid > MAX_OCTAL_7 or gid > MAX_OCTAL_7
            or len(raw_uname) > 32 or len(raw_gname) > 32 or not raw_uname.isascii()
            or not raw_gname.isascii()):
        return None
    ids = b"%07o\x00%07o\x00%07o\x00" % (mode & 0o7777, uid, gid)
    tail = (_TYPEFLAGS[etype] + bytes(100) + _MAGIC + raw_uname.ljust(32, b"\x00")
            + raw_gname.ljust(32, b"\x00") + _ZERO_DEV + bytes(167))
    return etype is _DIRECTORY, ids, tail, 8 * 32 + sum(ids) + sum(tail)


def _full_header_sequence(entry: Entry, data_size: int, pid: int) -> bytes:
    """The extended header and the ustar header of any member."""
    name = entry.name
    etype = entry.type
    if etype is _DIRECTORY and not name.endswith(b"/"):
        name += b"/"
    link = entry.linkname
    uid, gid, size = entry.uid, entry.gid, data_size
    uname, gname = _owner_name(entry.uname), _owner_name(entry.gname)
    if (len(name) <= 100 and len(link) <= 100 and uid <= MAX_OCTAL_7 and gid <= MAX_OCTAL_7
            and len(uname) <= 32 and len(gname) <= 32 and size <= MAX_OCTAL_11
            and name.isascii() and link.isascii() and uname.isascii() and gname.isascii()
            and (entry.sparse is None or etype is not _REGULAR)):
        records = []  # everything fits the ustar header: only times and attributes
        field_name = name
    else:
        records, field_name = _overflow_records(entry, name, link, uname, gname, size, pid)
        uid = uid if uid <= MAX_OCTAL_7 else 0
        gid = gid if gid <= MAX_OCTAL_7 else 0
        size = size if size <= MAX_OCTAL_11 else 0
    mtime_ns, atime_ns, ctime_ns = entry.mtime_ns, entry.atime_ns, entry.ctime_ns
    if atime_ns is not None and ctime_ns is not None:  # what entry_from_path gives
        m, a, c = _pax_time(mtime_ns), _pax_time(atime_ns), _pax_time(ctime_ns)
        records.append(_TIME_RECORDS % (_RECORD_LENGTHS[len(m) + 8], m, _RECORD_LENGTHS[len(a) + 8],
                                        a, _RECORD_LENGTHS[len(c) + 8], c))
    else:
        records.append(_time_record(b"mtime", mtime_ns))
        if atime_ns is not None:
            records.append(_time_record(b"atime", atime_ns))
        if ctime_ns is not None:
            records.append(_time_record(b"ctime", ctime_ns))
    if entry.acl_access:
        records.append(pax_record(b"SCHILY.acl.access", entry.acl_access.encode()))
    if entry.acl_default:
        records.append(pax_record(b"SCHILY.acl.default", entry.acl_default.encode()))
    if entry.xattrs:
        for xname, value in entry.xattrs.items():
            records.append(pax_record(b"SCHILY.xattr." + encode_xattr_name(xname), value))
    mtime = mtime_ns // 1_000_000_000
    if not 0 <= mtime <= MAX_OCTAL_11:
        mtime = 0
    extended = b"".join(records)
    return b"".join((
        private_header(pax_header_name(name), len(extended), mtime),
        extended,
        _ZEROS[: -len(extended) % BLOCK],
        ustar_header(field_name, entry.mode & 0o7777, uid, gid, size, mtime, _TYPEFLAGS[etype],
                     link, uname, gname, entry.devmajor, entry.devminor),
    ))


def _overflow_records(entry: Entry, name: bytes, link: bytes, uname: bytes, gname: bytes,
                      size: int, pid: int) -> tuple[list[bytes], bytes]:
    """The records for what does not fit the ustar header (GNU tar's order), and the
    name for its name field."""
    records = []
    field_name = name
    if entry.sparse is not None and entry.type is _REGULAR:
        records += [
            pax_record(b"GNU.sparse.major", b"1"),
            pax_record(b"GNU.sparse.minor", b"0"),
            pax_record(b"GNU.sparse.name", name),
            pax_record(b"GNU.sparse.realsize", b"%d" % entry.size),
        ]
        field_name = pax_header_name(name, b"GNUSparseFile.%d" % pid)
    elif len(name) > 100 or not name.isascii():
        records.append(pax_record(b"path", name))
    if len(link) > 100 or not link.isascii():
        records.append(pax_record(b"linkpath", link))
    if entry.uid > MAX_OCTAL_7:
        records.append(pax_record(b"uid", b"%d" % entry.uid))
    if entry.gid > MAX_OCTAL_7:
        records.append(pax_record(b"gid", b"%d" % entry.gid))
    if len(uname) > 32 or not uname.isascii():
        records.append(pax_record(b"uname", uname))
    if len(gname) > 32 or not gname.isascii():
        records.append(pax_record(b"gname", gname))
    if size > MAX_OCTAL_11:
        records.append(pax_record(b"size", b"%d" % size))
    return records, field_name


_TIME_RECORDS = b"%d mtime=%s\n%d atime=%s\n%d ctime=%s\n"


def _time_record(keyword: bytes, ns: int) -> bytes:
    """``pax_record(keyword, pax_time(ns))`` for a five-letter keyword (body = value + 8)."""
    value = _pax_time(ns)
    return b"%d %s=%s\n" % (_RECORD_LENGTHS[len(value) + 8], keyword, value)


def _pax_time(ns: int) -> bytes:
    """``pax_time`` with the common case (not before 1970) first."""
    if ns < 0:
        return pax_time(ns)
    seconds, fraction = divmod(ns, 1_000_000_000)
    return (b"%d.%09d" % (seconds, fraction)).rstrip(b"0") if fraction else b"%d" % seconds


_OWNER_NAMES: dict[str, bytes] = {}


def _owner_name(name: str) -> bytes:
    raw = _OWNER_NAMES.get(name)
    if raw is None:
        raw = name.encode("utf-8", "surrogateescape")
        if len(_OWNER_NAMES) < 4096:
            _OWNER_NAMES[name] = raw
    return raw


def _sparse_map_block(regions: tuple[tuple[int, int], ...]) -> bytes:
    """GNU sparse 1.0 map: count, then offset and size per region, one number a line,
    padded to whole blocks; it sits at the start of the member's data."""
    text = b"%d\n" % len(regions) + b"".join(b"%d\n%d\n" % region for region in regions)
    return text + bytes(padded(len(text)) - len(text))
