"""Round trip: the engine backs up a tree of every awkward kind of file; a faithful restore
as root gives it back identical in every property, including a path beyond 4096 bytes."""

from __future__ import annotations

import os

import pytest

from backups.context import JobContext
from backups.restore import restore_set
from tests.trees import make_awkward_tree, make_very_long_path, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (devices, owners)")


def read_deep(root: bytes, rel: bytes) -> tuple[bytes, int, int]:
    """Content, mode and mtime of a file below PATH_MAX, walked with directory fds."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    parts = rel.split(b"/")
    for part in parts[:-1]:
        new = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = new
    st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    out = os.open(parts[-1], os.O_RDONLY, dir_fd=fd)
    data = os.read(out, 1 << 20)
    os.close(out)
    os.close(fd)
    return data, st.st_mode, st.st_mtime_ns


@pytest.fixture
def source(tmp_path) -> bytes:
    root = os.fsencode(tmp_path / "src")
    make_awkward_tree(root)
    return root


def test_faithful_restore_reproduces_every_property(source, make_job, backup, tmp_path, extraction):
    deep = make_very_long_path(os.path.join(source, b"deep"))
    os.utime(source, ns=(1_600_000_000_000_000_001, 1_600_000_000_000_000_001))
    backup_set = backup(make_job(source))
    target = os.fsencode(tmp_path / "out")

    report = restore_set(backup_set=backup_set, target=target, mode="faithful",
                         context=JobContext())

    assert report.ok and not report.extract.refused and not report.extract.warnings, report.as_dict()
    assert report.workers == (2 if extraction == "parallel" else 0)
    restored = os.path.join(target, source.lstrip(b"/"))
    expected = snapshot(source, skip=(b"deep",))
    assert snapshot(restored, skip=(b"deep",)) == expected
    files = expected["files"]  # the comparison covers every kind it should
    assert files[b"sparse.img"]["sparse"]
    assert "system.posix_acl_access" in files[b"acl"]["xattrs"]
    assert "trusted.t" in files[b"xattrs"]["xattrs"]
    assert files[b"setuid"]["mode"] & 0o4000 and files[b"chardev"]["rdev"]
    assert len(os.path.join(restored, b"deep", deep)) > 4096
    assert read_deep(os.path.join(restored, b"deep"), deep) == read_deep(
        os.path.join(source, b"deep"), deep)
    assert os.stat(restored).st_mtime_ns == 1_600_000_000_000_000_001


def test_safe_restore_strips_setuid_and_skips_devices(source, make_job, backup, tmp_path, extraction):
    backup_set = backup(make_job(source))
    target = os.fsencode(tmp_path / "out")

    report = restore_set(backup_set=backup_set, target=target, context=JobContext())

    restored = os.path.join(target, source.lstrip(b"/"))
    assert os.stat(os.path.join(restored, b"setuid")).st_mode & 0o7777 == 0o755
    assert os.stat(os.path.join(restored, b"setgid")).st_mode & 0o7777 == 0o750
    assert os.stat(os.path.join(restored, b"sticky")).st_mode & 0o7777 == 0o1777
    assert not os.path.lexists(os.path.join(restored, b"chardev"))
    assert not os.path.lexists(os.path.join(restored, b"blockdev"))
    assert os.path.exists(os.path.join(restored, b"fifo"))  # FIFOs cannot reach outside
    assert len(report.extract.refused) == 2 and report.extract.stripped_setid == 2
    assert report.ok  # refusing what safe mode must not create is not a failure
