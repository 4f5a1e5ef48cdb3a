"""Restore: a whole set, chosen paths of a set, or a path as it was at a point in time.

Planning comes from the catalog alone: the wanted rows, sorted in tape order (segment,
record, offset). Reading positions the drive *directly* at each run of wanted members
(``locate(data_file, record)`` then ``PaxReader(start_offset=offset)``), never by reading
from the start of the tape; members close together (within ``GAP_RECORDS``) are read in
one pass, skipping the few unwanted ones between. A member continued on the next tape is
followed there through the changer (``on_volume_end``); every tape loaded has its label
checked. Tapes that are not in the library stop the restore before anything is read, with
``NeedsMedia`` naming each one and where it is.

A read error or a damaged header costs only the member it hits: it is reported by name,
the tape's ``read_errors`` is counted, and reading goes on from the next wanted member
(positioned again). Checksums are checked while writing (``backups.extract``).

A restore of many entries into a new or empty directory has worker processes create the
files while this one reads (``backups.extract_parallel``, ``TAPEBACKUP_RESTORE_WORKERS``):
on two cores that doubles the speed for small files, with the same result.

``TapeSession`` and ``read_members`` are shared with verify and catalog rebuild.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups.context import JobContext
from backups.errors import JobError, NeedsMedia
from backups.extract import FAITHFUL, MODES, ON_EXISTING, SAFE, SKIP, ExtractReport, Extractor
from backups.extract_parallel import ParallelExtractor, WorkerFailed, parallel_restore_possible
from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
from backups.paths import path_bytes, path_text
from tapes.drivers.base import MediaError, TapeError
from tapes.format import FormatError, PaxReader
from tapes.models import Drive, Tape
from tapes.services import InventoryError, tape_mark_suspect

PARALLEL_MIN = 2000  # entries: below this, starting worker processes costs more than it gains
GAP_RECORDS = 8  # read through up to this many records rather than locate again
DEFAULT_RECORD_SIZE = 256 * 1024
_GLOB = set("*?[")
_FILE = CatalogEntry.Type.FILE
_HARDLINK = CatalogEntry.Type.HARDLINK


# --- tapes ---------------------------------------------------------------------------------


def media_check(tapes, *, library=None) -> None:
    """``NeedsMedia`` naming every tape of ``tapes`` that is not in ``library`` (or in no
    library at all when ``library`` is None), and where each one is."""
    from tapes.media import where_is

    missing = [t for t in tapes if not t.library_id or (library is not None and t.library_id != library.pk)
               or not (t.slot_id or t.drive_id)]
    if not missing:
        return
    where = {t.barcode: where_is(t) for t in missing}
    listed = ", ".join(f"{code} ({place})" for code, place in where.items())
    into = f"library {library.name}" if library is not None else "a library"
    raise NeedsMedia(f"Put tape(s) {listed} into {into}: the job needs them.",
                     barcodes=tuple(where), where=where)


class TapeSession:
    """One drive reading tapes one after another: loads each through the changer (closing
    our handle first, the changer needs the drive offline), checks its label, positions."""

    def __init__(self, *, drive: Drive | None = None, context: JobContext | None = None,
                 tapes=()):
        self.context = context or JobContext()
        tapes = list(tapes)
        if drive is None:
            media_check(tapes[:1])
            in_drive = next((t for t in tapes if t.drive_id), None)
            drive = _drive_for(in_drive or tapes[0]) if tapes else None
        if drive is None:
            raise JobError("No drive to read with: name one.")
        self.drive = drive
        media_check(tapes, library=drive.library)
        self.handle = None
        self.tape: Tape | None = None
        self.record_size = DEFAULT_RECORD_SIZE
        self.loaded: list[str] = []

    def __enter__(self) -> TapeSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.handle is not None:
            try:
                self.handle.close()
            except TapeError:
                pass
            self.handle = None

    def load(self, tape: Tape, *, check_label: bool = True):
        """The drive handle with ``tape`` loaded (and its label checked)."""
        from tapes.media import open_drive, tape_load, tape_unload

        if self.handle is not None and self.tape is not None and self.tape.pk == tape.pk:
            return self.handle
        self.close()
        tape.refresh_from_db()
        media_check([tape], library=self.drive.library)
        try:
            if tape.drive_id and tape.drive_id != self.drive.pk:  # left in another drive
                tape_unload(drive=tape.drive, reason=f"needed in {self.drive}")
                tape.refresh_from_db()
            tape_load(tape=tape, drive=self.drive, reason="loaded for reading")
            self.handle = open_drive(self.drive)
        except InventoryError as exc:
            raise JobError(str(exc)) from None
        self.tape = tape
        self.loaded.append(tape.barcode)
        self.context.log(f"Loaded {tape.barcode} into {self.drive}.")
        if check_label:
            self._check_label(tape)
        return self.handle

    def _check_label(self, tape: Tape) -> None:
        """Invariant 2 for reads: the label names this tape (and, for our own tapes, its
        media set — ``label_verify``); a foreign tape only needs the barcode to match."""
        from tapes.format.label import ForeignLabel, read_label
        from tapes.media import label_verify

        try:
            if tape.foreign:
                label = read_label(self.handle)
                if label is None or label.barcode != tape.barcode:
                    raise JobError(f"The tape in {self.drive} is not {tape.barcode}; nothing was read.")
            else:
                label = label_verify(handle=self.handle, tape=tape)
        except InventoryError as exc:
            raise JobError(str(exc).replace("nothing was written", "nothing was read")) from None
        except (ForeignLabel, TapeError) as exc:
            raise JobError(f"Could not read the label of {tape.barcode}: {exc}") from None
        self.record_size = label.record_size or DEFAULT_RECORD_SIZE

    def position(self, segment: BackupSegment, record: int):
        handle = self.load(segment.tape)
        handle.locate(segment.data_file, record)
        return handle

    def read_error(self, tape: Tape | None, message: str) -> None:
        """Count a read error on the tape; one is enough to call it suspect."""
        if tape is None:
            return
        tape_mark_suspect(tape=tape, reason=message)
        self.context.log(f"Tape {tape.barcode} is suspect: {message}", level="warning")


def _drive_for(tape: Tape) -> Drive:
    from tapes.media import free_drive_for

    if tape.drive_id:
        return tape.drive
    try:
        return free_drive_for(tape)
    except InventoryError:
        drive = Drive.objects.filter(library=tape.library, enabled=True).order_by("index").first()
        if drive is None:
            raise JobError(f"Library {tape.library} has no enabled drive.") from None
        return drive


# --- planning ------------------------------------------------------------------------------


@dataclass(slots=True)
class Wanted:
    """One catalog row to read, in tape order."""

    path: str
    type: str
    segment: int  # sequence of the segment its header is in
    record: int
    offset: int
    checksum: str
    size: int
    volumes: int
    link_target: str

    @property
    def member(self) -> bytes:
        return path_bytes(self.path).lstrip(b"/") or b"."


_TAPE_ORDER = operator.attrgetter("segment", "record", "offset")
_FIELDS = ("path", "type", "segment__sequence", "record", "offset", "checksum", "size",
           "volumes", "link_target")


def restore_plan(*, backup_set: BackupSet, paths: list[str] | None = None) -> list[Wanted]:
    """The rows to read for ``paths`` (files, directories with everything below them,
    globs; catalog text form or plain str) — all rows when None — in tape order. A hard
    link chosen without the file it links to brings that file along."""
    rows = CatalogEntry.objects.filter(backup_set=backup_set)
    if not paths:  # every row once, no dict of them (sorted here: SQLite would sort on disk)
        every = [Wanted(*r) for r in rows.values_list(*_FIELDS).iterator(chunk_size=5000)]
        every.sort(key=_TAPE_ORDER)
        return every
    rows = rows.filter(_selection(paths, backup_set))
    # Keyed by place, not path: an archive may hold a name twice (the later one wins).
    wanted = {(r[2], r[3], r[4]): Wanted(*r)
              for r in rows.values_list(*_FIELDS).iterator(chunk_size=5000)}
    if any(_GLOB & set(p) for p in paths):
        wanted = {k: w for k, w in wanted.items() if _matches(w.path, paths)}
    _add_link_sources(backup_set, wanted)
    return sorted(wanted.values(), key=_TAPE_ORDER)


def _normal(path: str) -> str:
    return "/" + path.strip("/") if path.strip("/") else "/"


def _selection(paths: list[str], backup_set: BackupSet | None = None) -> Q:
    """Rows of ``paths``: a file by its key (index ``catalog_set_path``), a directory and
    everything below it by prefix, a glob by the prefix before its first wildcard
    (matched exactly in Python afterwards)."""
    query = Q(pk__in=[])
    for path in paths:
        if _GLOB & set(path):
            literal = path.split("*")[0].split("?")[0].split("[")[0]
            head = literal.rsplit("/", 1)[0]
            query |= Q(path__startswith=head or "/")
            continue
        path = _normal(path)
        if backup_set is not None:
            found = list(CatalogEntry.objects.at_path(backup_set, path).values_list("pk", "type"))
            if found and all(kind != CatalogEntry.Type.DIRECTORY for _, kind in found):
                query |= Q(pk__in=[pk for pk, _ in found])
                continue
        query |= Q(path=path) | Q(path__startswith=path.rstrip("/") + "/")
    return query


def _matches(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if _GLOB & set(pattern):
            if fnmatch.fnmatchcase(path, _normal(pattern)) or any(
                    fnmatch.fnmatchcase(parent, _normal(pattern)) for parent in _parents(path)):
                return True
        else:
            p = _normal(pattern)
            if path == p or path.startswith(p.rstrip("/") + "/"):
                return True
    return False


def _parents(path: str):
    while path not in ("", "/"):
        path = path.rsplit("/", 1)[0] or "/"
        yield path


def _add_link_sources(backup_set: BackupSet, wanted: dict[tuple, Wanted]) -> None:
    have = {w.path for w in wanted.values()}
    targets = {w.link_target for w in wanted.values() if w.type == _HARDLINK} - have
    if not targets:
        return
    for row in CatalogEntry.objects.filter(backup_set=backup_set, path__in=list(targets)).values_list(*_FIELDS):
        wanted[(row[2], row[3], row[4])] = Wanted(*row)


def tapes_needed(backup_set: BackupSet, rows: list[Wanted]) -> list[Tape]:
    """The tapes holding ``rows``, in the order they are read."""
    segments = {s.sequence: s for s in backup_set.segments.select_related("tape")}
    sequences = set()
    for first, volumes in {(row.segment, row.volumes) for row in rows}:
        sequences.update(range(first, first + max(volumes, 1)))
    tapes, seen = [], set()
    for sequence in sorted(sequences):
        segment = segments.get(sequence)
        if segment is None:
            raise JobError(f"Set {backup_set.pk} has no part {sequence + 1} in the catalog; "
                           "rebuild the catalog from its tapes.")
        if segment.tape_id not in seen:
            seen.add(segment.tape_id)
            tapes.append(segment.tape)
    return tapes


# --- reading -------------------------------------------------------------------------------


def read_members(session: TapeSession, backup_set: BackupSet, rows: list[Wanted],
                 on_member: Callable, problems: list[str]) -> None:
    """Call ``on_member(row, entry, data)`` for each row, read from tape in runs (see the
    module docstring). Unreadable members are reported in ``problems`` by name."""
    segments = {s.sequence: s for s in backup_set.segments.select_related("tape")}
    index = 0
    while index < len(rows):
        session.context.check_cancelled()
        index = _read_run(session, segments, rows, index, on_member, problems)


def _read_run(session, segments, rows, start, on_member, problems) -> int:
    index = start
    try:
        first = rows[start]
        handle = session.position(segments[first.segment], first.record)
        current = [first.segment]
        reader = PaxReader(handle, start_offset=first.offset,
                           on_volume_end=lambda: _next_volume(session, segments, current))
        skipped = 0
        while index < len(rows):
            row = rows[index]
            member = reader.next_member()
            if member is None:
                raise FormatError("The archive ends before this member.")
            entry, data = member
            if (entry.name.lstrip(b"/") or b".") != row.member:
                skipped += entry.size + 1024
                if skipped > (GAP_RECORDS + 2) * session.record_size:
                    raise FormatError("It is not where the catalog says it is.")
                continue
            if row.type == _FILE and row.checksum:
                data.expected = row.checksum  # checked when its data has been read
            on_member(row, entry, data)
            data.expected = None  # checked (or deliberately not read): skip it quietly
            index += 1
            if index < len(rows) and not _close_enough(row, rows[index], session.record_size):
                break
            skipped = 0
        return index
    except (FormatError, TapeError) as exc:
        what = rows[index].path
        problems.append(f"{what} could not be read: {exc}")
        if isinstance(exc, MediaError):
            session.read_error(session.tape, f"{exc}")
        return index + 1


def _close_enough(previous: Wanted, following: Wanted, record_size: int) -> bool:
    """Whether reading on from ``previous`` reaches ``following`` sooner than a locate."""
    if following.segment != previous.segment or previous.volumes > 1:
        return False
    end = previous.record + (previous.offset + previous.size + 1536) // record_size
    return following.record - end <= GAP_RECORDS


def _next_volume(session: TapeSession, segments: dict, current: list[int]):
    """``on_volume_end``: the next part of the set, loaded and positioned at its data."""
    segment = segments.get(current[0] + 1)
    if segment is None:
        return None
    handle = session.position(segment, 0)
    current[0] += 1
    return handle


# --- the service ---------------------------------------------------------------------------


@dataclass
class RestoreReport:
    """The outcome of one restore of one set."""

    set_id: int
    target: str
    mode: str
    planned: int = 0
    workers: int = 0  # processes that created the files; 0: the restore's own
    tapes: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    extract: ExtractReport = field(default_factory=ExtractReport)

    @property
    def ok(self) -> bool:
        return not self.unreadable and not self.extract.corrupt

    def problems(self) -> list[str]:
        return self.unreadable + self.extract.corrupt

    def summary(self) -> str:
        e = self.extract
        text = (f"Restored {e.files} of {self.planned} entries ({e.bytes} bytes) from set "
                f"{self.set_id} into {self.target}")
        extra = []
        if e.skipped:
            extra.append(f"{e.skipped} existing kept")
        if e.refused:
            extra.append(f"{len(e.refused)} refused as unsafe")
        if self.unreadable or e.corrupt:
            extra.append(f"{len(self.unreadable) + len(e.corrupt)} failed")
        return text + (f" ({', '.join(extra)})." if extra else ".")

    def as_dict(self) -> dict:
        return {"set": self.set_id, "target": self.target, "mode": self.mode,
                "planned": self.planned, "workers": self.workers, "tapes": self.tapes, "ok": self.ok,
                "unreadable": self.unreadable, **self.extract.as_dict()}


def restore_set(*, backup_set: BackupSet, target, paths: list[str] | None = None,
                mode: str = SAFE, on_existing: str = SKIP, drive: Drive | None = None,
                context: JobContext | None = None) -> RestoreReport:
    """Restore ``paths`` of the set (all of it when None) under ``target``."""
    context = context or JobContext()
    _check_options(mode, on_existing)
    if not backup_set.restorable:
        raise JobError(f"Set {backup_set.pk} is {backup_set.get_status_display().lower()}, "
                       "not restorable.")
    rows = restore_plan(backup_set=backup_set, paths=paths)
    if not rows:
        raise JobError(f"Nothing in set {backup_set.pk} matches {', '.join(paths or [])}.")
    tapes = tapes_needed(backup_set, rows)
    target = os.fsencode(target)
    if os.path.lexists(target) and not os.path.isdir(target):
        raise JobError(f"{os.fsdecode(target)} exists and is not a directory; name a directory "
                       "to restore into.")
    workers = _workers_for(target, rows)
    make_extractor = functools.partial(ParallelExtractor, workers=workers) if workers else Extractor
    os.makedirs(target, exist_ok=True)
    report = RestoreReport(set_id=backup_set.pk, target=os.fsdecode(target), mode=mode,
                           planned=len(rows), workers=workers)
    links = {path_bytes(r.link_target) for r in rows if r.type == _HARDLINK}
    helpers = f", {workers} processes creating files" if workers else ""
    context.log(f"Restoring {len(rows)} entries of set {backup_set.pk} from "
                f"{', '.join(t.barcode for t in tapes)} into {report.target} ({mode} mode{helpers}).")
    with TapeSession(drive=drive, context=context, tapes=tapes) as session, \
            make_extractor(target, mode=mode, on_existing=on_existing, link_sources=links) as extractor:
        progress = _Progress(context, rows)

        def on_member(row: Wanted, entry, data) -> None:
            try:
                extractor.extract(entry, data if row.type == _FILE else None)
            except OSError as exc:
                raise JobError(_write_failed(exc, row.path, report.target)) from exc
            progress.tick(row)

        read_members(session, backup_set, rows, on_member, report.unreadable)
        try:
            report.extract = extractor.finish()
        except OSError as exc:
            raise JobError(_write_failed(exc, None, report.target)) from exc
        report.tapes = session.loaded
    for problem in report.problems():
        context.log(problem, level="error")
    for line in report.extract.refused + report.extract.warnings:
        context.log(line, level="warning")
    context.log(report.summary())
    return report


def _write_failed(exc: OSError, path: str | None, target: str) -> str:
    """One sentence for an error of the target's file system (or a lost worker process):
    the restore stops there; what was restored stays."""
    if isinstance(exc, WorkerFailed):
        if exc.member is None and exc.strerror is None:
            return f"{exc.args[0]} The restore into {target} stopped."
        path = path_text(exc.member) if exc.member is not None else None
    what = f"writing {path.lstrip('/')}" if path else "finishing"
    return f"The restore into {target} stopped: {what} failed ({exc.strerror or exc})."


def _workers_for(target: bytes, rows: list[Wanted]) -> int:
    """How many worker processes create the files (``backups.extract_parallel``): for many
    entries into a new or empty directory, on more than one core,
    ``TAPEBACKUP_RESTORE_WORKERS``; else none."""
    from django.conf import settings

    workers = settings.TAPEBACKUP_RESTORE_WORKERS
    if len(os.sched_getaffinity(0)) < 2:
        return 0  # one core: nothing to overlap, only the cost of passing members on
    if workers and len(rows) >= PARALLEL_MIN and parallel_restore_possible(target, (r.path for r in rows)):
        return workers
    return 0


class _Progress:
    def __init__(self, context: JobContext, rows: list[Wanted]):
        self.context = context
        self.total_files = len(rows)
        self.total_bytes = sum(r.size for r in rows if r.type == _FILE)
        self.files = self.bytes = 0

    def tick(self, row: Wanted) -> None:
        self.files += 1
        if row.type == _FILE:
            self.bytes += row.size
        if self.files % 200 == 0 or row.size > 1 << 24 or self.files == self.total_files:
            self.context.progress(files=self.files, bytes=self.bytes, current=row.path,
                                  total_files=self.total_files, total_bytes=self.total_bytes)
            self.context.check_cancelled()  # within a long run of members too


def _check_options(mode: str, on_existing: str) -> None:
    if mode not in MODES:
        raise JobError(f"{mode!r} is not a restore mode ({' or '.join(MODES)}).")
    if on_existing not in ON_EXISTING:
        raise JobError(f"{on_existing!r} is not a choice for existing files "
                       f"({', '.join(ON_EXISTING)}).")


# --- choosing the set ----------------------------------------------------------------------


def restore_set_at(*, job: BackupJob, at: dt.datetime | None = None,
                   path: str | None = None) -> BackupSet:
    """The newest restorable set of ``job`` started at or before ``at`` (now when None)
    that holds ``path`` (any set when None)."""
    sets = BackupSet.objects.filter(job=job, status__in=BackupSet.RESTORABLE)
    if at is not None:
        sets = sets.filter(started_at__lte=at)
    for backup_set in sets.order_by("-started_at", "-id")[:500]:
        if path is None or restore_plan_exists(backup_set, path):
            return backup_set
    when = f" at or before {at:%Y-%m-%d %H:%M}" if at else ""
    held = f" holding {path}" if path else ""
    raise JobError(f"Job {job.name} has no complete set{held}{when}.")


def restore_plan_exists(backup_set: BackupSet, path: str) -> bool:
    rows = CatalogEntry.objects.filter(backup_set=backup_set)
    if _GLOB & set(path):
        return any(_matches(p, [path]) for p in rows.filter(_selection([path]))
                   .values_list("path", flat=True).iterator())
    if CatalogEntry.objects.at_path(backup_set, _normal(path)).exists():
        return True
    return rows.filter(path__startswith=_normal(path).rstrip("/") + "/").exists()


def restore_choose(*, set_id: int | None = None, job: str | None = None, at=None,
                   paths: list[str] | None = None) -> list[tuple[BackupSet, list[str] | None]]:
    """Which set each path comes from: the named set, or per path the newest set of the job
    at ``at`` holding it. Paths are grouped by set."""
    if set_id is not None:
        backup_set = BackupSet.objects.select_related("job").filter(pk=set_id).first()
        if backup_set is None:
            raise JobError(f"There is no backup set {set_id}.")
        return [(backup_set, paths or None)]
    job_obj = BackupJob.objects.filter(name=job).first() if job else None
    if job_obj is None:
        raise JobError(f"There is no backup job named {job!r}." if job else
                       "Name a set or a job to restore from.")
    at = _parse_at(at)
    if not paths:
        return [(restore_set_at(job=job_obj, at=at), None)]
    groups: dict[int, tuple[BackupSet, list[str]]] = {}
    for path in paths:
        backup_set = restore_set_at(job=job_obj, at=at, path=path)
        groups.setdefault(backup_set.pk, (backup_set, []))[1].append(path)
    return list(groups.values())


def _parse_at(at) -> dt.datetime | None:
    if at is None or isinstance(at, dt.datetime):
        value = at
    else:
        value = parse_datetime(str(at))
        if value is None:
            try:
                value = dt.datetime.combine(dt.date.fromisoformat(str(at)), dt.time.max)
            except ValueError:
                raise JobError(f"{at!r} is not a date and time (write e.g. 2026-01-31T23:00).") from None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def restore_run(*, context: JobContext, drive_id: int | None = None, set_id: int | None = None,
                job: str | None = None, at=None, paths: list[str] | None = None,
                catalog_paths: list[str] | None = None,
                target: str | None = None, mode: str = SAFE, on_existing: str = SKIP,
                **_ignored) -> str:
    """The scheduling layer's entry point (job kind ``restore``): JSON-able parameters,
    a summary back; any member not restored fails the run with the count.

    ``paths`` are paths as a shell gives them; ``catalog_paths`` are the catalog's own text
    form (``backups.paths.path_text``), which any name fits into JSON with — including
    names that are not valid UTF-8, which ``paths`` cannot carry to PostgreSQL."""
    if not target:
        raise JobError("A restore needs a target directory.")
    drive = Drive.objects.select_related("library").get(pk=drive_id) if drive_id else None
    paths = [path_text(os.fsencode(p)) if isinstance(p, str) else p for p in paths or []]
    paths = (paths + list(catalog_paths or [])) or None
    reports = [restore_set(backup_set=backup_set, target=target, paths=chosen, mode=mode,
                           on_existing=on_existing, drive=drive, context=context)
               for backup_set, chosen in restore_choose(set_id=set_id, job=job, at=at, paths=paths)]
    summary = " ".join(r.summary() for r in reports)
    failed = sum(len(r.problems()) for r in reports)
    if failed:
        raise JobError(f"{failed} entries were not restored; see the log. {summary}")
    return summary


__all__ = ["FAITHFUL", "SAFE", "RestoreReport", "TapeSession", "media_check", "read_members",
           "restore_choose", "restore_plan", "restore_run", "restore_set", "restore_set_at",
           "tapes_needed"]
