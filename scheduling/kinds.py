"""The job kinds: each adapter calls exactly one service.

``health`` and ``inventory`` are ours and the inventory's; ``backup``, ``restore``,
``verify`` and ``retention`` call the contracts the backup engine issues deliver, imported
lazily: until a module exists its runs fail with "This job kind is not available yet."
``sleep`` is a test-only kind (TAPEBACKUP_TEST_JOB_KINDS) the multi-process tests count
executions with.
"""

from __future__ import annotations

import importlib
import os
import time

from backups.errors import JobError, NeedsMedia
from scheduling import conf
from scheduling.registry import KindNotAvailable, job_kind

DRIVE_JOB_TIMEOUT = lambda params: conf.job_timeout_seconds()  # noqa: E731


def _service(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise KindNotAvailable("This job kind is not available yet.") from None


def _media_type(params: dict) -> str | None:
    return params.get("media_type") or None


@job_kind("health", label="Health check", timeout=300)
def health(*, run, context, drive_id=None) -> str:
    from scheduling.health import health_check

    report = health_check()
    for reason in report.reasons:
        context.log(reason, level="warning" if report.status != "ok" else "info")
    return f"{report.get_status_display()}: {len(report.reasons)} finding(s)."


def _library_node(params: dict) -> str | None:
    from tapes.models import Library

    library = Library.objects.filter(name=params.get("library")).first()
    return library.node if library else None


@job_kind("inventory", label="Library inventory", timeout=3600, node=_library_node)
def inventory(*, run, context, drive_id=None) -> str:
    from tapes.models import Library

    library_inventory = _service("tapes.media", "library_inventory")
    library = Library.objects.filter(name=run.params.get("library")).first()
    if library is None:
        raise JobError(f"There is no library named {run.params.get('library')!r}.")
    report = library_inventory(library=library, user=run.requested_by)
    for problem in getattr(report, "problems", []):
        context.log(problem, level="warning")
    return report.summary() if hasattr(report, "summary") else "Inventory done."


def _backup_media_type(params: dict) -> str | None:
    """The media type of the job's pool, so the run gets a drive that writes it."""
    if params.get("media_type"):
        return params["media_type"]
    from backups.models import BackupJob

    job = BackupJob.objects.filter(pk=params.get("job_id")).select_related(
        "pool__media_type").first()
    media_type = job.pool.media_type if job is not None else None
    return media_type.name if media_type is not None else None


@job_kind("backup", label="Backup", needs_drive=True, media_type=_backup_media_type,
          timeout=DRIVE_JOB_TIMEOUT)
def backup(*, run, context, drive_id=None) -> str:
    return backup_set_run(run.params, context=context, drive_id=drive_id)[1]


def backup_set_run(params: dict, *, context, drive_id) -> tuple[object, str]:
    """The backup kind's work, for a command that wants the set too: the set and the run's
    result text; a failed set raises."""
    backup_run = _service("backups.engine", "backup_run")
    backup_set = backup_run(job_id=int(params["job_id"]), level=params.get("level", "full"),
                            drive_id=drive_id, context=context)
    status = str(getattr(backup_set, "status", "")).lower().replace("_", " ")
    if "fail" in status:
        raise JobError(f"Backup set {backup_set.pk} failed; see the run's log.")
    if "warning" in status:
        context.log(f"Backup set {backup_set.pk} completed with warnings.", level="warning")
    return backup_set, f"Backup set {backup_set.pk}: {status or 'done'}."


def _tapes_library(params: dict) -> str | None:
    """The library holding the first tape of the set (or the tape) a run reads."""
    from tapes.models import Tape

    tapes = Tape.objects.filter(library__isnull=False)
    if params.get("tape"):
        tape = tapes.filter(barcode=params["tape"]).select_related("library").first()
    elif params.get("set_id"):
        tape = (tapes.filter(segments__backup_set_id=params["set_id"])
                .order_by("segments__sequence").select_related("library").first())
    elif params.get("job"):
        tape = (tapes.filter(segments__backup_set__job__name=params["job"])
                .order_by("-segments__backup_set__started_at", "segments__sequence")
                .select_related("library").first())
    else:
        tape = None
    return tape.library.name if tape is not None else None


@job_kind("restore", label="Restore", needs_drive=True, media_type=_media_type,
          library=_tapes_library, timeout=DRIVE_JOB_TIMEOUT)
def restore(*, run, context, drive_id=None) -> str:
    restore_run = _service("backups.restore", "restore_run")
    return _text(restore_run(context=context, drive_id=drive_id, **run.params))


@job_kind("verify", label="Verify", needs_drive=True, media_type=_media_type,
          library=_tapes_library, timeout=DRIVE_JOB_TIMEOUT)
def verify(*, run, context, drive_id=None) -> str:
    verify_run = _service("backups.verify", "verify_run")
    return _text(verify_run(context=context, drive_id=drive_id, **run.params))


@job_kind("retention", label="Retention check", timeout=3600)
def retention(*, run, context, drive_id=None) -> str:
    """The retention check, then the scheduler's own history (``scheduling.history``)."""
    from scheduling.history import history_prune, history_prune_text

    retention_run = _service("backups.retention", "retention_run")
    dry_run = bool(run.params.get("dry_run"))
    result = _text(retention_run(context=context, dry_run=dry_run))
    context.log(history_prune_text(history_prune(dry_run=dry_run), dry_run=dry_run))
    return result


@job_kind("label", label="Label tapes", needs_drive=True, media_type=_media_type)
def label(*, run, context, drive_id=None) -> str:
    """Label ``params['barcodes']`` one after another in the reserved drive."""
    from tapes.models import Drive, MediaPool, Tape

    tape_label_in_library = _service("tapes.media", "tape_label_in_library")
    params = run.params
    pool = MediaPool.objects.filter(name=params["pool"]).first() if params.get("pool") else None
    if params.get("pool") and pool is None:
        raise JobError(f"There is no pool named {params['pool']!r}.")
    drive = Drive.objects.select_related("library").get(pk=drive_id)
    labelled = []
    for barcode in params.get("barcodes", []):
        context.check_cancelled()
        tape = Tape.objects.filter(barcode=barcode).first()
        if tape is None:
            raise JobError(f"There is no tape with barcode {barcode!r} in the inventory.")
        tape_label_in_library(tape=tape, pool=pool, drive=drive, user=run.requested_by,
                              force_foreign=bool(params.get("force_foreign")))
        labelled.append(barcode)
        context.progress(files=len(labelled), total_files=len(params.get("barcodes", [])),
                         current=barcode)
    return f"Labelled {len(labelled)} tape(s)."


@job_kind("clean", label="Clean a drive", needs_drive=True)
def clean(*, run, context, drive_id=None) -> str:
    """Clean the reserved drive (``params['drive_id']`` names the one that asked)."""
    from tapes.models import Drive

    drive_clean = _service("tapes.cleaning", "drive_clean")
    result = drive_clean(drive=Drive.objects.select_related("library").get(pk=drive_id),
                         context=context, user=run.requested_by)
    if not result.cleaned:
        raise JobError(result.summary())
    return result.summary()


def _text(result) -> str:
    if result is None:
        return ""
    return str(getattr(result, "summary", lambda: result)() if callable(
        getattr(result, "summary", None)) else result)


@job_kind("sleep", label="Sleep (test)", test_only=True,
          needs_drive=lambda params: bool(params.get("drive")), media_type=_media_type,
          timeout=lambda params: int(params.get("timeout", 60)))
def sleep(*, run, context, drive_id=None) -> str:
    """Append START/END lines to ``params['path']`` around a cancellable sleep.

    With ``barcode`` it first needs that tape in a library (NeedsMedia otherwise); with
    ``fail`` it raises; with ``child`` it leaves a ``sleep 600`` subprocess behind (its pid
    goes to the file), which the runner must kill.
    """
    from tapes.models import Tape

    params = run.params
    barcode = params.get("barcode")
    if barcode:
        tape = Tape.objects.filter(barcode=barcode).first()
        if tape is None or tape.place != Tape.Place.LIBRARY:
            where = tape.location_text if tape else "not in the inventory"
            raise NeedsMedia(f"Needs tape {barcode}.", barcodes=(barcode,),
                             where={barcode: where})
    path = params.get("path")
    stamp = f"{run.pk} {params.get('tag', '')} pid={os.getpid()} cluster={run.cluster}"
    _append(path, f"START {stamp}")
    if params.get("child"):
        child = context.spawn(["sleep", "600"]) if params["child"] == "spawn" else \
            __import__("subprocess").Popen(["sleep", "600"], start_new_session=True)
        _append(path, f"CHILD {child.pid}")
    deadline = time.monotonic() + float(params.get("seconds", 0))
    files = 0
    while time.monotonic() < deadline:
        context.check_cancelled()
        files += 1
        context.progress(files=files, bytes=files * 1000, total_bytes=None)
        time.sleep(0.05)
    if params.get("warn"):
        context.log("A test warning.", level="warning")
    if params.get("fail"):
        raise JobError("The test job failed on purpose.")
    _append(path, f"END {stamp}")
    return f"slept {params.get('seconds', 0)} s"


def _append(path: str | None, line: str) -> None:
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
