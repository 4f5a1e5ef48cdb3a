"""The catalog services: find a file across jobs and sets, browse one directory of a set,
and rebuild the catalog from tapes alone.

``catalog_find`` matches a glob (``*.conf``, ``/srv/*/etc/*``) or a substring. A pattern
without ``/`` matches file *names*, one with ``/`` whole paths. Substrings compile to
``LIKE '%…%'``, globs to SQLite ``GLOB`` / PostgreSQL ``~`` with their longest literal run
as an extra ``LIKE``; on PostgreSQL a name's literal is also looked for in the path, so
that the optional trigram index on paths (``backups.search_index``) serves every search.

``catalog_browse`` lists one directory with the index ``catalog_set_parent_name``
(equality on ``parent_key``), and counts and sizes the subdirectories in one grouped query
on the same index: fast whatever the size of the set.

``catalog_rebuild`` reads each tape's label, steps over data files (one record read to
recognise them), reads every index file and recreates jobs, sets, segments and catalog
rows from them (the index schema: ``tapes.format.index``). It is idempotent: sets are
found again by job and start time (and, for this installation's tapes, by id), segments by
set and sequence, and a segment's rows are loaded again only when their count differs
from the index's. Tapes labelled by another installation become foreign media: their
jobs and pools are named ``… (foreign XXXXXXXX)``, the tapes are flagged ``foreign``
(never written, see ``backups.allocation``), and their sets restore like any other.
Rows are inserted in batches in short transactions, never across tape I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups.catalog_load import COLUMNS, catalog_values
from backups.context import JobContext
from backups.errors import JobError
from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
from backups.paths import path_key, path_text
from tapes.format import Entry, EntryType, MemberInfo
from tapes.models import MediaPool, MediaSet, Tape

FIND_LIMIT = 1000
BATCH = 5000
_GLOB_CHARS = re.compile(r"[*?\[]")
_TYPE_CODES = {"regular": "0", "hardlink": "1", "symlink": "2", "chardev": "3",
               "blockdev": "4", "directory": "5", "fifo": "6"}
_TYPE_NAMES = {code: name for name, code in _TYPE_CODES.items()}


# --- index rows <-> catalog rows ---------------------------------------------------------------


def catalog_path(member_name: bytes) -> str:
    """A member's archive name -> the catalog's path text, as the engine stores it
    (``backups.catalog.catalog_values``); leading ``/`` of hostile names are dropped."""
    name = member_name.lstrip(b"/") or b"."
    return path_text(b"/" + name.rstrip(b"/")) if name != b"." else "/"


def catalog_entry_from_row(row: dict, *, backup_set: BackupSet, segment: BackupSegment,
                           volumes: int = 1) -> CatalogEntry:
    """An index row (``tapes.format.index`` schema, as ``read_index`` returns it) -> an
    unsaved ``CatalogEntry``, made by the engine's own ``catalog_values`` so that a rebuilt
    row is exactly the row the engine wrote. ``volumes``: how many tapes the member spans
    (the index does not say; ``_load_rows`` derives it)."""
    entry = Entry(
        name=row["path"].lstrip(b"/") or b".", type=EntryType[str(row.get("type", "regular")).upper()],
        mode=row.get("mode") or 0, uid=row.get("uid") or 0, gid=row.get("gid") or 0,
        uname=row.get("uname") or "", gname=row.get("gname") or "", size=row.get("size") or 0,
        mtime_ns=row.get("mtime_ns") or 0, linkname=row.get("link") or b"",
    )
    volume = row.get("volume", segment.sequence)
    info = MemberInfo(
        name=entry.name, type=entry.type, volume=volume, record=row["record"],
        offset=row["offset"], size=entry.size, stored_size=row.get("stored_size") or 0,
        checksum=row.get("checksum"), changed=bool(row.get("changed")),
        end_volume=volume + volumes - 1,
    )
    values = catalog_values(entry, info, set_id=backup_set.pk, segment_id=segment.pk)
    return CatalogEntry(**dict(zip(COLUMNS, values)))


def type_name(code: str) -> str:
    return _TYPE_NAMES.get(code, "regular")


# --- find --------------------------------------------------------------------------------------


def catalog_find(pattern: str, *, job: BackupJob | str | None = None,
                 limit: int = FIND_LIMIT) -> list[dict]:
    """Every stored version of the files matching ``pattern`` in restorable sets, newest
    set first per path: set, time, size, checksum, tapes."""
    if not pattern:
        raise JobError("Give a pattern to search the catalog for.")
    rows = CatalogEntry.objects.filter(backup_set__status__in=BackupSet.RESTORABLE)
    if job is not None:
        job_obj = job if isinstance(job, BackupJob) else BackupJob.objects.filter(name=job).first()
        if job_obj is None:
            raise JobError(f"There is no backup job named {job!r}.")
        rows = rows.filter(backup_set__job=job_obj)
    rows = _match(rows, pattern)
    rows = (rows.select_related("backup_set__job", "segment__tape")
            .order_by("path", "-backup_set__started_at")[:limit])
    return [_version(entry) for entry in rows]


def _match(rows, pattern: str):
    column = "path" if "/" in pattern else "name"
    glob = _GLOB_CHARS.search(pattern)
    literal = max(re.split(r"[*?]|\[[^\]]*\]", pattern), key=len) if glob else pattern
    if column == "name" and len(literal) >= 3 and connection.vendor == "postgresql":
        rows = rows.filter(path__contains=literal)  # what the trigram index can serve
    if not glob:
        return rows.filter(**{f"{column}__contains": pattern})
    if len(literal) >= 3:
        rows = rows.filter(**{f"{column}__contains": literal})  # the indexable part
    table = CatalogEntry._meta.db_table
    if connection.vendor == "sqlite":
        return rows.extra(where=[f'"{table}"."{column}" GLOB %s'], params=[pattern])
    return rows.filter(**{f"{column}__regex": _glob_regex(pattern)})


def _glob_regex(pattern: str) -> str:
    """The glob as an anchored regular expression in the dialect PostgreSQL's ``~``
    understands (fnmatch's translation uses atomic groups, which it does not): ``*`` any
    characters, ``/`` included, as SQLite's GLOB; ``?`` one; ``[…]`` a class, ``[!…]`` its
    complement."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and (end := pattern.find("]", i + (pattern[i:i + 1] in ("!", "^")) + 1)) > 0:
            body = pattern[i:end]
            i = end + 1
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
        else:
            out.append(re.escape(c))
    return "^" + "".join(out) + "$"


