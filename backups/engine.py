"""The backup engine: from a source tree to tape, with a catalog.

``backup_run`` is the one entry point (the scheduling layer and ``backup run`` call it).
One run writes one backup set: a data tape file (a pax archive) and an index tape file per
tape it touches, continued across tapes in GNU ``tar -M`` form on early warning.

Order of events, and why:

1. Interrupted sets of earlier runs are marked failed; the first tape is looked for
   without changing anything (a run that must wait for media creates nothing).
2. The set row is committed as ``running`` (so a crash leaves a trace that recovery
   finds), then the pre-script runs.
3. The reader process starts (``backups.source``: it walks and reads the source, a socket
   buffer ahead at most); meanwhile the tape is allocated, loaded, its label verified (or
   a scratch tape labelled), and the drive positioned at end of data (after any partial
   file a crash left, closed first by a filemark).
4. This process writes what the reader sends and checksums it (``PaxWriter``), and hands
   catalog rows to the loader in batches (on PostgreSQL its thread commits them on a
   connection of its own while the tape moves). No transaction is open across tape I/O.
5. End of archive, filemark, index, filemark, every catalog row committed — and only then
   is the set marked complete (invariant 3) and its tapes protected until it expires
   (invariant 1). A loader that failed fails the set.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from backups.allocation import NextTape, allocation_check, media_set_for_run, tape_next, tape_unclaim
from backups.catalog_load import (
    CatalogLoader, IndexSpool, catalog_values, index_line, plain_file_lines,
)
from backups.context import JobContext
from backups.errors import Cancelled, JobError, NeedsMedia
from backups.models import BackupJob, BackupSegment, BackupSet
from backups.paths import path_bytes
from backups.scripts import script_run
from backups.source import Excludes, SourceReader
from tapes.drivers.base import EndOfMedium, MediaError, TapeError
from tapes.format import ArchiveFull, Entry, EntryType, MemberInfo, PaxWriter, write_index
from tapes.format.pax import PLAIN_HEADERS, PreparedMember
from tapes.models import Drive, MediaSet, Tape
from tapes.services import InventoryError

PROGRESS_EVERY = 0.5  # seconds between progress reports and cancel checks
HEARTBEAT_EVERY = 10.0
STALE_AFTER = 15 * 60
INDEX_CHUNK = 4 << 20  # the index member write_index holds in memory (its default: 64 MiB)  # a running set of another host without heartbeat this long is dead


@dataclass
class RunStats:
    """What the benchmark and the log report about a run."""

    seconds: float = 0.0
    wait_seconds: float = 0.0  # the writer (the drive) waited for data from the reader
    catalog_seconds: float = 0.0  # loading rows (in the loader's thread on PostgreSQL)
    catalog_wait_seconds: float = 0.0  # the writer waited for the loader
    catalog_rows: int = 0
    tapes: int = 0


def backup_run(*, job_id: int, level: str = "full", drive_id: int,
               context: JobContext) -> BackupSet:
    """Run one backup of the job on the drive; returns the set (complete, complete with
    warnings). Raises NeedsMedia before creating anything when no tape is usable, JobError
    (the set failed, with the sentence stored on it) or Cancelled."""
    backups_recover_interrupted()
    job = BackupJob.objects.select_related("pool", "pool__media_type").get(pk=job_id)
    drive = Drive.objects.select_related("library").get(pk=drive_id)
    if level not in BackupSet.Level.values:
        raise JobError(f"{level!r} is not a backup level this version supports (full).")
    allocation_check(pool=job.pool, drive=drive)
    backup_set = _set_create(job, level)
    context.log(f"Backup set #{backup_set.pk} of job {job.name} ({level}) started on {drive}.")
    try:
        _pre_script(job, backup_set, context)
        _Run(job=job, backup_set=backup_set, drive=drive, context=context).execute()
    except BaseException as exc:
        _set_fail(backup_set, exc, context)
        _post_script(job, backup_set, context)
        if isinstance(exc, (JobError, KeyboardInterrupt, SystemExit)):
            raise
        raise JobError(str(backup_set.error)) from exc
    _post_script(job, backup_set, context)
    return backup_set


# -- the set row --------------------------------------------------------------------------


def _set_create(job: BackupJob, level: str) -> BackupSet:
    now = timezone.now()
    try:
        with transaction.atomic():
            return BackupSet.objects.create(
                job=job, level=level, status=BackupSet.Status.RUNNING, started_at=now,
                host=socket.gethostname(), pid=os.getpid(), heartbeat_at=now,
            )
    except IntegrityError:
        raise JobError(f"Job {job.name} is already running; wait for it to finish.") from None


def _set_fail(backup_set: BackupSet, exc: BaseException, context: JobContext) -> None:
    if isinstance(exc, Cancelled):
        error = "Cancelled by an operator; the set is not restorable."
    elif isinstance(exc, (JobError, TapeError, InventoryError)):
        error = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        error = "Interrupted; the set is not restorable."
    else:
        error = f"The backup failed unexpectedly ({type(exc).__name__}: {exc})."
    backup_set.status, backup_set.error = BackupSet.Status.FAILED, error
    backup_set.finished_at = timezone.now()
    BackupSet.objects.filter(pk=backup_set.pk).update(
        status=backup_set.status, error=error, finished_at=backup_set.finished_at
    )
    context.log(f"Backup set #{backup_set.pk} failed: {error}", level="error")


def backups_recover_interrupted(*, stale_after: float = STALE_AFTER) -> int:
    """Mark failed every set still ``running`` whose writer is gone: on this host, a dead
    process (or one silent far too long: its pid was reused); elsewhere, no heartbeat for
    ``stale_after`` seconds. Called before every run and by the watchdog. Returns the count."""
    host = socket.gethostname()
    cutoff = timezone.now() - timezone.timedelta(seconds=stale_after)
    dead = []
    for backup_set in BackupSet.objects.filter(status=BackupSet.Status.RUNNING):
        stale = backup_set.heartbeat_at is None or backup_set.heartbeat_at < cutoff
        if backup_set.host == host:
            if backup_set.pid == os.getpid() and not stale:
                continue  # this process writes it (another thread)
            if _alive(backup_set.pid) and not stale:
                continue
        elif not stale:
            continue
        dead.append(backup_set.pk)
    if dead:
        BackupSet.objects.filter(pk__in=dead, status=BackupSet.Status.RUNNING).update(
            status=BackupSet.Status.FAILED, finished_at=timezone.now(),
            error="The run was interrupted before the set was finished (its process ended); "
                  "the set is not restorable.",
        )
    return len(dead)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- scripts --------------------------------------------------------------------------------


def _script_env(job: BackupJob, backup_set: BackupSet, phase: str) -> dict[str, str]:
    return {
        "TAPEBACKUP_JOB": job.name, "TAPEBACKUP_SET_ID": str(backup_set.pk),
        "TAPEBACKUP_LEVEL": backup_set.level, "TAPEBACKUP_PHASE": phase,
        "TAPEBACKUP_STATUS": backup_set.status, "TAPEBACKUP_ERROR": backup_set.error or "",
        "TAPEBACKUP_FILES": str(backup_set.files), "TAPEBACKUP_BYTES": str(backup_set.bytes),
    }


def _pre_script(job: BackupJob, backup_set: BackupSet, context: JobContext) -> None:
    if not job.pre_script:
        return
    status = script_run(command=job.pre_script, env=_script_env(job, backup_set, "pre"),
                        timeout=job.script_timeout, context=context, what="pre-script")
    if status != 0:
        raise JobError(f"The pre-script exited with status {status}; the backup did not run.")


def _post_script(job: BackupJob, backup_set: BackupSet, context: JobContext) -> None:
    """After the set ended, whatever the outcome; a failing post-script is only logged."""
    if not job.post_script:
        return
    try:
        status = script_run(command=job.post_script, env=_script_env(job, backup_set, "post"),
                            timeout=job.script_timeout, context=context, what="post-script")
    except JobError as exc:
        context.log(str(exc), level="warning")
        return
    if status != 0:
        context.log(f"The post-script exited with status {status}.", level="warning")


# -- one run ----------------------------------------------------------------------------------


class _CountingDrive:
    """The drive as the pax writer sees it: counts the records of the current tape file."""

    def __init__(self, handle):
        self.handle = handle
        self.records = 0

    def write_record(self, data) -> bool:
        early_warning = self.handle.write_record(data)
        self.records += 1
        return early_warning


class _Run:
    """The state of one run: the set, the current tape and segment, the writer."""

    def __init__(self, *, job: BackupJob, backup_set: BackupSet, drive: Drive,
                 context: JobContext):
        self.job, self.backup_set, self.drive, self.context = job, backup_set, drive, context
        self.pool = job.pool
        self.record_size = self.pool.record_size
        self.media_set: MediaSet | None = None
        self.tape: Tape | None = None
        self.handle = None
        self.counter: _CountingDrive | None = None
        self.segment: BackupSegment | None = None
        self.segments: list[BackupSegment] = []
        self.spool: IndexSpool | None = None
        self.catalog = CatalogLoader(background=True)
        self.stats = RunStats()
        self.files = self.bytes = self.warnings = 0
        self.tape_full = False
        self.finished_at = None  # stamped into the last index, then onto the set
        self._last_progress = self._last_heartbeat = 0.0
        self._estimate = _estimate(job)

    # -- the whole run ----------------------------------------------------------------------

    def execute(self) -> None:
        started = time.perf_counter()
        self.backup_set.stats = self.stats
        self.media_set = media_set_for_run(pool=self.pool)
        BackupSet.objects.filter(pk=self.backup_set.pk).update(media_set=self.media_set)
        reader = SourceReader([path_bytes(s) for s in self.job.sources],
                              Excludes(self.job.excludes))
        try:
            # Started first (after the pre-script, which may make the snapshot it reads):
            # its interpreter's start-up and first batches overlap loading the tape.
            reader.start()
            self._mount(tape_next(pool=self.pool, media_set=self.media_set, drive=self.drive))
            writer = PaxWriter(self.counter, record_size=self.record_size,
                               on_volume_full=self._next_volume)
            self._stream(reader, writer)
            writer.close()
            self.handle.write_filemarks(1)
            self._finish_segment()
            self.catalog.finish()  # every row committed before the set is complete
            self._complete()
        except BaseException as exc:
            self._fail_tape(exc)
            raise
        finally:
            reader.stop()
            self.stats.wait_seconds = reader.wait_seconds
            self.catalog.close()
            if self.spool is not None:
                self.spool.close()
            self._close_handle()
            self.stats.seconds = time.perf_counter() - started
            self.stats.catalog_rows = self.catalog.loaded
            self.stats.catalog_seconds = self.catalog.seconds
            self.stats.catalog_wait_seconds = self.catalog.wait_seconds

    def _stream(self, reader: SourceReader, writer: PaxWriter) -> None:
        records = reader.records()
        for record in records:
            kind = record[0]
            if kind == "W":
                self._warn(record[1])
                continue
            if kind == "X":
                raise JobError(f"Reading the source failed: {record[1]}") from record[1]
            if kind == "R":  # the common case: a small file, its headers made by the reader
                self._plain(writer, record)
                continue
            if kind == "P":  # headers made by the reader
                member = record[1]
                self._tick(member.entry.name)
                info = writer.add_prepared(member)
                if record[2]:
                    self._warn(record[2])
                self._stored(member.entry, info)
                continue
            entry = record[1]
            self._tick(entry.name)
            if kind == "F":
                info = writer.add(entry, record[2])
                warning = record[3]
            else:  # "S": a large file whose chunks follow
                box: list = []
                data = _chunks(records, box)
                info = writer.add(entry, data)
                for _ in data:  # the writer stops early when the file grew: skip the rest
                    pass
                warning = box[0] if box else None
            if warning:
                self._warn(warning)
            elif info.changed:
                self._warn(f"{os.fsdecode(entry.name)}: its size changed while being read")
            self._stored(entry, info)

    def _plain(self, writer: PaxWriter, record: tuple) -> None:
        """A small regular file (``backups.source``'s "R" record): appended, indexed and
        catalogued from its fields, with no ``Entry`` or ``MemberInfo`` unless it crosses a
        record boundary or its names need escaping (``_stored`` then)."""
        (_, name, mode, uid, gid, uname, gname, size, mtime_ns, atime_ns, ctime_ns, blob,
         warning) = record
        self._tick(name)
        placed = writer.add_plain(blob, size)
        if warning:
            self._warn(warning)
        lines = None
        if placed is not None:
            volume, record_number, offset, checksum = placed
            if self.catalog.copies:
                lines = plain_file_lines(
                    name, mode, uid, gid, uname, gname, size, mtime_ns, atime_ns, ctime_ns,
                    checksum, volume, record_number, offset, set_id=self.backup_set.id,
                    segment_id=self.segments[volume].id)
        if lines is None:
            entry = Entry(name, EntryType.REGULAR, mode, uid, gid, uname, gname, size,
                          mtime_ns, atime_ns, ctime_ns)
            if placed is None:
                info = writer.add_prepared(PreparedMember(entry, blob, PLAIN_HEADERS))
            else:
                info = MemberInfo(name, EntryType.REGULAR, volume, record_number, offset, size,
                                  size, checksum, False, volume)
            self._stored(entry, info)
            return
        self.files += 1
        self.bytes += size
        self.segments[volume].files += 1  # the current segment: the member is in one record
        self.spool.add_line(lines[0])
        if self.catalog.add_line(lines[1]):
            self._flush_catalog()

    def _stored(self, entry, info) -> None:
        segment = self.segments[info.volume]
        self.files += 1
        self.bytes += info.stored_size
        segment.files += 1
        if segment is not self.segment:  # the member began on a tape already closed
            BackupSegment.objects.filter(pk=segment.pk).update(files=segment.files)
        self.spool.add_line(index_line(entry, info))
        values = catalog_values(entry, info, set_id=self.backup_set.id, segment_id=segment.id)
        if self.catalog.add(values):
            self._flush_catalog()

    def _warn(self, message: str) -> None:
        self.warnings += 1
        self.context.log(message, level="warning")

    def _tick(self, name: bytes) -> None:
        """Progress and cancel checks, at most every PROGRESS_EVERY seconds."""
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        self.context.progress(files=self.files, bytes=self.bytes, current="/" + os.fsdecode(name),
                              total_files=self._estimate[0], total_bytes=self._estimate[1])
        self.context.check_cancelled()

    def _flush_catalog(self) -> None:
        self.catalog.flush()
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_EVERY:
            self._last_heartbeat = now
            BackupSet.objects.filter(pk=self.backup_set.pk).update(
                heartbeat_at=timezone.now(), files=self.files, bytes=self.bytes,
                warnings=self.warnings,
            )

    # -- tapes --------------------------------------------------------------------------------

    def _mount(self, next_tape: NextTape) -> None:
        """Load the tape, check or write its label, position at end of data, open a segment."""
        from tapes.media import WrongTape, label_verify, open_drive, tape_label, tape_load

        tape = next_tape.tape
        try:
            tape_load(tape=tape, drive=self.drive, reason=f"backup set #{self.backup_set.pk}")
            self.handle = open_drive(self.drive)
            if next_tape.fresh:
                tape_label(tape=tape, handle=self.handle, pool=self.pool,
                           media_set=self.media_set, sequence=next_tape.sequence)
                self.context.log(f"Labelled scratch tape {tape.barcode} for pool {self.pool.name}.")
            else:
                label_verify(handle=self.handle, tape=tape)
        except InventoryError as exc:
            if next_tape.fresh:
                tape_unclaim(tape=tape)
            if isinstance(exc, WrongTape):
                raise JobError(str(exc)) from None
            raise JobError(str(exc)) from None
        self.tape = Tape.objects.get(pk=tape.pk)
        self._position()
        self._open_segment()

    def _position(self) -> None:
        """End of data; a tape file left open by a crash is closed first, so a new data file
        never continues someone else's records."""
        self.handle.seek_end_of_data()
        status = self.handle.status()
        if status.block_number > 0:
            self.handle.write_filemarks(1)
            status = self.handle.status()
        self.data_file = status.file_number

    def _open_segment(self) -> None:
        segment = BackupSegment.objects.create(
            backup_set=self.backup_set, tape=self.tape, sequence=len(self.segments),
            data_file=self.data_file, started_at=timezone.now(),
        )
        self.segments.append(segment)
        self.segment = segment
        self.counter = _CountingDrive(self.handle)
        self.spool = IndexSpool()
        self.stats.tapes += 1
        self.context.log(f"Writing to {self.tape.barcode}, tape file {self.data_file}.")

    def _next_volume(self):
        """Early warning (PaxWriter's ``on_volume_full``): close this tape's data file and
        write its index, then continue on the media set's next tape."""
        self.handle.write_filemarks(1)
        self.tape_full = True
        self._finish_segment()
        self._close_handle()
        from tapes.media import tape_unload

        tape_unload(drive=self.drive, reason=f"full, backup set #{self.backup_set.pk} continues")
        self.tape_full = False
        self._mount(self._wait_for_next_tape())
        return self.counter

    def _wait_for_next_tape(self) -> NextTape:
        """The set continues on the media set's next tape. If none is usable, wait for one
        (an operator imports a tape through the mail slot) with the set kept open: saying
        what is needed, heartbeating, stopping when cancelled, failing after the deadline."""
        from django.conf import settings

        deadline = time.monotonic() + settings.TAPEBACKUP_MEDIA_DEADLINE_SECONDS
        poll = getattr(settings, "TAPEBACKUP_MEDIA_POLL_SECONDS", 10)
        said = None
        while True:
            try:
                return tape_next(pool=self.pool, media_set=self.media_set, drive=self.drive)
            except NeedsMedia as need:
                if time.monotonic() >= deadline:
                    raise JobError(f"Gave up waiting for the next tape: {need}") from None
                if str(need) != said:
                    said = str(need)
                    self.context.waiting(f"Backup set #{self.backup_set.pk} is waiting: {need}")
            self.context.check_cancelled()
            self._last_heartbeat = 0.0  # keep the set alive for crash recovery while waiting
            self._flush_catalog()
            time.sleep(poll)

    def _finish_segment(self) -> None:
        """The data file is closed: write the index file, record segment and tape."""
        self._flush_catalog()
        segment = self.segment
        summary = write_index(self.handle, self._set_record(), self.spool.lines(),
                              record_size=self.record_size, chunk_bytes=INDEX_CHUNK)
        self.spool.close()
        self.spool = None
        full = self.tape_full or summary.early_warning or self.handle.status().eot
        segment.index_file = self.data_file + 1
        segment.last_record = max(self.counter.records - 1, 0)
        segment.bytes = self.counter.records * self.record_size
        segment.finished_at = timezone.now()
        segment.save(update_fields=["index_file", "last_record", "bytes", "files", "finished_at"])
        self._tape_written(segment.bytes + summary.records * self.record_size, full=full)

    def _tape_written(self, nbytes: int, *, full: bool) -> None:
        now = timezone.now()
        changes = dict(bytes_written=F("bytes_written") + nbytes, last_written_at=now)
        if full:
            changes["status"] = Tape.Status.FULL
        Tape.objects.filter(pk=self.tape.pk).update(**changes)
        Tape.objects.filter(pk=self.tape.pk, first_written_at__isnull=True).update(
            first_written_at=now)

    def _set_record(self) -> dict:
        """The set's own record in this segment's index. The last segment's carries what the
        set will be marked (status, totals, expiry, one finish time), so `catalog rebuild`
        recreates it exactly from the tapes."""
        bs = self.backup_set
        now = timezone.now()
        record = {
            "set_id": bs.pk, "job": self.job.name, "level": bs.level,
            "started_at": bs.started_at.isoformat(), "finished_at": now.isoformat(),
            "segment": self.segment.sequence, "media_set_id": str(self.media_set.uuid),
            "tape_sequence": self.tape.sequence, "data_file": self.data_file,
            "record_size": self.record_size, "continues": self.segment.sequence > 0,
            "continued": self.tape_full, "sources": self.job.sources,
        }
        if not self.tape_full:
            self.finished_at = now
            record.update(status=self._final_status(), files=self.files, bytes=self.bytes,
                          warnings=self.warnings, expires_at=self._expires_at().isoformat(),
                          host=bs.host)
        return record

    def _final_status(self) -> str:
        return BackupSet.Status.WARNINGS if self.warnings else BackupSet.Status.COMPLETE

    def _expires_at(self):
        return self.backup_set.started_at + timezone.timedelta(
            days=self.job.effective_retention_days)

    def _close_handle(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except TapeError:
                pass
            self.handle = None

    # -- the end --------------------------------------------------------------------------------

    def _complete(self) -> None:
        """Everything is on tape and in the catalog: the set becomes restorable."""
        bs = self.backup_set
        now = self.finished_at or timezone.now()
        expires = self._expires_at()
        status = self._final_status()
        with transaction.atomic():
            tape_ids = [s.tape_id for s in self.segments]
            Tape.objects.filter(pk__in=tape_ids).filter(
                Q(protected_until__isnull=True) | Q(protected_until__lt=expires)
            ).update(protected_until=expires)
            BackupSet.objects.filter(pk=bs.pk).update(
                status=status, finished_at=now, files=self.files, bytes=self.bytes,
                warnings=self.warnings, expires_at=expires, heartbeat_at=now,
            )
        bs.refresh_from_db()
        bs.stats = self.stats
        self.context.progress(files=self.files, bytes=self.bytes, total_files=self.files,
                              total_bytes=self.bytes)
        self.context.log(f"Backup set #{bs.pk} {bs.get_status_display().lower()}: "
                         f"{self.files} files, {self.bytes} bytes on {len(self.segments)} "
                         f"tape(s), {self.warnings} warning(s).")

    def _fail_tape(self, exc: BaseException) -> None:
        """Record what a failed run did to its tape: the error, and the bytes written."""
        self.backup_set.files, self.backup_set.bytes = self.files, self.bytes
        BackupSet.objects.filter(pk=self.backup_set.pk).update(
            files=self.files, bytes=self.bytes, warnings=self.warnings)
        if self.tape is None:
            return
        if isinstance(exc, (MediaError, EndOfMedium, ArchiveFull)):
            Tape.objects.filter(pk=self.tape.pk).update(write_errors=F("write_errors") + 1)
        if self.segment is not None and self.segment.index_file is None and self.counter:
            self.segment.bytes = self.counter.records * self.record_size
            self.segment.last_record = max(self.counter.records - 1, 0)
            self.segment.save(update_fields=["bytes", "last_record", "files"])
            Tape.objects.filter(pk=self.tape.pk).update(
                bytes_written=F("bytes_written") + self.segment.bytes,
                last_written_at=timezone.now())


def _chunks(records, box: list):
    """A streamed file's chunks from the record iterator; its end record's warning goes in
    ``box``."""
    for record in records:
        if record[0] == "C":
            yield record[1]
        elif record[0] == "E":
            if record[1]:
                box.append(record[1])
            return
        else:
            raise JobError("The source reader lost its place in a file.")


def _estimate(job: BackupJob) -> tuple[int | None, int | None]:
    """Totals for the progress ETA: the job's last complete set, a good guess for the next."""
    last = (BackupSet.objects.filter(job=job, status__in=BackupSet.RESTORABLE)
            .order_by("-started_at").values_list("files", "bytes").first())
    return last if last else (None, None)
