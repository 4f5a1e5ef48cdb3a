"""Schedules, job runs, cluster heartbeats and health reports.

A ``JobRun`` row exists before anything is queued (DESIGN §7): it is the history operators
read and the one place that decides whether a run may execute. django-q2's task tables are
transport only. A run claims itself with a conditional UPDATE (``services.run_claim``), so a
task the broker hands out twice executes once.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from scheduling import cron


def validate_cron(value: str) -> None:
    error = cron.cron_error(value)
    if error:
        raise ValidationError(error, code="cron")


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not a time zone name (e.g. Europe/Berlin or UTC).", code="tz"
        ) from None


class JobKind(models.TextChoices):
    BACKUP = "backup", "Backup"
    RESTORE = "restore", "Restore"
    VERIFY = "verify", "Verify"
    RETENTION = "retention", "Retention check"
    HEALTH = "health", "Health check"
    INVENTORY = "inventory", "Library inventory"
    LABEL = "label", "Label tapes"
    CLEAN = "clean", "Clean a drive"


class Schedule(models.Model):
    """When to run what: a cron expression read in a time zone, with a retry and notify policy.

    ``next_run_at`` (UTC) is ours, not django-q2's: the scheduler tick fires a schedule by
    moving it forward with a conditional UPDATE, so each slot fires once across clusters and
    nodes, a missed schedule catches up once, and a local 02:30 runs once on the night daylight
    saving time ends (docs/scheduling.md).
    """

    class Notify(models.TextChoices):
        FAILURES = "failures", "On failures"
        ALWAYS = "always", "Always"
        NEVER = "never", "Never"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=JobKind.choices)
    params = models.JSONField(
        default=dict, blank=True,
        help_text='What exactly to run, e.g. {"job_id": 3, "level": "full"} for a backup.',
    )
    cron = models.CharField(
        max_length=100, validators=[validate_cron],
        help_text="Five fields: minute hour day month weekday, e.g. '0 2 1 * *'.",
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone],
        help_text="The cron expression is read in this time zone.",
    )
    enabled = models.BooleanField(default=True)
    node = models.CharField(
        max_length=64, blank=True, help_text="Run only on this storage node; empty means any."
    )
    priority = models.SmallIntegerField(default=0, help_text="Higher goes first for a drive.")
    retry_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="New runs after a failed or interrupted one (0: never retry)."
    )
    retry_delay_minutes = models.PositiveIntegerField(default=30)
    notify = models.CharField(max_length=10, choices=Notify.choices, default=Notify.FAILURES)
    notify_emails = models.CharField(
        max_length=500, blank=True,
        help_text="Comma-separated addresses; empty means TAPEBACKUP_NOTIFY_EMAILS.",
    )
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # The scheduler tick: enabled schedules whose next run is due.
            models.Index(fields=["enabled", "next_run_at"], name="schedule_due"),
        ]

    def __str__(self) -> str:
        state = "" if self.enabled else ", disabled"
        return f"{self.name} ({self.cron} {self.time_zone}{state})"

    def save(self, *args, **kwargs) -> None:
        # An edit of the timing (or enabling) restarts the count from now: no catch-up for
        # slots that passed while the schedule said something else.
        if self.enabled and (self.next_run_at is None or self._timing_changed()):
            self.next_run_at = cron.next_after(self.cron, self.time_zone, timezone.now())
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "next_run_at"}
        super().save(*args, **kwargs)

    def _timing_changed(self) -> bool:
        if self.pk is None:
            return True
        old = Schedule.objects.filter(pk=self.pk).values("cron", "time_zone", "enabled").first()
        return old is None or (old["cron"], old["time_zone"], old["enabled"]) != (
            self.cron, self.time_zone, self.enabled)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def next_runs(self, count: int = 5, *, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` run times, aware, in the schedule's time zone."""
        return cron.next_times(self.cron, self.time_zone, after or timezone.now(), count)

    def recipients(self) -> list[str]:
        own = [a.strip() for a in self.notify_emails.split(",") if a.strip()]
        return own or list(settings.TAPEBACKUP_NOTIFY_EMAILS)


