"""Loading catalog rows in batches: ``COPY`` on PostgreSQL, one prepared ``INSERT``
executed for the whole batch elsewhere.

The engine hands rows over as tuples in ``COLUMNS`` order while it writes; every
``batch_rows`` rows (and at every segment end) one short transaction commits them, so
memory is bounded and no transaction is open while the tape moves. For the engine
(``background=True``) on PostgreSQL, outside a caller's transaction, the batches are loaded
by threads of the loader, each with its own database connection (``_CopyThreads``,
``TAPEBACKUP_CATALOG_CONNECTIONS`` of them), so the server's work (index maintenance: most
of the cost) overlaps tape writing; ``finish()`` waits until every row is committed. The
index spool keeps a segment's rows, encoded, on disk until its index tape file is written.

(The backup engine's module; ``backups/catalog.py`` is shared with the restore side, so
the loader lives here under its own name.)
"""

from __future__ import annotations

import base64
import io
import json.encoder
import queue
import re
import tempfile
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import connection, connections, transaction

from backups.models import CatalogEntry
from backups.paths import path_key, path_text, split_path
from tapes.format import Entry, EntryType, MemberInfo
from tapes.format.index import decode_row, encode_row

BATCH_ROWS = 10_000
# PostgreSQL: rows per COPY transaction. Small enough that the loader thread keeps up
# batch by batch: the writer waits at the end for the last batch only (50,000 rows made it
# wait 2 s of a 7 s run of 100,000 files; 10,000 about 0.1 s).
COPY_BATCH_ROWS = 10_000
COPY_BATCH_BYTES = 16 << 20
COLUMNS = (
    "backup_set_id", "segment_id", "path", "path_key", "parent", "parent_key", "name", "type",
    "size", "mode", "uid", "gid", "uname", "gname", "mtime_ns", "checksum", "link_target",
    "record", "offset", "volumes", "changed",
)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# One COPY text line per row. %s of an int is its digits and of a bool "True"/"False",
# which PostgreSQL's boolean input accepts; _copy_line checks that no text needed escaping.
_COPY_LINE = "\t".join(["%s"] * len(COLUMNS)) + "\n"
_COPY_TABS = len(COLUMNS) - 1


def catalog_values(entry: Entry, info: MemberInfo, *, set_id: int, segment_id: int) -> tuple:
    """One catalog row (``COLUMNS`` order) for a member written to tape."""
    path = path_text(b"/" + entry.name.rstrip(b"/")) if entry.name != b"." else "/"
    parent, name = split_path(path)
    if entry.type is EntryType.HARDLINK:
        link = path_text(b"/" + entry.linkname)
    else:
        link = path_text(entry.linkname) if entry.linkname else ""
    return (
        set_id, segment_id, path, path_key(path), parent, _parent_key(parent), name,
        entry.type.value, entry.size, entry.mode, entry.uid, entry.gid, entry.uname,
        entry.gname, entry.mtime_ns, info.checksum or "", link, info.record, info.offset,
        info.end_volume - info.volume + 1, info.changed,
    )


def plain_file_lines(name: bytes, mode: int, uid: int, gid: int, uname: str, gname: str,
                     size: int, mtime_ns: int, atime_ns: int, ctime_ns: int, checksum: str,
                     volume: int, record: int, offset: int, *, set_id: int,
                     segment_id: int) -> tuple[bytes, str] | None:
    """``index_line`` and ``_copy_line(catalog_values(...))`` of a regular file without link,
    xattrs, holes or change, stored in one volume, from its fields — for the engine's small
    files, without ``Entry`` and ``MemberInfo`` — when neither its name nor an owner name
    needs escaping (ASCII, no backslash, tab or line break); None otherwise. One format
    each, the owner's part cached (tests/backups/test_catalog_load.py compares them)."""
    if _NOT_PLAIN.search(name) is not None:
        return None
    owner_key = (mode, uid, gid, uname, gname)
    owner = _PLAIN_OWNERS.get(owner_key)
    if owner is None:
        owner = _plain_owner(*owner_key)
        if len(_PLAIN_OWNERS) < 4096:
            _PLAIN_OWNERS[owner_key] = owner
    if owner is None:
        return None
    text = name.decode("ascii")
    path = "/" + text
    parent, _, base = path.rpartition("/")
    parent = parent or "/"
    index = _PLAIN_INDEX_LINE % (_encode_str(text), size, size, owner[0], mtime_ns, atime_ns,
                                 ctime_ns, checksum, volume, record, offset)
    copy = _PLAIN_COPY_LINE % (set_id, segment_id, path, path_key(path), parent, _parent_key(parent), base,
                               size, owner[1], mtime_ns, checksum, record, offset)
    return index.encode("utf-8"), copy


