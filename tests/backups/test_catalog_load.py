"""The catalog loader's encodings are the slow, obvious ones' exactly, and the loader's
thread (PostgreSQL) commits every row before ``finish`` returns, or raises."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from backups.catalog_load import (
    COLUMNS, CatalogLoader, IndexSpool, _copy_field, _copy_line, catalog_values, index_line,
    plain_file_lines,
)
from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
from tapes.format import Entry, EntryType, MemberInfo, catalog_row
from tapes.format.index import encode_row

ENTRIES = [
    Entry(b"srv/plain.txt", EntryType.REGULAR, 0o644, 1000, 1000, "alice", "staff", 12,
          1_700_000_000_123_456_789, 1_700_000_000_000_000_001, 1_700_000_000_000_000_002),
    Entry(b"srv/caf\xe9 tab\there\\back\nline\r", EntryType.REGULAR, 0o4755, 0, 0, "r\u00f6ot",
          'q"uote', 5, 7, None, None, xattrs={"user.a": b"1"}, acl_access="user::rw-\n"),
    Entry(b"srv/dir", EntryType.DIRECTORY, 0o1777, 3_000_000, 4_000_000, "", "", 0, 1),
    Entry(b"srv/link", EntryType.SYMLINK, linkname=b"../\xff\xfe target"),
    Entry(b"srv/hard", EntryType.HARDLINK, linkname=b"srv/plain.txt"),
    Entry(b"srv/dev", EntryType.CHARDEV, devmajor=4, devminor=64),
    Entry(b"srv/sparse", EntryType.REGULAR, size=3 << 20, sparse=((0, 4096), (3 << 20, 0))),
    Entry(b".", EntryType.DIRECTORY),
]


def _info(entry: Entry, n: int) -> MemberInfo:
    stored = entry.stored_size
    return MemberInfo(entry.name, entry.type, n % 2, n * 3, n * 512, entry.size, stored,
                      "ab" * 32 if entry.type is EntryType.REGULAR else None, n == 1, n % 2 + n // 4)


@pytest.mark.parametrize("n", range(len(ENTRIES)))
def test_index_line_is_encode_row_of_catalog_row(n):
    entry, info = ENTRIES[n], _info(ENTRIES[n], n)
    assert index_line(entry, info) == encode_row(catalog_row(entry, info))


@pytest.mark.parametrize("n", range(len(ENTRIES)))
def test_copy_line_is_the_escaped_fields(n):
    values = catalog_values(ENTRIES[n], _info(ENTRIES[n], n), set_id=7, segment_id=9)
    expected = "\t".join(_copy_field(v) for v in values) + "\n"
    line = _copy_line(values)
    assert line.split("\t")[:20] == expected.split("\t")[:20]
    assert line.rstrip("\n").rsplit("\t", 1)[1] in ({"t": "True"}.get(expected[-2], "False"),
                                                     expected[-2])


PLAIN = [
    Entry(b"srv/plain.txt", EntryType.REGULAR, 0o644, 1000, 1000, "alice", "staff", 12,
          1_700_000_000_123_456_789, 1_700_000_000_000_000_001, 1_700_000_000_000_000_002),
    Entry(b"top", EntryType.REGULAR, 0o4755, 0, 0, "r\u00f6ot", 'q"uote', 0, 7, 8, 9),
    Entry(b"a/b c/'q\"uote'$", EntryType.REGULAR, 0o600, 2**40, 3, "", "", 5, 0, 0, 0),
]


@pytest.mark.parametrize("n", range(len(PLAIN)))
def test_plain_file_lines_are_the_general_ones(n):
    entry = PLAIN[n]
    info = MemberInfo(entry.name, entry.type, n, n * 3, n * 512, entry.size, entry.size,
                      "ef" * 32, False, n)
    lines = plain_file_lines(
        entry.name, entry.mode, entry.uid, entry.gid, entry.uname, entry.gname, entry.size,
        entry.mtime_ns, entry.atime_ns, entry.ctime_ns, info.checksum, info.volume, info.record,
        info.offset, set_id=7, segment_id=9)
    assert lines == (index_line(entry, info),
                     _copy_line(catalog_values(entry, info, set_id=7, segment_id=9)))


@pytest.mark.parametrize("name, uname", [(b"srv/caf\xc3\xa9", "u"), (b"srv/t\tab", "u"),
                                         (b"srv/back\\slash", "u"), (b"srv/x", "u\nv")])
def test_plain_file_lines_leave_escaping_to_the_general_path(name, uname):
    assert plain_file_lines(name, 0o644, 0, 0, uname, "g", 1, 1, 1, 1, "ab" * 32, 0, 0, 0,
                            set_id=1, segment_id=1) is None


def test_spool_gives_back_lines_and_rows():
    spool = IndexSpool(batch=3)
    for n, entry in enumerate(ENTRIES):
        spool.add_line(index_line(entry, _info(entry, n)))
    spool.add(catalog_row(ENTRIES[0], _info(ENTRIES[0], 0)))
    lines = list(spool.lines())
    assert len(lines) == spool.count == len(ENTRIES) + 1 and lines[0] == lines[-1]
    assert [row["path"] for row in spool.rows()][:2] == [ENTRIES[0].name, ENTRIES[1].name]
    spool.close()


# -- the loader's thread (PostgreSQL, committed data: another connection loads) -----------------

postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY thread: PostgreSQL")


@pytest.fixture
def segment(request):
    """A set and segment committed for the loader's own connection to see. The flush after
    the test empties every table: ``serialized_rollback`` puts the migrations' rows back."""
    from tapes.models import MediaPool
    from tapes.services import tape_create

    request.getfixturevalue("transactional_db")
    job = BackupJob.objects.create(name="loader", sources=["/srv"],
                                   pool=MediaPool.objects.create(name="loader"))
    backup_set = BackupSet.objects.create(job=job, started_at=timezone.now())
    return BackupSegment.objects.create(backup_set=backup_set, tape=tape_create(barcode="LD0001L8"),
                                        sequence=0, data_file=1)


