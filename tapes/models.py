"""The media inventory: media types, tapes, pools and media sets, libraries, slots, drives,
and where every tape has been.

A tape's *current* place is on the ``Tape`` row (a slot, a drive, or off-line on a shelf or in
a vault); every move also appends a ``TapeLocation`` row, which is the history operators and
auditors read. Rules the inventory must never break are database constraints, so no code
path (admin, command, worker) can break them by accident.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tapes.barcodes import BarcodeError, is_cleaning, split_barcode

GB = 1000**3
TB = 1000**4
MB = 1000**2


def validate_barcode(value: str) -> None:
    try:
        split_barcode(value)
    except BarcodeError as exc:
        raise ValidationError(str(exc), code="barcode") from None


def validate_cron(value: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValidationError(
            f"{value!r} is not a cron expression (five fields: minute hour day month weekday, "
            "e.g. '0 2 1 * *' for 02:00 on the first of each month).",
            code="cron",
        )


class MediaType(models.Model):
    """A kind of cartridge (LTO-8, LTO-9 WORM, cleaning): what every tape of it can hold."""

    class Kind(models.TextChoices):
        DATA = "data", "Data"
        WORM = "worm", "WORM"
        CLEANING = "cleaning", "Cleaning"

    name = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DATA)
    generation = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="LTO generation; empty for cleaning cartridges."
    )
    barcode_suffix = models.CharField(
        max_length=2, unique=True, help_text="The media identifier ending the barcode, e.g. L8."
    )
    native_capacity = models.BigIntegerField(default=0, help_text="Bytes, uncompressed.")
    native_speed = models.BigIntegerField(default=0, help_text="Bytes per second, uncompressed.")
    density_code = models.PositiveSmallIntegerField(null=True, blank=True)
    max_loads = models.PositiveIntegerField(
        default=20000, help_text="Loads after which a tape of this type is retired."
    )
    cleaning_uses = models.PositiveIntegerField(
        default=0, help_text="Uses of a new cleaning cartridge; 0 for data media."
    )
    # End of life (``tapes.lifecycle``): a tape past any of these is retired automatically.
    max_full_passes = models.PositiveIntegerField(
        default=200, help_text="Full-capacity write passes after which a tape is retired "
        "(take the figure from the vendor's datasheet); 0: no limit.",
    )
    max_age_days = models.PositiveIntegerField(
        default=30 * 365, help_text="Days after it joined the inventory that a tape is retired; "
        "0: no limit.",
    )
    max_write_errors = models.PositiveIntegerField(
        default=3, help_text="Write errors after which a tape is retired; 0: no limit."
    )
    max_read_errors = models.PositiveIntegerField(
        default=10, help_text="Read errors after which a tape is retired; 0: no limit."
    )

    class Meta:
        ordering = ["kind", "generation", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_cleaning(self) -> bool:
        return self.kind == self.Kind.CLEANING


def validate_time_zone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a time zone name (e.g. Europe/Berlin).",
                              code="time_zone") from None


class RetentionPolicy(models.Model):
    """How long a job's backup sets are kept; evaluated by ``tapes.retention_policy``.

    A policy applies to a backup job; a pool may give the default for its jobs. The GFS rule
    (which set represents a day, week, month or year) is in ``docs/retention.md``.
    """

    class Kind(models.TextChoices):
        TIME = "time", "Keep for a time span"
        LAST = "last", "Keep the last N sets"
        GFS = "gfs", "Grandfather-father-son (daily, weekly, monthly, yearly)"
        FOREVER = "forever", "Keep forever"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TIME)
    keep_days = models.PositiveIntegerField(default=30, help_text="Time span: days from a "
                                            "set's start.")
    keep_last = models.PositiveIntegerField(default=0, help_text="Keep the last N: N.")
    daily = models.PositiveIntegerField(default=0, help_text="GFS: days with a kept set.")
    weekly = models.PositiveIntegerField(default=0, help_text="GFS: ISO weeks with a kept set.")
    monthly = models.PositiveIntegerField(default=0, help_text="GFS: months with a kept set.")
    yearly = models.PositiveIntegerField(default=0, help_text="GFS: years with a kept set.")
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone],
        help_text="GFS days, weeks, months and years are read in this time zone.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"{self.name} ({self.as_policy().describe()})"

    def clean(self) -> None:
        if self.kind == self.Kind.TIME and not self.keep_days:
            raise ValidationError({"keep_days": "A time-span policy keeps sets at least one day."})
        if self.kind == self.Kind.LAST and not self.keep_last:
            raise ValidationError({"keep_last": "Keep at least the last set."})
        if self.kind == self.Kind.GFS and not (self.daily or self.weekly or self.monthly
                                               or self.yearly):
            raise ValidationError({"daily": "A GFS policy keeps at least one daily, weekly, "
                                            "monthly or yearly set."})

    def as_policy(self):
        from tapes.retention_policy import Policy

        return Policy(kind=self.kind, keep_days=self.keep_days, keep_last=self.keep_last,
                      daily=self.daily, weekly=self.weekly, monthly=self.monthly,
                      yearly=self.yearly, time_zone=self.time_zone, name=self.name)


class MediaPool(models.Model):
    """Where a job's data goes: the tapes of one pool are written one media set after another.

    The allocation policy says when a new media set starts: ``continue`` the current one,
    start one for every run (``always``), or when a cron event has passed since the current
    set began (e.g. monthly).
    """

    class Allocation(models.TextChoices):
        CONTINUE = "continue", "Continue the current media set"
        ALWAYS = "always", "A new media set for every run"
        CRON = "cron", "A new media set when the cron event passes"

    name = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    allocation = models.CharField(
        max_length=10, choices=Allocation.choices, default=Allocation.CONTINUE
    )
    allocation_cron = models.CharField(
        max_length=100, blank=True, validators=[validate_cron],
        help_text="For the cron policy: when a new media set starts, e.g. '0 0 1 * *'.",
    )
    media_type = models.ForeignKey(
        MediaType, on_delete=models.PROTECT, null=True, blank=True,
        help_text="Tapes this pool takes from scratch; empty means any data type.",
    )
    record_size = models.PositiveIntegerField(
        default=256 * 1024, help_text="Bytes per tape record (a multiple of 512, up to 1 MiB)."
    )
    retention_days = models.PositiveIntegerField(
        default=30, help_text="Default days a backup set in this pool is kept."
    )
    min_scratch = models.PositiveIntegerField(
        default=2, help_text="Scratch tapes the library should hold for this pool."
    )
    retention_policy = models.ForeignKey(
        RetentionPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="pools",
        help_text="Default policy of the pool's jobs; empty: keep retention_days days.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(allocation="cron") | ~Q(allocation_cron=""),
                name="pool_cron_needs_expression",
                violation_error_message="A pool with the cron allocation needs a cron expression.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.allocation == self.Allocation.CRON and not self.allocation_cron:
            raise ValidationError(
                {"allocation_cron": "The cron allocation needs a cron expression."}
            )
        if self.record_size % 512 or not 512 <= self.record_size <= 1024 * 1024:
            raise ValidationError(
                {"record_size": "The record size must be a multiple of 512 bytes up to 1 MiB."}
            )


class MediaSet(models.Model):
    """Tapes of one pool written one after another; its tapes are ordered by ``sequence``."""

    pool = models.ForeignKey(MediaPool, on_delete=models.PROTECT, related_name="media_sets")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Media allocation: "the open media set of this pool".
            models.Index(fields=["pool", "closed_at"], name="mediaset_pool_open"),
        ]

    def __str__(self) -> str:
        state = "closed" if self.closed_at else "open"
        return f"{self.pool.name} set {str(self.uuid)[:8]} ({state})"


class Library(models.Model):
    """A tape library: a changer with storage slots, mail slots and drives."""

    class Kind(models.TextChoices):
        VIRTUAL = "virtual", "Virtual tape library"
        SCSI = "scsi", "SCSI changer (mtx)"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.VIRTUAL)
    device_path = models.CharField(
        max_length=255, blank=True,
        help_text="SCSI: the changer's /dev/tape/by-id/… path. Virtual: its directory on disk.",
    )
    node = models.CharField(
        max_length=64, default="local", help_text="The storage node attached to this library."
    )
    description = models.TextField(blank=True)
    last_inventory_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "libraries"
        permissions = [("operate_library", "Can run inventories and move tapes in libraries")]

    def __str__(self) -> str:
        return self.name


class Slot(models.Model):
    """A storage slot or a mail (import/export) slot; a tape in one points at it."""

    class Kind(models.TextChoices):
        STORAGE = "storage", "Storage"
        MAIL = "mail", "Mail slot"

    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="slots")
    number = models.PositiveIntegerField(help_text="As mtx numbers it: from 1, mail slots last.")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STORAGE)

    class Meta:
        ordering = ["library", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["library", "number"], name="slot_number_unique_in_library",
                violation_error_message="This library already has a slot with this number.",
            ),
        ]

    def __str__(self) -> str:
        label = "mail slot" if self.kind == self.Kind.MAIL else "slot"
        return f"{self.library.name} {label} {self.number}"


class Drive(models.Model):
    """A tape drive in a library, owned by one storage node (whose cluster runs its jobs)."""

    library = models.ForeignKey(Library, on_delete=models.CASCADE, related_name="drives")
    index = models.PositiveSmallIntegerField(help_text="As the changer numbers it: from 0.")
    name = models.CharField(max_length=64, blank=True)
    device_path = models.CharField(
        max_length=255, blank=True, help_text="/dev/tape/by-id/…-nst for a real drive."
    )
    media_types = models.ManyToManyField(
        MediaType, related_name="drives", blank=True,
        help_text="Media this drive can read and write.",
    )
    enabled = models.BooleanField(default=True)
    node = models.CharField(max_length=64, default="local")
    cleaning_requested = models.BooleanField(default=False)
    last_cleaned_at = models.DateTimeField(null=True, blank=True)
    bytes_since_cleaning = models.BigIntegerField(default=0)
    clean_after_bytes = models.BigIntegerField(
        default=0, help_text="Clean after this many bytes written; 0: only when the drive asks."
    )
    loaded_bytes_mark = models.BigIntegerField(
        default=0, help_text="The loaded tape's bytes written when it was loaded (for "
        "bytes_since_cleaning).",
    )
    last_status = models.JSONField(default=dict, blank=True)
    last_status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["library", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["library", "index"], name="drive_index_unique_in_library",
                violation_error_message="This library already has a drive with this index.",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.library.name} drive {self.index}"


class Tape(models.Model):
    """One cartridge, known by its barcode.

    ``protected_until`` is kept by the services that write and expire backup sets: while it
    is in the future the tape holds data that must be kept, and the label service refuses
    to relabel, erase or write it at BOT (DESIGN invariant 1). It lives here, not in
    ``backups``, so the check sits at the layer that writes without ``tapes`` importing
    ``backups``.
    """

    class Status(models.TextChoices):
        NEW = "new", "New"
        WRITABLE = "writable", "Writable"
        FULL = "full", "Full"
        DAMAGED = "damaged", "Damaged"
        RETIRED = "retired", "Retired"

    class Place(models.TextChoices):
        LIBRARY = "library", "In a library"
        SHELF = "shelf", "On the shelf"
        TRANSIT = "transit", "In transit"
        VAULT = "vault", "In a vault"

    barcode = models.CharField(max_length=8, unique=True, validators=[validate_barcode])
    media_type = models.ForeignKey(MediaType, on_delete=models.PROTECT, related_name="tapes")
    pool = models.ForeignKey(
        MediaPool, on_delete=models.PROTECT, null=True, blank=True, related_name="tapes",
        help_text="Empty: the tape is scratch and any pool may take it.",
    )
    media_set = models.ForeignKey(
        MediaSet, on_delete=models.PROTECT, null=True, blank=True, related_name="tapes"
    )
    sequence = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    write_protected = models.BooleanField(default=False)
    foreign = models.BooleanField(
        default=False, help_text="Labelled by another installation; never written here."
    )
    cleaning_uses_left = models.PositiveIntegerField(null=True, blank=True)
    bytes_written = models.BigIntegerField(default=0)
    lifetime_bytes_written = models.BigIntegerField(
        default=0, help_text="Bytes written before the last label (full passes = all bytes "
        "written / capacity)."
    )
    mounts = models.PositiveIntegerField(default=0)
    read_errors = models.PositiveIntegerField(default=0)
    write_errors = models.PositiveIntegerField(default=0)
    first_written_at = models.DateTimeField(null=True, blank=True)
    last_written_at = models.DateTimeField(null=True, blank=True)
    label_written_at = models.DateTimeField(null=True, blank=True)
    protected_until = models.DateTimeField(null=True, blank=True)
    last_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When a verify last read the tape without error."
    )
    suspect_since = models.DateTimeField(
        null=True, blank=True,
        help_text="A read failed on this tape: verify or replace it. Cleared by an operator or "
                  "a clean data verify.",
    )
    place = models.CharField(max_length=10, choices=Place.choices, default=Place.SHELF)
    library = models.ForeignKey(
        Library, on_delete=models.SET_NULL, null=True, blank=True, related_name="tapes"
    )
    slot = models.OneToOneField(
        Slot, on_delete=models.SET_NULL, null=True, blank=True, related_name="tape"
    )
    drive = models.OneToOneField(
        Drive, on_delete=models.SET_NULL, null=True, blank=True, related_name="tape"
    )
    vault = models.CharField(max_length=64, blank=True, help_text="Vault name when off-site.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["barcode"]
        permissions = [("operate_tape", "Can label, load, unload and move tapes")]
        constraints = [
            models.CheckConstraint(
                condition=Q(slot__isnull=True) | Q(drive__isnull=True),
                name="tape_in_slot_or_drive",
                violation_error_message="A tape cannot be in a slot and in a drive at once.",
            ),
            models.CheckConstraint(
                condition=Q(place="library") | (Q(slot__isnull=True) & Q(drive__isnull=True)),
                name="tape_offline_has_no_slot",
                violation_error_message="A tape outside the library cannot occupy a slot or drive.",
            ),
            models.UniqueConstraint(
                fields=["media_set", "sequence"], name="tape_sequence_unique_in_media_set",
                condition=Q(media_set__isnull=False),
                violation_error_message="Another tape already has this place in the media set.",
            ),
        ]
        indexes = [
            # Media allocation: scratch or writable tapes of a pool, in the library.
            models.Index(fields=["pool", "status"], name="tape_pool_status"),
            # The retention check: tapes whose protection has ended.
            models.Index(fields=["protected_until"], name="tape_protected_until"),
        ]

    def __str__(self) -> str:
        return f"{self.barcode} ({self.media_type}, {self.get_status_display().lower()})"

    def clean(self) -> None:
        if self.media_type_id and self.barcode:
            suffix = self.barcode[6:]
            if suffix != self.media_type.barcode_suffix:
                raise ValidationError(
                    {"media_type": f"Barcode suffix {suffix} does not match {self.media_type} "
                     f"({self.media_type.barcode_suffix})."}
                )
            if is_cleaning(self.barcode) != self.media_type.is_cleaning:
                raise ValidationError(
                    {"barcode": "Cleaning cartridges, and only they, have barcodes starting "
                     "with CLN."}
                )

    @property
    def is_protected(self) -> bool:
        return self.protected_until is not None and self.protected_until > timezone.now()

    @property
    def full_passes(self) -> float:
        """Full-capacity write passes so far (all bytes written over the native capacity)."""
        capacity = self.media_type.native_capacity
        return (self.lifetime_bytes_written + self.bytes_written) / capacity if capacity else 0.0

    @property
    def is_scratch(self) -> bool:
        return self.pool_id is None and self.media_set_id is None

    @property
    def location_text(self) -> str:
        """Where the tape is, as an operator would say it."""
        if self.drive_id:
            return f"in {self.drive}"
        if self.slot_id:
            return f"in {self.slot}"
        if self.place == self.Place.VAULT:
            return f"in vault {self.vault}"
        if self.place == self.Place.TRANSIT:
            return f"in transit to {self.vault}" if self.vault else "in transit"
        return "on the shelf"


class TapeLocation(models.Model):
    """One move of a tape: where it went, who or what moved it, and why. Read-only history."""

    tape = models.ForeignKey(Tape, on_delete=models.CASCADE, related_name="moves")
    at = models.DateTimeField(default=timezone.now)
    place = models.CharField(max_length=10, choices=Tape.Place.choices)
    library = models.ForeignKey(Library, on_delete=models.SET_NULL, null=True, blank=True)
    slot_number = models.PositiveIntegerField(null=True, blank=True)
    mail_slot = models.BooleanField(default=False)
    drive_index = models.PositiveSmallIntegerField(null=True, blank=True)
    vault = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200)
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "tape move"
        indexes = [
            # A tape's history page: its moves, newest first.
            models.Index(fields=["tape", "-at"], name="tapelocation_tape_at"),
        ]

    def __str__(self) -> str:
        return f"{self.tape.barcode} {self.description} at {self.at:%Y-%m-%d %H:%M}"


class Installation(models.Model):
    """This installation's identity, written into every label it writes.

    A tape whose label carries another installation's id is foreign: it may be read and
    restored from, never written, unless an operator relabels it explicitly.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"installation {self.uuid}"

    @classmethod
    def get(cls) -> Installation:
        installation = cls.objects.order_by("pk").first()
        return installation or cls.objects.create()


