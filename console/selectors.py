"""Read-only queries behind the console's pages (selectors, in HackSoft's sense).

Every function here reads models and returns plain objects for a template; none changes
anything. Each page is a fixed, small number of queries whatever the size of the tables:
lists are sliced, counts are grouped, and the catalog is only ever read through its two
indexes (``catalog_set_parent_name`` for browsing, ``catalog_set_path`` for lookups).
``bench/console_bench.py`` times the pages on 1M catalog rows and 10,000 runs.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry
from scheduling.models import ClusterHeartbeat, HealthReport, JobRun, Schedule
from tapes.models import Drive, Library, MediaPool, PickList, Slot, Tape, TapeLocation, Vault

RUNS_PAGE = 50
BROWSE_PAGE = 200
SEARCH_LIMIT = 200
CHART_DAYS = 14
# A run's log (up to TAPEBACKUP_LOG_MAX_BYTES) is read only by its own page.
HEAVY = ("log", "waiting_for")


def run_percent(run: JobRun) -> int | None:
    """How far the run is, 0-100, or None when it does not know its total."""
    if run.total_bytes:
        return min(100, int(100 * run.bytes / run.total_bytes))
    if run.total_files:
        return min(100, int(100 * run.files / run.total_files))
    return None


# --- dashboard --------------------------------------------------------------------------


@dataclass
class DriveRow:
    drive: Drive
    tape: Tape | None
    run: JobRun | None

    @property
    def state(self) -> str:
        if not self.drive.enabled:
            return "disabled"
        if self.run is not None:
            return "running" if self.run.state == JobRun.State.RUNNING else "reserved"
        return "loaded" if self.tape else "empty"

    @property
    def cleaning_due(self) -> bool:
        return drive_cleaning_due(self.drive)

    @property
    def percent(self) -> int | None:
        return run_percent(self.run) if self.run else None


def drive_cleaning_due(drive: Drive) -> bool:
    by_use = drive.clean_after_bytes and drive.bytes_since_cleaning >= drive.clean_after_bytes
    return bool(drive.cleaning_requested or by_use)


def drive_rows() -> list[DriveRow]:
    """Every drive with its tape and the run holding it: two queries."""
    drives = Drive.objects.select_related("library", "tape__media_type").order_by(
        "library__name", "index")
    runs = {r.drive_id: r for r in JobRun.objects.filter(
        state__in=JobRun.HOLDS_DRIVE, drive__isnull=False).defer(*HEAVY)}
    return [DriveRow(d, _tape_of(d), runs.get(d.pk)) for d in drives]


def _tape_of(drive: Drive) -> Tape | None:
    try:
        return drive.tape
    except Tape.DoesNotExist:
        return None


def waiting_runs(limit: int = 20) -> list[JobRun]:
    """Runs waiting for a drive or media, and queued retries waiting for their time."""
    now = timezone.now()
    waiting = Q(state__in=JobRun.WAITING) | Q(state=JobRun.State.QUEUED, not_before__gt=now)
    return list(JobRun.objects.filter(waiting).defer(*HEAVY)
                .order_by("-priority", "created_at")[:limit])


@dataclass
class DayResults:
    counts: dict[str, int]
    total: int

    @property
    def ok(self) -> int:
        return self.counts.get("succeeded", 0) + self.counts.get("warnings", 0)

    @property
    def bad(self) -> int:
        return self.counts.get("failed", 0) + self.counts.get("interrupted", 0)


def last_day_results(*, now: dt.datetime | None = None) -> DayResults:
    since = (now or timezone.now()) - dt.timedelta(hours=24)
    rows = (JobRun.objects.filter(created_at__gte=since).values("state")
            .annotate(n=Count("id")).order_by())
    counts = {r["state"]: r["n"] for r in rows}
    return DayResults(counts=counts, total=sum(counts.values()))


def failures(*, days: int = 3, limit: int = 10) -> list[JobRun]:
    """Failed and interrupted runs of the last days that no later retry put right."""
    since = timezone.now() - dt.timedelta(days=days)
    fixed = JobRun.objects.filter(retry_of__isnull=False, state__in=[
        JobRun.State.SUCCEEDED, JobRun.State.WARNINGS]).values("retry_of_id")
    return list(JobRun.objects.filter(
        state__in=[JobRun.State.FAILED, JobRun.State.INTERRUPTED], created_at__gte=since)
        .exclude(pk__in=fixed).defer(*HEAVY).order_by("-created_at")[:limit])


def latest_health() -> HealthReport | None:
    return HealthReport.objects.order_by("-created_at", "-id").first()


@dataclass
class PoolScratch:
    pool: MediaPool
    scratch: int

    @property
    def short(self) -> bool:
        return self.scratch < self.pool.min_scratch


def scratch_by_pool() -> list[PoolScratch]:
    """Scratch tapes in a library each pool could take, against its minimum (as the health
    check counts them, ``scheduling.health._scratch``)."""
    rows = (Tape.objects.filter(pool__isnull=True, place=Tape.Place.LIBRARY,
                                status__in=[Tape.Status.NEW, Tape.Status.WRITABLE])
            .exclude(media_type__kind="cleaning").values("media_type_id")
            .annotate(n=Count("id")).order_by())
    by_type = {r["media_type_id"]: r["n"] for r in rows}
    everything = sum(by_type.values())
    return [PoolScratch(p, by_type.get(p.media_type_id, 0) if p.media_type_id else everything)
            for p in MediaPool.objects.select_related("media_type").order_by("name")]


@dataclass
class Offsite:
    pick_lists: list[PickList]
    to_send: list[Tape]
    due_back: list[Tape]
    in_mail_slots: list[Tape]
    in_transit: list[Tape]


def offsite(limit: int = 20) -> Offsite:
    """What to carry today: open pick lists; tapes the off-site rule says to send
    (``backups.offsite.offsite_candidates``: the newest full of each job) and not on a list
    yet; vault tapes whose protection has ended, to recall (``tapes.offsite.offsite_report``'s
    "due back" rule); tapes waiting in mail slots, and tapes on their way. Sending and
    recalling are shown only once a vault exists."""
    from backups.offsite import offsite_candidates

    lists = list(PickList.objects.exclude(state=PickList.State.DONE).select_related(
        "vault", "library").prefetch_related("tapes").order_by("created_at")[:limit])
    listed = {t.pk for pick in lists for t in pick.tapes.all()}
    to_send, due_back = [], []
    if Vault.objects.exists():
        to_send = [t for t in offsite_candidates() if t.pk not in listed][:limit]
        due_back = list(Tape.objects.filter(place=Tape.Place.VAULT).filter(
            Q(protected_until__isnull=True) | Q(protected_until__lte=timezone.now()))
            .exclude(pk__in=listed).order_by("vault", "barcode")[:limit])
    mail = list(Tape.objects.filter(slot__kind=Slot.Kind.MAIL).select_related(
        "slot__library").order_by("barcode")[:limit])
    transit = list(Tape.objects.filter(place=Tape.Place.TRANSIT).order_by("barcode")[:limit])
    return Offsite(lists, to_send, due_back, mail, transit)


@dataclass
class NextRun:
    schedule: Schedule
    at: dt.datetime


def next_scheduled(limit: int = 6) -> list[NextRun]:
    schedules = Schedule.objects.filter(enabled=True, next_run_at__isnull=False).order_by(
        "next_run_at")[:limit]
    return [NextRun(s, s.next_run_at) for s in schedules]


@dataclass
class Bar:
    label: str
    value: int
    x: float = 0
    y: float = 0
    height: float = 0
    width: float = 0


@dataclass
class Chart:
    bars: list[Bar]
    peak: int
    width: int = 1000
    height: int = 150


def _layout(bars: list[Bar], *, width: int = 1000, height: int = 150) -> Chart:
    peak = max((b.value for b in bars), default=0)
    slot = width / max(len(bars), 1)
    for i, bar in enumerate(bars):
        bar.width = slot * 0.7
        bar.x = i * slot + slot * 0.15
        bar.height = (height - 20) * bar.value / peak if peak else 0
        bar.y = height - 16 - bar.height
    return Chart(bars=bars, peak=peak, width=width, height=height)


def bytes_per_day(*, days: int = CHART_DAYS) -> Chart:
    """Bytes written by backup sets per day (by start day), the last ``days`` days."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    rows = (BackupSet.objects.filter(started_at__gte=since).annotate(day=TruncDate("started_at"))
            .values("day").annotate(total=Sum("bytes")).order_by())
    per_day = {r["day"]: r["total"] or 0 for r in rows}
    bars = [Bar(label=f"{d:%d %b}", value=per_day.get(d, 0))
            for d in (start + dt.timedelta(days=n) for n in range(days))]
    return _layout(bars)


