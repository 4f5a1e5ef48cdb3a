"""GNU multi-volume continuation: volumes PaxWriter writes at early warning are read back by
``tar -M`` and by PaxReader, wherever the boundary falls."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from tapes.format import ArchiveFull, Entry, EntryType, PaxReader, PaxWriter
from tests.trees import snapshot
from tests.format.helpers import FileSink, FileSource, archive_tree

RS = 2048  # 4 blocks a record keeps the boundary cases small


def _tar_multi(volumes, dest, *extra):
    args = ["tar", "-M", "--numeric-owner", "--sparse", "-xpf", volumes[0]]
    for volume in volumes[1:]:
        args += ["-f", volume]
    subprocess.run(args + ["-C", dest, *extra], check=True, stdin=subprocess.DEVNULL,
                   capture_output=True)


def _read_all(paths, record_size):
    sources = [FileSource(p, record_size) for p in paths]
    rest = iter(sources[1:])
    reader = PaxReader(sources[0], on_volume_end=lambda: next(rest, None))
    return [(entry, data.read(), data.checksum) for entry, data in reader]


def test_tree_spans_three_volumes(tmp_path):
    src = bytes(tmp_path / "src")
    os.makedirs(src)
    for i in range(12):
        with open(os.path.join(src, b"f%02d" % i), "wb") as f:
            f.write(os.urandom(20_000 + i * 7_000))
    volumes = [bytes(tmp_path / f"v{i}") for i in range(1, 4)]
    sinks = [FileSink(volumes[0], early_warning_after=20), FileSink(volumes[1], early_warning_after=20),
             FileSink(volumes[2])]
    infos, summary = archive_tree(src, sinks, record_size=10240)
    assert summary.volumes == 3 and summary.records_per_volume[:2] == (20, 20)
    assert any(info.end_volume > info.volume for _, info in infos)  # a member was split
    out = bytes(tmp_path / "out")
    os.mkdir(out)
    _tar_multi(volumes, out)
    assert snapshot(os.path.join(out, b"src")) == snapshot(src)
    read = _read_all(volumes, 10240)
    assert [e.name for e, _, _ in read] == [e.name for e, _ in infos]
    assert [c for _, _, c in read] == [i.checksum for _, i in infos]


def _entry(name: bytes, data: bytes) -> Entry:
    return Entry(name=name, type=EntryType.REGULAR, mode=0o640, uname="root", gname="root",
                 size=len(data), mtime_ns=1_700_000_000_500_000_000, atime_ns=0, ctime_ns=0)


# A member takes 3 header blocks (extended header, its data, ustar header) + its data.
# The first volume ends after 2 records = 8 blocks; member A's data size places the
# boundary: 5 blocks -> exactly between A and B; 4 -> inside B's extended header;
# 3 -> between B's extended header and its ustar header; 10 -> inside A's data;
# 0 data blocks written yet: A's data starts a new volume when A has 5 blocks... etc.
@pytest.mark.parametrize("a_blocks", [5, 4, 3, 10, 2, 1])
def test_boundary_cases(tmp_path, a_blocks):
    members = [(b"a.bin", os.urandom(a_blocks * 512)), (b"b.bin", os.urandom(3000)),
               (b"c.bin", os.urandom(100))]
    volumes = [bytes(tmp_path / "v1"), bytes(tmp_path / "v2")]
    sinks = iter([FileSink(volumes[1])])
    first = FileSink(volumes[0], early_warning_after=2)
    writer = PaxWriter(first, record_size=RS, on_volume_full=lambda: next(sinks))
    infos = [writer.add(_entry(name, data), [data]) for name, data in members]
    writer.close()
    first.close()
    out = bytes(tmp_path / "out")
    os.mkdir(out)
    _tar_multi(volumes, out)
    for name, data in members:
        with open(os.path.join(out, name), "rb") as f:
            assert f.read() == data
    read = _read_all(volumes, RS)
    assert [(e.name, d) for e, d, _ in read] == members
    assert [c for _, _, c in read] == [hashlib.sha256(d).hexdigest() for _, d in members]
    assert infos[0].volume == 0


def test_between_members_starts_a_clean_volume(tmp_path):
    members = [(b"a.bin", os.urandom(5 * 512)), (b"b.bin", b"b" * 700)]
    v1, v2 = bytes(tmp_path / "v1"), bytes(tmp_path / "v2")
    second = FileSink(v2)
    first = FileSink(v1, early_warning_after=2)
    writer = PaxWriter(first, record_size=RS, on_volume_full=lambda: second)
    infos = [writer.add(_entry(n, d), [d]) for n, d in members]
    writer.close()
    first.close(), second.close()
    assert (infos[1].volume, infos[1].record, infos[1].offset) == (1, 0, 0)
    listing = subprocess.run(["tar", "-tf", v2], check=True, capture_output=True).stdout
    assert listing == b"b.bin\n"


def test_split_member_volume_header_matches_gnu_tar(tmp_path):
    data = os.urandom(20 * 512)
    v1, v2 = bytes(tmp_path / "v1"), bytes(tmp_path / "v2")
    second = FileSink(v2)
    first = FileSink(v1, early_warning_after=2)
    writer = PaxWriter(first, record_size=RS, on_volume_full=lambda: second)
    writer.add(_entry(b"dir/a.bin", data), [data])
    writer.close()
    first.close(), second.close()
    raw = open(v2, "rb").read()
    assert raw[156:157] == b"g" and raw[:17] == b"/tmp/GlobalHead.1"
    assert b"GNU.volume.filename=dir/a.bin\n" in raw[512:1024]
    assert b"GNU.volume.size=%d\n" % (20 * 512 - 5 * 512) in raw[512:1024]
    assert b"GNU.volume.offset=2560\n" in raw[512:1024]
    assert raw[1024:1024 + 48].rstrip(b"\0") == b"dir/GNUFileParts/PaxHeaders/a.bin.2"
    assert raw[2048:2048 + 48].rstrip(b"\0") == b"dir/GNUFileParts/a.bin.2"


def test_early_warning_without_next_volume(tmp_path):
    sink = FileSink(bytes(tmp_path / "v1"), early_warning_after=1)
    writer = PaxWriter(sink, record_size=RS)
    with pytest.raises(ArchiveFull):
        writer.add(_entry(b"a", b"x" * 5000), [b"x" * 5000])
