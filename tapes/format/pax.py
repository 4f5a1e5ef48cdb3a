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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tapes.drivers.base import TapeDrive

from .entry import Entry, EntryType
from .headers import (
    BLOCK,
    MAX_OCTAL_7,
    MAX_OCTAL_11,
    encode_xattr_name,
    extended_header,
    padded,
    pax_header_name,
    pax_record,
    pax_time,
    ustar_header,
)

DEFAULT_RECORD_SIZE = 256 * 1024
MAX_RECORD_SIZE = 1024 * 1024
_ZEROS = bytes(MAX_RECORD_SIZE)


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
        self._settle()
        volume, record, offset = self.volume, self._records[-1], self._pos
        current = _Current(entry, self._data_area_size(entry))
        self._current = current
        self._put(self._header_sequence(entry, current.data_size))
        current.in_data = True
        checksum, changed = None, False
        if entry.type is EntryType.REGULAR:
            if entry.sparse is not None:
                self._put_data(_sparse_map_block(entry.sparse))
            checksum, changed = self._put_file_data(entry.stored_size, data or ())
        self._current = None
        self.members += 1
        return MemberInfo(
            name=entry.name,
            type=entry.type,
            volume=volume,
            record=record,
            offset=offset,
            size=entry.size,
            stored_size=entry.stored_size,
            checksum=checksum,
            changed=changed,
            end_volume=self.volume,
        )

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

    @staticmethod
    def _data_area_size(entry: Entry) -> int:
        if entry.type is not EntryType.REGULAR:
            return 0
        if entry.sparse is not None:
            return len(_sparse_map_block(entry.sparse)) + entry.stored_size
        return entry.size

    def _put_file_data(self, size: int, data: Iterable) -> tuple[str, bool]:
        digest = hashlib.sha256()
        remaining = size
        changed = False
        for chunk in data:
            if not remaining:
                changed = changed or len(chunk) > 0
                if changed:
                    break
                continue
            if len(chunk) > remaining:
                chunk = memoryview(chunk)[:remaining]
                changed = True
            digest.update(chunk)
            self._put_data(chunk)
            remaining -= len(chunk)
        if remaining:  # the file shrank: keep the archive valid
            changed = True
            while remaining:
                fill = _ZEROS[: min(remaining, MAX_RECORD_SIZE)]
                digest.update(fill)
                self._put_data(fill)
                remaining -= len(fill)
        self._put_data(_ZEROS[: padded(size) - size])
        return digest.hexdigest(), changed

    # --- headers -------------------------------------------------------------------------

    def _header_sequence(self, entry: Entry, data_size: int) -> bytes:
        """The extended header and the ustar header of one member."""
        name = entry.name
        if entry.type is EntryType.DIRECTORY and not name.endswith(b"/"):
            name += b"/"
        records = []
        field_name = name
        if entry.sparse is not None and entry.type is EntryType.REGULAR:
            records += [
                pax_record(b"GNU.sparse.major", b"1"),
                pax_record(b"GNU.sparse.minor", b"0"),
                pax_record(b"GNU.sparse.name", name),
                pax_record(b"GNU.sparse.realsize", b"%d" % entry.size),
            ]
            field_name = pax_header_name(name, b"GNUSparseFile.%d" % self._pid)
        elif len(name) > 100 or not name.isascii():
            records.append(pax_record(b"path", name))
        link = entry.linkname
        if len(link) > 100 or not link.isascii():
            records.append(pax_record(b"linkpath", link))
        uid, gid = entry.uid, entry.gid
        if uid > MAX_OCTAL_7:
            records.append(pax_record(b"uid", b"%d" % uid))
            uid = 0
        if gid > MAX_OCTAL_7:
            records.append(pax_record(b"gid", b"%d" % gid))
            gid = 0
        uname, gname = _owner_name(entry.uname), _owner_name(entry.gname)
        if len(uname) > 32 or not uname.isascii():
            records.append(pax_record(b"uname", uname))
        if len(gname) > 32 or not gname.isascii():
            records.append(pax_record(b"gname", gname))
        size = data_size
        if size > MAX_OCTAL_11:
            records.append(pax_record(b"size", b"%d" % size))
            size = 0
        records.append(pax_record(b"mtime", pax_time(entry.mtime_ns)))
        if entry.atime_ns is not None:
            records.append(pax_record(b"atime", pax_time(entry.atime_ns)))
        if entry.ctime_ns is not None:
            records.append(pax_record(b"ctime", pax_time(entry.ctime_ns)))
        if entry.acl_access:
            records.append(pax_record(b"SCHILY.acl.access", entry.acl_access.encode()))
        if entry.acl_default:
            records.append(pax_record(b"SCHILY.acl.default", entry.acl_default.encode()))
        for xname, value in entry.xattrs.items():
            records.append(pax_record(b"SCHILY.xattr." + encode_xattr_name(xname), value))
        mtime = entry.mtime_ns // 1_000_000_000
        if not 0 <= mtime <= MAX_OCTAL_11:
            mtime = 0
        extended = extended_header(pax_header_name(name), b"".join(records), mtime)
        header = ustar_header(
            field_name,
            entry.mode & 0o7777,
            uid,
            gid,
            size,
            mtime,
            entry.type.value.encode(),
            link,
            uname,
            gname,
            entry.devmajor,
            entry.devminor,
        )
        return extended + header

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


def _owner_name(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def _sparse_map_block(regions: tuple[tuple[int, int], ...]) -> bytes:
    """GNU sparse 1.0 map: count, then offset and size per region, one number a line,
    padded to whole blocks; it sits at the start of the member's data."""
    text = b"%d\n" % len(regions) + b"".join(b"%d\n%d\n" % region for region in regions)
    return text + bytes(padded(len(text)) - len(text))
