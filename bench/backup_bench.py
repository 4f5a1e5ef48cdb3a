"""Backup engine benchmark: the real engine (with checksums and catalog) against GNU tar
writing the same tree with the same record size, in one run, on the same disk.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tapebackup \
        .venv/bin/python bench/backup_bench.py [--large-gib 2] [--small-files 100000] \
        [--profiles large small] [--catalog-rows 100000 1000000]

(``--profiles small --catalog-rows`` with no numbers: the small-file comparison alone.)
The engine's time starts after Django's start-up and migrate check (one-off costs of the
measuring process, not of a run); its CPU is reported whole and within the run.

Each measurement runs in its own process so that peak RSS (ru_maxrss) is its own. Results
and the command are recorded in docs/benchmarks.md. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = 256 * 1024


def _django(work: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tapebackup.settings")
    os.environ["TAPEBACKUP_DATA_DIR"] = str(work / "data")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- trees -----------------------------------------------------------------------------------


def make_large(path: Path, gib: float) -> None:
    path.mkdir(parents=True)
    total, n = int(gib * (1 << 30)), 4
    block = os.urandom(16 << 20)
    for i in range(n):
        with open(path / f"large{i}.bin", "wb") as f:
            left = total // n
            while left > 0:
                f.write(block[: min(len(block), left)])
                left -= len(block)


def make_small(path: Path, count: int) -> None:
    path.mkdir(parents=True)
    payload = os.urandom(8192)
    for i in range(count):
        d = path / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            d.mkdir()
        with open(d / f"f{i:07d}.txt", "wb") as f:
            f.write(payload[: 512 + (i * 37) % 3584])


# -- phases (each in its own process) ----------------------------------------------------------


def phase_tar(work: Path, source: Path) -> dict:
    out = work / "tar.out"
    started = time.perf_counter()
    subprocess.run(["tar", "--format=pax", "-b", "512", "-cf", str(out), str(source)],
                   check=True, stderr=subprocess.DEVNULL)
    os.sync()
    seconds = time.perf_counter() - started
    size = out.stat().st_size
    out.unlink()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seconds": seconds, "bytes": size, "cpu_seconds": usage.ru_utime + usage.ru_stime}


def phase_engine(work: Path, source: Path, name: str) -> dict:
    _django(work)
    from backups.context import JobContext
    from backups.engine import backup_run
    from backups.models import BackupJob, CatalogEntry
    from tapes.models import Drive, MediaPool
    from tapes.vtl import vtl_create

    name = _free_name(name)
    library = vtl_create(name=name, drives=1, slots=2, tapes=1, capacity=64 << 30)
    pool = MediaPool.objects.create(name=name, record_size=RECORD, allocation="always")
    job = BackupJob.objects.create(name=name, sources=[str(source)], pool=pool)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    backup_set = backup_run(job_id=job.pk, drive_id=Drive.objects.get(library=library).pk,
                            context=JobContext())
    os.sync()
    seconds = time.perf_counter() - started
    stats = backup_set.stats
    result = {"seconds": seconds, "files": backup_set.files, "bytes": backup_set.bytes,
              "status": backup_set.status, "wait_seconds": stats.wait_seconds,
              "catalog_rows": stats.catalog_rows, "catalog_seconds": stats.catalog_seconds,
              "catalog_wait_seconds": stats.catalog_wait_seconds,
              "cpu_seconds": _cpu_seconds(), "run_cpu_seconds": _cpu_seconds() - cpu_before,
              "reader_cpu_seconds": _cpu_seconds(children=True),
              "peak_rss_mib": _peak_rss_mib()}
    _drop_rows(CatalogEntry.objects.filter(backup_set=backup_set))
    return result


def phase_catalog(work: Path, rows: int, name: str) -> dict:
    """Catalog load alone: ``rows`` synthetic rows through the engine's loader."""
    _django(work)
    from django.utils import timezone

    from backups.catalog_load import CatalogLoader
    from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
    from backups.paths import path_key
    from tapes.models import MediaPool, Tape

    pool = MediaPool.objects.create(name=name)
    job = BackupJob.objects.create(name=name, sources=["/x"], pool=pool)
    backup_set = BackupSet.objects.create(job=job, started_at=timezone.now(), status="failed")
    tape = Tape.objects.create(barcode=f"BC{os.getpid() % 10000:04d}L8",
                               media_type_id=_lto8())
    segment = BackupSegment.objects.create(backup_set=backup_set, tape=tape, sequence=0,
                                           data_file=1)
    loader = CatalogLoader(background=True)  # as the engine loads
    started = time.perf_counter()
    for i in range(rows):
        parent = f"/srv/data/d{i // 1000:05d}"
        path = f"{parent}/file-{i:08d}.txt"
        if loader.add((backup_set.pk, segment.pk, path, path_key(path), parent, path_key(parent),
                       f"file-{i:08d}.txt", "0", 4096, 0o644, 1000, 1000, "alice", "staff",
                       1_700_000_000_000_000_000 + i, "ab" * 32, "", i // 50, (i % 50) * 5120,
                       1, False)):
            loader.flush()
    loader.finish()
    loader.close()
    seconds = time.perf_counter() - started
    result = {"rows": rows, "seconds": seconds, "load_seconds": loader.seconds,
              "peak_rss_mib": _peak_rss_mib()}
    _drop_rows(CatalogEntry.objects.filter(backup_set=backup_set))
    segment.delete()
    tape.delete()
    return result