@dataclass
class PoolCapacity:
    name: str
    tapes: int
    used: int
    capacity: int

    @property
    def percent(self) -> float:
        return 100 * self.used / self.capacity if self.capacity else 0.0


def capacity_by_pool() -> list[PoolCapacity]:
    """Bytes on tape against native capacity, per pool (scratch tapes as "scratch")."""
    rows = (Tape.objects.exclude(media_type__kind="cleaning").exclude(status=Tape.Status.RETIRED)
            .values("pool__name").annotate(n=Count("id"), used=Sum("bytes_written"),
                                           capacity=Sum("media_type__native_capacity"))
            .order_by("pool__name"))
    return [PoolCapacity(r["pool__name"] or "scratch", r["n"], r["used"] or 0,
                         r["capacity"] or 0) for r in rows]


# --- runs ------------------------------------------------------------------------------


def runs_page(*, state: str = "", kind: str = "", page: int = 1) -> tuple[list[JobRun], bool]:
    """One page of the runs list, newest first, and whether there is a next one. Never
    counts the table (index ``jobrun_created``; ``jobrun_state_queue`` with a state)."""
    runs = JobRun.objects.select_related("drive__library", "requested_by", "schedule").defer(
        *HEAVY)
    if state:
        runs = runs.filter(state=state)
    if kind:
        runs = runs.filter(kind=kind)
    start = (max(page, 1) - 1) * RUNS_PAGE
    found = list(runs.order_by("-created_at", "-id")[start:start + RUNS_PAGE + 1])
    return found[:RUNS_PAGE], len(found) > RUNS_PAGE


