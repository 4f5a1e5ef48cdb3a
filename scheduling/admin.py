"""Admin: schedules (editable, with their next runs in words), job runs and health reports
(read-only history), cluster heartbeats."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from scheduling.models import ClusterHeartbeat, HealthReport, JobRun, Schedule
from scheduling.schedules import next_runs_text, schedules_set_enabled
from scheduling.services import run_cancel
from tapes.admin import ReadOnlyAdmin
from tapes.paginators import CappedPaginator


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "cron", "time_zone", "enabled", "node", "next_run",
                    "last_fired_at")
    list_filter = ("enabled", "kind", "node")
    search_fields = ("name",)
    readonly_fields = ("next_five_runs", "next_run_at", "last_fired_at", "created_at",
                       "updated_at")
    actions = ("enable", "disable")
    fieldsets = (
        (None, {"fields": ("name", "kind", "params", "enabled")}),
        ("When", {"fields": ("cron", "time_zone", "next_five_runs", "next_run_at",
                             "last_fired_at")}),
        ("Where and how", {"fields": ("node", "priority", "retry_attempts",
                                      "retry_delay_minutes")}),
        ("Notifications", {"fields": ("notify", "notify_emails")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Next run")
    def next_run(self, obj: Schedule) -> str:
        runs = next_runs_text(obj, 1) if obj.enabled else []
        return runs[0] if runs else "—"

    @admin.display(description="Next five runs")
    def next_five_runs(self, obj: Schedule):
        if obj.pk is None or not obj.cron:
            return "Shown after saving."
        runs = next_runs_text(obj, 5)
        if not runs:
            return "The cron expression is not valid."
        note = "" if obj.enabled else "Disabled: these would be the times."
        return format_html("{}{}", format_html_join("", "<div>{}</div>", ((r,) for r in runs)),
                           note)

    @admin.action(description="Enable selected schedules")
    def enable(self, request, queryset):
        count = schedules_set_enabled(schedules=queryset, enabled=True)
        self.message_user(request, f"{count} schedule(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected schedules")
    def disable(self, request, queryset):
        count = schedules_set_enabled(schedules=queryset, enabled=False)
        self.message_user(request, f"{count} schedule(s) disabled.", messages.SUCCESS)


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "state", "progress", "node", "drive", "schedule",
                    "created_at", "started_at", "finished_at", "error")
    list_filter = ("state", "kind", "node", "drive")
    list_select_related = ("drive__library", "schedule")
    search_fields = ("=id", "error", "waiting_reason")
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = CappedPaginator
    actions = ("cancel",)
    readonly_fields = [f.name for f in JobRun._meta.fields] + ["progress"]
    fieldsets = (
        (None, {"fields": ("kind", "params", "state", "error", "result", "waiting_reason",
                           "attempt", "retry_of", "priority", "schedule", "scheduled_for",
                           "requested_by")}),
        ("Where", {"fields": ("node", "drive", "cluster", "worker_host", "worker_pid",
                              "task_id")}),
        ("Progress", {"fields": ("progress", "files", "bytes", "total_files", "total_bytes",
                                 "rate", "eta", "current_path", "heartbeat_at", "warnings")}),
        ("Times", {"fields": ("created_at", "not_before", "started_at", "finished_at",
                              "waiting_since", "cancel_requested_at", "cancel_requested_by")}),
        ("Log", {"fields": ("log_dropped_lines", "log")}),
    )

    @admin.display(description="Progress")
    def progress(self, obj: JobRun) -> str:
        return obj.progress_text or "—"

    @admin.action(description="Cancel selected runs", permissions=["cancel"])
    def cancel(self, request, queryset):
        count = sum(run_cancel(run=run, user=request.user)
                    for run in queryset.filter(state__in=JobRun.ACTIVE))
        self.message_user(request, f"{count} run(s) cancelled or asked to stop.",
                          messages.SUCCESS)

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("scheduling.cancel_jobrun")


@admin.register(HealthReport)
class HealthReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "status", "summary", "notified")
    list_filter = ("status",)
    show_full_result_count = False
    paginator = CappedPaginator
    readonly_fields = ("status", "reasons", "checks", "created_at", "notified")

    @admin.display(description="Reasons")
    def summary(self, obj: HealthReport) -> str:
        return "; ".join(obj.reasons[:3]) + ("; …" if len(obj.reasons) > 3 else "")


@admin.register(ClusterHeartbeat)
class ClusterHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("cluster", "host", "pid", "started_at", "last_seen")
    list_filter = ("cluster", "host")
