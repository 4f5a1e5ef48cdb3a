"""PaxReader: round trips, checksums, and clean errors on hostile archives."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from tapes.format import ChecksumMismatch, EntryType, FormatError, PaxReader, PaxWriter, entry_from_path
from tapes.format.headers import ustar_header
from tests.format.helpers import FileSink, FileSource, archive_tree
from tests.trees import make_awkward_tree, make_very_long_path


def _read(path, **kwargs):
    reader = PaxReader(FileSource(path, 262144), **kwargs)
    return [(entry, data.read(), data.checksum) for entry, data in reader]


def test_round_trip_of_every_kind(tmp_path):
    src = bytes(tmp_path / "tree")
    make_awkward_tree(src)
    archive = bytes(tmp_path / "a.tar")
    infos, _ = archive_tree(src, [FileSink(archive)])
    read = _read(archive)
    assert len(read) == len(infos)
    for (written, info), (entry, data, checksum) in zip(infos, read):
        if written.sparse is not None:
            assert entry.sparse == written.sparse
        for field in ("name", "type", "mode", "uid", "gid", "uname", "gname", "size", "mtime_ns",
                      "atime_ns", "ctime_ns", "linkname", "devmajor", "devminor", "xattrs",
                      "acl_access", "acl_default"):
            assert getattr(entry, field) == getattr(written, field), (written.name, field)
        assert checksum == info.checksum


def test_path_longer_than_path_max(tmp_path):
    src = bytes(tmp_path / "deep")
    rel = make_very_long_path(src)
    assert len(rel) > 4096
    archive = bytes(tmp_path / "deep.tar")
    writer = PaxWriter(FileSink(archive))
    parts = rel.split(b"/")
    cwd = os.open(".", os.O_RDONLY)
    try:  # beyond PATH_MAX a path only works relative to its directory
        os.chdir(src)
        for depth, part in enumerate(parts):
            entry = entry_from_path(part, b"/".join(parts[: depth + 1]), hardlinks={})
            writer.add(entry, [b"deep\n"] if entry.type is EntryType.REGULAR else None)
            if entry.type is EntryType.DIRECTORY:
                os.chdir(part)
    finally:
        os.fchdir(cwd)
        os.close(cwd)
    writer.close()
    read = _read(archive)
    assert read[-1][0].name == rel and read[-1][1] == b"deep\n"


def test_start_offset_reads_one_member(tmp_path):
    src = bytes(tmp_path / "tree")
    make_awkward_tree(src)
    archive = bytes(tmp_path / "a.tar")
    infos, _ = archive_tree(src, [FileSink(archive)])
    entry, info = [(e, i) for e, i in infos if e.name.endswith(b"big.bin")][0]
    source = FileSource(archive, 262144)
    source.pos = info.record * 262144
    reader = PaxReader(source, start_offset=info.offset)
    found, data = reader.next_member(expected_checksum=info.checksum)
    assert found.name == entry.name and len(data.read()) == entry.size


def test_corrupted_data_byte_is_detected(tmp_path):
    src = bytes(tmp_path / "tree")
    make_awkward_tree(src)
    archive = bytes(tmp_path / "a.tar")
    infos, _ = archive_tree(src, [FileSink(archive)])
    info = [i for e, i in infos if e.name.endswith(b"big.bin")][0]
    raw = bytearray(open(archive, "rb").read())
    raw[info.record * 262144 + info.offset + 3 * 512 + 1000] ^= 1
    open(archive, "wb").write(raw)
    reader = PaxReader(FileSource(archive, 262144))
    expected = {i.name: i.checksum for _, i in infos}
    with pytest.raises(ChecksumMismatch):
        while (member := reader.next_member()) is not None:
            entry, data = member
            data.expected = expected.get(entry.name)
            data.read()


def _tar_bytes(build) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buf.getvalue().ljust(10240, b"\0")


def _one_member(tar, name="x", data=b"data", pax=None):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    if pax:
        info.pax_headers = pax
    tar.addfile(info, io.BytesIO(data))


def _hostile(tmp_path, raw: bytes):
    path = tmp_path / "h.tar"
    path.write_bytes(raw)
    return _read(path)


def test_bad_header_checksum(tmp_path):
    raw = bytearray(_tar_bytes(lambda t: _one_member(t)))
    raw[0] ^= 0x20
    with pytest.raises(FormatError, match="checksum"):
        _hostile(tmp_path, bytes(raw))


def test_truncated_archive(tmp_path):
    raw = _tar_bytes(lambda t: _one_member(t, data=os.urandom(5000)))
    with pytest.raises(FormatError):
        _hostile(tmp_path, raw[:2048])


def test_absurd_size(tmp_path):
    header = ustar_header(b"huge", 0o644, 0, 0, 0, 0, b"0")
    raw = bytearray(header)
    raw[124:136] = b"\xff" * 12  # base-256 negative
    raw[148:156] = b"%06o\0 " % (sum(raw[:148]) + 256 + sum(raw[156:]))
    with pytest.raises(FormatError, match="negative"):
        _hostile(tmp_path, bytes(raw).ljust(10240, b"\0"))
    with pytest.raises(FormatError, match="size"):
        _hostile(tmp_path, _tar_bytes(lambda t: _one_member(t, pax={"size": "9" * 30})))


@pytest.mark.parametrize("records", [b"99999 path=x\n", b"abc path=x\n", b"5 p\n", b"12 noequals\n"])
def test_malformed_extended_header(tmp_path, records):
    x = ustar_header(b"PaxHeaders/x", 0o644, 0, 0, len(records), 0, b"x", private=True)
    body = records.ljust(512, b"\0")
    member = ustar_header(b"x", 0o644, 0, 0, 0, 0, b"0")
    with pytest.raises(FormatError):
        _hostile(tmp_path, (x + body + member).ljust(10240, b"\0"))


def test_huge_extended_header_is_refused_without_reading_it(tmp_path):
    x = ustar_header(b"PaxHeaders/x", 0o644, 0, 0, 1 << 32, 0, b"x", private=True)
    with pytest.raises(FormatError, match="extended header"):
        _hostile(tmp_path, x.ljust(10240, b"\0"))


def test_malformed_sparse_map(tmp_path):
    pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "s",
           "GNU.sparse.realsize": "100"}
    data = b"2\n0\n50\n40\n80\n".ljust(512, b"\0") + b"x" * 130  # regions overlap, too big
    with pytest.raises(FormatError, match="sparse map"):
        _hostile(tmp_path, _tar_bytes(lambda t: _one_member(t, data=data, pax=pax)))


def test_path_tricks_are_reported_as_bytes(tmp_path):
    raw = _tar_bytes(lambda t: (_one_member(t, "../../etc/passwd"), _one_member(t, "/abs")))
    assert [e.name for e, _, _ in _hostile(tmp_path, raw)] == [b"../../etc/passwd", b"/abs"]


def test_not_a_tar_archive(tmp_path):
    with pytest.raises(FormatError):
        _hostile(tmp_path, os.urandom(10240))


def test_the_fast_extended_header_parser_accepts_only_what_the_strict_one_does():
    """``_simple_records`` (the usual case) gives the strict parser's records or leaves the
    decision to it: over many damaged variants of real headers, never a different answer."""
    import random

    from tapes.format.headers import parse_pax_records
    from tapes.format.reader import _simple_records

    def record(key: bytes, value: bytes) -> bytes:
        body = b" " + key + b"=" + value + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n = len(str(n)) + len(body)
        return str(n).encode() + body

    good = [record(b"mtime", b"1796179605.804817114") + record(b"atime", b"1796179605.1")
            + record(b"path", "dïr/naïve name".encode()),
            record(b"uname", b"") + record(b"size", b"123456789012")]
    rng = random.Random(4)
    alphabet = b"0123456789 =\n\0+-_.ax"
    for base in good:
        assert _simple_records(base) == dict(parse_pax_records(base))
        for _ in range(3000):
            data = bytearray(base)
            for _ in range(rng.randint(1, 3)):
                spot = rng.randrange(len(data))
                action = rng.randrange(3)
                if action == 0:
                    data[spot] = rng.choice(alphabet)
                elif action == 1:
                    del data[spot]
                else:
                    data.insert(spot, rng.choice(alphabet))
            data = bytes(data)
            fast = _simple_records(data)
            if fast is None:
                continue
            assert fast == dict(parse_pax_records(data)), data  # strict must accept it too