def _version(entry: CatalogEntry) -> dict:
    backup_set = entry.backup_set
    return {
        "path": entry.path, "type": type_name(entry.type), "size": entry.size,
        "mtime_ns": entry.mtime_ns, "checksum": entry.checksum or None,
        "set": backup_set.pk, "job": backup_set.job.name, "level": backup_set.level,
        "set_started_at": backup_set.started_at.isoformat(),
        "tapes": _tapes_of(entry),
    }


def _tapes_of(entry: CatalogEntry) -> list[str]:
    if entry.volumes <= 1:
        return [entry.segment.tape.barcode]
    segments = (BackupSegment.objects.filter(
        backup_set_id=entry.backup_set_id, sequence__gte=entry.segment.sequence,
        sequence__lt=entry.segment.sequence + entry.volumes).select_related("tape")
        .order_by("sequence"))
    return [segment.tape.barcode for segment in segments]


# --- browse ------------------------------------------------------------------------------------


def catalog_browse(*, backup_set: BackupSet, directory: str = "/") -> dict:
    """One directory of a set: its entries by name, and for each subdirectory the number
    and size of the entries directly in it."""
    directory = _normal_dir(directory)
    entries = list(CatalogEntry.objects.in_directory(backup_set, directory).values(
        "name", "path", "type", "size", "mode", "uname", "gname", "mtime_ns", "checksum"))
    subdirs = {path_key(e["path"]): e for e in entries if e["type"] == CatalogEntry.Type.DIRECTORY}
    for e in entries:
        e["type"] = type_name(e["type"])
    if subdirs:
        counts = (CatalogEntry.objects.filter(backup_set=backup_set, parent_key__in=list(subdirs))
                  .values("parent_key", "parent").annotate(n=Count("id"), total=Sum("size")))
        for row in counts:
            target = subdirs.get(row["parent_key"])
            if target is not None and target["path"] == row["parent"]:
                target.update(entries=row["n"], bytes=row["total"] or 0)
    return {"set": backup_set.pk, "directory": directory, "entries": entries,
            "count": len(entries), "bytes": sum(e["size"] for e in entries)}


