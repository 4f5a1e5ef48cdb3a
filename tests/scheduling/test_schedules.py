"""Schedules: cron validation, next runs in words, DST, catch-up once, one firing per slot,
default schedules."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from scheduling import cron
from scheduling.models import JobRun, Schedule
from scheduling.schedules import (next_runs_text, schedule_create, schedule_defaults_for_job,
                                  schedules_fire_due)
from scheduling.services import SchedulingError

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("expr,sentence", [
    ("0 2 1 *", "'0 2 1 *' is not a cron expression: it needs five fields (minute hour day "
                "month weekday), not 4; e.g. '0 2 1 * *' for 02:00 on the first of each month."),
    ("0 25 * * *", "'0 25 * * *' is not a cron expression: a field has a value out of range"),
    ("every day", "'every day' is not a cron expression: it needs five fields"),
])
def test_a_bad_cron_gets_one_sentence(expr, sentence):
    assert cron.cron_error(expr).startswith(sentence)
    assert cron.cron_error(expr).count(".") <= 3 and cron.cron_error(expr).endswith(".")


def test_a_bad_cron_is_refused_on_save_beside_the_field(db):
    schedule = Schedule(name="x", kind="health", cron="61 * * * *")
    with pytest.raises(ValidationError) as info:
        schedule.full_clean()
    assert "cron" in info.value.message_dict
    with pytest.raises(SchedulingError, match="^cron: '61 \\* \\* \\* \\*' is not a cron"):
        schedule_create(name="x", kind="health", cron_expr="61 * * * *")


def test_a_bad_time_zone_is_refused(db):
    with pytest.raises(SchedulingError, match="'Mars/Olympus' is not a time zone name"):
        schedule_create(name="x", kind="health", cron_expr="0 * * * *", time_zone="Mars/Olympus")


def test_next_five_runs_in_words_in_the_schedules_zone(db):
    schedule = schedule_create(name="monthly", kind="health", cron_expr="0 2 1 * *",
                               time_zone="Europe/Berlin")
    after = datetime(2026, 12, 15, tzinfo=UTC)
    assert next_runs_text(schedule, after=after) == [
        "Fri 1 Jan 2027 02:00 CET", "Mon 1 Feb 2027 02:00 CET", "Mon 1 Mar 2027 02:00 CET",
        "Thu 1 Apr 2027 02:00 CEST", "Sat 1 May 2027 02:00 CEST",
    ]


def _tick_through(schedule, start, end, step=timedelta(minutes=5)) -> list[JobRun]:
    """Run the scheduler pass every ``step`` from start to end (as the tick would)."""
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run_at=cron.next_after(schedule.cron, schedule.time_zone, start))
    fired, now = [], start
    while now <= end:
        fired += schedules_fire_due(now=now)
        JobRun.objects.filter(schedule=schedule).update(state=JobRun.State.SUCCEEDED)
        now += step
    return fired


def test_the_dst_fall_back_night_runs_a_local_0230_once(db):
    schedule = schedule_create(name="nightly", kind="health", cron_expr="30 2 * * *",
                               time_zone="Europe/Berlin")
    # 2026-10-25: at 03:00 CEST the clocks go back to 02:00 CET, so 02:30 happens twice.
    fired = _tick_through(schedule, datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
                          datetime(2026, 10, 25, 4, 0, tzinfo=UTC), step=timedelta(minutes=1))
    assert len(fired) == 1
    assert fired[0].scheduled_for.astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CEST"


def test_the_dst_spring_forward_night_runs_a_skipped_time_once(db):
    schedule = schedule_create(name="nightly", kind="health", cron_expr="30 2 * * *",
                               time_zone="Europe/Berlin")
    fired = _tick_through(schedule, datetime(2026, 3, 28, 22, 0, tzinfo=UTC),
                          datetime(2026, 3, 29, 4, 0, tzinfo=UTC))
    assert len(fired) == 1
    assert fired[0].scheduled_for.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_a_missed_schedule_catches_up_once(db):
    schedule = schedule_create(name="daily", kind="health", cron_expr="0 3 * * *")
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timedelta(days=3))
    assert len(schedules_fire_due()) == 1
    assert schedules_fire_due() == []
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now()


def test_a_slot_is_claimed_once_even_by_a_stale_reader(db):
    schedule = schedule_create(name="daily", kind="health", cron_expr="0 3 * * *")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(1))
    from scheduling.schedules import _fire

    stale_copy = Schedule.objects.get(pk=schedule.pk)  # what a second cluster read
    assert _fire(Schedule.objects.get(pk=schedule.pk), timezone.now()) is not None
    assert _fire(stale_copy, timezone.now()) is None
    assert schedule.runs.count() == 1


def test_a_slot_whose_previous_run_is_still_active_is_skipped_honestly(db):
    schedule = schedule_create(name="daily", kind="health", cron_expr="0 3 * * *")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(1))
    first = schedules_fire_due()[0]
    assert first.state == JobRun.State.QUEUED
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(1))
    skipped = schedules_fire_due()[0]
    assert skipped.state == JobRun.State.CANCELLED and "had not finished" in skipped.error


def test_disabled_schedules_do_not_fire_and_enabling_counts_from_now(db):
    from scheduling.schedules import schedules_set_enabled

    schedule = schedule_create(name="daily", kind="health", cron_expr="0 3 * * *")
    assert schedules_set_enabled(schedules=[schedule], enabled=False) == 1
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(1))
    assert schedules_fire_due() == []
    assert schedules_set_enabled(schedules=Schedule.objects.filter(pk=schedule.pk),
                                 enabled=True) == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now()


def test_editing_the_cron_recomputes_the_next_run(db):
    schedule = schedule_create(name="daily", kind="health", cron_expr="0 3 * * *")
    schedule.cron = "0 4 * * *"
    schedule.save()
    assert schedule.next_run_at.astimezone(UTC).hour == 4


def test_default_schedules_exist_once_and_the_tick_runs_every_minute(db):
    from django_q.models import Schedule as QSchedule

    from scheduling.conf import TICK_NAME

    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"Daily retention check", "Hourly health check"} <= names
    tick = QSchedule.objects.get(name=TICK_NAME)
    assert (tick.func, tick.schedule_type, tick.minutes, tick.cluster) == (
        "scheduling.tasks.scheduler_tick", QSchedule.MINUTES, 1, None)


def test_monthly_full_backup_schedule_per_job_is_created_once(db):
    class Job:  # what the backup engine passes: a saved BackupJob (pk and str)
        pk = 7

        def __str__(self):
            return "home"

    first = schedule_default = schedule_defaults_for_job(Job())
    assert (first.kind, first.params, first.cron) == ("backup", {"job_id": 7, "level": "full"},
                                                      "0 1 1 * *")
    first.cron = "0 2 1 * *"
    first.save()
    assert schedule_defaults_for_job(Job()).cron == "0 2 1 * *" == schedule_default.cron
    assert Schedule.objects.filter(kind="backup").count() == 1


def test_the_tick_fires_due_schedules_and_dispatches(db):
    from scheduling.tasks import scheduler_tick

    schedule = schedule_create(name="daily", kind="health", cron_expr="0 3 * * *")
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(1))
    assert scheduler_tick().startswith("1 fired")