def log_tail(run: JobRun, lines: int = 200) -> str:
    return "\n".join(run.log.splitlines()[-lines:])


# --- tapes and libraries ---------------------------------------------------------------


@dataclass
class TapeLife:
    loads: int
    max_loads: int
    passes: float
    max_passes: int

    @property
    def loads_left(self) -> int | None:
        return max(self.max_loads - self.loads, 0) if self.max_loads else None

    @property
    def percent_left(self) -> float | None:
        shares = []
        if self.max_loads:
            shares.append(1 - self.loads / self.max_loads)
        if self.max_passes:
            shares.append(1 - self.passes / self.max_passes)
        return max(0.0, 100 * min(shares)) if shares else None


def tape_life(tape: Tape) -> TapeLife:
    kind = tape.media_type
    return TapeLife(tape.mounts, kind.max_loads, tape.full_passes, kind.max_full_passes)


def tape_sets(tape: Tape, limit: int = 100) -> list[BackupSegment]:
    return list(BackupSegment.objects.filter(tape=tape).select_related("backup_set__job")
                .order_by("-backup_set__started_at", "sequence")[:limit])


def tape_moves(tape: Tape, limit: int = 50) -> list[TapeLocation]:
    return list(TapeLocation.objects.filter(tape=tape).select_related("library", "moved_by")
                .order_by("-at", "-id")[:limit])


def tape_verify_runs(tape: Tape, limit: int = 10) -> list[JobRun]:
    return list(JobRun.objects.filter(kind=JobRun.Kind.VERIFY, params__tape=tape.barcode)
                .defer(*HEAVY).order_by("-created_at")[:limit])


def tapes_page(*, pool: str = "", status: str = "", q: str = "",
               page: int = 1) -> tuple[list[Tape], bool]:
    tapes = Tape.objects.select_related("media_type", "pool", "slot__library", "drive__library")
    if pool:
        tapes = tapes.filter(pool__name=pool) if pool != "scratch" else tapes.filter(
            pool__isnull=True)
    if status:
        tapes = tapes.filter(status=status)
    if q:
        tapes = tapes.filter(barcode__icontains=q)
    start = (max(page, 1) - 1) * RUNS_PAGE
    found = list(tapes.order_by("barcode")[start:start + RUNS_PAGE + 1])
    return found[:RUNS_PAGE], len(found) > RUNS_PAGE


@dataclass
class LibraryGrid:
    library: Library
    storage: list[Slot]
    mail: list[Slot]
    drives: list[DriveRow]
    columns: int = 8


def library_grid(library: Library) -> LibraryGrid:
    slots = list(Slot.objects.filter(library=library).select_related(
        "tape__media_type", "tape__pool").order_by("number"))
    for slot in slots:
        slot.occupant = _occupant(slot)
    drives = [row for row in drive_rows() if row.drive.library_id == library.pk]
    return LibraryGrid(library, [s for s in slots if s.kind == Slot.Kind.STORAGE],
                       [s for s in slots if s.kind == Slot.Kind.MAIL], drives)


