"""The restore and verify commands: thin, one sentence on bad input, stable JSON."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.fixture
def one_set(make_job, backup, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a\n")
    return source, backup(make_job(str(source)))


@pytest.mark.parametrize("args, message", [
    (["--set", "999", "--target", "/tmp/x"], "There is no backup set 999."),
    (["--job", "nope", "--target", "/tmp/x"], "There is no backup job named 'nope'."),
    (["--set", "1", "--at", "2026-01-01", "--target", "/tmp/x"], "--at needs --job."),
    (["--job", "home", "--at", "yesterday-ish", "--target", "/tmp/x"], "is not a date and time"),
])
def test_restore_bad_input(one_set, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("restore", *args)


def test_restore_path_not_in_set(one_set, tmp_path):
    _, backup_set = one_set
    with pytest.raises(CommandError, match=f"Nothing in set {backup_set.pk} matches /nowhere"):
        call_command("restore", "--set", str(backup_set.pk), "--path", "/nowhere",
                     "--target", str(tmp_path / "out"))


def test_restore_into_a_file_is_refused(one_set, tmp_path):
    _, backup_set = one_set
    target = tmp_path / "a-file"
    target.write_text("keep me\n")
    with pytest.raises(CommandError, match=f"{target} exists and is not a directory; name a "
                                           "directory to restore into."):
        call_command("restore", "--set", str(backup_set.pk), "--target", str(target))
    assert target.read_text() == "keep me\n"


def test_restore_json_and_existing_files(one_set, tmp_path, capsys):
    source, backup_set = one_set
    target = tmp_path / "out"
    call_command("restore", "--set", str(backup_set.pk), "--target", str(target), "--json")
    first = json.loads(capsys.readouterr().out)[0]
    assert first["ok"] and first["set"] == backup_set.pk and first["files"] == 2
    restored = target / str(source).lstrip("/") / "a.txt"
    restored.write_text("changed locally\n")

    call_command("restore", "--set", str(backup_set.pk), "--target", str(target), "--json")
    assert json.loads(capsys.readouterr().out)[0]["skipped"] == 1
    assert restored.read_text() == "changed locally\n"
    call_command("restore", "--set", str(backup_set.pk), "--target", str(target),
                 "--existing", "rename")
    assert (restored.parent / "a.txt.restored").read_text() == "a\n"
    call_command("restore", "--set", str(backup_set.pk), "--target", str(target),
                 "--existing", "overwrite")
    assert restored.read_text() == "a\n"


def test_verify_command(one_set, capsys):
    _, backup_set = one_set
    call_command("verify", "--set", str(backup_set.pk), "--level", "data", "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["members"] == 2 and result["level"] == "data"
    with pytest.raises(CommandError, match="no tape with barcode 'XX0001L8'"):
        call_command("verify", "--tape", "XX0001L8")
    with pytest.raises(CommandError, match="The catalog knows no data on tape"):
        call_command("verify", "--tape", "RL0006L8")


def test_rebuild_command_bad_input(db):
    with pytest.raises(CommandError, match="no tape with barcode 'ZZ0001L8'"):
        call_command("catalog", "rebuild", "--tape", "ZZ0001L8")
    with pytest.raises(CommandError, match="no library named 'gone'"):
        call_command("catalog", "rebuild", "--library", "gone")


def test_scheduling_entry_points(one_set, drive, tmp_path):
    from backups.context import JobContext
    from backups.errors import JobError
    from backups.restore import restore_run
    from backups.verify import verify_run

    source, backup_set = one_set
    summary = restore_run(context=JobContext(), drive_id=drive.pk, job="home",
                          paths=[str(source / "a.txt")], target=str(tmp_path / "out"),
                          mode="safe", on_existing="skip", media_type="LTO-8")
    assert summary.startswith("Restored 1 of 1 entries") and f"set {backup_set.pk}" in summary
    assert (tmp_path / "out" / str(source).lstrip("/") / "a.txt").read_text() == "a\n"
    assert "OK" in verify_run(context=JobContext(), drive_id=drive.pk, set_id=backup_set.pk,
                              level="data")
    with pytest.raises(JobError, match="needs a target"):
        restore_run(context=JobContext(), set_id=backup_set.pk)


def test_a_queued_restore_of_a_name_that_is_not_utf8(make_job, backup, library, tmp_path):
    """The wizard queues catalog paths; their text form fits any name into the run's JSON
    parameters (PostgreSQL refuses the surrogates an OS path string would carry)."""
    import os

    from backups.models import CatalogEntry
    from scheduling.models import JobRun
    from scheduling.runner import execute_run
    from scheduling.services import run_enqueue

    source = tmp_path / "src"
    source.mkdir()
    name = os.path.join(os.fsencode(source), b"caf\xe9.txt")
    with open(name, "wb") as handle:
        handle.write(b"latin-1 named\n")
    backup_set = backup(make_job(str(source)))
    text = CatalogEntry.objects.get(backup_set=backup_set, name__startswith="caf").path
    target = tmp_path / "out"

    run = run_enqueue(kind="restore", params={"set_id": backup_set.pk, "target": str(target),
                                              "catalog_paths": [text]})
    assert execute_run(run.pk) == JobRun.State.SUCCEEDED, JobRun.objects.get(pk=run.pk).log
    restored = os.path.join(os.fsencode(target), name.lstrip(b"/"))
    with open(restored, "rb") as handle:
        assert handle.read() == b"latin-1 named\n"