def _normal_dir(directory: str) -> str:
    directory = "/" + directory.strip("/")
    return directory


# --- rebuild -----------------------------------------------------------------------------------


@dataclass
class RebuildReport:
    """What a rebuild found and created; ``problems`` one sentence each."""

    tapes: list[str] = field(default_factory=list)
    sets_created: list[int] = field(default_factory=list)
    sets_found: list[int] = field(default_factory=list)
    segments_created: int = 0
    rows_created: int = 0
    foreign: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stored: dict[int, int] = field(default_factory=dict)  # set -> bytes stored, from the rows
    final: dict[int, dict] = field(default_factory=dict)  # set -> its last part's set record

    def summary(self) -> str:
        text = (f"Read {len(self.tapes)} tape(s): {len(self.sets_created)} set(s) created, "
                f"{len(self.sets_found)} already known, {self.segments_created} segment(s) and "
                f"{self.rows_created} catalog row(s) created")
        return text + (f"; {len(self.problems)} problem(s)." if self.problems else ".")

    def as_dict(self) -> dict:
        return {"tapes": self.tapes, "sets_created": self.sets_created,
                "sets_found": self.sets_found, "segments_created": self.segments_created,
                "rows_created": self.rows_created, "foreign": self.foreign,
                "problems": self.problems}


def catalog_rebuild(*, tapes: list[Tape] | None = None, library=None, drive=None,
                    context: JobContext | None = None) -> RebuildReport:
    """Recreate the catalog from the index files of ``tapes`` (or every data tape in
    ``library``); see the module docstring."""
    from backups.restore import TapeSession

    context = context or JobContext()
    if tapes is None:
        if library is None:
            raise JobError("Name the tapes or the library to rebuild the catalog from.")
        tapes = list(Tape.objects.filter(library=library).exclude(
            media_type__kind="cleaning").order_by("barcode"))
    report = RebuildReport()
    pending: list[_Pending] = []
    with TapeSession(drive=drive, context=context, tapes=tapes) as session:
        for tape in tapes:
            context.check_cancelled()
            _rebuild_tape(session, tape, report, pending, context)
    _load_pending(pending, report)
    _settle_sets(report)
    _reset_set_ids()
    return report


def _reset_set_ids() -> None:
    """Sets recreated under their old numbers were inserted with explicit ids; move
    PostgreSQL's sequence past them, or the next backup's set would collide with one."""
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [BackupSet]):
            cursor.execute(sql)


def _rebuild_tape(session, tape: Tape, report: RebuildReport, pending: list, context) -> None:
    from tapes.drivers.base import EndOfData, TapeError
    from tapes.format import FormatError, read_index
    from tapes.format.label import ForeignLabel, read_label

    handle = session.load(tape, check_label=False)
    try:
        label = read_label(handle)
    except ForeignLabel as exc:
        report.problems.append(f"Tape {tape.barcode}: {exc}")
        return
    if label is None:
        report.problems.append(f"Tape {tape.barcode} is blank.")
        return
    if label.barcode != tape.barcode:
        report.problems.append(f"Tape {tape.barcode} is labelled {label.barcode}; it was skipped.")
        return
    report.tapes.append(tape.barcode)
    origin = _Origin.of(label)
    if origin.foreign:
        report.foreign.append(tape.barcode)
    _adopt_tape(tape, label, origin)
    number = 1
    while True:
        try:
            handle.locate(number, 0)
        except EndOfData:
            break
        if handle.status().eod:
            break
        try:
            set_record, rows = read_index(handle)
        except (FormatError, TapeError):
            number += 1  # a data file (one record read to know it): step over it
            continue
        context.log(f"{tape.barcode} file {number}: index of {set_record.get('job')} "
                    f"set {set_record.get('set_id')} part {int(set_record.get('segment', 0)) + 1}")
        try:
            _import_segment(set_record, rows, tape=tape, index_file=number, origin=origin,
                            report=report, pending=pending,
                            records=_data_file_records(handle, number))
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"Tape {tape.barcode} file {number}: its index is not usable "
                                   f"({exc}).")
        number += 1


