"""``/metrics`` (Prometheus text format 0.0.4) and ``/health`` (JSON for load balancers).

Both are small grouped queries, no login: scrapers and load balancers do not log in.
``/health`` says only ok/warning/critical, ages and counts (no host names, no reasons);
``/metrics`` names jobs, pools, drives and clusters, so put it behind the reverse proxy's
allow-list, or set ``TAPEBACKUP_METRICS_TOKEN`` and scrape with that bearer token
(docs/deploy.md).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Max, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from backups.models import BackupSet
from console import selectors
from scheduling.models import JobRun
from tapes.models import Drive, Tape

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Collects samples per metric family and renders the exposition format."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, value, labels: dict | None = None, *, help_text: str = "",
            kind: str = "gauge") -> None:
        """One sample; a family not declared before is declared with ``help_text``."""
        family = self.families.setdefault(name, (kind, help_text, []))
        labels = labels or {}
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        family[2].append(f"{name}{{{label_text}}} {_number(value)}" if labels
                         else f"{name} {_number(value)}")

    def declare(self, name: str, kind: str, help_text: str) -> None:
        self.families.setdefault(name, (kind, help_text, []))

    def render(self) -> str:
        out = []
        for name, (kind, help_text, samples) in self.families.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(out) + "\n"


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value) -> str:
    if value is None:
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _runs(m: Metrics) -> None:
    m.declare("tapebackup_job_runs", "gauge", "Job runs by kind and state.")
    rows = JobRun.objects.values("kind", "state").annotate(n=Count("id")).order_by()
    for row in rows:
        m.add("tapebackup_job_runs", row["n"], {"kind": row["kind"], "state": row["state"]})


def _backups(m: Metrics) -> None:
    for name in ("tapebackup_backup_bytes", "tapebackup_backup_files"):
        m.declare(name, "gauge", f"{name.rsplit('_', 1)[1].capitalize()} in the restorable "
                                 "sets of each job.")
    m.declare("tapebackup_last_successful_backup_timestamp_seconds", "gauge",
              "When the newest restorable set of each job finished (Unix time).")
    rows = (BackupSet.objects.filter(status__in=BackupSet.RESTORABLE).values("job__name")
            .annotate(b=Sum("bytes"), f=Sum("files"), last=Max("finished_at")).order_by())
    for row in rows:
        job = row["job__name"]
        m.add("tapebackup_backup_bytes", row["b"] or 0, {"job": job})
        m.add("tapebackup_backup_files", row["f"] or 0, {"job": job})
        if row["last"]:
            m.add("tapebackup_last_successful_backup_timestamp_seconds",
                  int(row["last"].timestamp()), {"job": job})
    written = JobRun.objects.filter(kind=JobRun.Kind.BACKUP).aggregate(
        b=Sum("bytes"), f=Sum("files"))
    m.add("tapebackup_backup_runs_bytes_written", written["b"] or 0,
          help_text="Bytes written by the backup runs on record.")
    m.add("tapebackup_backup_runs_files_written", written["f"] or 0,
          help_text="Files written by the backup runs on record.")


def _tapes(m: Metrics) -> None:
    m.declare("tapebackup_tapes", "gauge", "Tapes by pool and status (pool \"\": scratch).")
    rows = Tape.objects.values("pool__name", "status").annotate(n=Count("id")).order_by()
    for row in rows:
        m.add("tapebackup_tapes", row["n"],
              {"pool": row["pool__name"] or "", "status": row["status"]})
    m.declare("tapebackup_scratch_tapes", "gauge", "Scratch tapes in a library each pool can "
                                                   "take.")
    m.declare("tapebackup_scratch_tapes_minimum", "gauge", "The pool's minimum of scratch "
                                                           "tapes.")
    for row in selectors.scratch_by_pool():
        m.add("tapebackup_scratch_tapes", row.scratch, {"pool": row.pool.name})
        m.add("tapebackup_scratch_tapes_minimum", row.pool.min_scratch, {"pool": row.pool.name})
    errors = Tape.objects.aggregate(r=Sum("read_errors"), w=Sum("write_errors"))
    m.add("tapebackup_tape_read_errors", errors["r"] or 0,
          help_text="Read errors counted on all tapes.")
    m.add("tapebackup_tape_write_errors", errors["w"] or 0,
          help_text="Write errors counted on all tapes.")


def _drives(m: Metrics) -> None:
    for name, help_text in (
            ("tapebackup_drive_enabled", "1 when the drive is enabled."),
            ("tapebackup_drive_cleaning_due", "1 when the drive asks for cleaning or has "
                                              "written its clean_after_bytes."),
            ("tapebackup_drive_error", "1 when the drive's last status reported an error."),
            ("tapebackup_drive_tapealerts", "TapeAlert flags in the drive's last status."),
            ("tapebackup_drive_bytes_since_cleaning", "Bytes written since the last cleaning.")):
        m.declare(name, "gauge", help_text)
    for drive in Drive.objects.select_related("library"):
        labels = {"library": drive.library.name, "drive": str(drive.index)}
        status = drive.last_status or {}
        alerts = status.get("tapealert") or status.get("tape_alerts") or []
        m.add("tapebackup_drive_enabled", int(drive.enabled), labels)
        m.add("tapebackup_drive_cleaning_due", int(selectors.drive_cleaning_due(drive)), labels)
        m.add("tapebackup_drive_error", int(bool(status.get("error"))), labels)
        m.add("tapebackup_drive_tapealerts", len(alerts), labels)
        m.add("tapebackup_drive_bytes_since_cleaning", drive.bytes_since_cleaning, labels)


def _clusters(m: Metrics) -> None:
    m.declare("tapebackup_cluster_heartbeat_age_seconds", "gauge",
              "Seconds since each django-q2 cluster process last reported.")
    now = timezone.now()
    for row in selectors.heartbeats():
        m.add("tapebackup_cluster_heartbeat_age_seconds",
              round((now - row.last_seen).total_seconds(), 1),
              {"cluster": row.cluster, "host": row.host})


def collect() -> str:
    m = Metrics()
    for part in (_runs, _backups, _tapes, _drives, _clusters):
        part(m)
    return m.render()


def _token_ok(request) -> bool:
    token = getattr(settings, "TAPEBACKUP_METRICS_TOKEN", "")
    if not token:
        return True
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


@never_cache
@require_GET
def metrics(request):
    if not _token_ok(request):
        return HttpResponse("A bearer token is needed for the metrics.\n", status=401,
                            content_type="text/plain")
    return HttpResponse(collect(), content_type=CONTENT_TYPE)


def health_summary() -> tuple[dict, int]:
    """The load balancer's answer: 200 while the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return {"status": "critical", "database": "unreachable"}, 503
    from scheduling import conf

    now = timezone.now()
    stale = conf.cluster_stale_seconds()
    ages: dict[str, float] = {}
    for row in selectors.heartbeats():
        age = (now - row.last_seen).total_seconds()
        ages[row.cluster] = min(age, ages.get(row.cluster, age))
    expected = {conf.default_cluster(), *conf.node_clusters()}
    clusters = {name: {"age_seconds": round(ages[name], 1) if name in ages else None,
                       "alive": name in ages and ages[name] < stale} for name in sorted(expected)}
    report = selectors.latest_health()
    last = None if report is None else {
        "status": report.status, "age_seconds": round((now - report.created_at).total_seconds())}
    worst = "ok" if all(c["alive"] for c in clusters.values()) else "critical"
    if report is not None and report.status != "ok" and worst == "ok":
        worst = report.status
    return {"status": worst, "database": "ok", "clusters": clusters, "last_report": last}, 200


@never_cache
@require_GET
def health(request):
    body, status = health_summary()
    return JsonResponse(body, status=status)
