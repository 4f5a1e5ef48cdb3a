"""Label (tape file 0) and index (after each data file) round trips, and GNU tar reads both."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from tapes.format import ForeignLabel, TapeLabel, read_index, read_label, write_index, write_label
from tests.format.helpers import MemoryTape

LABEL = TapeLabel(barcode="A00017L8", pool="monthly", media_set_id="0b9d5f0e-2d2c-4a4e-9d6b-1f7f2b1c9a11",
                  sequence=2, record_size=262144, installation_id="inst-1")


def test_label_round_trip_and_gnu_tar_reads_it(tmp_path):
    tape = MemoryTape()
    write_label(tape, LABEL)
    assert len(tape.items) == 2 and tape.items[1] is None and len(tape.items[0]) == 262144
    assert read_label(tape) == LABEL
    (tmp_path / "file0").write_bytes(tape.items[0])
    out = subprocess.run(["tar", "-xOf", tmp_path / "file0", "TAPEBACKUP-LABEL.json"],
                         check=True, capture_output=True).stdout
    assert json.loads(out)["barcode"] == "A00017L8"


def test_blank_tape_has_no_label():
    assert read_label(MemoryTape()) is None


def test_foreign_tar_archive_is_named(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("etc/passwd")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"root"))
    tape = MemoryTape()
    tape.write_record(buf.getvalue().ljust(10240, b"\0"))
    tape.write_filemarks(1)
    with pytest.raises(ForeignLabel) as caught:
        read_label(tape)
    assert b"etc/passwd" in caught.value.member


@pytest.mark.parametrize("first", [b"VOL1A00017" + b" " * 70, b"AMANDA: TAPESTART DATE 2024", b"\x01" * 1024])
def test_other_formats_are_foreign(first):
    tape = MemoryTape()
    tape.write_record(first)
    tape.write_filemarks(1)
    with pytest.raises(ForeignLabel):
        read_label(tape)


def _rows(n):
    for i in range(n):
        yield {"path": b"dir/f%d" % i if i % 3 else b"bad-\xff-%d" % i, "type": "regular",
               "size": i, "mtime_ns": 1_700_000_000_123_456_789 + i, "checksum": "ab" * 32,
               "link": b"", "volume": 0, "record": i // 100, "offset": (i % 100) * 512}


def test_index_round_trip_in_bounded_chunks(tmp_path):
    tape = MemoryTape()
    summary = write_index(tape, {"set_id": 7, "job": "nightly", "level": "full"}, _rows(5000),
                          chunk_bytes=64 * 1024)
    assert summary.rows == 5000 and summary.members > 3
    tape.rewind()
    set_record, rows = read_index(tape)
    assert set_record["job"] == "nightly" and set_record["format"] == "tapebackup-index"
    assert list(rows) == list(_rows(5000))
    data = b"".join(r for r in tape.items if r)
    (tmp_path / "index.tar").write_bytes(data)
    names = subprocess.run(["tar", "-tf", tmp_path / "index.tar"], check=True,
                           capture_output=True).stdout.split()
    assert names[0] == b"TAPEBACKUP-SET.json" and names[1] == b"TAPEBACKUP-CATALOG-000001.jsonl"


def test_empty_index():
    tape = MemoryTape()
    write_index(tape, {"set_id": 1}, [])
    tape.rewind()
    set_record, rows = read_index(tape)
    assert set_record["set_id"] == 1 and list(rows) == []


def test_index_takes_rows_already_encoded():
    """The engine spools encoded lines and hands them over as bytes: same index."""
    from tapes.format.index import encode_row

    lines = [encode_row(row) for row in _rows(300)]
    lines[5] = lines[5].rstrip(b"\n")  # a line without its newline gets one
    tape = MemoryTape()
    summary = write_index(tape, {"set_id": 3}, iter(lines), chunk_bytes=4096)
    assert summary.rows == 300
    tape.rewind()
    _, rows = read_index(tape)
    assert list(rows) == list(_rows(300))