class JobRun(models.Model):
    """One run of one job: what, who asked, where, how far it got, how it ended.

    Workers write it in short transactions (progress, heartbeat, log); admin, commands and
    the dashboard read it. ``drive`` is held while the run is queued or running; the partial
    unique constraint below makes that exclusive.
    """

    Kind = JobKind

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        WAITING_DRIVE = "waiting_drive", "Waiting for a drive"
        WAITING_MEDIA = "waiting_media", "Waiting for media"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        WARNINGS = "warnings", "Succeeded with warnings"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"

    ACTIVE = (State.QUEUED, State.WAITING_DRIVE, State.WAITING_MEDIA, State.RUNNING)
    WAITING = (State.WAITING_DRIVE, State.WAITING_MEDIA)
    HOLDS_DRIVE = (State.QUEUED, State.RUNNING)
    FINISHED = (State.SUCCEEDED, State.WARNINGS, State.FAILED, State.CANCELLED,
                State.INTERRUPTED)

    kind = models.CharField(max_length=20)  # JobKind, or a test-only kind (scheduling.kinds)
    params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    schedule = models.ForeignKey(
        Schedule, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )
    state = models.CharField(max_length=15, choices=State.choices, default=State.QUEUED)
    attempt = models.PositiveSmallIntegerField(default=1)
    priority = models.SmallIntegerField(default=0, help_text="Higher goes first for a drive.")
    node = models.CharField(max_length=64, blank=True, help_text="Empty: any node.")
    drive = models.ForeignKey(
        "tapes.Drive", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    # Who executes it: set by the claim.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    cluster = models.CharField(max_length=64, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, help_text="The django-q2 task id.")
    # Progress, written throttled by the run's context.
    files = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    total_files = models.BigIntegerField(null=True, blank=True)
    total_bytes = models.BigIntegerField(null=True, blank=True)
    rate = models.FloatField(null=True, blank=True, help_text="Bytes per second.")
    eta = models.DateTimeField(null=True, blank=True)
    current_path = models.CharField(max_length=1000, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    log = models.TextField(blank=True)
    log_dropped_lines = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    warnings = models.PositiveIntegerField(default=0)
    result = models.CharField(max_length=500, blank=True, help_text="What the run produced.")
    # Waiting: what for (shown to operators) and the machine-readable need.
    waiting_reason = models.CharField(max_length=500, blank=True)
    waiting_for = models.JSONField(default=dict, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(
        null=True, blank=True, help_text="The schedule's slot this run was fired for."
    )
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retries wait until.")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "job run"
        permissions = [("cancel_jobrun", "Can cancel job runs")]
        constraints = [
            # One job per drive at a time (DESIGN invariant): a run holds its drive from the
            # reservation (queued) until it ends (running), so "one running job per drive"
            # holds already at reservation time and two dispatchers cannot both win a drive.
            models.UniqueConstraint(
                fields=["drive"], condition=Q(state__in=["queued", "running"]),
                name="jobrun_one_active_per_drive",
                violation_error_message="This drive is already held by another job run.",
            ),
        ]
        indexes = [
            # Dispatcher, watchdog, health: active runs by state (waiting, stale running).
            models.Index(fields=["state", "priority", "created_at"], name="jobrun_state_queue"),
            # Admin history and `jobs list`: newest first.
            models.Index(fields=["-created_at"], name="jobrun_created"),
            # Schedule page: the last runs of a schedule.
            models.Index(fields=["schedule", "-created_at"], name="jobrun_schedule_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind_label} #{self.pk} ({self.get_state_display().lower()})"

    @property
    def kind_label(self) -> str:
        return dict(JobKind.choices).get(self.kind, self.kind.capitalize())

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def progress_text(self) -> str:
        """Short progress, as the admin column and `jobs list` show it."""
        if self.state in self.WAITING:
            return self.waiting_reason
        if not (self.files or self.bytes):
            return ""
        text = f"{self.files} files, {_human_bytes(self.bytes)}"
        if self.total_bytes:
            text += f" of {_human_bytes(self.total_bytes)} ({100 * self.bytes // self.total_bytes}%)"
        if self.rate:
            text += f", {_human_bytes(int(self.rate))}/s"
        return text


def _human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


class ClusterHeartbeat(models.Model):
    """A django-q2 cluster is alive: its sentinel upserts this row every few seconds
    (``scheduling.broker.TapeORM.set_stat``). Database-backed, so the watchdog and health
    check on any host see every node's clusters, unlike django-q2's cache-based Stat."""

    cluster = models.CharField(max_length=64)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["cluster", "host"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "host", "pid"], name="clusterheartbeat_unique_process"
            ),
        ]
        indexes = [
            # Watchdog and health check: the freshest heartbeat per cluster.
            models.Index(fields=["cluster", "-last_seen"], name="clusterheartbeat_fresh"),
        ]

    def __str__(self) -> str:
        return f"cluster {self.cluster} on {self.host} (pid {self.pid})"


class HealthReport(models.Model):
    """The result of one health check: the worst status and every reason, one sentence each."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    status = models.CharField(max_length=10, choices=Status.choices)
    reasons = models.JSONField(default=list, blank=True)
    checks = models.JSONField(default=dict, blank=True, help_text="Figures behind the reasons.")
    created_at = models.DateTimeField(default=timezone.now)
    notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Notify on change: the previous report.
            models.Index(fields=["-created_at"], name="healthreport_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.created_at:%Y-%m-%d %H:%M}"
