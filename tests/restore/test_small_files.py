"""A whole set of many small files: the restore's fast paths (names created with O_EXCL,
headers parsed at C speed, data read in one piece) keep every guarantee of the slow ones."""

from __future__ import annotations

import os
import subprocess

from backups.context import JobContext
from backups.restore import restore_set
from tapes.format import PaxReader
from tests.format.helpers import FileSource
from tests.restore.conftest import tape_file


def _small_tree(root) -> dict[str, bytes]:
    """Three directories of small files with their own modes and nanosecond times."""
    contents = {}
    for d in range(3):
        (root / f"d{d}").mkdir(parents=True)
        for n in range(40):
            path = root / f"d{d}" / f"f{n:03d}"
            data = os.urandom(100 + 37 * n)
            path.write_bytes(data)
            os.chmod(path, 0o600 if n % 3 else 0o640)
            os.utime(path, ns=(1_700_000_000_123_456_789 + n, 1_600_000_000_987_654_321 + n))
            contents[f"d{d}/f{n:03d}"] = data
    return contents


def test_many_small_files_come_back_with_their_data_and_metadata(make_job, backup, tmp_path, extraction):
    source = tmp_path / "src"
    contents = _small_tree(source)
    backup_set = backup(make_job(str(source)))

    report = restore_set(backup_set=backup_set, target=tmp_path / "out", context=JobContext())

    assert report.ok and report.extract.files >= len(contents)
    assert report.workers == (2 if extraction == "parallel" else 0)
    restored = tmp_path / "out" / str(source).lstrip("/")
    for name, data in contents.items():
        original, copy = os.stat(source / name), os.stat(restored / name)
        assert (restored / name).read_bytes() == data
        assert (copy.st_mode, copy.st_mtime_ns) == (original.st_mode, original.st_mtime_ns)


def test_existing_names_follow_the_operators_choice(make_job, backup, tmp_path, extraction):
    source = tmp_path / "src"
    contents = _small_tree(source)
    backup_set = backup(make_job(str(source)))
    target = tmp_path / "out"
    restored = target / str(source).lstrip("/")
    (restored / "d1").mkdir(parents=True)
    (restored / "d1" / "f005").write_bytes(b"mine")
    os.symlink("/etc/passwd", restored / "d1" / "f006")

    skip = restore_set(backup_set=backup_set, target=target, context=JobContext())
    assert skip.ok and skip.extract.skipped == 2
    assert skip.workers == 0  # into a directory that holds something: in one process
    assert (restored / "d1" / "f005").read_bytes() == b"mine"
    assert os.readlink(restored / "d1" / "f006") == "/etc/passwd"
    assert (restored / "d1" / "f007").read_bytes() == contents["d1/f007"]

    renamed = restore_set(backup_set=backup_set, target=target, on_existing="rename",
                          paths=[str(source / "d1" / "f005")], context=JobContext())
    assert renamed.ok and (restored / "d1" / "f005.restored").read_bytes() == contents["d1/f005"]

    overwrite = restore_set(backup_set=backup_set, target=target, on_existing="overwrite",
                            context=JobContext())
    assert overwrite.ok
    assert (restored / "d1" / "f005").read_bytes() == contents["d1/f005"]
    assert not os.path.islink(restored / "d1" / "f006")  # replaced, never written through
    assert (restored / "d1" / "f006").read_bytes() == contents["d1/f006"]
    assert not any(name.startswith(".") for name in os.listdir(restored / "d1"))  # no temp files


def test_a_corrupt_small_file_is_kept_as_corrupt_with_the_data_read(make_job, backup, vlib, tmp_path,
                                                                  extraction):
    source = tmp_path / "src"
    contents = _small_tree(source)
    backup_set = backup(make_job(str(source)))
    segment = backup_set.segments.get()
    path = tape_file(vlib, segment.tape.barcode, segment.data_file)
    data = contents["d2/f010"]
    with open(path, "r+b") as f:
        spot = f.read().index(data) + 50
        f.seek(spot)
        f.write(bytes([data[50] ^ 0xFF]))

    report = restore_set(backup_set=backup_set, target=tmp_path / "out", context=JobContext())

    restored = tmp_path / "out" / str(source).lstrip("/") / "d2"
    assert not report.ok and len(report.extract.corrupt) == 1
    assert not (restored / "f010").exists()
    damaged = (restored / "f010.corrupt").read_bytes()
    assert len(damaged) == len(data) and damaged[:50] == data[:50] and damaged[51:] == data[51:]
    assert (restored / "f011").read_bytes() == contents["d2/f011"]


def test_headers_other_tars_write_are_read_as_they_say(tmp_path):
    """ustar names split into prefix and name; GNU base-256 numbers."""
    deep = tmp_path / "t" / ("a" * 90) / ("b" * 60)
    deep.mkdir(parents=True)
    (deep / "file").write_bytes(b"x" * 700)
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "file").write_bytes(b"y" * 700)
    for form, uid, name in (("ustar", 1234, f"t/{'a' * 90}/{'b' * 60}/file"),
                            ("gnu", 3_000_000, "g/file")):  # over 7 octal digits: base-256
        archive = tmp_path / f"{form}.tar"
        subprocess.run(["tar", f"--format={form}", f"--owner=someone:{uid}", "--group=:77",
                        "-cf", archive, "-C", tmp_path, name.split("/")[0]], check=True)
        read = [(entry, data.read()) for entry, data in PaxReader(FileSource(archive, 10240))]
        entry, data = read[-1]
        assert entry.name == os.fsencode(name)
        assert (entry.uid, entry.gid, entry.uname, entry.size) == (uid, 77, "someone", 700)
        assert data == (tmp_path / name).read_bytes()
        assert entry.mtime_ns == os.stat(tmp_path / name).st_mtime_ns // 10**9 * 10**9