class Vault(models.Model):
    """A named off-site store tapes are sent to (``Tape.vault`` holds its name)."""

    name = models.CharField(max_length=64, unique=True)
    address = models.TextField(blank=True, help_text="Where the courier takes the tapes.")
    contact = models.CharField(max_length=200, blank=True)
    transit_days = models.PositiveIntegerField(
        default=1, help_text="Days a courier takes to bring a tape back (for recall planning)."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PickList(models.Model):
    """Tapes to send to a vault, or to bring back from one: the courier's list.

    A send list goes planned → exporting (batches through the mail slots) → in transit →
    done (all in the vault); a recall list goes planned → in transit → done (imported).
    """

    class Kind(models.TextChoices):
        SEND = "send", "Send to the vault"
        RECALL = "recall", "Recall from the vault"

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        EXPORTING = "exporting", "Exporting through the mail slots"
        TRANSIT = "transit", "In transit"
        DONE = "done", "Done"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNED)
    vault = models.ForeignKey(Vault, on_delete=models.PROTECT, related_name="pick_lists")
    library = models.ForeignKey(Library, on_delete=models.PROTECT, null=True, blank=True,
                                help_text="Where the tapes leave from or return to.")
    tapes = models.ManyToManyField(Tape, related_name="pick_lists")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        verb = "to" if self.kind == self.Kind.SEND else "from"
        return f"pick list #{self.pk} {verb} {self.vault.name} ({self.get_state_display().lower()})"


