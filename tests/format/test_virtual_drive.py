"""PaxWriter through the real virtual tape drive: the tape file it leaves in the cartridge
store is the archive itself, which GNU tar lists and extracts (DESIGN §4), byte for byte
what the writer gives a plain file, and which PaxReader reads back from the drive."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading

import pytest

from tapes.drivers.virtual import VirtualLibrary
from tapes.format import PaxReader, PaxWriter, entry_from_path, iter_file_data
from tapes.format.entry import EntryType
from tapes.format.pax import BACKGROUND_HASH_MIN
from tests.trees import snapshot
from tests.format.helpers import FileSink, walk

MiB = 1 << 20
RECORD = 256 * 1024


@pytest.fixture
def vtl(tmp_path):
    """A one-drive library with one blank 64 MiB cartridge loaded: (library, drive, tape file
    0's path in the cartridge store)."""
    library = VirtualLibrary.create(tmp_path / "vtl", "t", drives=1, slots=2, mailslots=0,
                                    tapes=1, capacity=64 * MiB)
    barcode = library.state()["slots"][0]
    library.changer().load(1, 0)
    drive = library.drive(0)
    yield library, drive, library.cartridge_path(barcode) / "files" / "000000.tape"
    drive.close()


@pytest.fixture
def tree(tmp_path):
    """Small files, one that spans records, one hashed in the writer's helper thread, a
    directory, a symlink and a hard link."""
    root = bytes(tmp_path / "src" / "tree")
    os.makedirs(os.path.join(root, b"sub"))
    for i in range(50):
        _write(os.path.join(root, b"sub", b"f%02d.txt" % i), b"%d\n" % i * (i * 40))
    _write(os.path.join(root, b"spans.bin"), os.urandom(700_000))
    _write(os.path.join(root, b"large.bin"), os.urandom(BACKGROUND_HASH_MIN + 300_001))
    _write(os.path.join(root, b"empty"), b"")
    os.symlink(b"sub/f01.txt", os.path.join(root, b"link"))
    os.link(os.path.join(root, b"empty"), os.path.join(root, b"empty.hard"))
    return root


def _write(path: bytes, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _archive(root: bytes, drive, entries=None):
    """Write the tree (or the entries captured by an earlier call: reading the files moves
    their atimes) onto ``drive``; returns (infos, summary)."""
    writer = PaxWriter(drive, record_size=RECORD)
    base = os.path.dirname(root)
    hardlinks: dict = {}
    infos = []
    for path, entry in entries or ((p, None) for p in walk(root)):
        if entry is None:
            entry = entry_from_path(path, os.path.relpath(path, base), hardlinks=hardlinks)
        data = iter_file_data(path, entry) if entry.type is EntryType.REGULAR else None
        infos.append((path, entry, writer.add(entry, data)))
    return infos, writer.close()


def test_gnu_tar_lists_and_extracts_the_tape_file(vtl, tree, tmp_path):
    _, drive, tape_file = vtl
    infos, summary = _archive(tree, drive)
    drive.write_filemarks(1)
    infos = [(entry, info) for _, entry, info in infos]

    listing = subprocess.run(["tar", "-tvf", str(tape_file)], capture_output=True,
                             check=True).stdout.splitlines()
    assert len(listing) == len(infos)
    for line, (entry, _) in zip(listing, infos):
        expected = entry.name + (b"/" if entry.type is EntryType.DIRECTORY else b"")
        if entry.type is EntryType.SYMLINK:
            expected += b" -> " + entry.linkname
        elif entry.type is EntryType.HARDLINK:
            expected += b" link to " + entry.linkname
        assert line.endswith(b" " + expected), line
    kinds = {line[:1] for line in listing}
    assert kinds == {b"d", b"-", b"l", b"h"}
    assert tape_file.stat().st_size == summary.bytes_written
    assert summary.bytes_written % RECORD == 0

    out = bytes(tmp_path / "out")
    os.mkdir(out)
    subprocess.run(["tar", "-b", "512", "--numeric-owner", "-xpf", str(tape_file), "-C", out],
                   check=True, capture_output=True)
    assert snapshot(os.path.join(out, b"tree")) == snapshot(tree)


def test_tape_file_is_byte_identical_to_a_file_sink(vtl, tree, tmp_path):
    _, drive, tape_file = vtl
    infos, _ = _archive(tree, drive)
    drive.write_filemarks(1)
    plain = bytes(tmp_path / "plain.tar")
    sink = FileSink(plain)
    _archive(tree, sink, [(path, entry) for path, entry, _ in infos])
    sink.close()
    assert sink.sizes == {RECORD}
    assert tape_file.read_bytes() == open(plain, "rb").read()


def test_reader_reads_it_back_from_the_drive(vtl, tree):
    _, drive, _ = vtl
    infos, _ = _archive(tree, drive)
    infos = [(entry, info) for _, entry, info in infos]
    drive.write_filemarks(1)
    drive.rewind()
    read = [(entry.name, data.read(), data.checksum) for entry, data in PaxReader(drive)]
    assert [name for name, _, _ in read] == [e.name for e, _ in infos]
    stored = {e.name: info for e, info in infos}
    large = next(i for e, i in infos if e.name.endswith(b"large.bin"))
    with open(os.path.join(os.path.dirname(tree), large.name), "rb") as f:
        assert large.checksum == hashlib.sha256(f.read()).hexdigest()
    assert not [t for t in threading.enumerate() if t.name == "pax-sha256"]
    for name, payload, checksum in read:
        info = stored[name]
        if info.checksum is not None:
            assert checksum == info.checksum == hashlib.sha256(payload).hexdigest()
            assert len(payload) == info.stored_size
