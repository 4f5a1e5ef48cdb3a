"""Admin pages answer; schedule actions and the run cancel action call services and count."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling.models import ClusterHeartbeat, HealthReport, JobRun, Schedule
from scheduling.schedules import schedule_create
from scheduling.services import run_enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(sleep_params, inventory_library):
    schedule = schedule_create(name="monthly", kind="health", cron_expr="0 2 1 * *",
                               time_zone="Europe/Berlin")
    run = run_enqueue(kind="sleep", params=sleep_params(drive=True), schedule=schedule)
    HealthReport.objects.create(status="warning", reasons=["Pool x is low."])
    ClusterHeartbeat.objects.create(cluster="tapebackup", host="h", pid=1)
    return schedule, run


@pytest.mark.parametrize("model", [Schedule, JobRun, HealthReport, ClusterHeartbeat])
def test_changelist_and_change_pages_answer(client, ada, rows, model):
    client.force_login(ada)
    base = f"admin:scheduling_{model._meta.model_name}"
    assert client.get(reverse(f"{base}_changelist")).status_code == 200
    obj = model.objects.first()
    assert client.get(reverse(f"{base}_change", args=[obj.pk])).status_code == 200


def test_history_is_read_only(client, ada, rows):
    client.force_login(ada)
    assert client.get(reverse("admin:scheduling_jobrun_add")).status_code == 403
    assert client.get(reverse("admin:scheduling_healthreport_add")).status_code == 403


def test_the_schedule_page_shows_the_next_five_runs_in_its_zone(client, ada, rows):
    schedule, _ = rows
    client.force_login(ada)
    body = client.get(reverse("admin:scheduling_schedule_change", args=[schedule.pk])).content
    text = body.decode()
    assert text.count(" 02:00 CE") >= 5 and "<div>" in text


def test_adding_a_schedule_with_a_bad_cron_shows_the_sentence(client, ada, rows):
    client.force_login(ada)
    response = client.post(reverse("admin:scheduling_schedule_add"), {
        "name": "bad", "kind": "health", "params": "{}", "cron": "0 2 1 *",
        "time_zone": "UTC", "enabled": "on", "priority": 0, "retry_attempts": 0,
        "retry_delay_minutes": 30, "notify": "failures"})
    assert response.status_code == 200
    assert "is not a cron expression: it needs five fields" in response.content.decode()
    assert not Schedule.objects.filter(name="bad").exists()


def test_enable_and_disable_actions_report_counts(client, ada, rows):
    schedule, _ = rows
    client.force_login(ada)
    url = reverse("admin:scheduling_schedule_changelist")
    ids = list(Schedule.objects.values_list("pk", flat=True))
    response = client.post(url, {"action": "disable", "_selected_action": ids}, follow=True)
    assert f"{len(ids)} schedule(s) disabled." in response.content.decode()
    response = client.post(url, {"action": "enable", "_selected_action": [schedule.pk]},
                           follow=True)
    assert "1 schedule(s) enabled." in response.content.decode()


def test_the_cancel_action_cancels_and_counts(client, olga, rows):
    _, run = rows
    client.force_login(olga)
    url = reverse("admin:scheduling_jobrun_changelist")
    assert "Cancel selected runs" in client.get(url).content.decode()
    response = client.post(url, {"action": "cancel", "_selected_action": [run.pk]}, follow=True)
    assert "1 run(s) cancelled or asked to stop." in response.content.decode()
    assert JobRun.objects.get(pk=run.pk).state == JobRun.State.CANCELLED


def test_viewers_do_not_get_the_cancel_action(client, vic, rows):
    client.force_login(vic)
    body = client.get(reverse("admin:scheduling_jobrun_changelist")).content.decode()
    assert "Cancel selected runs" not in body


def test_the_run_list_filters_by_state_and_shows_progress(client, ada, rows):
    _, run = rows
    JobRun.objects.filter(pk=run.pk).update(files=12, bytes=5_000_000, total_bytes=10_000_000)
    client.force_login(ada)
    url = reverse("admin:scheduling_jobrun_changelist")
    body = client.get(url, {"state__exact": "queued"}).content.decode()
    assert "12 files, 5.0 MB of 10.0 MB (50%)" in body
    assert "12 files" not in client.get(url, {"state__exact": "failed"}).content.decode()
