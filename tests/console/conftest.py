"""The console cast: a small installation with something on every page.

``scene`` is made from rows only (no virtual tapes on disk) so the page tests are fast;
the browser tests (``test_browser.py``) run the real engine on a virtual library instead.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
from backups.paths import path_key, split_path
from scheduling.models import ClusterHeartbeat, HealthReport, JobRun, Schedule
from tapes.models import MediaPool, MediaSet, PickList, Tape, Vault


def catalog_row(backup_set, segment, path: str, *, type_: str = "0", size: int = 10,
                record: int = 0) -> CatalogEntry:
    parent, name = split_path(path)
    return CatalogEntry(backup_set=backup_set, segment=segment, path=path, path_key=path_key(path),
                        parent=parent, parent_key=path_key(parent), name=name, type=type_,
                        size=size, record=record, offset=0, mode=0o644)


@pytest.fixture
def scene(inventory_library, olga):
    """Library lib1 (tapes TST001L8-TST004L8 in slots 1-4), pool daily, job home with one
    complete set on TST001L8 (/srv/home with a few files), runs in several states, a
    schedule, a health report, a cluster heartbeat and a send pick list."""
    library = inventory_library
    pool = MediaPool.objects.create(name="daily", min_scratch=5)
    media_set = MediaSet.objects.create(pool=pool)
    tape = Tape.objects.get(barcode="TST001L8")
    Tape.objects.filter(pk=tape.pk).update(pool=pool, media_set=media_set, sequence=0,
                                           status=Tape.Status.WRITABLE, bytes_written=5000)
    job = BackupJob.objects.create(name="home", sources=["/srv/home"], pool=pool)
    now = timezone.now()
    backup_set = BackupSet.objects.create(job=job, status=BackupSet.Status.COMPLETE,
                                          started_at=now - dt.timedelta(hours=3),
                                          finished_at=now - dt.timedelta(hours=2), files=5,
                                          bytes=40, media_set=media_set)
    segment = BackupSegment.objects.create(backup_set=backup_set, tape=tape, sequence=0,
                                           data_file=1, index_file=2)
    CatalogEntry.objects.bulk_create([
        catalog_row(backup_set, segment, "/srv/home", type_="5", size=0),
        catalog_row(backup_set, segment, "/srv/home/ada", type_="5", size=0, record=1),
        catalog_row(backup_set, segment, "/srv/home/ada/notes.txt", record=2),
        catalog_row(backup_set, segment, "/srv/home/ada/plan.txt", record=3),
        catalog_row(backup_set, segment, "/srv/home/readme", record=4),
    ])
    drive = library.drives.get(index=0)
    running = JobRun.objects.create(kind="backup", params={"job_id": job.pk}, drive=drive,
                                    state=JobRun.State.RUNNING, requested_by=olga,
                                    started_at=now, heartbeat_at=now, bytes=500,
                                    total_bytes=1000, files=3, rate=100.0,
                                    eta=now + dt.timedelta(seconds=5), log="line one\nline two")
    waiting = JobRun.objects.create(kind="backup", params={"job_id": job.pk},
                                    state=JobRun.State.WAITING_MEDIA,
                                    waiting_reason="Needs 1 scratch LTO-8 tape for pool daily.",
                                    waiting_since=now)
    failed = JobRun.objects.create(kind="verify", params={"tape": "TST001L8"},
                                   state=JobRun.State.FAILED, error="The drive went away.",
                                   finished_at=now)
    JobRun.objects.create(kind="backup", params={"job_id": job.pk},
                          state=JobRun.State.SUCCEEDED, finished_at=now, bytes=40, files=5)
    schedule = Schedule.objects.create(name="home nightly", kind="backup",
                                       params={"job_id": job.pk}, cron="0 2 * * *")
    HealthReport.objects.create(status=HealthReport.Status.WARNING,
                                reasons=["Pool daily has 3 scratch tape(s) in the library."])
    ClusterHeartbeat.objects.create(cluster="tapebackup", host="node-a", pid=42)
    vault = Vault.objects.create(name="ironmountain")
    pick = PickList.objects.create(kind=PickList.Kind.SEND, vault=vault, library=library)
    pick.tapes.add(tape)
    return SimpleNamespace(library=library, pool=pool, tape=tape, job=job, set=backup_set,
                           segment=segment, drive=drive, running=running, waiting=waiting,
                           failed=failed, schedule=schedule)