def _load(loader: CatalogLoader, segment, count: int, *, bad_mode: bool = False) -> None:
    for i in range(count):
        entry = Entry(b"srv/d%d/f%06d" % (i // 100, i), EntryType.REGULAR, size=i)
        info = MemberInfo(entry.name, entry.type, 0, i, 0, i, i, "cd" * 32)
        values = catalog_values(entry, info, set_id=segment.backup_set_id, segment_id=segment.pk)
        if bad_mode:  # breaks the column's CHECK (mode >= 0): the COPY fails in the thread
            values = tuple(-1 if name == "mode" else value for name, value in zip(COLUMNS, values))
        if loader.add(values):
            loader.flush()


@postgresql
@pytest.mark.parametrize("connections", [1, 3])
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_threads_commit_every_row_before_finish_returns(segment, connections, settings):
    settings.TAPEBACKUP_CATALOG_CONNECTIONS = connections
    loader = CatalogLoader(batch_rows=700, background=True)
    try:
        _load(loader, segment, 5000)
        assert len(loader._thread._threads) == connections
        loader.finish()
    finally:
        loader.close()
    assert loader._thread is None and loader.loaded == 5000
    rows = CatalogEntry.objects.filter(backup_set=segment.backup_set_id)
    assert rows.count() == 5000
    entry = Entry(b"srv/d7/f000777", EntryType.REGULAR, size=777)
    info = MemberInfo(entry.name, entry.type, 0, 777, 0, 777, 777, "cd" * 32)
    expected = dict(zip(COLUMNS, catalog_values(entry, info, set_id=segment.backup_set_id,
                                                segment_id=segment.pk)))
    assert rows.filter(path="/srv/d7/f000777").values(*COLUMNS).get() == expected


@postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_thread_failure_reaches_the_writer(segment):
    loader = CatalogLoader(batch_rows=100, background=True)
    try:
        with pytest.raises(Exception, match="violates check constraint"):
            _load(loader, segment, 300, bad_mode=True)
            loader.finish()
    finally:
        loader.close()
    assert not CatalogEntry.objects.exists()


def test_inside_a_transaction_the_loader_commits_with_it(db):
    assert CatalogLoader(background=True)._background is False  # the test's transaction