def _plain_owner(mode: int, uid: int, gid: int, uname: str, gname: str) -> tuple[str, str] | None:
    """The index line's and the COPY line's mode, ids and owner names, or None when a name
    needs escaping in COPY text."""
    if any(c in name for name in (uname, gname) for c in "\\\t\n\r"):
        return None
    return (f'"mode":{mode},"uid":{uid},"gid":{gid},"uname":{_encode_str(uname)},'
            f'"gname":{_encode_str(gname)}', f"{mode}\t{uid}\t{gid}\t{uname}\t{gname}")


_NOT_PLAIN = re.compile(rb"[\x80-\xff\\\t\n\r]")  # not ASCII, or escaped in COPY text
_PLAIN_OWNERS: dict[tuple, tuple[str, str] | None] = {}
_PLAIN_INDEX_LINE = (
    '{"path":%s,"type":"regular","size":%d,"stored_size":%d,%s,"mtime_ns":%d,"atime_ns":%d,'
    '"ctime_ns":%d,"checksum":"%s","link":"","devmajor":0,"devminor":0,"xattrs":false,'
    '"acl":false,"sparse":false,"changed":false,"volume":%d,"record":%d,"offset":%d}\n'
)
# COLUMNS order; type "0", no link, one volume, not changed (as _copy_line writes False).
_PLAIN_COPY_LINE = "%d\t%d\t%s\t%d\t%s\t%d\t%s\t0\t%d\t%s\t%d\t%s\t\t%d\t%d\t1\tFalse\n"


_last_parent: tuple[str, int] = ("", path_key(""))


def _parent_key(parent: str) -> int:
    """``path_key`` of a parent, remembered for the next row: a directory's entries are
    written one after another, so most rows share the previous row's parent."""
    global _last_parent
    last = _last_parent  # one tuple, read and replaced whole: safe between threads
    if last[0] == parent:
        return last[1]
    key = path_key(parent)
    _last_parent = (parent, key)
    return key


