"""The health check: drives, clusters, queues, scratch tapes, tape wear, disk, database.

Each finding is one sentence with a level; the report's status is the worst level. A report
is stored every time, and mail goes out only when the status or the set of reasons changes.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F, Q
from django.utils import timezone

from scheduling import conf
from scheduling.models import ClusterHeartbeat, HealthReport, JobRun

OK, WARNING, CRITICAL = HealthReport.Status.OK, HealthReport.Status.WARNING, \
    HealthReport.Status.CRITICAL
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}
WEAR_WARNING = 0.9  # tapes past 90 % of their media type's rated loads


class Findings:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.checks: dict = {}

    def add(self, level: str, sentence: str) -> None:
        self.items.append((level, sentence))

    @property
    def status(self) -> str:
        return max((level for level, _ in self.items), key=_RANK.get, default=OK)


def health_check(*, notify: bool = True) -> HealthReport:
    """Run every check, store the report, and notify if it differs from the last one."""
    findings = Findings()
    if not _database(findings):
        return HealthReport(status=CRITICAL, reasons=[t for _, t in findings.items])
    for check in (_drives, _clusters, _queues, _scratch, _wear, _disk):
        check(findings)
    previous = HealthReport.objects.order_by("-created_at", "-id").first()
    report = HealthReport.objects.create(
        status=findings.status, reasons=[text for _, text in findings.items],
        checks=findings.checks)
    if notify and _changed(report, previous):
        from scheduling.notify import notify_health

        if notify_health(report=report, previous=previous):
            HealthReport.objects.filter(pk=report.pk).update(notified=True)
            report.notified = True
    return report


def _changed(report: HealthReport, previous: HealthReport | None) -> bool:
    if previous is None:
        return report.status != OK
    return (report.status, sorted(report.reasons)) != (previous.status, sorted(previous.reasons))


def _database(f: Findings) -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        f.add(CRITICAL, f"The database is not reachable ({exc}).")
        return False
    return True


def _drives(f: Findings) -> None:
    from tapes.models import Drive

    for drive in Drive.objects.select_related("library"):
        if not drive.enabled:
            f.add(WARNING, f"Drive {drive} is disabled.")
            continue
        status = drive.last_status or {}
        if drive.cleaning_requested or status.get("cleaning_requested"):
            f.add(WARNING, f"Drive {drive} asks to be cleaned.")
        alerts = status.get("tapealert") or status.get("tape_alerts") or []
        for alert in alerts:
            text = alert.get("text", alert) if isinstance(alert, dict) else alert
            level = CRITICAL if isinstance(alert, dict) and alert.get("severity") == "critical" \
                else WARNING
            f.add(level, f"Drive {drive} reports TapeAlert: {text}.")
        if status.get("error"):
            f.add(CRITICAL, f"Drive {drive} reported an error: {status['error']}.")


def _clusters(f: Findings) -> None:
    fresh_after = timezone.now() - timedelta(seconds=conf.cluster_stale_seconds())
    expected = {conf.default_cluster(), *conf.node_clusters()}
    seen = {row.cluster: row for row in ClusterHeartbeat.objects.order_by("last_seen")}
    f.checks["clusters"] = {name: row.last_seen.isoformat() for name, row in seen.items()}
    for name in sorted(expected):
        row = seen.get(name)
        if row is None:
            f.add(CRITICAL, f"No django-q2 cluster {name!r} has ever reported; start "
                            f"`Q_CLUSTER_NAME={name} manage.py qcluster`.")
        elif row.last_seen < fresh_after:
            f.add(CRITICAL, f"Cluster {name!r} was last seen at {row.last_seen:%Y-%m-%d %H:%M} "
                            f"UTC on {row.host}; no worker is taking its jobs.")


def _queues(f: Findings) -> None:
    limit = timezone.now() - timedelta(seconds=conf.queued_too_long_seconds())
    waiting = JobRun.objects.filter(
        Q(state=JobRun.State.QUEUED, created_at__lt=limit, not_before__isnull=True)
        | Q(state__in=JobRun.WAITING, created_at__lt=limit))
    for run in waiting[:20]:
        why = f": {run.waiting_reason}" if run.waiting_reason else ""
        f.add(WARNING, f"Run #{run.pk} ({run.kind_label}) has been "
                       f"{run.get_state_display().lower()} since "
                       f"{run.created_at:%Y-%m-%d %H:%M} UTC{why.rstrip('.')}.")


def _scratch(f: Findings) -> None:
    from tapes.models import MediaPool, Tape

    scratch = Tape.objects.filter(
        pool__isnull=True, status__in=[Tape.Status.NEW, Tape.Status.WRITABLE],
        place=Tape.Place.LIBRARY).exclude(media_type__kind="cleaning")
    for pool in MediaPool.objects.select_related("media_type"):
        tapes = scratch.filter(media_type=pool.media_type) if pool.media_type_id else scratch
        have = tapes.count()
        f.checks.setdefault("scratch", {})[pool.name] = have
        if have < pool.min_scratch:
            media = f" {pool.media_type}" if pool.media_type_id else ""
            f.add(WARNING, f"Pool {pool.name} has {have} scratch{media} tape(s) in the library, "
                           f"fewer than its minimum of {pool.min_scratch}.")


def _wear(f: Findings) -> None:
    from tapes.models import Tape

    worn = Tape.objects.exclude(status=Tape.Status.RETIRED).exclude(
        media_type__kind="cleaning").filter(
        mounts__gte=F("media_type__max_loads") * WEAR_WARNING).select_related("media_type")
    for tape in worn[:20]:
        f.add(WARNING, f"Tape {tape.barcode} has been loaded {tape.mounts} times, near the "
                       f"{tape.media_type.max_loads} its media type is rated for.")


def _disk(f: Findings) -> None:
    try:
        usage = shutil.disk_usage(settings.DATA_DIR)
    except OSError as exc:
        f.add(CRITICAL, f"The data directory {settings.DATA_DIR} cannot be read ({exc}).")
        return
    free = usage.free / usage.total if usage.total else 1
    f.checks["data_dir_free"] = round(free, 4)
    if free < 0.02:
        f.add(CRITICAL, f"The data directory {settings.DATA_DIR} is {100 - free * 100:.0f}% "
                        "full.")
    elif free < 0.10:
        f.add(WARNING, f"The data directory {settings.DATA_DIR} is {100 - free * 100:.0f}% "
                       "full.")
