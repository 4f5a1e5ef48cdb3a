"""The drive-conformance suite: st semantics every ``TapeDrive`` must show.

Written only against the ``TapeDrive`` interface. ``test_virtual_conformance.py`` runs it on
the virtual drive and ``test_hardware.py`` on a real one; each defines a ``drive`` fixture
yielding a drive at BOT with a writable cartridge whose contents may be destroyed.
"""

from __future__ import annotations

import pytest

from tapes.drivers.base import EndOfData, TapeDrive, TapeError, WrongRecordSize

BUF = 1 << 20


def record(tag: int, size: int) -> bytes:
    """A recognisable record: its tag repeated, so mixed-up records show in a failure."""
    return bytes([tag % 256]) * size


def write_files(drive: TapeDrive, layout: list[int], size: int = 1000) -> None:
    """Write one tape file per entry, with that many records, each ended by a filemark."""
    for number, count in enumerate(layout):
        for block in range(count):
            drive.write_record(record(number * 16 + block, size))
        drive.write_filemarks(1)


class DriveConformance:
    """Mixed into a ``Test…`` class that provides the ``drive`` fixture."""

    def test_record_round_trip_keeps_variable_sizes(self, drive: TapeDrive) -> None:
        sizes = [1, 100, 4096, 65536, 3000]
        for index, size in enumerate(sizes):
            assert drive.write_record(record(index, size)) is False
        drive.write_filemarks(1)
        drive.rewind()
        for index, size in enumerate(sizes):
            assert drive.read_record(BUF) == record(index, size)

    def test_filemark_reads_empty_once_then_next_file(self, drive: TapeDrive) -> None:
        write_files(drive, [1, 1])
        drive.rewind()
        assert drive.read_record(BUF) == record(0, 1000)
        assert drive.read_record(BUF) == b""
        status = drive.status()
        assert (status.file_number, status.block_number, status.eof) == (1, 0, True)
        assert drive.read_record(BUF) == record(16, 1000)

    def test_end_of_data_after_filemark_reads_empty_then_fails(self, drive: TapeDrive) -> None:
        write_files(drive, [1])
        drive.rewind()
        drive.read_record(BUF)
        assert drive.read_record(BUF) == b""  # the filemark
        assert drive.read_record(BUF) == b""  # BLANK CHECK after a filemark
        with pytest.raises(EndOfData):
            drive.read_record(BUF)

    def test_end_of_data_without_filemark_fails_directly(self, drive: TapeDrive) -> None:
        drive.write_record(record(1, 500))
        drive.write_record(record(2, 500))
        drive.space_records(-1)  # MTBSR writes no filemark, unlike MTREW
        assert drive.read_record(BUF) == record(2, 500)
        with pytest.raises(EndOfData):
            drive.read_record(BUF)

    def test_short_buffer_raises_and_skips_the_record(self, drive: TapeDrive) -> None:
        drive.write_record(record(1, 1000))
        drive.write_record(record(2, 10))
        drive.write_filemarks(1)
        drive.rewind()
        with pytest.raises(WrongRecordSize):
            drive.read_record(100)
        assert drive.read_record(100) == record(2, 10)

    def test_writing_mid_tape_truncates_everything_after(self, drive: TapeDrive) -> None:
        write_files(drive, [3, 1, 1])
        drive.locate(0, 1)
        drive.write_record(record(99, 1000))
        drive.write_filemarks(1)
        drive.rewind()
        assert drive.read_record(BUF) == record(0, 1000)
        assert drive.read_record(BUF) == record(99, 1000)
        assert drive.read_record(BUF) == b""
        assert drive.read_record(BUF) == b""
        with pytest.raises(EndOfData):
            drive.read_record(BUF)
        drive.seek_end_of_data()
        assert drive.status().file_number == 1

    def test_locate_reads_the_named_record(self, drive: TapeDrive) -> None:
        write_files(drive, [3, 2, 1])
        drive.locate(1, 1)
        assert drive.read_record(BUF) == record(17, 1000)
        status = drive.status()
        assert (status.file_number, status.block_number) == (1, 2)
        drive.locate(0, 0)
        assert drive.status().bot
        drive.locate(2)
        assert drive.read_record(BUF) == record(32, 1000)

    def test_space_files_forward_and_back(self, drive: TapeDrive) -> None:
        write_files(drive, [3, 2, 1])
        drive.rewind()
        drive.space_files(2)
        status = drive.status()
        assert (status.file_number, status.block_number, status.eof) == (2, 0, True)
        drive.space_files(-1)  # BOT side of the filemark that ends file 1
        assert drive.status().file_number == 1
        assert drive.read_record(BUF) == b""
        assert drive.read_record(BUF) == record(32, 1000)

    def test_space_files_into_end_of_data(self, drive: TapeDrive) -> None:
        write_files(drive, [1, 1])
        drive.rewind()
        with pytest.raises(EndOfData):
            drive.space_files(3)
        assert drive.status().eod

    def test_space_records_stops_at_filemark(self, drive: TapeDrive) -> None:
        write_files(drive, [3, 2])
        drive.rewind()
        drive.space_records(2)
        assert drive.status().block_number == 2
        with pytest.raises(TapeError):
            drive.space_records(5)
        status = drive.status()
        assert (status.file_number, status.block_number) == (1, 0)
        assert drive.read_record(BUF) == record(16, 1000)

    def test_seek_end_of_data_then_append(self, drive: TapeDrive) -> None:
        write_files(drive, [2, 1])
        drive.rewind()
        drive.seek_end_of_data()
        status = drive.status()
        assert status.eod and status.file_number == 2
        drive.write_record(record(48, 1000))
        drive.write_filemarks(1)
        drive.locate(2)
        assert drive.read_record(BUF) == record(48, 1000)

    def test_status_at_bot(self, drive: TapeDrive) -> None:
        write_files(drive, [1])
        drive.rewind()
        status = drive.status()
        assert status.online and status.loaded and status.bot
        assert (status.file_number, status.block_number, status.record_size) == (0, 0, 0)
        assert not status.eof and not status.write_protected

    def test_filemark_is_a_commit_point_with_position_after_it(self, drive: TapeDrive) -> None:
        drive.write_record(record(1, 100))
        drive.write_filemarks(2)
        status = drive.status()
        assert (status.file_number, status.block_number) == (2, 0)