def _cpu_seconds(*, children: bool = False) -> float:
    """This process's CPU time, or with ``children`` its children's (the engine's reader
    process, waited for at the end of the run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _drop_rows(rows) -> None:
    """Delete a run's rows, and on PostgreSQL vacuum them away: dead rows of earlier runs
    (1.7 million once, 787 MB) made every later COPY slower."""
    from django.db import connection

    rows.delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f'VACUUM "{rows.model._meta.db_table}"')


def _free_name(name: str) -> str:
    """A library name whose barcode prefix (its first two letters) no tape in the database
    uses yet: earlier bench runs leave their tapes in the inventory."""
    import itertools
    import string

    from tapes.models import Tape

    for a, b in itertools.product(string.ascii_uppercase, repeat=2):
        if not Tape.objects.filter(barcode__startswith=a + b).exists():
            return f"{a}{b}{name}"
    raise SystemExit("No free barcode prefix left for the bench library.")


def _lto8() -> int:
    from tapes.models import MediaType

    return MediaType.objects.get(name="LTO-8").pk


# -- driver ---------------------------------------------------------------------------------


def _sub(work: Path, *args) -> dict:
    done = subprocess.run([sys.executable, __file__, "--work", str(work), "--phase", *args],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"The {args[0]} phase failed:\n{done.stderr[-3000:]}")
    out = done.stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/tapebackup-bench"))
    parser.add_argument("--large-gib", type=float, default=2.0)
    parser.add_argument("--small-files", type=int, default=100_000)
    parser.add_argument("--catalog-rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--profiles", nargs="+", choices=("large", "small"),
                        default=["large", "small"], help="which trees to measure")
    parser.add_argument("--phase", nargs="+")
    args = parser.parse_args()
    if args.phase:
        kind, *rest = args.phase
        result = {"tar": lambda: phase_tar(args.work, Path(rest[0])),
                  "engine": lambda: phase_engine(args.work, Path(rest[0]), rest[1]),
                  "catalog": lambda: phase_catalog(args.work, int(rest[0]), rest[1])}[kind]()
        print(json.dumps(result))
        return
    run(args)


def run(args) -> None:
    work = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    tag = f"b{int(time.time()) % 100000}"
    print(f"database: {os.environ.get('DATABASE_URL', 'SQLite')}; work dir {work}")
    if "large" in args.profiles:
        make_large(work / "large", args.large_gib)
    if "small" in args.profiles:
        make_small(work / "small", args.small_files)
    report = {}
    for profile in args.profiles:
        source = work / profile
        tar = _sub(work, "tar", str(source))
        print(f"load average before the engine: {os.getloadavg()[0]:.2f}")
        engine = _sub(work, "engine", str(source), f"{tag}{profile}")
        report[profile] = {"tar": tar, "engine": engine}
        mb = engine["bytes"] / 1e6
        print(f"\n[{profile}] {engine['files']} files, {mb:,.0f} MB  ({engine['status']})")
        print(f"  tar    {tar['seconds']:7.2f} s  {tar['bytes'] / 1e6 / tar['seconds']:8.1f} MB/s"
              f"  {engine['files'] / tar['seconds']:9.0f} files/s  CPU {tar['cpu_seconds']:.1f} s")
        print(f"  engine {engine['seconds']:7.2f} s  {mb / engine['seconds']:8.1f} MB/s"
              f"  {engine['files'] / engine['seconds']:9.0f} files/s"
              f"  drive waited {engine['wait_seconds']:.2f} s"
              f"  catalog {engine['catalog_rows'] / max(engine['catalog_seconds'], 1e-9):,.0f} "
              f"rows/s (writer waited {engine['catalog_wait_seconds']:.2f} s)"
              f"  CPU {engine['cpu_seconds']:.1f} s ({engine['run_cpu_seconds']:.1f} s in the run)"
              f" + reader {engine['reader_cpu_seconds']:.1f} s"
              f"  peak RSS {engine['peak_rss_mib']:.0f} MiB")
        print(f"  ratio (engine/tar speed): {tar['seconds'] / engine['seconds']:.2f}x")
    for rows in args.catalog_rows:
        cat = _sub(work, "catalog", str(rows), f"{tag}c{rows}")
        report[f"catalog_{rows}"] = cat
        print(f"\n[catalog only] {rows:,} rows: {rows / cat['seconds']:,.0f} rows/s overall, "
              f"{rows / cat['load_seconds']:,.0f} rows/s in COPY/bulk_create, "
              f"peak RSS {cat['peak_rss_mib']:.0f} MiB")
    (work / "report.json").write_text(json.dumps(report, indent=1))
    for profile in args.profiles:
        shutil.rmtree(work / profile)
    shutil.rmtree(work / "data" / "vtl", ignore_errors=True)


if __name__ == "__main__":
    main()
