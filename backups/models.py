"""Backup jobs (what to back up), backup sets (what one run wrote), their tape segments, and
the file catalog (one row per stored file).

The catalog is the big table (millions of rows per set): its rows are narrow, it carries
only the two indexes browsing and lookups need, and those index 64-bit keys of the paths
rather than the paths themselves (paths may be longer than a B-tree entry; see
``backups.paths``). Rows are loaded by the engine in batches (``COPY`` on PostgreSQL).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from backups.paths import path_bytes, path_key, split_path
from tapes.models import MediaPool, MediaSet, RetentionPolicy, Tape


class BackupJob(models.Model):
    """What to back up and where to: source paths, excludes, a pool, how long to keep it."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    sources = models.JSONField(
        default=list, help_text="Absolute paths to back up (catalog text form, see paths.py)."
    )
    excludes = models.JSONField(
        default=list, blank=True, help_text="Glob patterns; a match skips the file or tree."
    )
    pool = models.ForeignKey(MediaPool, on_delete=models.PROTECT, related_name="backup_jobs")
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days a set is kept; empty means the pool's default."
    )
    retention_policy = models.ForeignKey(
        RetentionPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="jobs",
        help_text="How long sets are kept; empty: the pool's policy, else retention_days.",
    )
    pre_script = models.TextField(blank=True, help_text="Shell command run before the backup.")
    post_script = models.TextField(blank=True, help_text="Shell command run after the backup.")
    script_timeout = models.PositiveIntegerField(
        default=600, help_text="Seconds a pre- or post-script may run before it is killed."
    )
    enabled = models.BooleanField(default=True)
    foreign = models.BooleanField(
        default=False, help_text="Recreated from another installation's tapes; never run here."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("run_backup", "Can run backup jobs")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.sources:
            raise ValidationError({"sources": "A backup job needs at least one source path."})
        for source in self.sources:
            if not str(source).startswith("/"):
                raise ValidationError({"sources": f"{source} is not an absolute path."})

    @property
    def effective_retention_days(self) -> int:
        """Days a new set is protected when it is written (the engine's ``expires_at``).

        With a policy that is not a time span the set is protected as if kept forever until
        the retention check decides (``backups.retention``), so no tape is unprotected early.
        """
        policy = self.effective_retention_policy
        if policy is not None:
            from backups.retention import provisional_days

            return provisional_days(policy)
        return self.retention_days if self.retention_days is not None else self.pool.retention_days

    @property
    def effective_retention_policy(self) -> RetentionPolicy | None:
        return self.retention_policy or self.pool.retention_policy


class BackupSet(models.Model):
    """The data one run of a job wrote. Restorable only once ``complete`` (invariant 3)."""

    class Level(models.TextChoices):
        FULL = "full", "Full"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        WARNINGS = "warnings", "Complete with warnings"
        FAILED = "failed", "Failed"

    RESTORABLE = (Status.COMPLETE, Status.WARNINGS)

    job = models.ForeignKey(BackupJob, on_delete=models.PROTECT, related_name="sets")
    level = models.CharField(max_length=12, choices=Level.choices, default=Level.FULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    files = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    media_set = models.ForeignKey(
        MediaSet, on_delete=models.PROTECT, null=True, blank=True, related_name="backup_sets"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the set failed, in one sentence.")
    host = models.CharField(max_length=255, blank=True, help_text="Node that wrote the set.")
    pid = models.PositiveIntegerField(null=True, blank=True, help_text="Writer process.")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the writer; recovery reads it."
    )
    # Retention (``backups.retention``): an expired set stays restorable until its tape is
    # overwritten (late recycling); its catalog rows go then.
    expired_at = models.DateTimeField(null=True, blank=True)
    expiry_reason = models.CharField(max_length=300, blank=True)
    kept_because = models.CharField(
        max_length=300, blank=True, help_text="Why the last retention check kept the set."
    )
    hold = models.BooleanField(
        default=False, help_text="Kept whatever the policy says, until an operator lifts it."
    )
    overwritten_at = models.DateTimeField(
        null=True, blank=True, help_text="When a tape of the expired set was overwritten."
    )
    foreign = models.BooleanField(
        default=False, help_text="Written by another installation (found by catalog rebuild)."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        permissions = [
            ("restore_files", "Can restore files from backup sets"),
            ("verify_media", "Can verify backup sets and tapes"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=Q(status="running"), name="backupset_one_running_per_job",
                violation_error_message="This job already has a set being written.",
            ),
        ]
        indexes = [
            # `backup list --job`, the job's history page, "the last good full" (retention).
            models.Index(fields=["job", "-started_at"], name="backupset_job_started"),
            # Crash recovery: "sets still marked running".
            models.Index(fields=["status"], name="backupset_status"),
        ]

    def __str__(self) -> str:
        return f"{self.job.name} {self.level} #{self.pk} ({self.get_status_display().lower()})"

    @property
    def restorable(self) -> bool:
        return self.status in self.RESTORABLE


class BackupSegment(models.Model):
    """The part of a set on one tape: its data tape file and the index file after it."""

    backup_set = models.ForeignKey(BackupSet, on_delete=models.CASCADE, related_name="segments")
    tape = models.ForeignKey(Tape, on_delete=models.PROTECT, related_name="segments")
    sequence = models.PositiveIntegerField(help_text="0 for the set's first tape, then 1, 2…")
    data_file = models.PositiveIntegerField(help_text="Tape file number of the data archive.")
    index_file = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tape file of the index; empty until it is written."
    )
    first_record = models.BigIntegerField(default=0)
    last_record = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0, help_text="Bytes written to tape (records).")
    files = models.BigIntegerField(default=0, help_text="Members whose header is here.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["backup_set", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["backup_set", "sequence"], name="segment_sequence_unique_in_set",
                violation_error_message="The set already has a segment with this sequence.",
            ),
        ]

    def __str__(self) -> str:
        return f"set #{self.backup_set_id} part {self.sequence + 1} on {self.tape.barcode}"


