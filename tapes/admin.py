"""Admin for the media inventory: useful columns, filters, search by barcode, no N+1 queries,
read-only history, and actions that report how many tapes they changed."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Max
from django.http import HttpResponse
from django.utils import timezone
from django.template.response import TemplateResponse
from django.utils.html import format_html

from tapes import media
from tapes.drivers.base import TapeError
from tapes.retention_policy import FOREVER
from tapes.paginators import CappedPaginator
from tapes.services import InventoryError, media_set_close

from tapes.models import (
    AuditRecord, Drive, Library, MediaPool, MediaSet, MediaType, PickList, RetentionPolicy, Slot,
    Tape, TapeLocation, Vault, audit,
)


class ReadOnlyMixin:
    """History is written by the services, never edited by hand (STYLE §14). Every app's
    history admin (moves, audit, runs, sets, catalog) uses it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


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
    list_display = ("__str__", "pool", "created_at", "closed_at", "tape_count", "reusable")
    list_filter = ("pool",)
    readonly_fields = ("uuid", "closed_reason", "reusable")
    inlines = [MediaSetTapeInline]
    actions = ["close"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("pool").annotate(
            _tapes=Count("tapes"), _until=Max("tapes__protected_until"))

    @admin.display(description="Reusable")
    def reusable(self, obj: MediaSet) -> str:
        """When its tapes' protection ends (late recycling returns them to scratch then)."""
        until = getattr(obj, "_until", None)
        if until is None and obj.pk:
            until = obj.tapes.aggregate(m=Max("protected_until"))["m"]
        if until is None or until <= timezone.now():
            return "now (nothing kept on it)" if obj.closed_at else "when closed and expired"
        if until >= FOREVER - timezone.timedelta(days=3650):
            return "not while its sets are kept (no end date)"
        return f"from {timezone.localtime(until):%Y-%m-%d %H:%M}"

    @admin.action(description="Close the selected media sets (no more appends)",
                  permissions=["change"])
    def close(self, request, queryset):
        done = sum(media_set_close(media_set=m, reason="closed in the admin", user=request.user)
                   for m in queryset)
        self.message_user(request, f"{done} media set(s) closed.", messages.SUCCESS)

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


class AuditInline(admin.TabularInline):
    model = AuditRecord
    fields = ("at", "action", "subject", "message", "user")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ("-at", "-id")
    verbose_name_plural = "audit trail"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tape)
class TapeAdmin(admin.ModelAdmin):
    list_display = ("barcode", "media_type", "status_badge", "pool", "location",
                    "written", "mounts", "protected_until")
    list_filter = ("status", "media_type", "pool", "place", "library", "write_protected",
                   "foreign", ("suspect_since", admin.EmptyFieldListFilter))
    search_fields = ("barcode",)
    list_select_related = ("media_type", "pool", "slot__library", "drive__library")
    readonly_fields = ("bytes_written", "mounts", "read_errors", "write_errors",
                       "first_written_at", "last_written_at", "label_written_at",
                       "protected_until", "place", "library", "slot", "drive", "media_set",
                       "sequence", "created_at", "last_verified_at", "suspect_since")
    inlines = [TapeLocationInline, AuditInline]
    actions = ["label", "load", "unload", "export", "mark_damaged", "mark_writable_again",
               "clear_suspect"]

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
        tapes = list(queryset.exclude(status=Tape.Status.DAMAGED))
        count = Tape.objects.filter(pk__in=[t.pk for t in tapes]).update(status=Tape.Status.DAMAGED)
        for tape in tapes:
            audit(action=AuditRecord.Action.DAMAGE, subject=tape, user=request.user,
                  message=f"Tape {tape.barcode} marked damaged in the admin.")
        self.message_user(request, f"{count} tape(s) marked damaged.", messages.SUCCESS)

    @admin.action(description="Mark selected damaged tapes writable again",
                  permissions=["change"])
    def mark_writable_again(self, request, queryset):
        count = queryset.filter(status=Tape.Status.DAMAGED).update(status=Tape.Status.WRITABLE)
        self.message_user(request, f"{count} tape(s) marked writable.", messages.SUCCESS)

    @admin.action(description="Clear the suspicion of the selected tapes (after checking them)",
                  permissions=["operate"])
    def clear_suspect(self, request, queryset):
        from tapes.services import tape_clear_suspect

        count = sum(tape_clear_suspect(tape=tape, reason="checked by an operator",
                                       user=request.user)
                    for tape in queryset.filter(suspect_since__isnull=False))
        self.message_user(request, f"{count} tape(s) no longer suspect.", messages.SUCCESS)


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
    paginator = CappedPaginator


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    """The audit trail (invariant 8). A backup set's trail: filter by subject type "backup
    set" and search its id (``?subject_type=backup+set&subject_id=N``)."""

    list_display = ("at", "action", "subject", "message", "user")
    list_filter = ("action", "subject_type")
    search_fields = ("subject", "tape__barcode", "=subject_id")
    list_select_related = ("user",)
    show_full_result_count = False
    paginator = CappedPaginator


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "rule", "time_zone")
    list_filter = ("kind",)
    readonly_fields = ("expiry_preview",)

    @admin.display(description="Rule")
    def rule(self, obj: RetentionPolicy) -> str:
        return obj.as_policy().describe()

    @admin.display(description="What expires in the next 90 days")
    def expiry_preview(self, obj: RetentionPolicy) -> str:
        if obj.pk is None:
            return "–"
        from backups.retention import retention_preview  # admin may call any service

        rows = retention_preview(policy=obj)
        if not rows:
            return "Nothing expires in the next 90 days (no newer runs assumed)."
        return format_html("<br>".join(["{}"] * len(rows)), *(
            f"{timezone.localtime(r.at):%Y-%m-%d %H:%M}: {r.job} set #{r.set_id} "
            f"({', '.join(r.tapes) or 'no tape'}) — {r.reason}" for r in rows))


@admin.register(Vault)
class VaultAdmin(admin.ModelAdmin):
    list_display = ("name", "contact", "transit_days", "tape_count")

    @admin.display(description="Tapes there")
    def tape_count(self, obj: Vault) -> int:
        return Tape.objects.filter(place=Tape.Place.VAULT, vault=obj.name).count()


@admin.register(PickList)
class PickListAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "state", "vault", "created_at", "tape_count")
    list_filter = ("kind", "state", "vault")
    readonly_fields = ("pick_list",)
    filter_horizontal = ("tapes",)
    actions = ["print_pick_list"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("vault").annotate(_tapes=Count("tapes"))

    @admin.display(description="Tapes", ordering="_tapes")
    def tape_count(self, obj) -> int:
        return obj._tapes

    @admin.display(description="Pick list")
    def pick_list(self, obj: PickList) -> str:
        from tapes.offsite import picklist_text

        return format_html("<pre>{}</pre>", picklist_text(obj)) if obj.pk else "–"

    @admin.action(description="Print the selected pick lists")
    def print_pick_list(self, request, queryset):
        from tapes.offsite import picklist_text

        text = "\n\n".join(picklist_text(p) for p in queryset)
        return HttpResponse(text, content_type="text/plain; charset=utf-8")