class AuditRecord(models.Model):
    """One state change, with what and why (invariant 8): every change an operator did not
    make (expiry, protection, recycling, retirement, closing a media set, cleaning) and the
    operator's own retention actions. Read-only history.

    ``subject_type``/``subject_id`` name what changed (a backup set lives in ``backups``,
    which ``tapes`` does not import, so it is named rather than linked); ``tape`` links the
    tape it concerns, so the tape page shows its trail.
    """

    class Action(models.TextChoices):
        EXPIRE = "expire", "Set expired"
        EXPIRY = "expiry", "Expiry date changed"
        PROTECT = "protect", "Tape protection changed"
        RECYCLE = "recycle", "Tape returned to scratch"
        OVERWRITE = "overwrite", "Tape overwritten"
        RETIRE = "retire", "Tape retired"
        DAMAGE = "damage", "Tape marked damaged"
        CLOSE = "close", "Media set closed"
        CLEAN = "clean", "Drive cleaned"
        CLEANING_MEDIA = "cleaning", "Cleaning cartridge"
        HOLD = "hold", "Hold changed"
        SUSPECT = "suspect", "Tape suspect"

    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=10, choices=Action.choices)
    subject_type = models.CharField(max_length=20, help_text="backup set, tape, media set, "
                                    "drive.")
    subject_id = models.PositiveIntegerField(null=True, blank=True)
    subject = models.CharField(max_length=200, help_text="The subject as an operator names it.")
    tape = models.ForeignKey(Tape, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="audit")
    message = models.TextField(help_text="What changed and why.")
    details = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, help_text="Empty: an automatic change.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The tape page's audit trail, newest first.
            models.Index(fields=["tape", "-at"], name="audit_tape_at"),
            # A backup set's (or media set's) audit trail.
            models.Index(fields=["subject_type", "subject_id", "-at"], name="audit_subject_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.subject}: {self.get_action_display().lower()}"


def audit(*, action: str, subject, message: str, tape: Tape | None = None, user=None,
          subject_type: str | None = None, **details) -> AuditRecord:
    """Write one audit record (the one way services write them)."""
    if subject_type is None:
        subject_type = subject._meta.verbose_name if hasattr(subject, "_meta") else "other"
    subject_id = getattr(subject, "pk", None)
    if tape is None and isinstance(subject, Tape):
        tape = subject
    return AuditRecord.objects.create(
        action=action, subject_type=subject_type, subject_id=subject_id, subject=str(subject)[:200],
        tape=tape, message=message, details=details,
        user=user if getattr(user, "is_authenticated", False) else None,
    )
