"""What only the virtual drive can show on demand: early warning on a tiny cartridge,
write-protect, WORM, persistence, torn-tail repair, faults, cleaning, exclusive open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tapes.drivers.base import (
    DriveBusy,
    DriveOffline,
    EndOfData,
    EndOfMedium,
    MediaError,
    NoMedium,
    WriteProtected,
    WrongRecordSize,
)
from tapes.drivers.virtual import VirtualLibrary, VirtualTapeDrive

from .conftest import MiB

BUF = 1 << 20
RECORD = 64 * 1024


def fill_to_early_warning(drive: VirtualTapeDrive) -> int:
    """Write 64 KiB records until one reports early warning; returns how many were written."""
    written = 0
    while True:
        written += 1
        if drive.write_record(b"x" * RECORD):
            return written


class TestEarlyWarning:
    def test_crossing_write_succeeds_and_next_writes_nothing(self, virtual_drive) -> None:
        written = fill_to_early_warning(virtual_drive)
        assert written == 3 * MiB // RECORD  # 4 MiB capacity, EW reserve 1 MiB
        assert virtual_drive.status().eot
        with pytest.raises(EndOfMedium):
            virtual_drive.write_record(b"y" * RECORD)
        assert virtual_drive.status().block_number == written

    def test_writes_alternate_until_the_hard_end(self, virtual_drive) -> None:
        fill_to_early_warning(virtual_drive)
        outcomes = []
        for _ in range(40):
            try:
                outcomes.append(virtual_drive.write_record(b"z" * RECORD))
            except EndOfMedium:
                outcomes.append("ENOSPC")
        assert outcomes[:4] == ["ENOSPC", True, "ENOSPC", True]
        assert outcomes[-4:] == ["ENOSPC"] * 4
        store_used = virtual_drive._store.used
        assert store_used <= 4 * MiB

    def test_a_record_that_does_not_fit_writes_nothing(self, virtual_drive) -> None:
        store = virtual_drive._store
        while store.used < 4 * MiB - RECORD:  # up to one record before the hard end
            try:
                virtual_drive.write_record(b"a" * RECORD)
            except EndOfMedium:
                pass
        with pytest.raises(EndOfMedium):  # the refused half of the alternation
            virtual_drive.write_record(b"a" * RECORD)
        used = store.used
        with pytest.raises(EndOfMedium, match="physical end"):
            virtual_drive.write_record(b"b" * (2 * RECORD))
        assert store.used == used
        assert virtual_drive.write_record(b"c" * RECORD) is True  # exactly fills the tape
        assert store.used == 4 * MiB
        for _ in range(3):
            with pytest.raises(EndOfMedium):
                virtual_drive.write_record(b"d")
        assert store.used == 4 * MiB

    def test_filemark_still_fits_at_the_hard_end(self, virtual_drive) -> None:
        for _ in range(80):
            try:
                virtual_drive.write_record(b"a" * RECORD)
            except EndOfMedium:
                pass
        virtual_drive.write_filemarks(1)
        assert virtual_drive.status().file_number == 1

    def test_repositioning_resets_the_alternation(self, virtual_drive) -> None:
        fill_to_early_warning(virtual_drive)
        virtual_drive.write_filemarks(1)
        virtual_drive.seek_end_of_data()
        assert virtual_drive.status().eot  # still in the zone by position
        assert virtual_drive.write_record(b"t" * 100) is True


class TestRecordSizes:
    def test_record_outside_limits_is_refused(self, virtual_drive) -> None:
        with pytest.raises(WrongRecordSize):
            virtual_drive.write_record(b"")
        with pytest.raises(WrongRecordSize):
            virtual_drive.write_record(b"x" * (BUF + 1))

    def test_max_block_is_configurable_up_to_8_mib(self, library) -> None:
        library.changer().load(1, 0)
        with library.drive(0, max_block=2 * MiB) as drive:
            drive.write_record(b"x" * (2 * MiB))
        with pytest.raises(WrongRecordSize):
            library.drive(0, max_block=9 * MiB)


class TestProtection:
    def test_write_protected_cartridge_refuses_writes(self, library) -> None:
        library.set_write_protected("LA0001L8")
        library.changer().load(1, 0)
        with library.drive(0) as drive:
            assert drive.status().write_protected
            with pytest.raises(WriteProtected):
                drive.write_record(b"x")
            with pytest.raises(WriteProtected):
                drive.write_filemarks(1)

    def test_write_protect_tab_cannot_move_in_a_drive(self, library) -> None:
        library.changer().load(1, 0)
        with pytest.raises(Exception, match="Take LA0001L8 out of drive 0"):
            library.set_write_protected("LA0001L8")

    def test_worm_appends_at_end_of_data_but_refuses_overwrite(self, library) -> None:
        slot = library.insert_into_mailslot("WORM01LY", create=True)
        library.changer().load(slot, 1)
        with library.drive(1) as drive:
            assert drive.status().worm
            drive.write_record(b"a" * 100)
            drive.write_filemarks(1)
            drive.rewind()
            with pytest.raises(WriteProtected, match="WORM"):
                drive.write_record(b"b" * 100)
            drive.seek_end_of_data()
            drive.write_record(b"c" * 100)
            drive.write_filemarks(1)
            drive.locate(1)
            assert drive.read_record(BUF) == b"c" * 100

    def test_no_medium(self, library) -> None:
        with library.drive(0) as drive:
            assert not drive.status().loaded
            with pytest.raises(NoMedium):
                drive.read_record(BUF)


class TestCloseAndEject:
    def test_close_after_a_write_writes_one_filemark(self, library, virtual_drive) -> None:
        virtual_drive.write_record(b"a" * 100)
        virtual_drive.close()
        meta = library.cartridge_meta("LA0001L8")
        assert meta["filemarks"] == 1

    def test_close_after_a_filemark_writes_none(self, library, virtual_drive) -> None:
        virtual_drive.write_record(b"a" * 100)
        virtual_drive.write_filemarks(1)
        virtual_drive.close()
        assert library.cartridge_meta("LA0001L8")["filemarks"] == 1

    def test_eject_leaves_cartridge_in_the_drive_element(self, library, virtual_drive) -> None:
        virtual_drive.eject()
        assert not virtual_drive.status().loaded
        assert library.changer().status().drives[0].barcode == "LA0001L8"
        library.changer().unload(0)  # allowed after MTOFFL even with the handle open
        assert library.changer().status().slot(1).barcode == "LA0001L8"

    def test_unload_with_open_handle_needs_offline(self, library, virtual_drive) -> None:
        with pytest.raises(Exception, match="needs offline"):
            library.changer().unload(0)


class TestPersistence:
    def test_data_position_and_slots_survive_a_reopen(self, vtl_root, library) -> None:
        library.changer().load(3, 1)
        with library.drive(1) as drive:
            drive.write_record(b"first")
            drive.write_filemarks(1)
            drive.write_record(b"second")
            drive.write_filemarks(1)
            drive.locate(1, 0)
        again = VirtualLibrary.open(vtl_root, "lab")
        status = again.changer().status()
        assert status.drives[1].barcode == "LA0003L8" and status.drives[1].source_slot == 3
        assert not status.slot(3).full
        with again.drive(1) as drive:
            assert (drive.status().file_number, drive.status().block_number) == (1, 0)
            assert drive.read_record(BUF) == b"second"

    def test_torn_tail_is_repaired_at_load(self, library) -> None:
        library.changer().load(1, 0)
        with library.drive(0) as drive:
            drive.write_record(b"a" * 100)
            drive.write_filemarks(1)
            drive.write_record(b"b" * 100)
            drive.write_record(b"c" * 100)
            files = library.cartridge_path("LA0001L8") / "files"
            # Simulate a crash: the last record's data half-written, and a partial entry.
            os.truncate(files / "000001.tape", 150)
            with open(files / "000001.idx", "ab") as index:
                index.write(b"\x01\x02\x03")
            drive._store = None  # the crashed process never closed it
            drive._release_locks()
            drive._closed = True
        with library.drive(0) as drive:
            drive.locate(1)
            assert drive.read_record(BUF) == b"b" * 100
            with pytest.raises(EndOfData):
                drive.read_record(BUF)
            assert drive.status().eod
        assert (files / "000001.idx").stat().st_size == 8
        assert (files / "000001.tape").stat().st_size == 100

    def test_counters_count_loads_and_bytes(self, library, virtual_drive) -> None:
        virtual_drive.write_record(b"a" * 1000)
        virtual_drive.write_filemarks(1)
        virtual_drive.rewind()
        virtual_drive.read_record(BUF)
        virtual_drive.close()
        counters = library.cartridge_meta("LA0001L8")["counters"]
        assert counters == {"loads": 1, "bytes_written": 1000, "bytes_read": 1000}

    def test_compressed_cartridge_round_trip_counts_compressed_bytes(self, vtl_root) -> None:
        library = VirtualLibrary.create(vtl_root, "zz", tapes=1, capacity=4 * MiB,
                                        compression=True)
        library.changer().load(1, 0)
        with library.drive(0) as drive:
            drive.write_record(b"\0" * BUF)
            drive.write_filemarks(1)
            assert drive._store.used < 10_000
            drive.rewind()
            assert drive.read_record(BUF) == b"\0" * BUF

    def test_for_cartridge_reads_without_a_library(self, library, virtual_drive) -> None:
        virtual_drive.write_record(b"offline")
        virtual_drive.write_filemarks(1)
        virtual_drive.close()
        with VirtualTapeDrive.for_cartridge(library.cartridge_path("LA0001L8")) as drive:
            assert drive.read_record(BUF) == b"offline"


class TestFaults:
    def test_write_error_at_record(self, library, virtual_drive) -> None:
        library.inject_fault(drive=0, write_error_at=2)
        virtual_drive.write_record(b"a")
        virtual_drive.write_record(b"b")
        with pytest.raises(MediaError):
            virtual_drive.write_record(b"c")
        assert 0x06 in virtual_drive.status().tape_alerts
        library.clear_faults(drive=0)
        virtual_drive.write_record(b"c")
        assert virtual_drive.status().tape_alerts == ()

    def test_read_error_on_a_cartridge_follows_it(self, library, virtual_drive) -> None:
        virtual_drive.write_record(b"a")
        virtual_drive.write_record(b"b")
        virtual_drive.write_filemarks(1)
        library.inject_fault(barcode="LA0001L8", read_error_at=(0, 1))
        virtual_drive.rewind()
        assert virtual_drive.read_record(BUF) == b"a"
        with pytest.raises(MediaError):
            virtual_drive.read_record(BUF)
        assert 0x05 in virtual_drive.status().tape_alerts

    def test_offline_drive(self, library, virtual_drive) -> None:
        library.inject_fault(drive=0, offline=True)
        assert not virtual_drive.status().online
        with pytest.raises(DriveOffline):
            virtual_drive.write_record(b"a")
        library.clear_faults(drive=0)
        virtual_drive.write_record(b"a")

    def test_slow_drive_sleeps_for_the_bytes(self, library, virtual_drive) -> None:
        library.inject_fault(drive=0, bytes_per_second=100_000)
        started = time.monotonic()
        virtual_drive.write_record(b"a" * 20_000)
        assert time.monotonic() - started >= 0.19

    def test_faults_are_seen_by_another_process(self, vtl_root, library) -> None:
        code = (
            "from tapes.drivers.virtual import VirtualLibrary;"
            f"VirtualLibrary.open({str(vtl_root)!r}, 'lab').inject_fault(drive=1, offline=True)"
        )
        subprocess.run([sys.executable, "-c", code], check=True, cwd=_project_dir())
        with library.drive(1) as drive:
            assert not drive.status().online

    def test_exactly_one_target(self, library) -> None:
        with pytest.raises(Exception, match="exactly one"):
            library.inject_fault(offline=True)


class TestCleaning:
    def test_cleaning_request_cleared_by_loading_a_cleaning_cartridge(self, library) -> None:
        library.inject_fault(drive=0, cleaning_requested=True)
        with library.drive(0) as drive:
            assert drive.status().cleaning_requested
            assert 0x14 in drive.status().tape_alerts
        slot = library.create_cleaning_cartridge("CLN001CU", uses=2)
        changer = library.changer()
        changer.load(slot, 0)
        with library.drive(0) as drive:
            assert not drive.status().cleaning_requested
            with pytest.raises(WriteProtected):
                drive.write_record(b"x")
        changer.unload(0)
        assert library.cartridge_meta("CLN001CU")["cleaning_uses_left"] == 1

    def test_expired_cleaning_cartridge_sets_0x16(self, library) -> None:
        slot = library.create_cleaning_cartridge("CLN002CU", uses=0)
        library.changer().load(slot, 1)
        with library.drive(1) as drive:
            assert 0x16 in drive.status().tape_alerts


class TestExclusiveOpen:
    def test_second_open_in_this_process_is_busy(self, library, virtual_drive) -> None:
        with pytest.raises(DriveBusy):
            library.drive(0)
        library.drive(1).close()  # the other drive is free

    def test_second_open_from_another_process_is_busy(self, vtl_root, virtual_drive) -> None:
        code = (
            "import sys\n"
            "from tapes.drivers.base import DriveBusy\n"
            "from tapes.drivers.virtual import VirtualLibrary\n"
            f"lib = VirtualLibrary.open({str(vtl_root)!r}, 'lab')\n"
            "try:\n    lib.drive(0)\nexcept DriveBusy as e:\n    print(e); sys.exit(3)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], cwd=_project_dir(),
                                capture_output=True, text=True)
        assert result.returncode == 3, result.stderr
        assert "already open" in result.stdout

    def test_close_releases_the_drive(self, library, virtual_drive) -> None:
        virtual_drive.close()
        library.drive(0).close()


def test_library_json_is_plain_json(library) -> None:
    state = json.loads(Path(library.state_path).read_text())
    assert state["slots"][:2] == ["LA0001L8", "LA0002L8"]


def _project_dir() -> Path:
    return Path(__file__).resolve().parents[2]
