"""LinuxTapeDrive against a recorded fake ioctl/os layer: struct bytes, op sequences, errnos."""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

import pytest

from tapes.drivers import st
from tapes.drivers.base import (
    DriveBusy,
    EndOfData,
    EndOfMedium,
    FilemarkDetected,
    MediaError,
    NoMedium,
    TapeError,
    WriteProtected,
    WrongRecordSize,
)
from tapes.drivers.st import (
    GMT_BOT,
    GMT_EOD,
    GMT_EOF,
    GMT_EOT,
    GMT_ONLINE,
    GMT_WR_PROT,
    MTIOCGET,
    MTIOCTOP,
    LinuxTapeDrive,
    pack_mtget,
    pack_mtop,
    resolve_tape_device,
)

ONLINE_BOT = pack_mtget(GMT_ONLINE | GMT_BOT, 0, 0)


def op(code: int, count: int = 1) -> tuple[int, bytes]:
    return (MTIOCTOP, pack_mtop(code, count))


GET = (MTIOCGET, bytes(48))


class RecordedIoctl:
    """Records (request, packed argument) and answers MTIOCGET from a prepared queue.

    ``fail`` maps an MTIOCTOP op code to the errno it raises (once).
    """

    def __init__(self, *statuses: bytes, fail: dict[int, int] | None = None):
        self.calls: list[tuple[int, bytes]] = []
        self.statuses = list(statuses)
        self.fail = dict(fail or {})

    def __call__(self, fd: int, request: int, arg: bytes) -> bytes:
        self.calls.append((request, bytes(arg)))
        if request == MTIOCGET:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if request == MTIOCTOP:
            code = struct.unpack("@hi", arg)[0]
            if code in self.fail:
                raise OSError(self.fail.pop(code), "fake")
        return bytes(arg)


class FakeOs:
    """The few ``os`` functions the driver uses; records opens, answers reads and writes."""

    O_RDWR, O_RDONLY, O_NONBLOCK = os.O_RDWR, os.O_RDONLY, os.O_NONBLOCK

    def __init__(self, reads: list[bytes | int] | None = None,
                 writes: list[int] | None = None, open_errors: list[int] | None = None):
        self.opens: list[int] = []
        self.closed: list[int] = []
        self.reads = list(reads or [])
        self.writes = list(writes or [])
        self.written: list[bytes] = []
        self.open_errors = list(open_errors or [])

    def open(self, path: str, flags: int) -> int:
        self.opens.append(flags)
        if self.open_errors:
            code = self.open_errors.pop(0)
            if code:
                raise OSError(code, "fake")
        return 10 + len(self.opens)

    def close(self, fd: int) -> None:
        self.closed.append(fd)

    def read(self, fd: int, size: int) -> bytes:
        answer = self.reads.pop(0)
        if isinstance(answer, int):
            raise OSError(answer, "fake")
        return answer

    def write(self, fd: int, data: bytes) -> int:
        if self.writes and self.writes[0] < 0:
            raise OSError(-self.writes.pop(0), "fake")
        self.written.append(bytes(data))
        return self.writes.pop(0) if self.writes else len(data)


def make(*statuses: bytes, fail=None, fake_os=None) -> tuple[LinuxTapeDrive, RecordedIoctl]:
    ioctl = RecordedIoctl(*(statuses or (ONLINE_BOT,)), fail=fail)
    drive = LinuxTapeDrive("/dev/nst0", ioctl=ioctl, os_module=fake_os or FakeOs(),
                           validate_path=False)
    ioctl.calls.clear()
    return drive, ioctl