class CatalogLoader:
    """Collects rows and commits them every ``batch_rows``.

    ``add`` then ``flush`` when it says so, ``finish()`` before relying on the rows being
    committed (it raises what failed), ``close()`` in a ``finally``. With ``background``,
    on PostgreSQL outside a transaction, ``flush`` hands the batch to the loader's thread
    and returns at once (it waits only when the thread is a batch behind); otherwise it
    has committed the batch when it returns. ``seconds`` is the time spent loading, ``wait_seconds`` the time the caller
    waited for the thread.
    """

    def __init__(self, *, batch_rows: int | None = None, background: bool = False):
        self.copies = connection.vendor == "postgresql"  # rows are COPY text lines
        # Inside a caller's transaction (tests, a rebuild) the rows must be part of it:
        # another connection would neither see uncommitted parents nor roll back with it.
        self._background = background and self.copies and not connection.in_atomic_block
        self.batch_rows = batch_rows or (COPY_BATCH_ROWS if self.copies else BATCH_ROWS)
        self.rows: list = []  # tuples; COPY text lines on PostgreSQL
        self._bytes = 0
        self.loaded = 0
        self.seconds = 0.0
        self.wait_seconds = 0.0
        self._thread: _CopyThreads | None = None

    def add(self, values: tuple) -> bool:
        """Queue a row; True when the batch is full and should be flushed."""
        if self.copies:
            return self.add_line(_copy_line(values))
        self.rows.append(values)
        return len(self.rows) >= self.batch_rows

    def add_line(self, line: str) -> bool:
        """``add`` for a row already in COPY text (``plain_file_lines``), when ``copies``."""
        self.rows.append(line)
        self._bytes += len(line)
        return len(self.rows) >= self.batch_rows or self._bytes >= COPY_BATCH_BYTES

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows, self._bytes = self.rows, [], 0
        count = len(rows)
        if self._background:
            if self._thread is None:
                self._thread = _CopyThreads(settings.TAPEBACKUP_CATALOG_CONNECTIONS)
            self.wait_seconds += self._thread.submit(rows)
            return
        started = time.perf_counter()
        with transaction.atomic():
            if self.copies:
                _copy_lines(connection, rows)
            else:  # one prepared INSERT for the batch: model instances cost ~100 µs a row
                _insert_rows(rows)
        self.loaded += count
        self.seconds += time.perf_counter() - started

    def finish(self) -> None:
        """Flush, and return once every row added is committed; raises the loader
        thread's error (the rows are then not all in the catalog)."""
        self.flush()
        thread, self._thread = self._thread, None
        if thread is not None:
            self.wait_seconds += thread.drain()
            self.loaded, self.seconds = thread.loaded, thread.seconds

    def close(self) -> None:
        """End the loader thread (batches not loaded yet are dropped: call ``finish``
        first to keep them) and close its connection. Safe to call more than once."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
            self.loaded, self.seconds = thread.loaded, thread.seconds


class _CopyThreads:
    """Loads COPY batches on ``count`` connections of their own, one transaction each.

    Index maintenance on the server is most of a row's cost and one connection is one
    server process, so two connections load about 1.6× as fast on two cores
    (docs/benchmarks.md); batches are independent rows, so their order does not matter.
    At most ``count`` batches wait while others load, so memory stays at about
    2 × ``count`` + 1 batches. Each session keeps ``synchronous_commit`` on: with it off a
    batch's commit would return before its WAL is on disk; the set's "complete" commit
    (another session, synchronous) would still flush that WAL first, but it saves one fsync
    per batch — nothing measurable — for a durability argument that a later change (a
    replica, a commit outside ``finish``) could silently break."""

    def __init__(self, count: int):
        self._todo: queue.Queue = queue.Queue(maxsize=count)
        self._stopping = False
        self._lock = threading.Lock()
        self.error: BaseException | None = None
        self.loaded = 0
        self.seconds = 0.0  # wall time while at least one batch was loading
        self._busy = 0
        self._busy_since = 0.0
        self._threads = [threading.Thread(target=self._run, name=f"catalog-copy-{n}", daemon=True)
                         for n in range(count)]
        for thread in self._threads:
            thread.start()

    def submit(self, lines: list[str]) -> float:
        """Queue a batch (waiting while the queue is full); the seconds waited."""
        self._raise()
        started = time.perf_counter()
        while True:
            try:
                self._todo.put(lines, timeout=0.2)
                break
            except queue.Full:
                self._raise()
        return time.perf_counter() - started

    def drain(self) -> float:
        """Wait until every queued batch is committed; the seconds waited."""
        started = time.perf_counter()
        self._end()
        self._raise()
        return time.perf_counter() - started

    def stop(self) -> None:
        self._stopping = True
        while True:  # drop what is queued, so the threads see the end at once
            try:
                self._todo.get_nowait()
            except queue.Empty:
                break
        self._end()

    def _end(self) -> None:
        for thread in self._threads:
            while thread.is_alive():
                try:
                    self._todo.put(None, timeout=0.2)
                    break
                except queue.Full:
                    continue
        for thread in self._threads:
            thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        db = connections[connection.alias]  # this thread's own connection
        try:
            while (lines := self._todo.get()) is not None:
                if self._stopping or self.error is not None:
                    continue
                count = len(lines)
                self._started()
                try:
                    with transaction.atomic(using=db.alias):
                        _copy_lines(db, lines)
                finally:
                    self._finished(count)
        except BaseException as exc:  # handed to the writer at its next submit or drain
            self.error = exc
        finally:
            db.close()

    def _started(self) -> None:
        with self._lock:
            if not self._busy:
                self._busy_since = time.perf_counter()
            self._busy += 1

    def _finished(self, count: int) -> None:
        with self._lock:
            self._busy -= 1
            self.loaded += count
            if not self._busy:
                self.seconds += time.perf_counter() - self._busy_since


def _copy_line(row: tuple) -> str:
    """``row`` as a line of COPY text; the cheap form unless a value needs escaping."""
    if type(row) is not tuple:
        row = tuple(row)
    line = _COPY_LINE % row
    if ("\\" in line or "\r" in line or line.count("\t") != _COPY_TABS
            or line.find("\n") != len(line) - 1):
        return "\t".join(_copy_field(v) for v in row) + "\n"
    return line


def _copy_lines(db, lines: list[str]) -> None:
    """COPY the lines (emptying the list: the text is held once, as bytes, while it loads)."""
    data = io.BytesIO("".join(lines).encode("utf-8"))
    del lines[:]
    table = CatalogEntry._meta.db_table
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    with db.cursor() as cursor:
        cursor.cursor.copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', data, size=1 << 20)


def _insert_rows(rows: list[tuple]) -> None:
    table = CatalogEntry._meta.db_table
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    marks = ", ".join(["%s"] * len(COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', rows)


def _copy_field(value) -> str:
    if value is True:
        return "t"
    if value is False:
        return "f"
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


# -- the index tape file's rows ------------------------------------------------------------


_encode_str = json.encoder.encode_basestring  # json.dumps(ensure_ascii=False)'s, in C
_JSON = json.encoder.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_TYPE_NAMES = {t: t.name.lower() for t in EntryType}
_INDEX_LINE = (
    '{%s,"type":"%s","size":%d,"stored_size":%d,"mode":%d,"uid":%d,"gid":%d,"uname":%s,'
    '"gname":%s,"mtime_ns":%d,"atime_ns":%s,"ctime_ns":%s,"checksum":%s,%s,"devmajor":%d,'
    '"devminor":%d,"xattrs":%s,"acl":%s,"sparse":%s,"changed":%s,"volume":%d,"record":%d,'
    '"offset":%d}\n'
)


_BOOL = ("false", "true")


def index_line(entry: Entry, info: MemberInfo) -> bytes:
    """``encode_row(catalog_row(entry, info))`` — the member's line in the index tape file,
    byte for byte (tests/backups/test_catalog_load.py compares them) — without the dict,
    and with the common values (ints, no link, flags) inline: it runs once per file."""
    atime, ctime, checksum, link = entry.atime_ns, entry.ctime_ns, info.checksum, entry.linkname
    return (_INDEX_LINE % (
        _json_bytes("path", entry.name), _TYPE_NAMES[entry.type], entry.size,
        info.stored_size, entry.mode, entry.uid, entry.gid, _encode_str(entry.uname),
        _encode_str(entry.gname), entry.mtime_ns,
        atime if type(atime) is int else _json_value(atime),
        ctime if type(ctime) is int else _json_value(ctime),
        "null" if checksum is None else _encode_str(checksum),
        _json_bytes("link", link) if link else '"link":""', entry.devmajor, entry.devminor,
        _BOOL[bool(entry.xattrs)], _BOOL[bool(entry.acl_access or entry.acl_default)],
        _BOOL[entry.sparse is not None], _BOOL[bool(info.changed)], info.volume,
        info.record, info.offset,
    )).encode("utf-8")


def _json_bytes(key: str, value: bytes) -> str:
    """``"key":"text"`` when valid UTF-8, else ``"key_b64":"…"`` (``encode_row``'s rule)."""
    try:
        return f'"{key}":{_encode_str(value.decode("utf-8"))}'
    except UnicodeDecodeError:
        return f'"{key}_b64":"{base64.b64encode(value).decode("ascii")}"'


def _json_value(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    return _JSON.encode(value)


class IndexSpool:
    """A segment's index lines, written to a temporary file in batches until the index
    tape file is written (so memory stays bounded however many files the segment holds).
    ``add_line`` takes a line as ``index_line`` makes it; ``add`` a ``catalog_row`` dict."""

    def __init__(self, batch: int = 2000):
        self._file = tempfile.TemporaryFile(prefix="tapebackup-index-")
        self._batch: list[bytes] = []
        self._size = batch
        self.count = 0

    def add(self, row: dict) -> None:
        self.add_line(encode_row(row))

    def add_line(self, line: bytes) -> None:
        self._batch.append(line)
        self.count += 1
        if len(self._batch) >= self._size:
            self._spill()

    def lines(self) -> Iterator[bytes]:
        """Every line, in order (what ``write_index`` takes as pre-encoded rows)."""
        self._spill()
        self._file.seek(0)
        yield from self._file  # JSON escapes newlines: one line is one row

    def rows(self) -> Iterator[dict]:
        """Every row, decoded as ``read_index`` would give it back."""
        for line in self.lines():
            yield decode_row(line)

    def close(self) -> None:
        self._file.close()

    def _spill(self) -> None:
        if self._batch:
            self._file.write(b"".join(self._batch))
            self._batch = []
