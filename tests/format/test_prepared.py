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
    PLAIN_HEADERS,
    _full_header_sequence,
    _header_sequence,
    _plain_header_sequence,
    plain_member,
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


def _archive(path, entries_and_data, *, prepared: bool, volumes: int = 1, ew: int | None = None,
             plain: bool = False, record_size: int = RS):
    """The archive of the members by ``add``, or ``prepared`` by ``add_prepared`` where
    ``prepare_member`` takes them — and with ``plain`` by ``add_plain`` where that takes
    them, as the engine does (the infos it gives are compared there)."""
    sinks = [FileSink(f"{path}.{n}", early_warning_after=ew) for n in range(volumes)]
    rest = iter(sinks[1:])
    writer = PaxWriter(sinks[0], record_size=record_size, on_volume_full=lambda: next(rest, None))
    infos = []
    for entry, data in entries_and_data:
        member = prepare_member(entry, data) if prepared else None
        placed = None
        if plain and member is not None and member.header_size == PLAIN_HEADERS and data:
            placed = writer.add_plain(member.blob, entry.size)
        if placed is not None:
            infos.append(placed)
        elif member is not None:
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


def test_plain_appends_give_the_same_archive_and_places(tmp_path):
    members = _members(tmp_path)
    infos, archive = _archive(tmp_path / "add", members, prepared=False, volumes=12, ew=3,
                              record_size=8 * RS)
    plain_infos, plain_archive = _archive(tmp_path / "plain", members, prepared=True,
                                          volumes=12, ew=3, plain=True, record_size=8 * RS)
    assert plain_archive == archive
    assert infos[-1].volume > 0
    taken = 0
    for info, placed in zip(infos, plain_infos, strict=True):
        if isinstance(placed, tuple):
            taken += 1
            assert placed == (info.volume, info.record, info.offset, info.checksum)
            assert info.end_volume == info.volume and not info.changed
    assert taken > len(members) // 4


def _plain_fields(entry: Entry) -> tuple:
    return (entry.name, entry.type, entry.mode, entry.uid, entry.gid, entry.uname, entry.gname,
            entry.size, entry.mtime_ns, entry.atime_ns, entry.ctime_ns)


@pytest.mark.parametrize("length", [1, 2, 50, 88, 89, 90, 99, 100, 101])
def test_plain_member_is_prepare_member(length):
    """Names around the lengths where the extended header's name is cut (89 + 11 bytes of
    ``PaxHeaders/``) and the ustar name field ends (100), with and without a directory."""
    rng = random.Random(length)
    for n in range(40):
        name = bytes(rng.choice(b"abc/.-_") for _ in range(length)).strip(b"/") or b"x"
        kind = EntryType.DIRECTORY if n % 4 == 0 else EntryType.REGULAR
        size = rng.choice([0, 1, 511, 512, 513, 4000]) if kind is EntryType.REGULAR else 0
        mtime = rng.choice([0, 1_700_000_000_000_000_000, 1_700_000_000_123_456_789])
        entry = Entry(name, kind, rng.choice([0o644, 0o4755]), rng.choice([0, 1000]),
                      rng.choice([0, 50]), rng.choice(["root", "alice", ""]),
                      rng.choice(["root", "staff"]), size, mtime,
                      rng.choice([mtime, 1_700_000_001_500_000_000]),
                      rng.choice([mtime, 1_700_000_002_000_000_001]))
        data = os.urandom(size)
        member = prepare_member(entry, data if kind is EntryType.REGULAR else None)
        blob = plain_member(*_plain_fields(entry), data)
        if blob is None:
            assert len(entry.name) >= 100  # the directory's slash makes 100 into 101
            continue
        assert (blob, PLAIN_HEADERS) == (member.blob, member.header_size)


def test_plain_member_declines_what_needs_more_records():
    base = Entry(b"srv/f", EntryType.REGULAR, 0o644, 1, 1, "u", "g", 0, 1, 1, 1)
    assert plain_member(*_plain_fields(base)) is not None
    for change in [dict(name=b"srv/caf\xc3\xa9"), dict(name=b"x" * 101), dict(uid=2**21),
                   dict(gname="g" * 33), dict(mtime_ns=-1), dict(atime_ns=-5),
                   dict(type=EntryType.SYMLINK), dict(size=2**33)]:
        entry = Entry(**{**{f: getattr(base, f) for f in ("name", "type", "mode", "uid", "gid",
                                                          "uname", "gname", "size", "mtime_ns",
                                                          "atime_ns", "ctime_ns")}, **change})
        assert plain_member(*_plain_fields(entry)) is None, change


def test_nothing_is_prepared_for_data_of_the_wrong_size_or_holes():
    entry = Entry(b"f", EntryType.REGULAR, size=3, mtime_ns=1, atime_ns=1, ctime_ns=1)
    assert prepare_member(entry, b"ab") is None and prepare_member(entry, b"abcd") is None
    entry.sparse = ((0, 1), (3, 0))
    assert prepare_member(entry, b"abc") is None
