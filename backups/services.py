"""Services behind the backup commands and admin: pools, job definitions, drive choice,
set listings. Keyword-only arguments; ``JobError`` carries one sentence for the operator."""

from __future__ import annotations

import os


from backups.errors import JobError
from backups.models import BackupJob, BackupSet
from backups.paths import path_bytes, path_text
from tapes.models import Drive, MediaPool, MediaType, Tape, validate_cron


def pool_create(*, name: str, allocation: str = "continue", media: str | None = "LTO-8",
                retention_days: int = 30, record_size: int = 256 * 1024) -> MediaPool:
    """``allocation`` is continue, always, or a cron expression (a new set when it passes)."""
    from django.core.exceptions import ValidationError

    if MediaPool.objects.filter(name=name).exists():
        raise JobError(f"A pool named {name!r} already exists.")
    cron = ""
    if allocation not in ("continue", "always"):
        try:
            validate_cron(allocation)
        except ValidationError:
            raise JobError(f"{allocation!r} is neither continue, always nor a cron expression "
                           "(five fields, e.g. '0 0 1 * *').") from None
        allocation, cron = MediaPool.Allocation.CRON, allocation
    media_type = None
    if media:
        media_type = MediaType.objects.filter(name=media, kind=MediaType.Kind.DATA).first()
        if media_type is None:
            raise JobError(f"There is no data media type named {media!r}.")
    if record_size % 512 or not 512 <= record_size <= 1024 * 1024:
        raise JobError("The record size must be a multiple of 512 bytes up to 1 MiB.")
    return MediaPool.objects.create(name=name, allocation=allocation, allocation_cron=cron,
                                    media_type=media_type, retention_days=retention_days,
                                    record_size=record_size)


def job_define(*, name: str, sources: list[str], pool: str, excludes: list[str] = (),
               retention_days: int | None = None, pre_script: str = "", post_script: str = "",
               script_timeout: int = 600) -> BackupJob:
    """Define a backup job; every source must exist now (a typo is caught here, not at 2 am).
    Its default schedule comes from the scheduling layer (``scheduling.schedules.
    backup_job_define`` calls this and adds it)."""
    if BackupJob.objects.filter(name=name).exists():
        raise JobError(f"A backup job named {name!r} already exists.")
    pool_row = MediaPool.objects.filter(name=pool).first()
    if pool_row is None:
        raise JobError(f"There is no pool named {pool!r}; create it with `pool create`.")
    if not sources:
        raise JobError("Give at least one --source path.")
    texts = []
    for source in sources:
        raw = os.path.abspath(os.fsencode(source))
        if not os.path.lexists(raw):
            raise JobError(f"The source path {source} does not exist.")
        texts.append(path_text(raw))
    return BackupJob.objects.create(
        name=name, sources=texts, excludes=list(excludes), pool=pool_row,
        retention_days=retention_days, pre_script=pre_script, post_script=post_script,
        script_timeout=script_timeout,
    )


def drive_for_job(*, job: BackupJob, spec: str | None = None) -> Drive:
    """The drive ``spec`` (LIB:INDEX), else a free enabled drive (no backup writing with it,
    no job run holding it) of a library holding tapes of the pool's type."""
    if spec:
        from tapes.media import resolve_drive
        from tapes.services import InventoryError

        try:
            return resolve_drive(spec)
        except InventoryError as exc:
            raise JobError(str(exc)) from None
    drives = Drive.objects.select_related("library").filter(enabled=True).order_by(
        "library__name", "index")
    busy = set(BackupSet.objects.filter(status=BackupSet.Status.RUNNING)
               .values_list("segments__tape__drive", flat=True)) | _held_drives()
    for drive in drives:
        if drive.pk not in busy and _library_serves(drive, job):
            return drive
    raise JobError(f"No enabled drive is free for job {job.name}; name one with --drive.")


def _library_serves(drive: Drive, job: BackupJob) -> bool:
    tapes = Tape.objects.filter(library=drive.library)
    if job.pool.media_type_id:
        tapes = tapes.filter(media_type=job.pool.media_type)
    return tapes.exists()


def set_summary(backup_set: BackupSet) -> dict:
    """One set as ``backup list --json`` prints it (stable keys)."""
    return {
        "id": backup_set.pk, "job": backup_set.job.name, "level": backup_set.level,
        "status": backup_set.status, "started_at": backup_set.started_at.isoformat(),
        "finished_at": backup_set.finished_at.isoformat() if backup_set.finished_at else None,
        "files": backup_set.files, "bytes": backup_set.bytes, "warnings": backup_set.warnings,
        "expires_at": backup_set.expires_at.isoformat() if backup_set.expires_at else None,
        "tapes": sorted({s.tape.barcode for s in backup_set.segments.all()}),
        "error": backup_set.error,
    }


def set_list(*, job: str | None = None):
    sets = BackupSet.objects.select_related("job").prefetch_related("segments__tape")
    if job:
        if not BackupJob.objects.filter(name=job).exists():
            raise JobError(f"There is no backup job named {job!r}.")
        sets = sets.filter(job__name=job)
    return sets


def source_display(text: str) -> str:
    return os.fsdecode(path_bytes(text))


def drive_for_reading(tape: Tape | None, *, spec: str | None = None) -> Drive | None:
    """The drive a foreground restore or verify holds: ``spec`` (LIB:INDEX), else the drive
    that holds ``tape`` if no job run holds it, else the first free enabled drive of the
    tape's library; None when the tape is in no library (the service then names where it
    is)."""
    if spec:
        from tapes.media import resolve_drive
        from tapes.services import InventoryError

        try:
            return resolve_drive(spec)
        except InventoryError as exc:
            raise JobError(str(exc)) from None
    if tape is None or tape.library_id is None:
        return None
    held = _held_drives()
    if tape.drive_id and tape.drive_id not in held:
        return tape.drive
    free = (Drive.objects.filter(library_id=tape.library_id, enabled=True)
            .exclude(pk__in=held).order_by("index").first())
    if free is None:
        raise JobError(f"Every drive of library {tape.library} is in use by a job run; try "
                       "again when one is free.")
    return free


def _held_drives() -> set[int]:
    """Drives a job run holds (queued or running: ``jobrun_one_active_per_drive``)."""
    from scheduling.models import JobRun

    return set(JobRun.objects.filter(state__in=JobRun.HOLDS_DRIVE, drive__isnull=False)
               .values_list("drive", flat=True))
