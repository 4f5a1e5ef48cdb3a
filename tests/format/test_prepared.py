"""Members prepared in advance (``prepare_member``, as the engine's reader process does)
give the archive ``PaxWriter.add`` gives, byte for byte — also where a record or volume
boundary falls inside their headers or data — and the cached header path equals the
general one for every entry it takes."""

from __future__ import annotations

import os
import random

import pytest

from tapes.format import Entry, EntryType, PaxWriter, entry_from_path, iter_file_data
from tapes.format.pax import (
    _full_header_sequence,
    _header_sequence,
    _plain_header_sequence,
    prepare_member,
)
from tests.format.helpers import FileSink, walk
from tests.trees import make_awkward_tree

RS = 2048  # 4 blocks a record: boundaries fall everywhere


def _entries(count: int) -> list[Entry]:
    """Entries of every shape the header code distinguishes (names long, short, not ASCII;
    big ids; odd owner names; times before 1970 and missing)."""
    rng = random.Random(4)
    entries = []
    for i in range(count):
        kind = rng.choice([EntryType.REGULAR, EntryType.DIRECTORY, EntryType.SYMLINK])
        if rng.random() < 0.7:
            name = b"d%04d/sub/f%07d.txt" % (i // 100, i)
        else:
            name = bytes(rng.choice(b"ab/c.\xc3\xa9") for _ in range(rng.randint(1, 130)))
        entries.append(Entry(
            name.strip(b"/") or b"x", kind, rng.choice([0o644, 0o4755, 0o1777]),
            rng.choice([0, 1000, 2**22]), rng.choice([0, 50, 2**21 + 3]),
            rng.choice(["root", "", "u" * 40, "é"]), rng.choice(["root", "staff", "g" * 33]),
            rng.randint(0, 5000) if kind is EntryType.REGULAR else 0,
            rng.choice([0, 1_700_000_000_123_456_789, 1_700_000_000 * 10**9, -5 * 10**9]),
            rng.choice([None, 1_700_000_000_123_456_789, 1_700_000_000_000_000_000]),
            rng.choice([None, 1_700_000_000_500_000_000, 0]),
            linkname=b"target" if kind is EntryType.SYMLINK else b"",
        ))
    return entries


def test_cached_headers_equal_the_general_ones():
    taken = 0
    for entry in _entries(3000):
        size = entry.size if entry.type is EntryType.REGULAR else 0
        assert _header_sequence(entry, size, 7) == _full_header_sequence(entry, size, 7)
        taken += _plain_header_sequence(entry, size) is not None
    assert taken > 40  # the common shapes do take the cached path


def _archive(path, entries_and_data, *, prepared: bool, volumes: int = 1, ew: int | None = None):
    sinks = [FileSink(f"{path}.{n}", early_warning_after=ew) for n in range(volumes)]
    rest = iter(sinks[1:])
    writer = PaxWriter(sinks[0], record_size=RS, on_volume_full=lambda: next(rest, None))
    infos = []
    for entry, data in entries_and_data:
        member = prepare_member(entry, data) if prepared else None
        if member is not None:
            infos.append(writer.add_prepared(member))
        else:
            infos.append(writer.add(entry, [data] if data is not None else None))
    writer.close()
    for sink in sinks:
        sink.close()
    return infos, [open(f"{path}.{n}", "rb").read() for n in range(volumes)]


def _members(tmp_path) -> list[tuple[Entry, bytes | None]]:
    root = bytes(tmp_path / "src")
    make_awkward_tree(root)
    members, hardlinks = [], {}
    for path in walk(root):
        entry = entry_from_path(path, os.path.relpath(path, bytes(tmp_path)), hardlinks=hardlinks)
        data = None
        if entry.type is EntryType.REGULAR:
            if entry.size > 64 * 1024:
                continue  # thousands of records: the volumes would need to be many
            data = b"".join(iter_file_data(path, entry))
        members.append((entry, data))
    sizes = [0, 1, 511, 512, 513, RS - 1536, RS - 1024, RS, 3 * RS + 7]
    for n, size in enumerate(sizes * 2):
        members.append((Entry(b"src/pad%02d" % n, EntryType.REGULAR, size=size,
                              mtime_ns=1_700_000_000_123_456_789, atime_ns=1, ctime_ns=2),
                        os.urandom(size)))
    return members


@pytest.mark.parametrize("volumes, early_warning", [(1, None), (12, 9)])
def test_prepared_members_give_the_same_archive(tmp_path, volumes, early_warning):
    members = _members(tmp_path)
    assert sum(prepare_member(e, d) is not None for e, d in members) > len(members) // 2
    plain = _archive(tmp_path / "add", members, prepared=False, volumes=volumes,
                     ew=early_warning)
    prepared = _archive(tmp_path / "prepared", members, prepared=True, volumes=volumes,
                        ew=early_warning)
    assert prepared == plain
    if volumes > 1:
        assert any(info.end_volume > info.volume for info in plain[0])  # a member was split


def test_nothing_is_prepared_for_data_of_the_wrong_size_or_holes():
    entry = Entry(b"f", EntryType.REGULAR, size=3, mtime_ns=1, atime_ns=1, ctime_ns=1)
    assert prepare_member(entry, b"ab") is None and prepare_member(entry, b"abcd") is None
    entry.sparse = ((0, 1), (3, 0))
    assert prepare_member(entry, b"abc") is None
