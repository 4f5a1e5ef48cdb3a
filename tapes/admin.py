"""Admin for the media inventory: useful columns, filters, search by barcode, no N+1 queries,
read-only history, and actions that report how many tapes they changed."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.utils.html import format_html

from tapes.models import (
    Drive, Library, MediaPool, MediaSet, MediaType, Slot, Tape, TapeLocation,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the services, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _bytes(value: int | None) -> str:
    value = value or 0
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


@admin.register(MediaType)
class MediaTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "generation", "barcode_suffix", "capacity", "speed",
                    "max_loads")
    list_filter = ("kind",)

    @admin.display(description="Native capacity", ordering="native_capacity")
    def capacity(self, obj: MediaType) -> str:
        return _bytes(obj.native_capacity)

    @admin.display(description="Native speed", ordering="native_speed")
    def speed(self, obj: MediaType) -> str:
        return f"{_bytes(obj.native_speed)}/s" if obj.native_speed else "–"


@admin.register(MediaPool)
class MediaPoolAdmin(admin.ModelAdmin):
    list_display = ("name", "allocation", "allocation_cron", "media_type", "tape_count",
                    "retention_days", "min_scratch")
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("media_type").annotate(
            _tapes=Count("tapes")
        )

    @admin.display(description="Tapes", ordering="_tapes")
    def tape_count(self, obj) -> int:
        return obj._tapes


class MediaSetTapeInline(admin.TabularInline):
    model = Tape
    fields = ("sequence", "barcode", "status", "bytes_written", "protected_until")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("sequence",)
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MediaSet)
class MediaSetAdmin(admin.ModelAdmin):
    list_display = ("__str__", "pool", "created_at", "closed_at", "tape_count")
    list_filter = ("pool",)
    readonly_fields = ("uuid",)
    inlines = [MediaSetTapeInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("pool").annotate(_tapes=Count("tapes"))

    @admin.display(description="Tapes", ordering="_tapes")
    def tape_count(self, obj) -> int:
        return obj._tapes


class SlotInline(admin.TabularInline):
    model = Slot
    fields = ("number", "kind", "occupant")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tape")

    @admin.display(description="Tape")
    def occupant(self, slot: Slot) -> str:
        tape = getattr(slot, "tape", None)
        return tape.barcode if tape else "empty"


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "node", "drive_count", "slot_count", "tape_count",
                    "last_inventory_at")
    list_filter = ("kind", "node")
    search_fields = ("name",)
    inlines = [SlotInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _drives=Count("drives", distinct=True), _slots=Count("slots", distinct=True),
            _tapes=Count("tapes", distinct=True),
        )

    @admin.display(description="Drives", ordering="_drives")
    def drive_count(self, obj) -> int:
        return obj._drives

    @admin.display(description="Slots", ordering="_slots")
    def slot_count(self, obj) -> int:
        return obj._slots

    @admin.display(description="Tapes", ordering="_tapes")
    def tape_count(self, obj) -> int:
        return obj._tapes


@admin.register(Drive)
class DriveAdmin(admin.ModelAdmin):
    list_display = ("__str__", "library", "index", "node", "enabled", "loaded_tape",
                    "cleaning_requested")
    list_filter = ("library", "node", "enabled", "cleaning_requested")
    filter_horizontal = ("media_types",)
    readonly_fields = ("last_status", "last_status_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("library", "tape")

    @admin.display(description="Loaded tape")
    def loaded_tape(self, drive: Drive) -> str:
        tape = getattr(drive, "tape", None)
        return tape.barcode if tape else "–"


class TapeLocationInline(admin.TabularInline):
    model = TapeLocation
    fields = ("at", "description", "reason", "moved_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ("-at", "-id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tape)
class TapeAdmin(admin.ModelAdmin):
    list_display = ("barcode", "media_type", "status_badge", "pool", "location",
                    "written", "mounts", "protected_until")
    list_filter = ("status", "media_type", "pool", "place", "library", "write_protected",
                   "foreign")
    search_fields = ("barcode",)
    list_select_related = ("media_type", "pool", "slot__library", "drive__library")
    readonly_fields = ("bytes_written", "mounts", "read_errors", "write_errors",
                       "first_written_at", "last_written_at", "label_written_at",
                       "protected_until", "place", "library", "slot", "drive", "media_set",
                       "sequence", "created_at")
    inlines = [TapeLocationInline]
    actions = ["mark_damaged", "mark_writable_again"]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, tape: Tape) -> str:
        colours = {"damaged": "#b00", "retired": "#777", "full": "#a60"}
        return format_html('<span style="color:{}">{}</span>', colours.get(tape.status, "inherit"),
                           tape.get_status_display())

    @admin.display(description="Location")
    def location(self, tape: Tape) -> str:
        return tape.location_text

    @admin.display(description="Written", ordering="bytes_written")
    def written(self, tape: Tape) -> str:
        return _bytes(tape.bytes_written)

    @admin.action(description="Mark selected tapes as damaged (never written again)",
                  permissions=["change"])
    def mark_damaged(self, request, queryset):
        count = queryset.exclude(status=Tape.Status.DAMAGED).update(status=Tape.Status.DAMAGED)
        self.message_user(request, f"{count} tape(s) marked damaged.", messages.SUCCESS)

    @admin.action(description="Mark selected damaged tapes writable again",
                  permissions=["change"])
    def mark_writable_again(self, request, queryset):
        count = queryset.filter(status=Tape.Status.DAMAGED).update(status=Tape.Status.WRITABLE)
        self.message_user(request, f"{count} tape(s) marked writable.", messages.SUCCESS)


@admin.register(TapeLocation)
class TapeLocationAdmin(ReadOnlyAdmin):
    list_display = ("at", "tape", "description", "reason", "moved_by")
    list_filter = ("place", "library")
    search_fields = ("tape__barcode",)
    list_select_related = ("tape__media_type", "moved_by")
    show_full_result_count = False
