"""``backup run`` in the foreground is a job run like a worker's, executed by the command:
it holds its drive (a drive another run holds is refused, or skipped when none is named),
it is in the history with its log, and a run that needs media waits for a worker."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backups.models import BackupSet
from scheduling.models import JobRun
from scheduling.services import run_start_here
from tapes.models import Drive, MediaType


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def home(make_job, tmp_path):
    (tmp_path / "f").write_text("x")
    return make_job(str(tmp_path), name="home")


def test_a_foreground_backup_is_a_job_run_in_the_history(home, library):
    out = _call("backup", "run", "home", "--drive", "lab:1")
    run = JobRun.objects.get()
    backup_set = BackupSet.objects.get()
    assert f"Backup set #{backup_set.pk}: Complete" in out and f"(job run #{run.pk})" in out
    assert run.kind == "backup" and run.state == JobRun.State.SUCCEEDED
    assert run.drive == Drive.objects.get(library=library, index=1)  # kept as where it ran
    assert f"Backup set {backup_set.pk}: complete." in run.result
    assert f"Backup set #{backup_set.pk} of job home (full) started" in run.log
    assert run.params == {"job_id": home.pk, "level": "full"}


def test_a_drive_held_by_another_run_is_refused_or_skipped(home, library):
    held = Drive.objects.get(library=library, index=0)
    other = run_start_here(kind="inventory", params={"library": "lab"}, drive=held)

    with pytest.raises(CommandError, match=f"{str(held).capitalize()} is in use by job run "
                                           rf"#{other.pk} \(inventory\); wait for it, or name "
                                           "another drive with --drive."):
        _call("backup", "run", "home", "--drive", "lab:0")
    assert not BackupSet.objects.exists()
    assert JobRun.objects.count() == 1

    _call("backup", "run", "home")  # no drive named: the free one
    assert BackupSet.objects.get().segments.get().tape.drive.index == 1


def test_no_usable_tape_leaves_a_run_waiting_for_media(home, pool, library):
    pool.media_type = MediaType.objects.get(name="LTO-9")
    pool.save()
    with pytest.raises(CommandError, match=r"job run #\d+ waits, and a worker carries it on"):
        _call("backup", "run", "home", "--drive", "lab:0")
    run = JobRun.objects.get()
    assert run.state == JobRun.State.WAITING_MEDIA and run.drive is None  # the drive is free
    assert "LTO-9" in run.waiting_reason


def test_foreground_restore_and_verify_are_job_runs_holding_their_drive(home, library, tmp_path):
    _call("backup", "run", "home", "--drive", "lab:0")
    backup_set = BackupSet.objects.get()
    tape = backup_set.segments.get().tape
    assert tape.drive.index == 0  # still in the drive it wrote with

    holder = run_start_here(kind="inventory", params={"library": "lab"}, drive=tape.drive)
    with pytest.raises(CommandError, match=f"in use by job run #{holder.pk}"):
        _call("restore", "--set", str(backup_set.pk), "--target", str(tmp_path / "out"),
              "--drive", "lab:0")
    JobRun.objects.filter(pk=holder.pk).update(state=JobRun.State.SUCCEEDED)

    out = _call("restore", "--set", str(backup_set.pk), "--target", str(tmp_path / "out"))
    assert "Restored" in out
    _call("verify", "--set", str(backup_set.pk), "--level", "data")
    restore, verify = JobRun.objects.filter(kind__in=["restore", "verify"]).order_by("pk")
    assert (restore.kind, restore.state, restore.drive_id) == ("restore", "succeeded", tape.drive_id)
    assert restore.params["foreground"] and restore.params["set_id"] == backup_set.pk
    assert (verify.kind, verify.state, verify.params["level"]) == ("verify", "succeeded", "data")
    assert "OK" in verify.result
