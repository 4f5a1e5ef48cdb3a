"""Extraction with worker processes (``backups.extract_parallel``) gives what one process
gives, and fails loudly when a worker is lost. The round trip, small-file and corrupt-file
tests run both ways (the ``extraction`` fixture); these cover what only it has."""

from __future__ import annotations

import hashlib
import os

import pytest

from backups.context import JobContext
from backups.errors import Cancelled
from backups.extract import Extractor
from backups.extract_parallel import ParallelExtractor, WorkerFailed, parallel_restore_possible
from backups.restore import restore_set
from tapes.format import Entry, EntryType


class Data:
    """A member's data as the reader hands it over (``MemberData``), with no checksum."""

    def __init__(self, data: bytes):
        self.data = data

    def read_unchecked(self):
        return self.data, True

    def read_raw(self):
        return self.data, None


def _file(name: bytes, data: bytes = b"x") -> tuple[Entry, Data]:
    return Entry(name=name, type=EntryType.REGULAR, mode=0o640, size=len(data),
                 mtime_ns=1_600_000_000_123_456_789), Data(data)


def _restore(extractor, members) -> dict:
    with extractor as ex:
        for entry, data in members:
            ex.extract(entry, data)
        report = ex.finish()
    return report.as_dict()


def _tree(root: bytes) -> dict:
    found = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path):
                content = hashlib.sha256(open(path, "rb").read()).hexdigest()
            found[os.path.relpath(path, root)] = (st.st_mode, st.st_mtime_ns, st.st_nlink, content)
    return found


def test_a_file_where_a_later_member_needs_a_directory_is_refused_as_in_one_process(tmp_path):
    """``a`` is a file queued for a worker when ``a/b`` needs ``a`` as a directory: the
    workers are settled before the directory would be made, so ``a/b`` is refused exactly as
    one process refuses it, and ``a`` is kept."""
    members = [_file(b"a", b"first"), _file(b"a/b", b"second")]
    results = {}
    for label, make in (("one", lambda t: Extractor(t)),
                        ("parallel", lambda t: ParallelExtractor(t, mode="safe", on_existing="skip"))):
        target = tmp_path / label
        target.mkdir()
        results[label] = (_restore(make(target), members), _tree(os.fsencode(target)))
    one, parallel = results["one"], results["parallel"]
    assert parallel == one
    assert one[0]["files"] == 1 and "is not a directory" in one[0]["refused"][0]


@pytest.mark.parametrize("sources_known", [True, False])
def test_hard_links_to_files_a_worker_made(tmp_path, sources_known):
    entries = [_file(b"d/f%02d" % n, b"data %d" % n) for n in range(50)]
    links = [(Entry(name=b"e/link%02d" % n, type=EntryType.HARDLINK, linkname=b"d/f%02d" % n), None)
             for n in range(0, 50, 7)]
    sources = {b"d/f%02d" % n for n in range(0, 50, 7)} if sources_known else None
    members = entries[:20] + links[:1] + entries[20:] + links[1:]  # some sent after a settle
    target = tmp_path / "out"
    target.mkdir()
    report = _restore(ParallelExtractor(target, mode="safe", on_existing="skip",
                                        link_sources=sources), members)
    assert report["files"] == 50 + len(links) and not report["refused"], report
    for entry, _ in links:
        source = target / entry.linkname.decode()
        assert os.stat(target / entry.name.decode()).st_ino == os.stat(source).st_ino
        assert os.stat(source).st_nlink == 2


def test_a_lost_worker_fails_the_restore_in_one_sentence(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    extractor = ParallelExtractor(target, mode="safe", on_existing="skip", workers=2)
    try:
        for worker in extractor._workers:
            worker.process.kill()
            worker.process.wait()
        with pytest.raises(WorkerFailed, match=r"A restore worker ended unexpectedly \(exit status -9\)\."):
            for n in range(2000):
                extractor.extract(*_file(b"f%04d" % n, bytes(4096)))
            extractor.finish()
    finally:
        extractor.close()


def test_parallel_only_into_an_empty_directory_and_for_distinct_paths(tmp_path):
    target = os.fsencode(tmp_path / "t")
    assert parallel_restore_possible(target, ["/a", "/b"])  # does not exist yet
    os.makedirs(os.path.join(target, b"lost+found"))
    assert parallel_restore_possible(target, ["/a", "/b"])
    assert not parallel_restore_possible(target, ["/a", "/b", "/a"])
    open(os.path.join(target, b"x"), "w").close()
    assert not parallel_restore_possible(target, ["/a", "/b"])
    assert not parallel_restore_possible(os.path.join(target, b"x"), ["/a"])


@pytest.mark.parametrize("how", ["one", "parallel"])
def test_modes_come_back_whatever_the_umask(tmp_path, how):
    """A file is created with its own mode only where nothing would change it after
    (no umask bits taken, no setuid/setgid/sticky); every other mode is set explicitly."""
    modes = {b"plain": 0o644, b"group-writable": 0o664, b"everyone": 0o666, b"private": 0o600,
             b"setuid": 0o4755, b"sticky": 0o1644, b"none": 0o000}
    members = []
    for name, mode in modes.items():
        entry, data = _file(name)
        entry.mode = mode
        members.append((entry, data))
    target = tmp_path / "out"
    target.mkdir()
    old = os.umask(0o027)
    try:
        make = (Extractor(target, mode="faithful") if how == "one" else
                ParallelExtractor(target, mode="faithful", on_existing="skip"))
        report = _restore(make, members)
    finally:
        os.umask(old)
    assert report["files"] == len(modes), report
    assert {n: os.stat(target / n.decode()).st_mode & 0o7777 for n in modes} == modes


class CancelWhenHalfDone(JobContext):
    def cancel_requested(self) -> bool:
        return bool(self.last_progress) and self.last_progress["files"] >= 200


def test_cancelling_a_long_restore_stops_it_and_its_workers(make_job, backup, tmp_path, extraction):
    source = tmp_path / "src"
    source.mkdir()
    for n in range(600):
        (source / f"f{n:03d}").write_bytes(b"%d" % n)
    backup_set = backup(make_job(str(source)))
    before = _children()

    with pytest.raises(Cancelled):
        restore_set(backup_set=backup_set, target=tmp_path / "out", context=CancelWhenHalfDone())

    assert _children() == before  # no worker left behind
    assert len(os.listdir(tmp_path / "out" / str(source).lstrip("/"))) < 600  # stopped early


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if pid.isdigit() and f.read().rsplit(")", 1)[1].split()[1] == me:
                    found.add(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture
def small_filesystem(tmp_path):
    """A 1 MiB file system (tmpfs) to restore into; skipped where this may not mount."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", mount],
                                           capture_output=True).returncode:
        pytest.skip("needs root and a tmpfs mount")
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)


def test_a_full_target_stops_the_restore_in_one_sentence(make_job, backup, tmp_path, small_filesystem,
                                                          extraction):
    from backups.errors import JobError

    source = tmp_path / "src"
    source.mkdir()
    for n in range(300):
        (source / f"f{n:03d}").write_bytes(os.urandom(8192))
    backup_set = backup(make_job(str(source)))
    before = _children()

    with pytest.raises(JobError) as failed:
        restore_set(backup_set=backup_set, target=small_filesystem / "out", context=JobContext())

    message = str(failed.value)
    assert message.startswith(f"The restore into {small_filesystem / 'out'} stopped: writing "
                              f"{str(source).lstrip('/')}/f"), message
    assert message.endswith(" failed (No space left on device)."), message
    assert _children() == before
