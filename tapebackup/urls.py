from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "tapebackup"
admin.site.site_title = "tapebackup"
admin.site.index_title = "Tape inventory, jobs and schedules"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
