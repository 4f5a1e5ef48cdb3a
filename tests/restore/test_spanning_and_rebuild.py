"""A set spanning two tapes restores across them (loaded through the changer in order),
verifies, and after the catalog is dropped comes back from the tapes alone, losslessly and
only once however often the rebuild runs."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from backups.catalog_load import COLUMNS
from backups.catalog_search import catalog_rebuild
from backups.context import JobContext
from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
from backups.restore import restore_set
from backups.verify import verify_set
from tests.trees import sha256_file
from tests.restore.conftest import CAPACITY

SET_FIELDS = ("pk", "job__name", "job__sources", "level", "status", "started_at", "files", "bytes",
              "warnings", "expires_at", "media_set__uuid")
SEGMENT_FIELDS = ("backup_set_id", "sequence", "tape__barcode", "data_file", "index_file",
                  "first_record", "last_record", "bytes", "files")
ROW_FIELDS = tuple(c for c in COLUMNS if c not in ("segment_id",)) + ("segment__sequence",)


@pytest.fixture
def spanning(make_job, backup, tmp_path):
    source = tmp_path / "big"
    source.mkdir()
    for n in range(3):  # about 1.5 cartridges
        (source / f"part{n}.bin").write_bytes(os.urandom(int(CAPACITY * 0.45)))
    (source / "small.txt").write_text("after the big ones\n")
    big = backup(make_job(str(source), name="big"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("a\n")
    small = backup(make_job(str(other), name="small"))
    return source, big, small


def catalog_state() -> dict:
    return {
        "sets": sorted(BackupSet.objects.values_list(*SET_FIELDS)),
        "finished": {s.pk: s.finished_at for s in BackupSet.objects.all()},
        "segments": sorted(BackupSegment.objects.values_list(*SEGMENT_FIELDS)),
        "rows": sorted(CatalogEntry.objects.values_list(*ROW_FIELDS)),
    }


def test_restore_across_tapes_and_verify(spanning, tmp_path):
    source, big, _ = spanning
    assert big.segments.count() == 2
    target = tmp_path / "out"

    report = restore_set(backup_set=big, target=target, context=JobContext())

    assert report.ok, report.as_dict()
    assert report.tapes == [s.tape.barcode for s in big.segments.order_by("sequence")]
    restored = target / str(source).lstrip("/")
    for name in ("part0.bin", "part1.bin", "part2.bin", "small.txt"):
        assert sha256_file(restored / name) == sha256_file(source / name)
    assert verify_set(backup_set=big, level="quick").ok
    data = verify_set(backup_set=big, level="data")
    assert data.ok and data.members == big.files


def test_rebuild_after_dropping_the_catalog_is_lossless(spanning, library):
    before = catalog_state()
    CatalogEntry.objects.all().delete()
    BackupSegment.objects.all().delete()
    BackupSet.objects.all().delete()
    BackupJob.objects.all().delete()

    call_command("catalog", "rebuild", "--library", library.name)

    after = catalog_state()
    for segment in BackupSegment.objects.all():
        assert segment.files == CatalogEntry.objects.filter(segment=segment).count()
    assert after["rows"] == before["rows"]
    assert after["segments"] == before["segments"]
    assert after["sets"] == before["sets"]
    assert after["finished"] == before["finished"]  # the last index carries the set's own

    second = catalog_rebuild(library=library)
    assert (second.sets_created, second.segments_created, second.rows_created) == ([], 0, 0)
    assert catalog_state()["rows"] == before["rows"]


def test_rebuild_one_tape_of_a_spanning_set_then_the_other(spanning):
    _, big, _ = spanning
    first, last = [s.tape for s in big.segments.order_by("sequence")]
    rows = sorted(CatalogEntry.objects.filter(backup_set=big).values_list(*ROW_FIELDS))
    BackupSet.objects.filter(pk=big.pk).delete()

    report = catalog_rebuild(tapes=[last])
    assert BackupSet.objects.get(pk=big.pk).status == BackupSet.Status.FAILED
    assert any("part(s) 1" in p for p in report.problems)
    # The member split across both tapes is indexed on the second; its part is now known.
    assert any("rebuild from that tape too, then this one again" in p for p in report.problems)
    catalog_rebuild(tapes=[first])
    catalog_rebuild(tapes=[last])

    rebuilt = BackupSet.objects.get(pk=big.pk)
    assert rebuilt.restorable
    assert sorted(CatalogEntry.objects.filter(backup_set=big).values_list(*ROW_FIELDS)) == rows


def test_a_backup_after_a_rebuild_on_a_fresh_database_gets_a_new_set_number(
        spanning, library, make_job, backup, tmp_path):
    from django.core.management.color import no_style
    from django.db import connection

    old = set(BackupSet.objects.values_list("pk", flat=True))
    CatalogEntry.objects.all().delete()
    BackupSegment.objects.all().delete()
    BackupSet.objects.all().delete()
    with connection.cursor() as cursor:  # as on a new database: numbering starts again
        for sql in connection.ops.sequence_reset_sql(no_style(), [BackupSet]):
            cursor.execute(sql)

    catalog_rebuild(library=library)
    assert set(BackupSet.objects.values_list("pk", flat=True)) == old
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "new.txt").write_text("written after the rebuild\n")
    new = backup(make_job(str(fresh), name="after-rebuild"))
    assert new.pk not in old and new.restorable
