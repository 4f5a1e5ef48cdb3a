"""Archives PaxWriter writes are extracted by GNU tar 1.34 into the same tree (DESIGN §4)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.trees import snapshot
from tests.format.helpers import FileSink, archive_tree
from tests.trees import NON_UTF8, make_awkward_tree

TAR_EXTRACT = ["tar", "--xattrs", "--xattrs-include=*", "--acls", "--sparse",
               "--numeric-owner", "-xpf"]


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    base = bytes(tmp_path_factory.mktemp("awkward"))
    src = os.path.join(base, b"src", b"tree")
    make_awkward_tree(src)
    archive = os.path.join(base, b"tree.tar")
    infos, summary = archive_tree(src, [FileSink(archive)])
    return base, src, archive, infos, summary


def test_gnu_tar_extracts_every_property(awkward):
    base, src, archive, _, _ = awkward
    out = os.path.join(base, b"out")
    os.mkdir(out)
    subprocess.run(TAR_EXTRACT + [archive, "-C", out], check=True)
    assert snapshot(os.path.join(out, b"tree")) == snapshot(src)


def test_sparse_file_stays_sparse_and_records_are_fixed(awkward):
    base, src, archive, infos, summary = awkward
    assert os.path.getsize(archive) % 262144 == 0
    assert summary.records_per_volume == (os.path.getsize(archive) // 262144,)
    sparse = [e for e, _ in infos if e.name.endswith(b"sparse.img")][0]
    assert sparse.sparse == ((0, 8192), (1 << 20, 4096), (3 << 20, 0))


def test_gnu_tar_lists_it(awkward):
    _, _, archive, infos, _ = awkward
    listing = subprocess.run(["tar", "--quoting-style=literal", "-tvf", archive], check=True, capture_output=True).stdout
    assert listing.count(b"\n") == len(infos)
    assert b"tree/" + NON_UTF8 in listing
    assert b"tree/hard2 link to tree/hard1" in listing


def test_member_info_and_checksums(awkward):
    import hashlib

    _, src, _, infos, _ = awkward
    by_name = {e.name: (e, i) for e, i in infos}
    entry, info = by_name[b"tree/big.bin"]
    with open(os.path.join(src, b"big.bin"), "rb") as f:
        assert info.checksum == hashlib.sha256(f.read()).hexdigest()
    assert not info.changed and info.volume == 0
    assert by_name[b"tree/hard2"][0].linkname == b"tree/hard1"
    assert by_name[b"tree/hard2"][1].checksum is None
    positions = [(i.record, i.offset) for _, i in infos]
    assert positions == sorted(positions) and positions[0] == (0, 0)
