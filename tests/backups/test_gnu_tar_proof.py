"""The format proof before any restore exists: a backup of awkward files extracts with GNU
tar, straight from the virtual cartridge's tape file, identical in every property
(DESIGN §4) — except a path beyond 4096 bytes, which GNU tar cannot create: that one is
checked in the catalog and on tape with the format reader."""

from __future__ import annotations

import os
import subprocess

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.models import BackupSet, CatalogEntry
from backups.paths import path_text
from tapes.drivers.virtual import VirtualTapeDrive
from tapes.format import PaxReader
from tests.backups.conftest import tape_file
from tests.trees import make_awkward_tree, make_very_long_path, snapshot

TAR_X = ["tar", "--xattrs", "--xattrs-include=*", "--acls", "--sparse", "--numeric-owner",
         "-xpf"]


@pytest.fixture
def source(tmp_path) -> bytes:
    root = os.fsencode(tmp_path / "src")
    make_awkward_tree(root)
    return root


def test_gnu_tar_extracts_every_property(source, make_job, drive, vlib, tmp_path):
    deep = make_very_long_path(os.path.join(source, b"deep"))
    job = make_job(source)
    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert backup_set.status == BackupSet.Status.COMPLETE
    segment = backup_set.segments.get()

    out = tmp_path / "out"
    out.mkdir()
    member_root = source.lstrip(b"/")
    subprocess.run([*TAR_X, tape_file(vlib, segment.tape.barcode, segment.data_file),
                    "-C", out, b"--exclude=" + member_root + b"/deep"], check=True)
    extracted = os.path.join(os.fsencode(out), member_root)
    expected = snapshot(source, skip=(b"deep",))
    assert snapshot(extracted) == expected
    files = expected["files"]  # the comparison covers what it should
    assert files[b"sparse.img"]["sparse"] and "system.posix_acl_access" in files[b"acl"]["xattrs"]
    assert "system.posix_acl_default" in files[b"acldir"]["xattrs"]
    assert "trusted.t" in files[b"xattrs"]["xattrs"] and len(expected["hardlinks"][0]) == 3

    long_path = os.path.join(source, b"deep", deep)
    assert len(long_path) > 4096
    row = CatalogEntry.objects.at_path(backup_set, path_text(long_path)).get()
    assert row.size == 5 and row.path_raw == long_path
    with VirtualTapeDrive.for_cartridge(vlib.cartridge_path(segment.tape.barcode)) as tape:
        tape.locate(segment.data_file, row.record)
        entry, data = PaxReader(tape, start_offset=row.offset).next_member(row.checksum)
        assert entry.name == long_path.lstrip(b"/")
        assert data.read() == b"deep\n"


def test_catalog_rows_describe_the_tree(source, make_job, drive):
    job = make_job(source)
    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    root = path_text(source)
    names = set(CatalogEntry.objects.in_directory(backup_set, root).values_list("name", flat=True))
    assert {"plain.txt", "caf\\xe9-\\xff.txt", "sticky", "fifo", "hard2"} <= names
    hard2 = CatalogEntry.objects.at_path(backup_set, root + "/hard2").get()
    assert hard2.type == CatalogEntry.Type.HARDLINK and hard2.link_target == root + "/hard1"
    nobody = CatalogEntry.objects.at_path(backup_set, root + "/nobody").get()
    assert (nobody.uid, nobody.uname, nobody.gname) == (65534, "nobody", "nogroup")
    plain = CatalogEntry.objects.at_path(backup_set, root + "/plain.txt").get()
    assert plain.mtime_ns == 1_700_000_000_123_456_789
    assert len(plain.checksum) == 64
    assert backup_set.files == CatalogEntry.objects.filter(backup_set=backup_set).count()
