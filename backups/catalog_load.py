"""Loading catalog rows in batches: ``COPY`` on PostgreSQL, one prepared ``INSERT``
executed for the whole batch elsewhere.

The engine hands rows over as tuples in ``COLUMNS`` order while it writes; every
``BATCH_ROWS`` rows (and at every segment end) one short transaction commits them, so
memory is bounded and no transaction is open while the tape moves. The index spool keeps
a segment's rows on disk until its index tape file is written.

(The backup engine's module; ``backups/catalog.py`` is shared with the restore side, so
the loader lives here under its own name.)
"""

from __future__ import annotations

import io
import pickle
import tempfile
from collections.abc import Iterator

from django.db import connection, transaction

from backups.models import CatalogEntry
from backups.paths import path_key, path_text, split_path
from tapes.format import Entry, EntryType, MemberInfo

BATCH_ROWS = 10_000
COLUMNS = (
    "backup_set_id", "segment_id", "path", "path_key", "parent", "parent_key", "name", "type",
    "size", "mode", "uid", "gid", "uname", "gname", "mtime_ns", "checksum", "link_target",
    "record", "offset", "volumes", "changed",
)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def catalog_values(entry: Entry, info: MemberInfo, *, set_id: int, segment_id: int) -> tuple:
    """One catalog row (``COLUMNS`` order) for a member written to tape."""
    path = path_text(b"/" + entry.name.rstrip(b"/")) if entry.name != b"." else "/"
    parent, name = split_path(path)
    if entry.type is EntryType.HARDLINK:
        link = path_text(b"/" + entry.linkname)
    else:
        link = path_text(entry.linkname) if entry.linkname else ""
    return (
        set_id, segment_id, path, path_key(path), parent, path_key(parent), name,
        entry.type.value, entry.size, entry.mode, entry.uid, entry.gid, entry.uname,
        entry.gname, entry.mtime_ns, info.checksum or "", link, info.record, info.offset,
        info.end_volume - info.volume + 1, info.changed,
    )


class CatalogLoader:
    """Collects rows and commits them every ``batch_rows``."""

    def __init__(self, *, batch_rows: int = BATCH_ROWS):
        self.batch_rows = batch_rows
        self.rows: list[tuple] = []
        self.loaded = 0
        self.seconds = 0.0
        self._copy = connection.vendor == "postgresql"

    def add(self, values: tuple) -> bool:
        """Queue a row; True when the batch is full and should be flushed."""
        self.rows.append(values)
        return len(self.rows) >= self.batch_rows

    def flush(self) -> None:
        if not self.rows:
            return
        import time

        started = time.perf_counter()
        rows, self.rows = self.rows, []
        with transaction.atomic():
            if self._copy:
                _copy_rows(rows)
            else:  # one prepared INSERT for the batch: model instances cost ~100 µs a row
                _insert_rows(rows)
        self.loaded += len(rows)
        self.seconds += time.perf_counter() - started


def _copy_rows(rows: list[tuple]) -> None:
    buffer = io.StringIO()
    write = buffer.write
    for row in rows:
        write("\t".join(_copy_field(v) for v in row))
        write("\n")
    buffer.seek(0)
    table = CatalogEntry._meta.db_table
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', buffer)


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
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)


class IndexSpool:
    """A segment's index rows, pickled to a temporary file in batches until the index
    tape file is written (so memory stays bounded however many files the segment holds)."""

    def __init__(self, batch: int = 2000):
        self._file = tempfile.TemporaryFile(prefix="tapebackup-index-")
        self._batch: list[dict] = []
        self._size = batch
        self.count = 0

    def add(self, row: dict) -> None:
        self._batch.append(row)
        self.count += 1
        if len(self._batch) >= self._size:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def rows(self) -> Iterator[dict]:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []
        self._file.seek(0)
        while True:
            try:
                yield from pickle.load(self._file)
            except EOFError:
                return

    def close(self) -> None:
        self._file.close()
