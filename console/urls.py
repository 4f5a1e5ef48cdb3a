"""The console's URLs, mounted at the site root (tapebackup/urls.py); the admin stays at
/admin/."""

from django.contrib.auth import views as auth_views
from django.urls import path

from console import monitoring, restore_views, views

app_name = "console"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("live/", views.dashboard_live, name="dashboard-live"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="console:login"), name="logout"),
    path("runs/", views.runs, name="runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/live/", views.run_live, name="run-live"),
    path("runs/<int:run_id>/cancel/", views.run_cancel_confirm, name="run-cancel-confirm"),
    path("runs/<int:run_id>/cancel/do/", views.run_cancel_post, name="run-cancel"),
    path("tapes/", views.tapes, name="tapes"),
    path("tapes/<str:barcode>/", views.tape_detail, name="tape"),
    path("tapes/<str:barcode>/export/", views.tape_export, name="tape-export"),
    path("tapes/<str:barcode>/verify/", views.tape_verify, name="tape-verify"),
    path("libraries/", views.libraries, name="libraries"),
    path("libraries/<str:name>/", views.library_detail, name="library"),
    path("libraries/<str:name>/inventory/", views.library_inventory, name="library-inventory"),
    path("restore/", restore_views.jobs, name="restore"),
    path("restore/job/<int:job_id>/", restore_views.job_calendar, name="restore-calendar"),
    path("restore/set/<int:set_id>/", restore_views.browse, name="restore-browse"),
    path("restore/set/<int:set_id>/options/", restore_views.options, name="restore-options"),
    path("restore/set/<int:set_id>/confirm/", restore_views.confirm, name="restore-confirm"),
    path("restore/set/<int:set_id>/queue/", restore_views.queue, name="restore-queue"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("health", monitoring.health, name="health"),
]