def _data_file_records(handle, index_file: int) -> int | None:
    """Records in the data file before ``index_file``: space back one record from the
    index's start, which stops at the filemark, on the data file's end (st semantics)."""
    from tapes.drivers.base import TapeError

    try:
        handle.locate(index_file, 0)
        try:
            handle.space_records(-1)
        except TapeError:
            pass
        status = handle.status()
    except TapeError:
        return None
    if status.file_number != index_file - 1 or status.block_number < 0:
        return None
    return status.block_number


@dataclass(frozen=True)
class _Origin:
    """Who wrote a tape: this installation, or another one (its id)."""

    installation: str
    foreign: bool
    pool: str

    @classmethod
    def of(cls, label) -> _Origin:
        from tapes.media import installation_id

        foreign = bool(label.installation_id) and label.installation_id != installation_id()
        return cls(label.installation_id, foreign, label.pool)

    def name(self, name: str, limit: int) -> str:
        if not self.foreign:
            return name[:limit]
        suffix = f" (foreign {self.installation[:8]})"
        return name[: limit - len(suffix)] + suffix


def _adopt_tape(tape: Tape, label, origin: _Origin) -> None:
    """Put the tape in its media set and pool as its label says; foreign tapes are flagged
    so that nothing here ever writes them (allocation skips ``foreign``)."""
    pool = _pool(origin)
    media_set = None
    if label.media_set_id:
        media_set = MediaSet.objects.filter(uuid=label.media_set_id).first()
        if media_set is None:
            media_set = MediaSet.objects.create(uuid=label.media_set_id, pool=pool)
    changes = {"pool": media_set.pool if media_set else pool, "media_set": media_set,
               "sequence": label.sequence if media_set else None}
    if origin.foreign:
        changes.update(foreign=True, status=Tape.Status.FULL)
    elif tape.status == Tape.Status.NEW:
        changes["status"] = Tape.Status.WRITABLE
    if media_set is not None and Tape.objects.filter(
            media_set=media_set, sequence=label.sequence).exclude(pk=tape.pk).exists():
        changes.pop("sequence")
    Tape.objects.filter(pk=tape.pk).update(**changes)
    tape.refresh_from_db()


def _pool(origin: _Origin) -> MediaPool:
    pool, _ = MediaPool.objects.get_or_create(name=origin.name(origin.pool or "rebuilt", 64))
    return pool


def _job(record: dict, origin: _Origin) -> BackupJob:
    name = origin.name(record.get("job") or "unknown", 100)
    job = BackupJob.objects.filter(name=name).first()
    if job is None:
        job = BackupJob.objects.create(
            name=name, pool=_pool(origin), sources=record.get("sources") or [],
            enabled=not origin.foreign, foreign=origin.foreign,
            description="Recreated from tape by catalog rebuild.")
    return job


def _when(value) -> dt.datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"{value!r} is not a time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.timezone.utc)


def _find_or_create_set(record: dict, origin: _Origin, report: RebuildReport) -> BackupSet:
    job = _job(record, origin)
    started_at = _when(record["started_at"])
    found = BackupSet.objects.filter(job=job, started_at=started_at).first()
    if found is not None:
        if found.pk not in report.sets_found + report.sets_created:
            report.sets_found.append(found.pk)
        return found
    fields = dict(job=job, level=record.get("level") or BackupSet.Level.FULL,
                  foreign=origin.foreign,
                  status=BackupSet.Status.FAILED, started_at=started_at, host=record.get("host") or "",
                  error="Rebuilt from tape: not every part of the set has been read yet.")
    set_id = record.get("set_id")
    if (not origin.foreign and isinstance(set_id, int)
            and not BackupSet.objects.filter(pk=set_id).exists()):
        fields["pk"] = set_id  # this installation's set keeps its number
    backup_set = BackupSet.objects.create(**fields)
    report.sets_created.append(backup_set.pk)
    return backup_set


