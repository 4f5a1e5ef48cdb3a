"""Server time of the console's pages on a big installation (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tapebackup \
        .venv/bin/python bench/console_bench.py

Builds (once; kept between runs) a database ``<name>_console_bench`` next to the one in
DATABASE_URL with one backup set of 1,000,000 catalog rows (100 × 10 directories of 1,000
files, plus one directory of 50,000), 10,000 job runs over 60 days, 40 sets, 3 libraries
with 12 drives and 200 tapes; then times each page through Django's test client (server
time: URL resolving, views, queries, templates; no network) and prints the median and the
slowest of ``--repeat`` requests and the number of queries. Target: under 300 ms each.
``--rebuild`` drops the data and makes it again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tapebackup.settings")

DIRS, SUBDIRS, FILES, BIG = 100, 10, 1000, 50_000
RUNS = 10_000
TARGET_MS = 300


def setup_database(rebuild: bool) -> None:
    import django
    from django.db import connection

    django.setup()
    if connection.vendor != "postgresql":
        sys.exit("The console benchmark runs on PostgreSQL: set DATABASE_URL.")
    name = connection.settings_dict["NAME"] + "_console_bench"
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": name}
    if rebuild and _exists(name):
        connection.creation._destroy_test_db(name, verbosity=0)
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=True)


def _exists(name: str) -> bool:
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def populate() -> None:
    from backups.models import BackupSet
    from tapes.models import Vault

    Vault.objects.get_or_create(name="bench-vault")  # the dashboard's off-site part runs
    if BackupSet.objects.filter(job__name="bench-big").exists():
        print("Using the data already in the benchmark database.")
        return
    started = time.perf_counter()
    _inventory()
    backup_set = _sets()
    _catalog(backup_set)
    _runs()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"Built the benchmark data in {time.perf_counter() - started:.0f} s.")


def _inventory() -> None:
    from django.contrib.auth.models import Group, User

    from tapes.models import MediaPool, Tape
    from tapes.roles import OPERATORS
    from tapes.services import library_create, tape_create

    user = User.objects.create_user("bench", password="bench")
    user.groups.add(Group.objects.get(name=OPERATORS))
    for n in range(3):
        library = library_create(name=f"lib{n}", drives=4, slots=80, mailslots=4)
        for slot in range(1, 67):
            tape_create(barcode=f"B{n}{slot:04d}L8", library=library, slot_number=slot)
    pools = [MediaPool.objects.create(name=name, min_scratch=4) for name in ("daily", "monthly")]
    tapes = list(Tape.objects.order_by("barcode"))
    for i, tape in enumerate(tapes[:140]):
        Tape.objects.filter(pk=tape.pk).update(pool=pools[i % 2], status=Tape.Status.FULL,
                                               bytes_written=random.randint(1, 12) * 10**12,
                                               mounts=random.randint(1, 900))


def _sets():
    from backups.models import BackupJob, BackupSegment, BackupSet
    from django.utils import timezone
    from tapes.models import MediaPool, MediaSet, Tape

    pool = MediaPool.objects.get(name="daily")
    now = timezone.now()
    jobs = [BackupJob.objects.create(name=f"bench-{n}", sources=[f"/srv/{n}"], pool=pool)
            for n in range(4)]
    BackupSet.objects.bulk_create([
        BackupSet(job=jobs[n % 4], status=BackupSet.Status.COMPLETE, files=10**6,
                  bytes=random.randint(1, 30) * 10**11, started_at=now - dt.timedelta(days=n),
                  finished_at=now - dt.timedelta(days=n) + dt.timedelta(hours=3))
        for n in range(40)])
    big = BackupJob.objects.create(name="bench-big", sources=["/data"], pool=pool)
    backup_set = BackupSet.objects.create(
        job=big, status=BackupSet.Status.COMPLETE, files=DIRS * SUBDIRS * FILES + BIG,
        bytes=10**13, started_at=now - dt.timedelta(hours=6), finished_at=now,
        media_set=MediaSet.objects.create(pool=pool))
    tape = Tape.objects.filter(pool=pool).first()
    BackupSegment.objects.create(backup_set=backup_set, tape=tape, sequence=0, data_file=1,
                                 index_file=2)
    return backup_set


def _catalog(backup_set) -> None:
    """1,050,000 rows through the engine's own loader (COPY on PostgreSQL)."""
    from backups.catalog_load import CatalogLoader
    from backups.paths import path_key

    segment = backup_set.segments.get()
    loader = CatalogLoader(batch_rows=50_000)
    record = 0

    def add(path: str, parent: str, name: str, kind: str, size: int) -> None:
        nonlocal record
        record += 1
        row = (backup_set.pk, segment.pk, path, path_key(path), parent, path_key(parent), name,
               kind, size, 0o644, 1000, 1000, "bench", "bench", 1_700_000_000 * 10**9, "", "",
               record, 0, 1, False)
        if loader.add(row):
            loader.flush()

    add("/data", "/", "data", "5", 0)
    for d in range(DIRS):
        top = f"/data/d{d:03d}"
        add(top, "/data", top.rsplit("/", 1)[1], "5", 0)
        for s in range(SUBDIRS):
            sub = f"{top}/s{s:02d}"
            add(sub, top, f"s{s:02d}", "5", 0)
            for f in range(FILES):
                add(f"{sub}/file{f:05d}.dat", sub, f"file{f:05d}.dat", "0", 4096 + f)
    add("/data/big", "/data", "big", "5", 0)
    for f in range(BIG):
        add(f"/data/big/f{f:06d}", "/data/big", f"f{f:06d}", "0", f)
    loader.flush()
    print(f"Loaded {loader.loaded} catalog rows in {loader.seconds:.0f} s.")