class CatalogQuerySet(models.QuerySet):
    """The two catalog queries its index exists for; both compare keys, then text."""

    def in_directory(self, backup_set, parent: str) -> CatalogQuerySet:
        """One directory's entries, by name (index ``catalog_set_parent_name``)."""
        return self.filter(
            backup_set=backup_set, parent_key=path_key(parent), parent=parent
        ).order_by("name")

    def at_path(self, backup_set, path: str) -> CatalogQuerySet:
        """The entry stored at ``path``: its directory's and its name's (index
        ``catalog_set_parent_name``, equality on every column of it)."""
        parent, name = split_path(path)
        return self.filter(backup_set=backup_set, parent_key=path_key(parent), name=name,
                           path=path)


class CatalogEntry(models.Model):
    """One stored file of a set, and where on tape its member starts.

    ``path`` is absolute (``/srv/a/b``; on tape the member is named without the leading
    ``/``, as GNU tar does) in the text form of ``backups.paths``; ``parent`` + ``name``
    split it for browsing. The member's header is in ``segment``'s data file at
    ``record``/``offset``; ``volumes`` > 1 when its data continues on the next tapes.
    """

    class Type(models.TextChoices):  # the ustar typeflag, as on tape
        FILE = "0", "file"
        HARDLINK = "1", "hard link"
        SYMLINK = "2", "symlink"
        CHARDEV = "3", "character device"
        BLOCKDEV = "4", "block device"
        DIRECTORY = "5", "directory"
        FIFO = "6", "FIFO"

    # No database-level foreign keys on the catalog: checking two of them per row was a third
    # of the COPY time (docs/benchmarks.md), and only the engine and rebuild write rows, after
    # creating their set and segment. Deleting a set still deletes its rows (Django's
    # CASCADE runs in the ORM either way).
    backup_set = models.ForeignKey(BackupSet, on_delete=models.CASCADE, related_name="catalog",
                                   db_index=False,  # the indexes below lead with it
                                   db_constraint=False)
    segment = models.ForeignKey(BackupSegment, on_delete=models.CASCADE, related_name="entries",
                                db_index=False,  # rows go with their set; no lookups by it
                                db_constraint=False)
    path = models.TextField()
    path_key = models.BigIntegerField()
    parent = models.TextField()
    parent_key = models.BigIntegerField()
    name = models.TextField()
    type = models.CharField(max_length=1, choices=Type.choices)
    size = models.BigIntegerField(default=0)
    mode = models.PositiveIntegerField(default=0, help_text="Permission bits (0o7777).")
    uid = models.BigIntegerField(default=0)
    gid = models.BigIntegerField(default=0)
    uname = models.CharField(max_length=255, blank=True)
    gname = models.CharField(max_length=255, blank=True)
    mtime_ns = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the data.")
    link_target = models.TextField(blank=True)
    record = models.BigIntegerField(help_text="Record of the member's header in the data file.")
    offset = models.PositiveIntegerField(help_text="Byte offset of the header in the record.")
    volumes = models.PositiveSmallIntegerField(default=1, help_text="Tapes the member spans.")
    changed = models.BooleanField(default=False, help_text="The file changed while read.")

    objects = CatalogQuerySet.as_manager()

    class Meta:
        verbose_name = "catalog entry"
        verbose_name_plural = "catalog"
        indexes = [
            # Restore browsing: "the entries of directory D in set S, by name"; and restore
            # and verify: "the entry at path P in set S" (P's directory and name). A second
            # index on (set, path_key) made loading the catalog a third slower
            # (docs/benchmarks.md); ``path_key`` stays for lookups of a path in every set.
            models.Index(fields=["backup_set", "parent_key", "name"],
                         name="catalog_set_parent_name"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def path_raw(self) -> bytes:
        """The path's original bytes."""
        return path_bytes(self.path)

    @property
    def member_name(self) -> bytes:
        """The member's name on tape."""
        return self.path_raw.lstrip(b"/") or b"."


class VerifyResult(models.Model):
    """One verify of a set or a tape: when, how deep, and what it found. Read-only history;
    the newest row per set or tape is its "last verified" state."""

    class Level(models.TextChoices):
        QUICK = "quick", "Quick (labels and indexes)"
        DATA = "data", "Data (every checksum)"

    backup_set = models.ForeignKey(BackupSet, on_delete=models.CASCADE, null=True, blank=True,
                                   related_name="verifies")
    tape = models.ForeignKey(Tape, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="verifies")
    level = models.CharField(max_length=8, choices=Level.choices)
    ok = models.BooleanField()
    members = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first 200 errors.")
    report = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField()

    class Meta:
        ordering = ["-verified_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(backup_set__isnull=False) | Q(tape__isnull=False),
                name="verifyresult_has_subject",
                violation_error_message="A verify result is about a set or a tape.",
            ),
        ]
        indexes = [
            # "Last verify of this set" (set page, restore wizard).
            models.Index(fields=["backup_set", "-verified_at"], name="verify_set_latest"),
            # "Last verify of this tape" (tape page, off-site report).
            models.Index(fields=["tape", "-verified_at"], name="verify_tape_latest"),
        ]

    def __str__(self) -> str:
        subject = f"set {self.backup_set_id}" if self.backup_set_id else f"tape {self.tape}"
        outcome = "ok" if self.ok else f"{self.error_count} error(s)"
        return f"{self.get_level_display().split(' ')[0]} verify of {subject}: {outcome}"
