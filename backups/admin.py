"""Admin for backups: jobs (with a run-now action), sets and segments (read-only history),
and the catalog (read-only, no full count, cheap pagination: it has millions of rows)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry, VerifyResult
from backups.paths import path_key
from tapes.admin import ReadOnlyMixin
from tapes.paginators import CappedPaginator


@admin.register(BackupJob)
class BackupJobAdmin(admin.ModelAdmin):
    list_display = ("name", "pool", "enabled", "retention_days", "source_list")
    list_filter = ("enabled", "pool")
    list_select_related = ("pool",)
    search_fields = ("name",)
    actions = ["run_now"]

    @admin.display(description="Sources")
    def source_list(self, obj: BackupJob) -> str:
        return ", ".join(obj.sources)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # a new job gets its default monthly full, as `backup define` gives
            from scheduling.schedules import schedule_defaults_for_job

            schedule_defaults_for_job(obj)

    @admin.action(description="Run now (queue a full backup)", permissions=["run"])
    def run_now(self, request, queryset):
        from scheduling.services import run_enqueue

        count = 0
        for job in queryset:
            run_enqueue(kind="backup", params={"job_id": job.pk, "level": "full"},
                        requested_by=request.user)
            count += 1
        self.message_user(request, f"{count} backup(s) queued.", messages.SUCCESS)

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("backups.run_backup")


class SegmentInline(ReadOnlyMixin, admin.TabularInline):
    model = BackupSegment
    fields = ("sequence", "tape_link", "data_file", "index_file", "first_record",
              "last_record", "bytes", "files")
    readonly_fields = fields
    extra = 0

    @admin.display(description="Tape")
    def tape_link(self, obj: BackupSegment) -> str:
        url = reverse("admin:tapes_tape_change", args=[obj.tape_id])
        return format_html('<a href="{}">{}</a>', url, obj.tape.barcode)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tape")


@admin.register(BackupSet)
class BackupSetAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "job", "level", "status", "started_at", "finished_at", "files",
                    "bytes", "warnings", "expires_at")
    list_filter = ("status", "level", "job", "hold", "foreign")
    list_select_related = ("job",)
    date_hierarchy = "started_at"
    inlines = [SegmentInline]
    readonly_fields = ("audit_trail", "last_verify")

    @admin.display(description="Audit trail")
    def audit_trail(self, backup_set: BackupSet) -> str:
        """Every automatic change to the set (expiry, holds, overwrite), newest first."""
        from tapes.models import AuditRecord

        records = AuditRecord.objects.filter(subject_type=BackupSet._meta.verbose_name,
                                             subject_id=backup_set.pk).order_by("-at")[:20]
        if not records:
            return "No automatic changes."
        return format_html_join(mark_safe("<br>"), "{}: {}",
                                ((f"{r.at:%Y-%m-%d %H:%M}", r.message) for r in records))

    @admin.display(description="Last verify")
    def last_verify(self, backup_set: BackupSet) -> str:
        result = backup_set.verifies.order_by("-verified_at").first()
        return str(result) + f" at {result.verified_at:%Y-%m-%d %H:%M}" if result else "never"


@admin.register(VerifyResult)
class VerifyResultAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("verified_at", "__str__", "level", "ok", "members", "error_count")
    list_filter = ("level", "ok")
    list_select_related = ("tape", "backup_set__job")
    search_fields = ("tape__barcode",)
    show_full_result_count = False
    paginator = CappedPaginator


@admin.register(BackupSegment)
class BackupSegmentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("backup_set", "sequence", "tape", "data_file", "index_file", "bytes", "files")
    list_select_related = ("backup_set__job", "tape__media_type")
    search_fields = ("tape__barcode",)


@admin.register(CatalogEntry)
class CatalogEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("path", "type", "size", "mode_octal", "uname", "gname", "backup_set")
    list_select_related = ("backup_set__job",)
    search_fields = ("path",)
    search_help_text = "An exact path, e.g. /srv/data/report.pdf (looked up by its key)."
    show_full_result_count = False
    paginator = CappedPaginator
    list_per_page = 100
    ordering = ("-id",)
    raw_id_fields = ("backup_set", "segment")

    def get_search_results(self, request, queryset, search_term):
        """Exact path through the indexed key; an infix search would scan millions of rows."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(path_key=path_key(term), path=term), False

    @admin.display(description="Mode")
    def mode_octal(self, obj: CatalogEntry) -> str:
        return f"{obj.mode:04o}"
