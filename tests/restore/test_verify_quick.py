"""Quick verify compares each segment's index on tape with the catalog, place by place,
as two streams in tape order: every disagreement is named."""

from __future__ import annotations

import os

import pytest

from backups.models import CatalogEntry
from backups.verify import verify_set


@pytest.fixture
def files_set(make_job, backup, tmp_path):
    source = tmp_path / "files"
    (source / "sub").mkdir(parents=True)
    for n in range(30):
        (source / ("sub" if n % 3 else ".") / f"f{n:02d}.bin").write_bytes(os.urandom(3000 + n))
    return source, backup(make_job(str(source)))


def _row(backup_set, path):
    return CatalogEntry.objects.at_path(backup_set, str(path)).get()


def test_quick_verify_agrees_with_an_intact_catalog(files_set):
    _, backup_set = files_set
    report = verify_set(backup_set=backup_set, level="quick")
    assert report.ok and report.members == backup_set.catalog.count() == 32


def test_quick_verify_names_every_disagreement(files_set):
    source, backup_set = files_set
    changed = _row(backup_set, source / "sub" / "f04.bin")
    changed.checksum = "0" * 64
    changed.save()
    _row(backup_set, source / "f06.bin").delete()  # in the index, not in the catalog
    moved = _row(backup_set, source / "sub" / "f10.bin")
    moved.offset += 1  # the catalog says it is somewhere the index has nothing
    moved.save()
    extra = _row(backup_set, source / "sub" / "f20.bin")
    extra.pk, extra.path, extra.name, extra.record = None, extra.path + ".ghost", "f20.bin.ghost", 10**6
    extra.save()

    report = verify_set(backup_set=backup_set, level="quick")

    tape = backup_set.segments.get().tape.barcode
    assert not report.ok
    assert sorted(report.errors) == sorted([
        f"{source}/sub/f04.bin: the index on {tape} and the catalog disagree about its size "
        "or checksum.",
        f"{source}/f06.bin is in the index on {tape} but not in the catalog at that place.",
        f"{source}/sub/f10.bin is in the index on {tape} but not in the catalog at that place.",
        f"{source}/sub/f10.bin is in the catalog but in no index on tape.",
        f"{source}/sub/f20.bin.ghost is in the catalog but in no index on tape.",
    ])


def test_quick_verify_memory_stays_flat(files_set):
    """50,000 catalog rows more than the index holds: every one is reported (counted), and
    the verify never holds them all (the old dict of the whole set took ~15 MB here)."""
    import tracemalloc

    from backups.catalog_load import CatalogLoader

    source, backup_set = files_set
    segment = backup_set.segments.get()
    loader = CatalogLoader()
    for i in range(50_000):
        path = f"{source}/ghosts/g{i:05d}"
        if loader.add((backup_set.pk, segment.pk, path, 0, f"{source}/ghosts", 0, f"g{i:05d}",
                       "0", 10, 0o644, 0, 0, "", "", 0, "ab" * 32, "", 10**6 + i, 0, 1, False)):
            loader.flush()
    loader.finish()

    tracemalloc.start()
    try:
        report = verify_set(backup_set=backup_set, level="quick")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.error_count == 50_000 and report.members == 32
    assert peak < 8 << 20, f"quick verify held {peak / 2**20:.1f} MiB"
