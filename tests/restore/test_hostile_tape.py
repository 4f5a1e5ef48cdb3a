"""A hand-made tape holding a hostile archive, imported with ``catalog rebuild`` (as foreign
media) and restored in safe mode: nothing is written outside the target, no link is
followed out of it, no device node or setuid bit is created."""

from __future__ import annotations

import os

from django.core.management import call_command

from backups.models import BackupSet
from tapes.format import EntryType
from tapes.models import Tape
from tests.restore.handmade import member, write_tape


def tree_listing(root) -> dict:
    """Everything under ``root`` but the virtual library's own files."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != "vtl"]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[path] = (st.st_mode, st.st_size, st.st_nlink, st.st_mtime_ns)
    return out


def hostile_members(outside: str):
    o = outside.encode()
    return [
        member(b"srv", EntryType.DIRECTORY, mode=0o755),
        member(b"srv/ok.txt", data=b"harmless\n"),
        member(b"/abs-evil", data=b"absolute name\n"),
        member(b"../escape-up", data=b"dot dot\n"),
        member(b"srv/../../escape2", data=b"dot dot inside\n"),
        member(b"evil", EntryType.SYMLINK, linkname=o),
        member(b"evil/payload", data=b"through the link\n"),
        member(b"evil/sub", EntryType.DIRECTORY),
        member(b"hl-abs", EntryType.HARDLINK, linkname=o + b"/secret"),
        member(b"hl-up", EntryType.HARDLINK, linkname=b"../outside/secret"),
        member(b"hl-via-link", EntryType.HARDLINK, linkname=b"evil/secret"),
        member(b"srv/ok.txt", EntryType.SYMLINK, linkname=o + b"/secret"),
        member(b"srv/ok.txt", data=b"written through the replaced name?\n"),
        member(b"dev-null", EntryType.CHARDEV, devmajor=1, devminor=3, mode=0o666),
        member(b"disk", EntryType.BLOCKDEV, devmajor=8, devminor=0, mode=0o660),
        member(b"suid-shell", data=b"#!/bin/sh\n", mode=0o4755),
        member(b"sgid", data=b"g\n", mode=0o2755),
        member(b"srv/late", EntryType.HARDLINK, linkname=b"srv/ok.txt"),
    ]


def test_hostile_tape_restores_safely(library, vlib, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not touch\n")
    barcode = Tape.objects.filter(library=library).order_by("barcode").first().barcode
    write_tape(vlib, barcode, hostile_members(str(outside)), job="evil")
    before = tree_listing(tmp_path)

    call_command("catalog", "rebuild", "--tape", barcode)
    backup_set = BackupSet.objects.get(job__name__startswith="evil (foreign")
    assert backup_set.restorable and Tape.objects.get(barcode=barcode).foreign
    target = tmp_path / "target"
    call_command("restore", "--set", str(backup_set.pk), "--target", str(target),
                 "--existing", "overwrite", "--json")

    after = tree_listing(tmp_path)
    new = {p for p in after if p not in before}
    new.discard(str(target))
    assert all(p.startswith(str(target) + "/") for p in new), sorted(new)
    assert {p: v for p, v in after.items() if p in before} == before  # nothing outside changed
    assert (outside / "secret").read_text() == "do not touch\n"
    assert os.lstat(outside / "secret").st_nlink == 1
    names = {os.path.relpath(p, target) for p in new}
    assert "abs-evil" in names  # absolute names land inside the target, as with GNU tar
    assert not {"escape-up", "escape2", "hl-abs", "hl-up", "hl-via-link", "dev-null",
                "disk", "evil/payload", "evil/sub"} & names
    assert os.readlink(target / "evil") == str(outside)  # stored as recorded, never followed
    for name in ("suid-shell", "sgid"):
        assert os.stat(target / name).st_mode & 0o6000 == 0
    ok = target / "srv" / "ok.txt"  # the last member of that name wins, as a regular file
    assert not os.path.islink(ok) and ok.read_bytes().startswith(b"written")
    assert os.stat(target / "srv" / "late").st_ino == os.stat(ok).st_ino


def test_hostile_restore_in_skip_mode_keeps_first_versions(library, vlib, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not touch\n")
    barcode = Tape.objects.filter(library=library).order_by("barcode").first().barcode
    write_tape(vlib, barcode, hostile_members(str(outside)), job="evil")
    call_command("catalog", "rebuild", "--tape", barcode)
    backup_set = BackupSet.objects.get(job__name__startswith="evil (foreign")
    target = tmp_path / "target"

    call_command("restore", "--set", str(backup_set.pk), "--target", str(target))

    assert (target / "srv" / "ok.txt").read_text() == "harmless\n"
    assert sorted(os.listdir(outside)) == ["secret"]


def test_hostile_tape_restores_safely_both_ways(library, vlib, tmp_path, capsys, extraction):
    """The same archive without its duplicate names (a plan with a name twice restores in
    one process), so that worker processes create its files in the parallel run."""
    import json

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not touch\n")
    members = [m for m in hostile_members(str(outside))
               if not (m[0].name == b"srv/ok.txt" and m[0].type is not EntryType.REGULAR)
               and m[1] != b"written through the replaced name?\n"]
    barcode = Tape.objects.filter(library=library).order_by("barcode").first().barcode
    write_tape(vlib, barcode, members, job="evil")
    before = tree_listing(tmp_path)
    call_command("catalog", "rebuild", "--tape", barcode)
    backup_set = BackupSet.objects.get(job__name__startswith="evil (foreign")
    target = tmp_path / "target"
    capsys.readouterr()

    call_command("restore", "--set", str(backup_set.pk), "--target", str(target), "--json")

    (report,) = json.loads(capsys.readouterr().out)  # one report per set
    assert report["workers"] == (2 if extraction == "parallel" else 0)
    after = tree_listing(tmp_path)
    new = {p for p in after if p not in before} - {str(target)}
    assert all(p.startswith(str(target) + "/") for p in new), sorted(new)
    assert {p: v for p, v in after.items() if p in before} == before
    assert sorted(os.listdir(outside)) == ["secret"] and os.lstat(outside / "secret").st_nlink == 1
    names = {os.path.relpath(p, target) for p in new}
    assert not {"escape-up", "escape2", "hl-abs", "hl-up", "hl-via-link", "dev-null",
                "disk", "evil/payload", "evil/sub"} & names
    assert os.readlink(target / "evil") == str(outside)
    assert os.stat(target / "suid-shell").st_mode & 0o6000 == 0
    assert os.stat(target / "srv" / "late").st_ino == os.stat(target / "srv" / "ok.txt").st_ino
