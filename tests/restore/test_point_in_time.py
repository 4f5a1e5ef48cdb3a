""""This path as it was at time T": the newest complete set of the job at or before T that
holds the path."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backups.models import BackupSet

T1 = dt.datetime(2026, 1, 10, 2, 0, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2026, 1, 20, 2, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def history(make_job, backup, tmp_path):
    """Set 1 (T1): notes v1 and gone.txt; set 2 (T2): notes v2, gone.txt deleted."""
    source = tmp_path / "docs"
    source.mkdir()
    (source / "notes.txt").write_text("version 1\n")
    (source / "gone.txt").write_text("only in the first set\n")
    job = make_job(str(source), name="docs")
    first = backup(job)
    (source / "notes.txt").write_text("version 2, longer\n")
    (source / "gone.txt").unlink()
    second = backup(job)
    BackupSet.objects.filter(pk=first.pk).update(started_at=T1)
    BackupSet.objects.filter(pk=second.pk).update(started_at=T2)
    return source, first, second


def restore_at(at, path, target):
    call_command("restore", "--job", "docs", "--at", at, "--path", path, "--target", str(target))


def test_the_version_at_a_time(history, tmp_path):
    source, _, _ = history
    notes = str(source / "notes.txt")
    restore_at("2026-01-15T00:00", notes, tmp_path / "mid")
    restore_at("2026-01-25T00:00", notes, tmp_path / "late")
    rel = notes.lstrip("/")
    assert (tmp_path / "mid" / rel).read_text() == "version 1\n"
    assert (tmp_path / "late" / rel).read_text() == "version 2, longer\n"


def test_a_deleted_file_comes_from_the_last_set_that_held_it(history, tmp_path):
    source, _, _ = history
    gone = str(source / "gone.txt")
    restore_at(timezone.now().isoformat(), gone, tmp_path / "out")
    assert (tmp_path / "out" / gone.lstrip("/")).read_text() == "only in the first set\n"


def test_nothing_before_the_first_set(history, tmp_path):
    source, _, _ = history
    with pytest.raises(CommandError, match="no complete set .* at or before 2026-01-01"):
        restore_at("2026-01-01T00:00", str(source / "notes.txt"), tmp_path / "out")