@dataclass
class _Pending:
    """A row whose member starts on an earlier part not read yet (the member split across
    tapes: the engine can only index it once its data is written, on the later tape)."""

    backup_set: BackupSet
    volume: int
    volumes: int
    row: dict


def _import_segment(record: dict, rows, *, tape: Tape, index_file: int, origin: _Origin,
                    report: RebuildReport, pending: list, records: int | None) -> None:
    backup_set = _find_or_create_set(record, origin, report)
    sequence = int(record.get("segment", 0))
    segment = _segment(backup_set, sequence, tape=tape, index_file=index_file, record=record,
                       records=records, report=report)
    loaded = _load_rows(rows, backup_set=backup_set, segment=segment, report=report,
                        pending=pending)
    if loaded is not None:
        BackupSegment.objects.filter(pk=segment.pk).update(files=loaded)
    if not record.get("continued") and _made_by_rebuild(backup_set):
        report.final[backup_set.pk] = record  # applied once every part is known


def _made_by_rebuild(backup_set: BackupSet) -> bool:
    """Sets the engine recorded keep what it recorded; only sets this rebuild (re)creates
    take their final values from the index."""
    backup_set.refresh_from_db()
    return backup_set.status == BackupSet.Status.FAILED and backup_set.error.startswith("Rebuilt")


def _segment(backup_set: BackupSet, sequence: int, *, tape: Tape, index_file: int, record: dict,
             records: int | None, report: RebuildReport) -> BackupSegment:
    segment = BackupSegment.objects.filter(backup_set=backup_set, sequence=sequence).first()
    if segment is not None:
        return segment
    values = dict(tape=tape, data_file=int(record["data_file"]), index_file=index_file)
    if records:
        size = int(record.get("record_size") or 0)
        values.update(last_record=records - 1, bytes=records * size)
    report.segments_created += 1
    return BackupSegment.objects.create(backup_set=backup_set, sequence=sequence, **values)


def _finish_set(backup_set: BackupSet, record: dict, stored: int | None) -> None:
    """The last part's index carries the set's final record; what it does not carry
    (files, bytes) is counted from the rows (bytes: their ``stored_size``, as the engine
    counts them)."""
    totals = CatalogEntry.objects.filter(backup_set=backup_set).aggregate(n=Count("id"))
    if record.get("bytes") is not None:
        stored = record["bytes"]
    elif stored is None:
        stored = _stored_bytes(backup_set)
    media_set = MediaSet.objects.filter(uuid=record.get("media_set_id") or None).first()
    expires_at = _when(record.get("expires_at")) or backup_set.started_at + dt.timedelta(
        days=backup_set.job.effective_retention_days)
    BackupSet.objects.filter(pk=backup_set.pk).update(
        status=record.get("status") or BackupSet.Status.COMPLETE,
        finished_at=_when(record.get("finished_at")),
        files=record.get("files") if record.get("files") is not None else totals["n"],
        bytes=stored, warnings=record.get("warnings") or 0,
        expires_at=expires_at, media_set=media_set, error=record.get("error") or "",
    )
    # Invariant 1 again: the tapes holding the set are protected until it expires.
    Tape.objects.filter(segments__backup_set=backup_set).filter(
        Q(protected_until__isnull=True) | Q(protected_until__lt=expires_at)
    ).update(protected_until=expires_at)


def _stored_bytes(backup_set: BackupSet) -> int:
    """What the engine counts as a set's bytes: data stored (regular files' sizes; sparse
    files count their logical size here, the index does not keep the stored size)."""
    return CatalogEntry.objects.filter(backup_set=backup_set, type=CatalogEntry.Type.FILE).aggregate(
        total=Sum("size"))["total"] or 0


