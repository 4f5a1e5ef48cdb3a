"""Verify: prove that sets and tapes read back as the catalog says, writing nothing to disk.

``quick``
    each tape's label names it, and each segment's index file (read with ``read_index``)
    holds exactly the catalog's rows: same members at the same places with the same types,
    sizes and checksums, and the set record names the set.
``data``
    every member of the set (or of every set on a tape) is read back and its data checked
    against the catalog's checksum — positioned as restore does, in tape order.

Results are kept as ``VerifyResult`` rows (one for the set or tape verified), and every
tape read without error gets ``last_verified_at`` (a clean data verify also lifts its
suspicion). A tape that gives a read error is marked suspect (``Tape.suspect_since``, with
an audit record); ``Tape.Status.DAMAGED`` stays an operator's call, not one read error's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from backups.context import JobContext
from backups.errors import JobError
from backups.models import BackupSegment, BackupSet, CatalogEntry, VerifyResult
from backups.restore import TapeSession, Wanted, read_members, restore_plan, tapes_needed
from backups.catalog_search import catalog_path
from tapes.drivers.base import MediaError, TapeError
from tapes.format import ChecksumMismatch, FormatError, read_index
from tapes.models import Drive, Tape
from tapes.services import tape_verified

QUICK, DATA = "quick", "data"
LEVELS = (QUICK, DATA)
MAX_LISTED = 200  # errors kept in a report; the count is always exact


@dataclass
class VerifyReport:
    """What one verify found. ``ok``: nothing wrong."""

    level: str
    subject: str  # "set 12" or "tape A00001L8"
    sets: list[int] = field(default_factory=list)
    tapes: list[str] = field(default_factory=list)
    members: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    verified_at: str = ""

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED:
            self.errors.append(message)

    def summary(self) -> str:
        what = f"{self.members} members, {self.bytes} bytes" if self.level == DATA else \
            f"{self.members} catalog rows"
        outcome = "OK" if self.ok else f"{self.error_count} error(s)"
        return f"Verify ({self.level}) of {self.subject}: {outcome}; {what} checked."

    def as_dict(self) -> dict:
        return {"level": self.level, "subject": self.subject, "ok": self.ok,
                "sets": self.sets, "tapes": self.tapes, "members": self.members,
                "bytes": self.bytes, "error_count": self.error_count, "errors": self.errors,
                "verified_at": self.verified_at}


def verify_set(*, backup_set: BackupSet, level: str = QUICK, drive: Drive | None = None,
               context: JobContext | None = None) -> VerifyReport:
    report = VerifyReport(level=_level(level), subject=f"set {backup_set.pk}", sets=[backup_set.pk])
    segments = list(backup_set.segments.select_related("tape").order_by("sequence"))
    if not segments:
        raise JobError(f"Set {backup_set.pk} has no parts on tape in the catalog.")
    _verify(report, [(backup_set, segments)], drive, context or JobContext())
    _store(report, backup_set=backup_set)
    return report


def verify_tape(*, tape: Tape, level: str = QUICK, drive: Drive | None = None,
                context: JobContext | None = None) -> VerifyReport:
    report = VerifyReport(level=_level(level), subject=f"tape {tape.barcode}", tapes=[tape.barcode])
    work = []
    for backup_set in BackupSet.objects.filter(segments__tape=tape).distinct().order_by("started_at"):
        segments = list(backup_set.segments.filter(tape=tape).select_related("tape")
                        .order_by("sequence"))
        work.append((backup_set, segments))
        report.sets.append(backup_set.pk)
    if not work:
        raise JobError(f"The catalog knows no data on tape {tape.barcode}.")
    _verify(report, work, drive, context or JobContext())
    _store(report, tape=tape)
    return report


def _level(level: str) -> str:
    if level not in LEVELS:
        raise JobError(f"{level!r} is not a verify level ({' or '.join(LEVELS)}).")
    return level


def _verify(report: VerifyReport, work, drive, context: JobContext) -> None:
    plans = []
    for backup_set, segments in work:
        rows = _rows_of(backup_set, segments) if report.level == DATA else []
        tapes = tapes_needed(backup_set, rows) if rows else _unique([s.tape for s in segments])
        plans.append((backup_set, segments, rows, tapes))
    all_tapes = _unique([t for plan in plans for t in plan[3]])
    with TapeSession(drive=drive, context=context, tapes=all_tapes) as session:
        for backup_set, segments, rows, _ in plans:
            if report.level == QUICK:
                _quick(session, backup_set, segments, report)
            else:
                _data(session, backup_set, rows, report)
        report.tapes = _unique(report.tapes + session.loaded)
    report.verified_at = timezone.now().isoformat()
    for line in report.errors:
        context.log(line, level="error")
    context.log(report.summary())


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        key = getattr(item, "pk", item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _rows_of(backup_set: BackupSet, segments: list[BackupSegment]) -> list[Wanted]:
    """Every row whose header is in ``segments`` (all of the set for a set verify)."""
    sequences = {s.sequence for s in segments}
    return [row for row in restore_plan(backup_set=backup_set) if row.segment in sequences]


# --- quick ---------------------------------------------------------------------------------


def _quick(session: TapeSession, backup_set: BackupSet, segments, report: VerifyReport) -> None:
    """Each segment's index against the catalog rows whose header is in that segment.

    Both are in tape order, so they are compared as two sorted streams (the catalog's
    sorted by the database), and memory stays flat whatever the size of the set; only
    members that span tapes, which a later segment's index may list, are looked up by
    place."""
    spanning = {(r[0], r[1], r[2]): r[3:] for r in (
        CatalogEntry.objects.filter(backup_set=backup_set, volumes__gt=1)
        .values_list("segment__sequence", "record", "offset", "path", "checksum", "size"))}
    for segment in segments:
        try:
            handle = session.load(segment.tape)
        except JobError as exc:
            report.error(str(exc))
            continue
        if segment.index_file is None:
            report.error(f"Set {backup_set.pk} part {segment.sequence + 1} has no index file.")
            continue
        try:
            handle.locate(segment.index_file, 0)
            record, rows = read_index(handle)
            _check_record(record, backup_set, segment, report)
            _compare(rows, segment, spanning, report)
        except (FormatError, TapeError) as exc:
            report.error(f"The index of set {backup_set.pk} part {segment.sequence + 1} on "
                         f"{segment.tape.barcode} could not be read: {exc}")
            if isinstance(exc, MediaError):
                session.read_error(segment.tape, str(exc))


def _check_record(record: dict, backup_set: BackupSet, segment: BackupSegment, report) -> None:
    if record.get("set_id") != backup_set.pk and record.get("started_at") != backup_set.started_at.isoformat():
        report.error(f"The index in file {segment.index_file} of {segment.tape.barcode} belongs to "
                     f"set {record.get('set_id')}, not set {backup_set.pk}.")
    if record.get("segment", 0) != segment.sequence or record.get("data_file") != segment.data_file:
        report.error(f"The index in file {segment.index_file} of {segment.tape.barcode} describes "
                     f"part {record.get('segment', 0) + 1} in file {record.get('data_file')}, not "
                     f"part {segment.sequence + 1} in file {segment.data_file}.")


def _compare(rows, segment: BackupSegment, spanning: dict, report: VerifyReport) -> None:
    """Merge the index's rows with the segment's catalog rows, both by (record, offset)."""
    barcode = segment.tape.barcode
    catalog = (CatalogEntry.objects.filter(segment=segment).order_by("record", "offset")
               .values_list("record", "offset", "path", "checksum", "size", "volumes")
               .iterator(chunk_size=5000))
    ours = next(catalog, None)
    last = (-1, -1)
    for row in rows:
        report.members += 1
        path = catalog_path(row["path"])
        volume, place = row.get("volume", segment.sequence), (row.get("record"), row.get("offset"))
        if volume != segment.sequence:  # the rest of a member that began on an earlier tape
            _check_row(path, row, spanning.get((volume, *place)), barcode, report)
            continue
        if not (isinstance(place[0], int) and isinstance(place[1], int)) or place <= last:
            report.error(f"The index on {barcode} is not in tape order at {path}; the rest of "
                         "it was not compared.")
            return
        last = place
        while ours is not None and ours[:2] < place:
            _not_indexed(ours, report)
            ours = next(catalog, None)
        if ours is not None and ours[:2] == place:
            _check_row(path, row, ours[2:5], barcode, report)
            ours = next(catalog, None)
        else:
            _check_row(path, row, None, barcode, report)
    while ours is not None:
        _not_indexed(ours, report)
        ours = next(catalog, None)


def _check_row(path: str, row: dict, ours: tuple | None, barcode: str, report) -> None:
    """``ours``: the catalog's (path, checksum, size) at the row's place, if any."""
    if ours is None or ours[0] != path:
        report.error(f"{path} is in the index on {barcode} but not in the catalog at that "
                     "place.")
        return
    if (ours[1] or None) != (row.get("checksum") or None) or ours[2] != row.get("size"):
        report.error(f"{path}: the index on {barcode} and the catalog disagree about its size "
                     "or checksum.")


def _not_indexed(ours: tuple, report: VerifyReport) -> None:
    if ours[5] <= 1:  # a spanning member may be listed by the index of a later tape
        report.error(f"{ours[2]} is in the catalog but in no index on tape.")


# --- data ------------------------------------------------------------------------------------


def _data(session: TapeSession, backup_set: BackupSet, rows: list[Wanted], report) -> None:
    problems: list[str] = []

    def on_member(row: Wanted, entry, data) -> None:
        report.members += 1
        if row.type != CatalogEntry.Type.FILE:
            return
        try:
            for chunk in data:
                report.bytes += len(chunk)
        except ChecksumMismatch:
            report.error(f"{row.path} does not match its checksum (set {backup_set.pk}).")

    read_members(session, backup_set, rows, on_member, problems)
    for problem in problems:
        report.error(f"{problem} (set {backup_set.pk})")


# --- results ---------------------------------------------------------------------------------


def _store(report: VerifyReport, *, backup_set: BackupSet | None = None,
           tape: Tape | None = None) -> VerifyResult:
    """Keep the result, and note every tape it read cleanly (if the whole verify was ok)."""
    result = VerifyResult.objects.create(
        backup_set=backup_set, tape=tape, level=report.level, ok=report.ok,
        members=report.members, bytes=report.bytes, error_count=report.error_count,
        errors=report.errors, report=report.as_dict(),
        verified_at=datetime.fromisoformat(report.verified_at),
    )
    if report.ok:
        for read in Tape.objects.filter(barcode__in=report.tapes):
            tape_verified(tape=read, at=result.verified_at, data=report.level == DATA)
    return result


def verify_last(name: str) -> dict | None:
    """The report of the last verify of ``set-<id>`` or ``tape-<barcode>``."""
    kind, _, key = name.partition("-")
    results = VerifyResult.objects.all()
    if kind == "set" and key.isdigit():
        results = results.filter(backup_set_id=int(key))
    elif kind == "tape":
        results = results.filter(tape__barcode=key)
    else:
        return None
    last = results.order_by("-verified_at", "-id").first()
    return last.report if last else None


def verify_run(*, context: JobContext, drive_id: int | None = None, set_id: int | None = None,
               tape: str | None = None, level: str = QUICK, **_ignored) -> str:
    """The scheduling layer's entry point (job kind ``verify``)."""
    drive = Drive.objects.select_related("library").get(pk=drive_id) if drive_id else None
    if set_id is not None:
        backup_set = BackupSet.objects.filter(pk=set_id).first()
        if backup_set is None:
            raise JobError(f"There is no backup set {set_id}.")
        report = verify_set(backup_set=backup_set, level=level, drive=drive, context=context)
    elif tape:
        tape_obj = Tape.objects.filter(barcode=tape).first()
        if tape_obj is None:
            raise JobError(f"There is no tape with barcode {tape!r} in the inventory.")
        report = verify_tape(tape=tape_obj, level=level, drive=drive, context=context)
    else:
        raise JobError("Name a set or a tape to verify.")
    if not report.ok:
        raise JobError(report.summary())
    return report.summary()
