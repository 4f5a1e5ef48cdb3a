"""The optional trigram index for ``catalog find`` (PostgreSQL): off after migrating, built
and dropped by ``catalog search-index on|off``, and ``find`` answers the same with it; on
SQLite the command says it needs PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from backups.catalog_load import CatalogLoader, catalog_values
from backups.catalog_search import catalog_find
from backups.models import BackupJob, BackupSegment, BackupSet
from backups.search_index import INDEX, search_index_enabled
from tapes.format import Entry, EntryType, MemberInfo


def _status(capsys) -> str:
    call_command("catalog", "search-index")
    return capsys.readouterr().out


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite's answer")
def test_sqlite_says_the_index_needs_postgresql(db, capsys):
    assert "no search index on SQLite" in _status(capsys)
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("catalog", "search-index", "on")


def _one_set_of_rows(count: int) -> None:
    from tapes.models import MediaPool
    from tapes.services import tape_create

    job = BackupJob.objects.create(name="search", sources=["/srv"],
                                   pool=MediaPool.objects.create(name="search"))
    backup_set = BackupSet.objects.create(job=job, started_at=timezone.now(), status="complete")
    segment = BackupSegment.objects.create(backup_set=backup_set, sequence=0, data_file=1,
                                           tape=tape_create(barcode="SI0001L8"))
    loader = CatalogLoader()
    for i in range(count):
        entry = Entry(b"srv/d%02d/report-%05d.txt" % (i % 20, i), EntryType.REGULAR, size=i)
        info = MemberInfo(entry.name, entry.type, 0, i, 0, i, i, "ef" * 32)
        if loader.add(catalog_values(entry, info, set_id=backup_set.pk, segment_id=segment.pk)):
            loader.flush()
    loader.finish()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram index: PostgreSQL")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_search_index_on_and_off(capsys):
    _one_set_of_rows(2000)
    without = [catalog_find(p) for p in ("report-0123", "report-010?5.txt", "/srv/d03/*-00*")]
    assert [len(v) for v in without] == [10, 10, 50]
    assert "is off" in _status(capsys)  # migrations leave it off
    try:
        call_command("catalog", "search-index", "on")
        assert "Built" in capsys.readouterr().out and search_index_enabled()
        call_command("catalog", "search-index", "on")
        assert "already on" in capsys.readouterr().out
        assert "is on" in _status(capsys)
        with connection.cursor() as cursor:  # the planner takes it when scans are dear
            cursor.execute("SET enable_seqscan = off")
            try:
                assert [catalog_find(p) for p in ("report-0123", "report-010?5.txt",
                                                  "/srv/d03/*-00*")] == without
                cursor.execute("EXPLAIN SELECT id FROM backups_catalogentry "
                               "WHERE path LIKE '%%report-0123%%'")
                assert INDEX in " ".join(row[0] for row in cursor.fetchall())
            finally:
                cursor.execute("SET enable_seqscan = on")
    finally:
        call_command("catalog", "search-index", "off")
    assert "Dropped" in capsys.readouterr().out and not search_index_enabled()
    call_command("catalog", "search-index", "off")
    assert "already off" in capsys.readouterr().out


@pytest.mark.parametrize("pattern,name,matches", [
    ("*-0*", "/srv/d03/report-00003.txt", True),  # two stars: fnmatch's atomic groups broke PostgreSQL
    ("report-0?.txt", "report-01.txt", True),
    ("report-0?.txt", "report-011.txt", False),
    ("[!a-c]x", "dx", True), ("[!a-c]x", "bx", False), ("[]a]x", "]x", True),
    ("a.b+(c)", "a.b+(c)", True), ("a.b+(c)", "aXb+(c)", False),
    ("/srv/*/x", "/srv/a/b/x", True),  # * crosses '/', as SQLite's GLOB
])
def test_glob_regex(pattern, name, matches):
    import re

    from backups.catalog_search import _glob_regex

    assert bool(re.fullmatch(_glob_regex(pattern), name)) is matches
