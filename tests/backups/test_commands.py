"""`pool create`, `backup define|run|list` through call_command, bad input included."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backups.models import BackupJob, BackupSet
from tapes.models import MediaPool


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_pool_create_with_a_cron_allocation(db):
    data = json.loads(_call("pool", "create", "monthly", "--allocation", "0 0 1 * *",
                            "--retention", "90", "--record-size", "131072", "--json"))
    assert data["allocation"] == "cron" and data["cron"] == "0 0 1 * *"
    pool = MediaPool.objects.get(name="monthly")
    assert (pool.retention_days, pool.record_size) == (90, 131072)


@pytest.mark.parametrize("args, message", [
    (["--allocation", "every tuesday"], "neither continue, always nor a cron"),
    (["--media", "LTO-99"], "no data media type"),
    (["--record-size", "1000"], "multiple of 512"),
])
def test_pool_create_refuses_bad_input(db, args, message):
    with pytest.raises(CommandError, match=message):
        _call("pool", "create", "bad", *args)
    assert not MediaPool.objects.filter(name="bad").exists()


def test_define_run_and_list(library, tmp_path):
    (tmp_path / "f").write_text("x")
    _call("pool", "create", "daily", "--record-size", "65536")
    _call("backup", "define", "home", "--source", str(tmp_path), "--exclude", "*.tmp",
          "--pool", "daily", "--retention", "7")
    job = BackupJob.objects.get(name="home")
    assert job.sources == [str(tmp_path)] and job.excludes == ["*.tmp"]
    result = json.loads(_call("backup", "run", "home", "--drive", "lab:0", "--json"))
    assert result["status"] == "complete" and result["tapes"] == ["LA0001L8"]
    listed = json.loads(_call("backup", "list", "--job", "home", "--json"))
    assert [s["id"] for s in listed] == [result["id"]]
    assert "home" in _call("backup", "list")


def test_define_refuses_a_missing_source_and_creates_nothing(library, tmp_path):
    _call("pool", "create", "daily")
    with pytest.raises(CommandError, match="does not exist"):
        _call("backup", "define", "home", "--source", str(tmp_path), str(tmp_path / "nope"),
              "--pool", "daily")
    assert not BackupJob.objects.exists()


def test_define_refuses_an_unknown_pool(db, tmp_path):
    with pytest.raises(CommandError, match="no pool named 'nopool'"):
        _call("backup", "define", "home", "--source", str(tmp_path), "--pool", "nopool")


def test_run_refuses_an_unknown_job_and_drive(library, tmp_path):
    with pytest.raises(CommandError, match="no backup job named"):
        _call("backup", "run", "ghost")
    _call("pool", "create", "daily")
    _call("backup", "define", "home", "--source", str(tmp_path), "--pool", "daily")
    with pytest.raises(CommandError, match="no drive"):
        _call("backup", "run", "home", "--drive", "lab:7")
    assert not BackupSet.objects.exists()


def test_backup_define_gives_the_job_its_monthly_full_schedule(vtl_root, tmp_path, pool):
    from io import StringIO

    from django.core.management import call_command

    from scheduling.models import Schedule

    call_command("backup", "define", "docs", "--source", str(tmp_path), "--pool", pool.name,
                 stdout=StringIO())
    schedule = Schedule.objects.get(kind="backup")
    assert schedule.params["level"] == "full" and schedule.enabled
    assert schedule.name == "Monthly full backup: docs"