def _runs() -> None:
    from django.utils import timezone
    from scheduling.models import JobRun
    from tapes.models import Drive

    now = timezone.now()
    states = ["succeeded"] * 80 + ["warnings"] * 8 + ["failed"] * 7 + ["cancelled"] * 3 + \
        ["interrupted"] * 2
    kinds = ["backup"] * 6 + ["verify", "restore", "health", "retention"]
    runs = []
    for n in range(RUNS - 20):
        created = now - dt.timedelta(minutes=n * 8.6)
        runs.append(JobRun(kind=random.choice(kinds), state=random.choice(states),
                           created_at=created, started_at=created, files=random.randint(0, 10**6),
                           bytes=random.randint(0, 10**12), error="",
                           finished_at=created + dt.timedelta(minutes=30), log="done\n" * 20))
    drives = list(Drive.objects.order_by("pk")[:8])
    for drive in drives:
        runs.append(JobRun(kind="backup", state="running", drive=drive, created_at=now,
                           started_at=now, heartbeat_at=now, bytes=4 * 10**11,
                           total_bytes=10**12, rate=3e8, eta=now + dt.timedelta(hours=1)))
    for n in range(12):
        runs.append(JobRun(kind="backup", state="waiting_media", created_at=now,
                           waiting_reason="Needs 1 scratch LTO-8 tape for pool daily.",
                           waiting_since=now))
    JobRun.objects.bulk_create(runs, batch_size=2000)


def pages() -> list[tuple[str, str]]:
    from backups.models import BackupSet
    from tapes.models import Tape

    big = BackupSet.objects.get(job__name="bench-big")
    tape = Tape.objects.filter(segments__backup_set=big).first()
    return [
        ("dashboard", "/"),
        ("dashboard refresh (fragment)", "/live/"),
        ("runs list", "/runs/"),
        ("runs list, page 100", "/runs/?page=100"),
        ("runs list, failed only", "/runs/?state=failed"),
        ("catalog browse: sources", f"/restore/set/{big.pk}/"),
        ("catalog browse: 100 directories", f"/restore/set/{big.pk}/?dir=/data"),
        ("catalog browse: 1,000 files (first 200)", f"/restore/set/{big.pk}/?dir=/data/d050/s05"),
        ("catalog browse: 50,000 files, a page deep in",
         f"/restore/set/{big.pk}/?dir=/data/big&after=f041000"),
        ("restore calendar", f"/restore/job/{big.job_id}/"),
        ("tape page", f"/tapes/{tape.barcode}/"),
        ("library page", "/libraries/lib0/"),
        ("/metrics", "/metrics"),
        ("/health", "/health"),
    ]


def measure(repeat: int) -> list[tuple[str, float, float, int]]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    results = []
    for label, url in pages():
        assert client.get(url).status_code == 200, url  # warm: templates, connection
        times = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, url
        results.append((label, statistics.median(times), max(times), len(queries)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    setup_database(args.rebuild)
    populate()
    results = measure(args.repeat)
    print("\n| page | median ms | max ms | queries |\n|---|---:|---:|---:|")
    for label, median, worst, queries in results:
        flag = "" if worst < TARGET_MS else " **over target**"
        print(f"| {label} | {median:.1f} | {worst:.1f} | {queries} |{flag}")
    slow = [r for r in results if r[2] >= TARGET_MS]
    sys.exit(1 if slow else 0)


if __name__ == "__main__":
    main()