def _occupant(slot: Slot) -> Tape | None:
    try:
        return slot.tape
    except Tape.DoesNotExist:
        return None


# --- restore ---------------------------------------------------------------------------


def jobs_with_last_set() -> list[BackupJob]:
    return list(BackupJob.objects.annotate(
        last_set=Max("sets__started_at", filter=Q(sets__status__in=BackupSet.RESTORABLE)),
        set_count=Count("sets", filter=Q(sets__status__in=BackupSet.RESTORABLE)),
    ).order_by("name"))


@dataclass
class CalendarMonth:
    year: int
    month: int
    weeks: list[list[tuple[int, list[BackupSet]]]]

    @property
    def title(self) -> str:
        return f"{calendar.month_name[self.month]} {self.year}"

    @property
    def previous(self) -> str:
        y, m = (self.year, self.month - 1) if self.month > 1 else (self.year - 1, 12)
        return f"{y:04d}-{m:02d}"

    @property
    def following(self) -> str:
        y, m = (self.year, self.month + 1) if self.month < 12 else (self.year + 1, 1)
        return f"{y:04d}-{m:02d}"


def set_calendar(job: BackupJob, year: int, month: int) -> CalendarMonth:
    """The job's sets of one month on a calendar (weeks of (day, sets) from Monday)."""
    zone = timezone.get_current_timezone()
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    by_day: dict[int, list[BackupSet]] = {}
    for backup_set in BackupSet.objects.filter(job=job, started_at__gte=start,
                                               started_at__lt=end).order_by("started_at"):
        by_day.setdefault(timezone.localtime(backup_set.started_at).day, []).append(backup_set)
    weeks = [[(day, by_day.get(day, [])) for day in week]
             for week in calendar.Calendar().monthdayscalendar(year, month)]
    return CalendarMonth(year, month, weeks)


def latest_month(job: BackupJob) -> tuple[int, int]:
    last = job.sets.order_by("-started_at").values_list("started_at", flat=True).first()
    when = timezone.localtime(last) if last else timezone.localtime()
    return when.year, when.month


@dataclass
class Listing:
    directory: str
    entries: list[CatalogEntry]
    next_after: str | None
    parents: list[tuple[str, str]]


def browse(backup_set: BackupSet, directory: str, *, after: str = "",
           limit: int = BROWSE_PAGE) -> Listing:
    """One page of a directory, by name from ``after`` (keyset paging on the index
    ``catalog_set_parent_name``: equality on set and ``parent_key``, range on name)."""
    directory = "/" + directory.strip("/")
    rows = CatalogEntry.objects.in_directory(backup_set, directory).only(
        "path", "name", "type", "size", "mtime_ns", "uname", "gname", "mode")
    if after:
        rows = rows.filter(name__gt=after)
    found = list(rows[:limit + 1])
    entries = found[:limit]
    more = entries[-1].name if len(found) > limit else None
    return Listing(directory, [e for e in entries if e.path != directory], more,
                   _breadcrumbs(directory))


def _breadcrumbs(directory: str) -> list[tuple[str, str]]:
    crumbs, path = [], ""
    for part in [p for p in directory.split("/") if p]:
        path += "/" + part
        crumbs.append((part, path))
    return crumbs


def set_roots(backup_set: BackupSet) -> list[CatalogEntry]:
    """The entries of the job's source paths (a set stores its sources, not their parents,
    so browsing starts here)."""
    roots = []
    for source in backup_set.job.sources:
        entry = CatalogEntry.objects.at_path(backup_set, "/" + str(source).strip("/")).first()
        if entry is not None:
            roots.append(entry)
    return roots


def search(backup_set: BackupSet, text: str, limit: int = SEARCH_LIMIT) -> list[CatalogEntry]:
    """Entries of the set whose name contains ``text`` (or whose path does, when it has a
    ``/``), first ``limit`` by path."""
    column = "path__contains" if "/" in text else "name__contains"
    return list(CatalogEntry.objects.filter(backup_set=backup_set, **{column: text})
                .only("path", "name", "type", "size", "mtime_ns")[:limit])


def heartbeats() -> list[ClusterHeartbeat]:
    """The freshest heartbeat per cluster and host."""
    seen: dict[tuple[str, str], ClusterHeartbeat] = {}
    for row in ClusterHeartbeat.objects.order_by("cluster", "host", "-last_seen"):
        seen.setdefault((row.cluster, row.host), row)
    return list(seen.values())
