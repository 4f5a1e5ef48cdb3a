"""Commands through call_command: output, stable JSON, one-sentence errors, exit codes."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from scheduling.models import JobRun, Schedule
from scheduling.services import run_enqueue

pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_jobs_list_show_and_json(sleep_params):
    run = run_enqueue(kind="sleep", params=sleep_params(tag="x"))
    assert f"#{run.pk}" in _call("jobs", "list") and "Queued" in _call("jobs", "list")
    data = json.loads(_call("jobs", "list", "--state", "queued", "--json"))
    assert [d["id"] for d in data] == [run.pk] and data[0]["state"] == "queued"
    assert {"id", "kind", "state", "files", "bytes", "error", "drive"} <= set(data[0])
    assert json.loads(_call("jobs", "list", "--state", "failed", "--json")) == []
    shown = json.loads(_call("jobs", "show", str(run.pk), "--json"))
    assert shown["params"]["tag"] == "x" and "log" in shown
    assert "kind: sleep" in _call("jobs", "show", str(run.pk))


def test_jobs_cancel_and_its_errors(sleep_params):
    run = run_enqueue(kind="sleep", params=sleep_params())
    assert _call("jobs", "cancel", str(run.pk)) == f"Run #{run.pk} cancelled.\n"
    with pytest.raises(CommandError, match=f"^Run #{run.pk} has already ended \\(cancelled\\)\\.$"):
        _call("jobs", "cancel", str(run.pk))
    with pytest.raises(CommandError, match="^There is no job run #999999\\.$"):
        _call("jobs", "show", "999999")


def test_jobs_cancel_of_a_running_run_asks_it_to_stop(sleep_params):
    from scheduling.services import run_claim

    run = run_claim(run_id=run_enqueue(kind="sleep", params=sleep_params()).pk)
    assert "will stop at its next safe point" in _call("jobs", "cancel", str(run.pk))
    assert JobRun.objects.get(pk=run.pk).cancel_requested_at is not None


def test_schedule_add_list_enable_disable():
    out = _call("schedule", "add", "nightly", "--kind", "health", "--cron", "30 2 * * *",
                "--tz", "Europe/Berlin", "--params", "{}")
    assert out.startswith("Schedule 'nightly' added; first run ") and out.rstrip().endswith(
        ("CET.", "CEST."))
    assert "nightly" in _call("schedule", "list")
    listed = {d["name"]: d for d in json.loads(_call("schedule", "list", "--json"))}
    assert listed["nightly"]["time_zone"] == "Europe/Berlin" and listed["nightly"]["enabled"]
    assert _call("schedule", "disable", "nightly") == "Schedule 'nightly' disabled.\n"
    assert _call("schedule", "disable", "nightly") == "Schedule 'nightly' was already disabled.\n"
    assert not Schedule.objects.get(name="nightly").enabled
    assert _call("schedule", "enable", "nightly") == "Schedule 'nightly' enabled.\n"


@pytest.mark.parametrize("args,sentence", [
    (["--cron", "0 2 1 *"], "^cron: '0 2 1 \\*' is not a cron expression: it needs five fields"),
    (["--cron", "* * * * *", "--params", "[1"], "^--params is not JSON"),
    (["--cron", "* * * * *", "--params", "[1]"], "^--params must be a JSON object"),
    (["--cron", "* * * * *", "--tz", "Nowhere"], "^time_zone: 'Nowhere' is not a time zone"),
])
def test_schedule_add_refuses_bad_input_with_one_sentence(args, sentence):
    with pytest.raises(CommandError, match=sentence):
        _call("schedule", "add", "bad", "--kind", "health", *args)
    assert not Schedule.objects.filter(name="bad").exists()


def test_schedule_add_refuses_an_unknown_kind_and_a_duplicate_name():
    with pytest.raises(CommandError, match="^There is no job kind 'dance'\\.$"):
        _call("schedule", "add", "x", "--kind", "dance", "--cron", "* * * * *")
    _call("schedule", "add", "x", "--kind", "health", "--cron", "* * * * *")
    with pytest.raises(CommandError, match="^A schedule named 'x' already exists\\.$"):
        _call("schedule", "add", "x", "--kind", "health", "--cron", "* * * * *")


def test_a_bad_cron_exits_non_zero_from_the_shell():
    import os
    import subprocess
    import sys

    from django.conf import settings

    from tests.scheduling.clusters import database_url

    result = subprocess.run(
        [sys.executable, "manage.py", "schedule", "add", "x", "--kind", "health", "--cron",
         "nope"], capture_output=True, text=True, cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url()})
    assert result.returncode == 1 and "is not a cron expression" in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr


def test_healthcheck_prints_and_exits_1_on_critical():
    out = StringIO()
    with pytest.raises(SystemExit) as info:  # no cluster has ever reported: critical
        call_command("healthcheck", "--json", stdout=out)
    assert info.value.code == 1
    data = json.loads(out.getvalue())
    assert data["status"] == "critical"
    assert any("No django-q2 cluster 'tapebackup'" in r for r in data["reasons"])


def test_watchdog_command_marks_stale_runs_and_alerts(sleep_params, settings):
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.services import run_claim

    run = run_claim(run_id=run_enqueue(kind="sleep", params=sleep_params()).pk)
    JobRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("watchdog", "--no-notify", stdout=out, stderr=err)
    assert info.value.code == 1
    assert f"Run #{run.pk} marked interrupted" in out.getvalue()
    assert "ALERT: No fresh heartbeat from django-q2 cluster 'tapebackup'" in err.getvalue()
