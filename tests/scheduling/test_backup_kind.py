"""A scheduled backup end to end through the scheduling layer: the monthly default schedule
of a job fires, the run gets a drive of the virtual library, the real engine writes a set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling.models import JobRun, Schedule
from scheduling.runner import execute_run
from scheduling.schedules import schedule_defaults_for_job, schedules_fire_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(vtl_root, tmp_path):
    from backups.models import BackupJob
    from tapes.models import MediaPool, MediaType
    from tapes.vtl import vtl_create

    vtl_create(name="lab", drives=1, slots=4, mailslots=1, tapes=2, capacity=16 << 20)
    pool = MediaPool.objects.create(name="daily", record_size=64 * 1024,
                                    media_type=MediaType.objects.get(name="LTO-8"))
    source = tmp_path / "home"
    source.mkdir()
    for n in range(20):
        (source / f"file{n}.txt").write_text(f"file {n}\n" * 100)
    return BackupJob.objects.create(name="home", sources=[str(source)], pool=pool)


def test_the_monthly_default_schedule_runs_a_backup_on_a_drive(job):
    schedule = schedule_defaults_for_job(job)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(1))
    [run] = schedules_fire_due()
    assert run.state == JobRun.State.QUEUED and run.drive.library.name == "lab"
    assert execute_run(run.pk) == JobRun.State.SUCCEEDED
    run.refresh_from_db()
    assert run.result.startswith("Backup set ") and run.result.endswith(": complete."), run.log
    assert run.files >= 20 and run.finished_at and not run.error


def test_a_backup_without_a_usable_tape_waits_for_media(job):
    from tapes.models import Tape
    from tapes.services import tape_move_offline

    for tape in Tape.objects.all():
        tape_move_offline(tape=tape, reason="test")
    from scheduling.services import run_enqueue

    run = run_enqueue(kind="backup", params={"job_id": job.pk, "level": "full"})
    assert execute_run(run.pk) == JobRun.State.WAITING_MEDIA
    run.refresh_from_db()
    assert run.waiting_reason == "Needs 1 scratch LTO-8 tape for pool daily.", run.log
    assert run.drive is None and run.waiting_for["pool"] == "daily"