def test_struct_layouts_match_x86_64() -> None:
    assert struct.calcsize(st.MTOP_FMT) == 8 and struct.calcsize(st.MTGET_FMT) == 48
    assert pack_mtop(st.MTFSF, 3) == b"\x01\x00\x00\x00\x03\x00\x00\x00"
    assert pack_mtop(st.MTSETBLK, 0) == b"\x14\x00\x00\x00\x00\x00\x00\x00"
    raw = pack_mtget(GMT_ONLINE | GMT_EOF, 2, 0, blksize=0, density=0x5E)
    assert raw[16:24] == (0x5E << 24).to_bytes(8, "little")
    assert raw[24:32] == (GMT_ONLINE | GMT_EOF).to_bytes(8, "little")
    assert raw[40:48] == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    assert (MTIOCTOP, MTIOCGET, st.MTIOCPOS) == (0x40086D01, 0x80306D02, 0x80086D03)


def test_open_probes_nonblocking_then_reopens_and_sets_variable_blocks() -> None:
    fake_os = FakeOs()
    ioctl = RecordedIoctl(ONLINE_BOT)
    LinuxTapeDrive("/dev/nst0", ioctl=ioctl, os_module=fake_os, validate_path=False)
    assert fake_os.opens == [os.O_RDWR | os.O_NONBLOCK, os.O_RDWR]
    assert fake_os.closed == [11]
    assert ioctl.calls == [GET, op(st.MTSETBLK, 0)]


def test_open_without_tape_keeps_probe_handle() -> None:
    fake_os = FakeOs()
    ioctl = RecordedIoctl(pack_mtget(st.GMT_DR_OPEN, -1, -1))
    drive = LinuxTapeDrive("/dev/nst0", ioctl=ioctl, os_module=fake_os, validate_path=False)
    assert fake_os.opens == [os.O_RDWR | os.O_NONBLOCK]
    status = drive.status()
    assert not status.online and not status.loaded and status.file_number == -1
    with pytest.raises(NoMedium):
        drive.locate(1)


def test_write_protected_tape_reopens_read_only() -> None:
    fake_os = FakeOs(open_errors=[0, errno.EROFS])
    ioctl = RecordedIoctl(pack_mtget(GMT_ONLINE | GMT_BOT | GMT_WR_PROT))
    drive = LinuxTapeDrive("/dev/nst0", ioctl=ioctl, os_module=fake_os, validate_path=False)
    assert fake_os.opens[-1] == os.O_RDONLY
    assert drive.status().write_protected


def test_busy_drive() -> None:
    with pytest.raises(DriveBusy):
        LinuxTapeDrive("/dev/nst0", ioctl=RecordedIoctl(ONLINE_BOT),
                       os_module=FakeOs(open_errors=[errno.EBUSY]), validate_path=False)


def test_status_decodes_bits() -> None:
    drive, _ = make(ONLINE_BOT, pack_mtget(GMT_ONLINE | GMT_EOF | GMT_EOT | st.GMT_CLN, 3, 0))
    status = drive.status()
    assert status.online and status.eof and status.eot and status.cleaning_requested
    assert (status.file_number, status.block_number, status.record_size) == (3, 0, 0)


def test_write_checks_early_warning_after_each_record() -> None:
    drive, ioctl = make(ONLINE_BOT, pack_mtget(GMT_ONLINE, 0, 1),
                        pack_mtget(GMT_ONLINE | GMT_EOT, 0, 2))
    assert drive.write_record(b"a" * 10) is False
    assert drive.write_record(b"b" * 10) is True
    assert ioctl.calls == [GET, GET]


def test_write_errno_mapping() -> None:
    cases = [(errno.ENOSPC, EndOfMedium), (errno.EACCES, WriteProtected),
             (errno.EIO, MediaError), (errno.EINVAL, WrongRecordSize),
             (errno.ENOMEDIUM, NoMedium)]
    for code, error in cases:
        drive, _ = make(fake_os=FakeOs(writes=[-code]))
        with pytest.raises(error) as caught:
            drive.write_record(b"x")
        assert str(caught.value).endswith(".")


def test_short_write_is_a_media_error() -> None:
    drive, _ = make(fake_os=FakeOs(writes=[5]))
    with pytest.raises(MediaError, match="wrote 5 of 10"):
        drive.write_record(b"x" * 10)


