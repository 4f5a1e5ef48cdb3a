"""Admin for the media inventory: useful columns, filters, search by barcode, no N+1 queries,
read-only history, and actions that report how many tapes they changed."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils.html import format_html

from tapes import media
from tapes.drivers.base import TapeError
from tapes.services import InventoryError

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


def run_each(model_admin, request, objects, what: str, call) -> int:
    """Call ``call(obj)`` for each object; report failures one sentence each, return the count
    that worked (STYLE §13: actions call a service and report a count)."""
    done = 0
    for obj in objects:
        try:
            call(obj)
            done += 1
        except (InventoryError, TapeError) as exc:
            model_admin.message_user(request, f"{obj}: {exc}", messages.ERROR)
    model_admin.message_user(request, f"{done} {what}.", messages.SUCCESS if done else messages.WARNING)
    return done


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "node", "drive_count", "slot_count", "tape_count",
                    "last_inventory_at")
    list_filter = ("kind", "node")
    search_fields = ("name",)
    inlines = [SlotInline]
    actions = ["inventory_now", "import_from_mail_slots"]

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("tapes.operate_library")

    @admin.action(description="Inventory now (read the changer)", permissions=["operate"])
    def inventory_now(self, request, queryset):
        def inventory(library):
            report = media.library_inventory(library=library, user=request.user)
            self.message_user(request, f"{library}: {report.summary()}.")
            for problem in report.problems:
                self.message_user(request, problem, messages.WARNING)

        run_each(self, request, queryset, "library inventory(ies) done", inventory)

    @admin.action(description="Import tapes from the mail slots", permissions=["operate"])
    def import_from_mail_slots(self, request, queryset):
        run_each(self, request, queryset, "library(ies) imported",
                 lambda library: media.library_import(library=library, user=request.user))

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
    readonly_fields = ("live_status", "last_status_at")
    exclude = ("last_status",)
    actions = ["unload"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("library", "tape")

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("tapes.operate_tape")

    @admin.display(description="Drive status (read now)")
    def live_status(self, drive: Drive) -> str:
        if drive.pk is None:
            return "–"
        try:
            status = media.drive_status(drive=drive)
        except (InventoryError, TapeError) as exc:
            return f"Cannot read the drive now: {exc}"
        shown = ("online", "loaded", "barcode", "file_number", "block_number", "bot", "eod",
                 "eot", "write_protected", "cleaning_requested", "tape_alerts")
        return format_html("<br>".join(f"{key}: {{}}" for key in shown),
                           *(status.get(key) for key in shown))

    @admin.action(description="Unload the selected drives", permissions=["operate"])
    def unload(self, request, queryset):
        run_each(self, request, queryset, "drive(s) unloaded",
                 lambda drive: media.tape_unload(drive=drive, reason="unloaded in the admin",
                                                 user=request.user))

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
    actions = ["label", "load", "unload", "export", "mark_damaged", "mark_writable_again"]

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("tapes.operate_tape")

    @admin.action(description="Label the selected tapes…", permissions=["operate"])
    def label(self, request, queryset):
        """Ask for the pool first (like delete_selected's confirmation), then label."""
        form = LabelForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            pool = form.cleaned_data["pool"]
            force = form.cleaned_data["force_foreign"]
            run_each(self, request, queryset, "tape(s) labelled",
                     lambda tape: media.tape_label_in_library(tape=tape, pool=pool,
                                                              force_foreign=force,
                                                              user=request.user))
            return None
        context = {**self.admin_site.each_context(request), "title": "Label tapes",
                   "tapes": queryset, "form": form, "opts": self.model._meta,
                   "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/tapes/label_confirm.html", context)

    @admin.action(description="Load the selected tapes into free drives", permissions=["operate"])
    def load(self, request, queryset):
        def load(tape):
            media.tape_load(tape=tape, drive=media.free_drive_for(tape),
                            reason="loaded in the admin", user=request.user)

        run_each(self, request, queryset, "tape(s) loaded", load)

    @admin.action(description="Unload the selected tapes from their drives", permissions=["operate"])
    def unload(self, request, queryset):
        def unload(tape):
            if not tape.drive_id:
                raise InventoryError(f"Tape {tape.barcode} is not in a drive.")
            media.tape_unload(drive=tape.drive, reason="unloaded in the admin", user=request.user)

        run_each(self, request, queryset, "tape(s) unloaded", unload)

    @admin.action(description="Export the selected tapes to mail slots", permissions=["operate"])
    def export(self, request, queryset):
        run_each(self, request, queryset, "tape(s) moved to mail slots",
                 lambda tape: media.tape_export(tape=tape, user=request.user))

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


class LabelForm(forms.Form):
    pool = forms.ModelChoiceField(MediaPool.objects.all(), required=False,
                                  empty_label="scratch (no pool)")
    force_foreign = forms.BooleanField(
        required=False, label="Overwrite labels of other programs or installations",
        help_text="Their data will be lost. Tapes holding kept backup data are refused anyway.",
    )


@admin.register(TapeLocation)
class TapeLocationAdmin(ReadOnlyAdmin):
    list_display = ("at", "tape", "description", "reason", "moved_by")
    list_filter = ("place", "library")
    search_fields = ("tape__barcode",)
    list_select_related = ("tape__media_type", "moved_by")
    show_full_result_count = False
