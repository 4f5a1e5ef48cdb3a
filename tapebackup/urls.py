from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "tapebackup"
admin.site.site_title = "tapebackup"
admin.site.index_title = "Tape inventory, jobs and schedules"

urlpatterns = [
    path("admin/", admin.site.urls),
    # The operator's console (dashboard, restore wizard, /metrics, /health) at the root.
    path("", include("console.urls")),
]
