"""Restore positions the drive directly at a member: restoring one file of a set reads a
few records, not the tape (measured by the cartridge's own bytes-read counter)."""

from __future__ import annotations

from backups.context import JobContext
from backups.restore import restore_set
from tests.restore.conftest import RECORD, bytes_read


def test_one_file_reads_a_few_records(make_job, backup, vlib, tmp_path):
    source = tmp_path / "many"
    source.mkdir()
    for n in range(1500):
        (source / f"file{n:04d}.txt").write_bytes(b"%d\n" % n * 700)  # ~2.8 KB each
    backup_set = backup(make_job(str(source)))
    barcode = backup_set.segments.get().tape.barcode
    data_records = backup_set.segments.get().last_record + 1
    assert data_records > 60

    results = {}
    for name in ("file0000.txt", "file1499.txt"):
        before = bytes_read(vlib, barcode)
        report = restore_set(backup_set=backup_set, target=tmp_path / name,
                             paths=[str(source / name)], context=JobContext())
        assert report.ok and report.extract.files == 1
        results[name] = (bytes_read(vlib, barcode) - before) // RECORD
    # The label (one record) and the record(s) holding the member; never the whole tape.
    assert all(records <= 4 for records in results.values()), results
