"""Missing tapes are named with their place; corrupted data and read errors are found by
restore (reported by name, never kept as good) and by verify (tape counted as suspect)."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups.context import JobContext
from backups.errors import NeedsMedia
from backups.models import CatalogEntry
from backups.restore import restore_set
from backups.verify import verify_last, verify_set, verify_tape
from tapes.models import Tape
from tapes.services import tape_move_offline
from tests.restore.conftest import RECORD, tape_file


@pytest.fixture
def files_set(make_job, backup, tmp_path):
    source = tmp_path / "files"
    source.mkdir()
    for n in range(6):
        (source / f"f{n}.bin").write_bytes(os.urandom(200_000))
    return source, backup(make_job(str(source)))


def test_missing_tape_names_it_and_where_it_is(files_set, tmp_path):
    source, backup_set = files_set
    tape = backup_set.segments.get().tape
    tape_move_offline(tape=tape, place=Tape.Place.VAULT, vault="Iron Mountain")

    with pytest.raises(NeedsMedia) as caught:
        restore_set(backup_set=backup_set, target=tmp_path / "out", context=JobContext())
    assert caught.value.barcodes == (tape.barcode,)
    assert caught.value.where == {tape.barcode: "in vault Iron Mountain"}
    assert f"{tape.barcode} (in vault Iron Mountain)" in str(caught.value)
    with pytest.raises(CommandError, match=f"{tape.barcode} \\(in vault Iron Mountain\\)"):
        call_command("restore", "--set", str(backup_set.pk), "--target", str(tmp_path / "o"))
    with pytest.raises(NeedsMedia, match="Iron Mountain"):
        verify_tape(tape=tape, level="quick")
    assert not os.path.exists(tmp_path / "out" / str(source).lstrip("/"))


def corrupt_member(vlib, backup_set, path) -> None:
    """Flip one byte inside the member's data in the cartridge's tape file."""
    row = CatalogEntry.objects.at_path(backup_set, str(path)).get()
    segment = row.segment
    spot = row.record * RECORD + row.offset + 4096  # past its headers, inside its data
    with open(tape_file(vlib, segment.tape.barcode, segment.data_file), "r+b") as f:
        f.seek(spot)
        byte = f.read(1)
        f.seek(spot)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_corrupted_record_is_found_by_restore_and_verify(files_set, vlib, tmp_path):
    source, backup_set = files_set
    corrupt_member(vlib, backup_set, source / "f3.bin")
    target = tmp_path / "out"

    report = restore_set(backup_set=backup_set, target=target, context=JobContext())

    restored = target / str(source).lstrip("/")
    assert not report.ok
    assert len(report.extract.corrupt) == 1 and "f3.bin does not match" in report.extract.corrupt[0]
    assert not (restored / "f3.bin").exists()  # never kept under its name
    assert (restored / "f3.bin.corrupt").exists()
    assert (restored / "f4.bin").read_bytes() == (source / "f4.bin").read_bytes()
    verify = verify_set(backup_set=backup_set, level="data")
    assert not verify.ok and any("f3.bin does not match its checksum" in e for e in verify.errors)
    assert verify_set(backup_set=backup_set, level="quick").ok  # the index is intact
    assert verify_last(f"set-{backup_set.pk}")["ok"] is True  # the last result is stored
    with pytest.raises(CommandError, match="1 entries could not be restored"):
        call_command("restore", "--set", str(backup_set.pk), "--target", str(tmp_path / "again"))


def test_read_error_costs_only_the_member_and_marks_the_tape(files_set, vlib, tmp_path):
    source, backup_set = files_set
    row = CatalogEntry.objects.at_path(backup_set, str(source / "f2.bin")).get()
    tape = row.segment.tape
    vlib.inject_fault(barcode=tape.barcode, read_error_at=(row.segment.data_file, row.record + 1))
    target = tmp_path / "out"

    report = restore_set(backup_set=backup_set, target=target, context=JobContext())

    restored = target / str(source).lstrip("/")
    assert [p.split(" could not")[0] for p in report.unreadable] == [str(source / "f2.bin")]
    assert not (restored / "f2.bin").exists()
    for n in (0, 1, 3, 4, 5):
        assert (restored / f"f{n}.bin").read_bytes() == (source / f"f{n}.bin").read_bytes()
    assert Tape.objects.get(pk=tape.pk).read_errors == 1
    verify = verify_tape(tape=tape, level="data")
    assert not verify.ok and "f2.bin" in verify.errors[0]
    assert Tape.objects.get(pk=tape.pk).read_errors == 2
    stored = verify_last(f"tape-{tape.barcode}")
    assert stored["ok"] is False and stored["error_count"] == 1


def test_a_read_error_makes_the_tape_suspect_until_a_clean_data_verify(files_set, vlib):
    from tapes.models import AuditRecord

    source, backup_set = files_set
    row = CatalogEntry.objects.at_path(backup_set, str(source / "f2.bin")).get()
    tape = row.segment.tape
    vlib.inject_fault(barcode=tape.barcode, read_error_at=(row.segment.data_file, row.record + 1))
    assert not verify_tape(tape=tape, level="data").ok
    tape.refresh_from_db()
    assert tape.suspect_since is not None and tape.last_verified_at is None
    assert AuditRecord.objects.filter(tape=tape, action="suspect").count() == 1
    assert tape.verifies.get().ok is False  # the result is kept on the tape's history

    vlib.clear_faults(barcode=tape.barcode)
    assert verify_set(backup_set=backup_set, level="quick").ok
    assert Tape.objects.get(pk=tape.pk).suspect_since is not None  # quick reads no data
    assert verify_tape(tape=tape, level="data").ok
    tape.refresh_from_db()
    assert tape.suspect_since is None and tape.last_verified_at is not None
    assert "no longer suspect" in AuditRecord.objects.filter(tape=tape).latest("at").message