def test_read_filemark_enomem_and_end_of_data() -> None:
    fake_os = FakeOs(reads=[b"rec", b"", errno.ENOMEM, errno.EIO, errno.EIO])
    drive, _ = make(ONLINE_BOT, pack_mtget(GMT_ONLINE | GMT_EOD, 1, 0),
                    pack_mtget(GMT_ONLINE, 1, 4), fake_os=fake_os)
    assert drive.read_record(1024) == b"rec"
    assert drive.read_record(1024) == b""
    with pytest.raises(WrongRecordSize, match="skipped"):
        drive.read_record(1024)
    with pytest.raises(EndOfData):
        drive.read_record(1024)
    with pytest.raises(MediaError):  # EIO without GMT_EOD: a real read error
        drive.read_record(1024)
    with pytest.raises(WrongRecordSize):
        drive.read_record(2 << 20)  # larger than max_block: st would say EINVAL


def test_locate_forward_spaces_from_here() -> None:
    drive, ioctl = make(pack_mtget(GMT_ONLINE, 1, 2))
    drive.locate(3, 5)
    assert ioctl.calls == [GET, op(st.MTFSF, 2), op(st.MTFSR, 5)]


def test_locate_within_the_file_spaces_records_only() -> None:
    drive, ioctl = make(pack_mtget(GMT_ONLINE, 2, 1))
    drive.locate(2, 4)
    assert ioctl.calls == [GET, op(st.MTFSR, 3)]


def test_locate_backwards_or_unknown_rewinds_first() -> None:
    drive, ioctl = make(pack_mtget(GMT_ONLINE, 4, 0))
    drive.locate(1, 2)
    assert ioctl.calls == [GET, op(st.MTREW), op(st.MTFSF, 1), op(st.MTFSR, 2)]
    drive, ioctl = make(pack_mtget(GMT_ONLINE, -1, -1))
    drive.locate(0, 0)
    assert ioctl.calls == [GET, op(st.MTREW)]


def test_simple_ops() -> None:
    drive, ioctl = make()
    drive.rewind()
    drive.write_filemarks(2)
    drive.seek_end_of_data()
    drive.space_files(3)
    drive.space_files(-1)
    drive.space_records(4)
    drive.space_records(-2)
    drive.eject()
    assert ioctl.calls == [op(st.MTREW), op(st.MTWEOF, 2), op(st.MTEOM), op(st.MTFSF, 3),
                           op(st.MTBSF, 1), op(st.MTFSR, 4), op(st.MTBSR, 2), op(st.MTOFFL)]


def test_space_errors_tell_filemark_from_end_of_data() -> None:
    drive, _ = make(pack_mtget(GMT_ONLINE | GMT_EOF, 2, 0), fail={st.MTFSR: errno.EIO})
    with pytest.raises(FilemarkDetected):
        drive.space_records(10)
    drive, _ = make(pack_mtget(GMT_ONLINE | GMT_EOD, 2, 0), fail={st.MTFSF: errno.EIO})
    with pytest.raises(EndOfData):
        drive.space_files(5)


def test_close_closes_once() -> None:
    fake_os = FakeOs()
    drive, _ = make(fake_os=fake_os)
    drive.close()
    drive.close()
    assert fake_os.closed == [11, 12]
    with pytest.raises(TapeError, match="closed"):
        drive.rewind()


def test_device_path_rules(tmp_path: Path) -> None:
    (tmp_path / "nst0").touch()
    (tmp_path / "st0").touch()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "scsi-HUJ123-nst").symlink_to(tmp_path / "nst0")
    (by_id / "scsi-HUJ123").symlink_to(tmp_path / "st0")
    assert resolve_tape_device(str(by_id / "scsi-HUJ123-nst")) == str(by_id / "scsi-HUJ123-nst")
    with pytest.raises(TapeError, match="rewinding tape device"):
        resolve_tape_device(str(by_id / "scsi-HUJ123"))
    with pytest.raises(TapeError, match="does not exist"):
        resolve_tape_device(str(tmp_path / "nst7"))
    with pytest.raises(TapeError, match="not a Linux tape device"):
        resolve_tape_device(str(tmp_path))
