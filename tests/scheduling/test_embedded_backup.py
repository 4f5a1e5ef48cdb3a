"""The embedded default end to end: one qcluster on the same database as the web server
(SQLite in WAL mode by default) carries out a scheduled backup with the real engine on the
virtual library while the web pages are being used — and nobody sees "database is locked".
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from scheduling.models import JobRun, Schedule
from scheduling.schedules import schedule_defaults_for_job, schedules_fire_due
from tests.scheduling.clusters import clusters, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def job(tmp_path, vtl_root):
    from backups.models import BackupJob
    from tapes.models import MediaPool, MediaType
    from tapes.vtl import vtl_create

    vtl_create(name="embedded", drives=1, slots=4, mailslots=1, tapes=2, capacity=64 << 20)
    pool = MediaPool.objects.create(name="daily", record_size=64 * 1024,
                                    media_type=MediaType.objects.get(name="LTO-8"))
    source = tmp_path / "home"
    for d in range(10):
        (source / f"dir{d}").mkdir(parents=True)
        for n in range(40):
            (source / f"dir{d}" / f"file{n}.txt").write_text(f"{d}/{n}\n" * 200)
    (source / "big.bin").write_bytes(bytes(range(256)) * 40_000)  # 10 MB
    return BackupJob.objects.create(name="home", sources=[str(source)], pool=pool)


def _browse_and_write(stop: threading.Event, errors: list, user) -> None:
    """A busy operator: pages read, sessions written, a schedule toggled, again and again."""
    client = Client()
    try:
        while not stop.is_set():
            client.force_login(user)  # writes a session row
            for url in ("/", "/live/", "/runs/", "/tapes/"):
                response = client.get(url)
                if response.status_code != 200:
                    errors.append(f"{url}: {response.status_code}")
            Schedule.objects.filter(name="Hourly health check").update(
                enabled=True, updated_at=timezone.now())
            time.sleep(0.05)
    except Exception as exc:  # noqa: BLE001 — reported by the test, whatever it is
        errors.append(repr(exc))
    finally:
        connection.close()


def test_a_scheduled_backup_runs_on_the_cluster_under_concurrent_web_use(job, ada, tmp_path):
    schedule = schedule_defaults_for_job(job)
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timezone.timedelta(minutes=1))
    stop, errors = threading.Event(), []
    browser = threading.Thread(target=_browse_and_write, args=(stop, errors, ada))
    with clusters(tmp_path, "tapebackup") as started:
        browser.start()
        try:
            [run] = schedules_fire_due()  # what the every-minute tick does
            wait_for(lambda: JobRun.objects.get(pk=run.pk).state not in JobRun.ACTIVE,
                     timeout=120, interval=0.5, message=started[0].output()[-4000:])
        finally:
            stop.set()
            browser.join()
        output = started[0].output()
    run.refresh_from_db()
    assert run.state == JobRun.State.SUCCEEDED, (run.error, run.log, output[-3000:])
    assert run.cluster == "tapebackup" and run.files >= 400
    assert run.result.endswith(": complete."), run.result
    assert not errors, errors
    assert "database is locked" not in output and "Could not" not in output, output[-3000:]