def _load_rows(rows, *, backup_set: BackupSet, segment: BackupSegment, report, pending) -> int | None:
    """Stream the index rows in (batches, short transactions). A segment that already has
    rows is left alone (idempotence); rows of members that start on an earlier part go to
    that part, or wait in ``pending`` until it is known. Returns the rows of this segment
    loaded, or None when it was skipped."""
    if CatalogEntry.objects.filter(segment=segment).exists():
        for row in rows:  # still place a split member's row if its part was missing before
            if row.get("volume", segment.sequence) != segment.sequence:
                _place_split(row, backup_set, segment, report, pending)
        return None
    batch, count = [], 0
    for row in rows:
        report.stored[backup_set.pk] = report.stored.get(backup_set.pk, 0) + (row.get("stored_size") or 0)
        volume = row.get("volume", segment.sequence)
        if volume != segment.sequence:
            _place_split(row, backup_set, segment, report, pending)
            continue
        batch.append(catalog_entry_from_row(row, backup_set=backup_set, segment=segment))
        count += 1
        if len(batch) >= BATCH:
            report.rows_created += _insert(batch)
            batch = []
    report.rows_created += _insert(batch)
    return count


def _place_split(row: dict, backup_set: BackupSet, segment: BackupSegment, report, pending) -> None:
    volume = row["volume"]
    volumes = segment.sequence - volume + 1  # indexed on the tape where its data ended
    earlier = BackupSegment.objects.filter(backup_set=backup_set, sequence=volume).first()
    if earlier is None:
        pending.append(_Pending(backup_set, volume, volumes, row))
        return
    path = catalog_path(row["path"])
    if CatalogEntry.objects.at_path(backup_set, path).filter(segment=earlier).exists():
        return
    _insert_split(row, backup_set, earlier, volumes, report)


def _insert_split(row: dict, backup_set: BackupSet, earlier: BackupSegment, volumes: int,
                  report: RebuildReport) -> None:
    report.rows_created += _insert([catalog_entry_from_row(
        row, backup_set=backup_set, segment=earlier, volumes=volumes)])
    BackupSegment.objects.filter(pk=earlier.pk).update(files=F("files") + 1)


def _load_pending(pending: list[_Pending], report: RebuildReport) -> None:
    for item in pending:
        earlier = BackupSegment.objects.filter(backup_set=item.backup_set, sequence=item.volume).first()
        if earlier is None:
            report.problems.append(
                f"Set {item.backup_set.pk}: {catalog_path(item.row['path'])} starts on part "
                f"{item.volume + 1}, which was not read; rebuild from that tape too, then this one again.")
            continue
        path = catalog_path(item.row["path"])
        if not CatalogEntry.objects.at_path(item.backup_set, path).filter(segment=earlier).exists():
            _insert_split(item.row, item.backup_set, earlier, item.volumes, report)


def _insert(batch: list[CatalogEntry]) -> int:
    if batch:
        with transaction.atomic():
            CatalogEntry.objects.bulk_create(batch, batch_size=500)
    return len(batch)


def _settle_sets(report: RebuildReport) -> None:
    """A set is restorable again only when every part 0..last has been read and the last
    one (the one not ``continued``) has been seen; otherwise it stays failed, saying what
    is missing. Sets the engine recorded are not touched."""
    for set_id in report.sets_created + report.sets_found:
        backup_set = BackupSet.objects.select_related("job").get(pk=set_id)
        if not _made_by_rebuild(backup_set):
            continue
        parts = sorted(backup_set.segments.values_list("sequence", flat=True))
        missing = [n for n in range(max(parts, default=-1) + 1) if n not in parts]
        if set_id in report.final:
            stored = report.stored.get(set_id) if set_id in report.sets_created and not missing else None
            _finish_set(backup_set, report.final[set_id], stored)
        if missing:
            text = ", ".join(str(n + 1) for n in missing)
            BackupSet.objects.filter(pk=set_id).update(
                status=BackupSet.Status.FAILED,
                error=f"Rebuilt from tape: part(s) {text} of the set have not been read.")
            report.problems.append(f"Set {set_id} ({backup_set.job.name}): part(s) {text} have "
                                   "not been read; it is not restorable yet.")
        elif set_id in report.final:
            pass
        elif backup_set.finished_at is not None:  # its last part was read by an earlier rebuild
            BackupSet.objects.filter(pk=set_id).update(status=BackupSet.Status.COMPLETE, error="")
        else:
            report.problems.append(f"Set {set_id} ({backup_set.job.name}): its last part has not "
                                   "been read; it is not restorable yet.")
