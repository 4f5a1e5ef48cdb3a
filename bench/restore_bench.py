"""Restore benchmark: seek vs scan, whole-set throughput against GNU tar, and catalog
find / browse on one million rows, on SQLite and PostgreSQL.

    .venv/bin/python bench/restore_bench.py [--files 200000] [--large-mib 1024] \
        [--rows 1000000] [--postgres postgres://postgres@127.0.0.1:5432/tapebackup_bench]

Each part runs in its own process with its own data directory (SQLite) or database
(PostgreSQL, dropped and recreated). The backups are made by the real engine on a virtual
tape; restores go through the real restore service (tape load, label check, locate, safe
extraction with checksums). GNU tar reads the same cartridge tape file. Results and the
command are appended to docs/benchmarks.md. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = 256 * 1024


def _django(work: Path, database_url: str | None = None) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tapebackup.settings"
    os.environ["TAPEBACKUP_DATA_DIR"] = str(work / "data")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _library(capacity: int):
    from django.conf import settings

    from tapes.models import Drive, MediaPool, MediaType
    from tapes.vtl import vtl_create

    library = vtl_create(name="bench", drives=1, slots=4, mailslots=1, tapes=2, capacity=capacity)
    pool = MediaPool.objects.create(name="bench", record_size=RECORD,
                                    media_type=MediaType.objects.get(name="LTO-8"))
    return library, Drive.objects.get(library=library), pool, settings.VTL_ROOT


def _backup(source: Path, name: str, pool, drive):
    from backups.context import JobContext
    from backups.engine import backup_run
    from backups.models import BackupJob

    job = BackupJob.objects.create(name=name, sources=[str(source)], pool=pool)
    return backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())


def _tar_x(args: list, cwd: Path) -> float:
    cwd.mkdir(parents=True, exist_ok=True)
    seconds, _ = _timed(lambda: subprocess.run(["tar", *args], cwd=cwd, check=True,
                                               stdout=subprocess.DEVNULL))
    return seconds


def _drop_caches() -> None:
    """Reads come from the page cache for both contenders alike; say so, change nothing."""


def _settle() -> None:
    """Write back what earlier steps left dirty, so neither contender pays for the other's
    files (creating many small files is mostly the file system's work)."""
    os.sync()


# -- part 1: seek vs scan, on a set of many small files ----------------------------------------


def part_seek(work: Path, files: int) -> dict:
    _django(work)
    from backups.context import JobContext
    from backups.restore import restore_set

    source = work / "small"
    source.mkdir()
    payload = os.urandom(1024)
    per_dir = 1000
    for i in range(files):
        if i % per_dir == 0:
            (source / f"d{i // per_dir:04d}").mkdir()
        (source / f"d{i // per_dir:04d}" / f"f{i:06d}").write_bytes(payload)
    library, drive, pool, vtl = _library(4 << 30)
    backup_seconds, backup_set = _timed(lambda: _backup(source, "small", pool, drive))
    segment = backup_set.segments.get()
    tape_file = vtl / "cartridges" / segment.tape.barcode / "files" / f"{segment.data_file:06d}.tape"
    first = source / "d0000" / "f000000"
    last = source / f"d{(files - 1) // per_dir:04d}" / f"f{files - 1:06d}"
    out = {"files": files, "set_files": backup_set.files, "backup_s": backup_seconds,
           "tape_file_mib": tape_file.stat().st_size / (1 << 20)}
    for label, path in (("first", first), ("last", last)):
        times = []
        for attempt in range(3):
            target = work / f"one-{label}-{attempt}"
            seconds, report = _timed(lambda: restore_set(
                backup_set=backup_set, target=target, paths=[str(path)], context=JobContext()))
            assert report.ok and report.extract.files == 1, report.as_dict()
            times.append(seconds)
        out[f"restore_{label}_s"] = min(times)
    member = str(last).lstrip("/")
    out["tar_last_s"] = min(_tar_x(["-xf", str(tape_file), member], work / f"tar-last-{n}")
                            for n in range(2))
    ours, tar = [], []
    for attempt in range(2):  # alternately, the best of two each: the disk is noisy
        _settle()
        seconds, report = _timed(lambda: restore_set(
            backup_set=backup_set, target=work / f"all-{attempt}", context=JobContext()))
        assert report.ok, report.summary()
        ours.append(seconds)
        _settle()
        tar.append(_tar_x(["-xpf", str(tape_file)], work / f"tar-all-{attempt}"))
    out["restore_all_s"], out["tar_all_s"] = min(ours), min(tar)
    out["restore_all_runs"], out["tar_all_runs"] = ours, tar
    return out


# -- part 2: whole-set throughput on large files -----------------------------------------------


def part_throughput(work: Path, mib: int) -> dict:
    _django(work)
    from backups.context import JobContext
    from backups.restore import restore_set

    source = work / "large"
    source.mkdir()
    block = os.urandom(16 << 20)
    for i in range(4):
        with open(source / f"large{i}.bin", "wb") as f:
            for _ in range(mib // 4 // 16):
                f.write(block)
    library, drive, pool, vtl = _library((mib + 512) << 20)
    backup_set = _backup(source, "large", pool, drive)
    segment = backup_set.segments.get()
    tape_file = vtl / "cartridges" / segment.tape.barcode / "files" / f"{segment.data_file:06d}.tape"
    total = backup_set.bytes
    ours, report = _timed(lambda: restore_set(backup_set=backup_set, target=work / "ours",
                                              context=JobContext()))
    assert report.ok, report.as_dict()
    shutil.rmtree(work / "ours")
    tar = _tar_x(["-xpf", str(tape_file)], work / "tar")
    shutil.rmtree(work / "tar")
    ours2, _ = _timed(lambda: restore_set(backup_set=backup_set, target=work / "ours2",
                                          context=JobContext()))
    ours = min(ours, ours2)
    return {"mib": total / (1 << 20), "restore_s": ours, "tar_s": tar,
            "restore_mib_s": total / (1 << 20) / ours, "tar_mib_s": total / (1 << 20) / tar}


# -- part 3: catalog find and browse on 1M rows -------------------------------------------------


def part_catalog(work: Path, rows: int, database_url: str | None) -> dict:
    _django(work, database_url)
    from django.db import connection

    from backups.catalog_load import CatalogLoader
    from backups.catalog_search import catalog_browse, catalog_find
    from backups.models import BackupJob, BackupSegment, BackupSet
    from backups.paths import path_key
    from django.utils import timezone
    from tapes.models import MediaPool
    from tapes.services import tape_create

    pool = MediaPool.objects.create(name="bench")
    job = BackupJob.objects.create(name="big", sources=["/srv"], pool=pool)
    backup_set = BackupSet.objects.create(job=job, status="complete", started_at=timezone.now())
    segment = BackupSegment.objects.create(backup_set=backup_set, tape=tape_create(barcode="BE0001L8"),
                                           sequence=0, data_file=1)
    loader = CatalogLoader()
    per_dir = 1000
    started = time.perf_counter()
    for d in range(rows // per_dir):
        parent = f"/srv/data/d{d:04d}"
        loader.add((backup_set.pk, segment.pk, parent, path_key(parent), "/srv/data",
                    path_key("/srv/data"), f"d{d:04d}", "5", 0, 0o755, 0, 0, "root", "root", 0,
                    "", "", d * 10, 0, 1, False))
        for f in range(per_dir):
            name = f"f{f:04d}.{'log' if f % 100 == 0 else 'txt'}"
            path = f"{parent}/{name}"
            values = (backup_set.pk, segment.pk, path, path_key(path), parent, path_key(parent),
                      name, "0", 1000 + f, 0o644, 0, 0, "root", "root", 0, "ab" * 32, "",
                      d * 10, 0, 1, False)
            if loader.add(values):
                loader.flush()
    loader.flush()
    load_s = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE backups_catalogentry")
    queries = {
        "find substring '0777/f0123'": lambda: catalog_find("0777/f0123"),
        "find glob name 'f0123.*'": lambda: catalog_find("f0123.*", limit=100),
        "find glob path '/srv/data/d0777/*.log'": lambda: catalog_find("/srv/data/d0777/*.log"),
        "browse one directory (1000 entries)": lambda: catalog_browse(
            backup_set=backup_set, directory="/srv/data/d0777"),
        "browse /srv/data (1000 subdirectories, with counts)": lambda: catalog_browse(
            backup_set=backup_set, directory="/srv/data"),
    }
    out = {"rows": rows, "db": connection.vendor, "load_s": load_s}
    out.update(_run_queries(queries))
    if connection.vendor == "postgresql":
        from backups.search_index import search_index_enable

        search_index_enable()  # `catalog search-index on`: the optional trigram index
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE backups_catalogentry")
        out.update({f"{k} [trigram]": v for k, v in _run_queries(queries).items()
                    if k.startswith("find")})
    return out


def _run_queries(queries) -> dict:
    out = {}
    for label, call in queries.items():
        call()  # warm
        times = []
        for _ in range(3):
            seconds, result = _timed(call)
            times.append(seconds)
        out[label] = round(min(times) * 1000, 1)
    return out


# -- driver -------------------------------------------------------------------------------------


def _child(args) -> dict:
    work = Path(args.work)
    if args.part == "seek":
        return part_seek(work, args.files)
    if args.part == "throughput":
        return part_throughput(work, args.large_mib)
    return part_catalog(work, args.rows, args.database_url)


def _spawn(part: str, extra: list[str], database_url: str | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"restore-bench-{part}-"))
    try:
        cmd = [sys.executable, __file__, "--child", part, "--work", str(work), *extra]
        if database_url:
            cmd += ["--database-url", database_url]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fresh_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    base = url.rsplit("/", 1)[0] + "/postgres"
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", base, "-q", "-c", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/tapebackup_bench")
    parser.add_argument("--parts", default="seek,throughput,catalog")
    parser.add_argument("--child")
    parser.add_argument("--work")
    parser.add_argument("--database-url")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if args.child:
        args.part = args.child
        print(json.dumps(_child(args)))
        return
    parts = args.parts.split(",")
    results = {}
    if "seek" in parts:
        results["seek"] = _spawn("seek", ["--files", str(args.files)])
        print(json.dumps(results["seek"]), flush=True)
    if "throughput" in parts:
        results["throughput"] = _spawn("throughput", ["--large-mib", str(args.large_mib)])
        print(json.dumps(results["throughput"]), flush=True)
    if "catalog" in parts:
        results["catalog_sqlite"] = _spawn("catalog", ["--rows", str(args.rows)])
        print(json.dumps(results["catalog_sqlite"]), flush=True)
        if args.postgres:
            _fresh_postgres(args.postgres)
            results["catalog_postgres"] = _spawn("catalog", ["--rows", str(args.rows)], args.postgres)
            print(json.dumps(results["catalog_postgres"]), flush=True)
    if not args.no_record:
        _record(results, " ".join(["bench/restore_bench.py", *sys.argv[1:]]))


def _record(results: dict, command: str) -> None:
    lines = ["", "## Restore", "", f"Command: `.venv/bin/python {command}` "
             f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, virtual tape on the same disk, "
             "page cache warm for both contenders).", ""]
    seek = results.get("seek")
    if seek:
        lines += [f"Seek vs scan, a set of {seek['set_files']} entries ({seek['files']} files of "
                  f"1 KiB, tape file {seek['tape_file_mib']:.0f} MiB):", "",
                  "| what | seconds |", "|---|---|",
                  f"| restore the first file | {seek['restore_first_s']:.3f} |",
                  f"| restore the last file | {seek['restore_last_s']:.3f} |",
                  f"| ratio last / first (target ≤ 2) | {seek['restore_last_s'] / seek['restore_first_s']:.2f} |",
                  f"| GNU tar: extract the last file from the cartridge file | {seek['tar_last_s']:.3f} |",
                  f"| restore the whole set | {seek['restore_all_s']:.1f} |",
                  f"| GNU tar -x of the whole set | {seek['tar_all_s']:.1f} |",
                  f"| ratio (files/s ours / tar) | {seek['tar_all_s'] / seek['restore_all_s']:.2f} |", ""]
    big = results.get("throughput")
    if big:
        lines += [f"Whole-set throughput, {big['mib']:.0f} MiB in 4 large files:", "",
                  "| what | seconds | MiB/s |", "|---|---|---|",
                  f"| restore (checksums, safe mode) | {big['restore_s']:.2f} | {big['restore_mib_s']:.0f} |",
                  f"| GNU tar -x | {big['tar_s']:.2f} | {big['tar_mib_s']:.0f} |",
                  f"| ratio (target ≥ 0.8) | | {big['restore_mib_s'] / big['tar_mib_s']:.2f} |", ""]
    for key in ("catalog_sqlite", "catalog_postgres"):
        cat = results.get(key)
        if not cat:
            continue
        lines += [f"Catalog on {cat['rows']:,} rows, {cat['db']} (rows loaded in {cat['load_s']:.0f} s):",
                  "", "| query | ms |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in cat.items() if k not in ("rows", "db", "load_s")]
        lines.append("")
    with open(ROOT / "docs" / "benchmarks.md", "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
