"""The backups admin pages answer, the catalog search finds a path by its key, and the
run-now action reports a count."""

from __future__ import annotations

from django.urls import reverse

from backups.context import JobContext
from backups.engine import backup_run
from backups.models import BackupJob, BackupSegment, BackupSet, CatalogEntry


def test_pages_and_catalog_search(client, ada, make_job, drive, tmp_path):
    (tmp_path / "report.pdf").write_text("x")
    job = make_job(str(tmp_path))
    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    client.force_login(ada)
    for model in (BackupJob, BackupSet, BackupSegment, CatalogEntry):
        name = model._meta.model_name
        assert client.get(reverse(f"admin:backups_{name}_changelist")).status_code == 200
        obj = model.objects.first()
        assert client.get(reverse(f"admin:backups_{name}_change", args=[obj.pk])).status_code == 200
    page = client.get(reverse("admin:backups_backupset_change", args=[backup_set.pk]))
    assert "LA0001L8" in page.content.decode()
    found = client.get(reverse("admin:backups_catalogentry_changelist"),
                       {"q": f"{tmp_path}/report.pdf"}).content.decode()
    assert "report.pdf" in found


def test_run_now_reports_a_count(client, ada, make_job, library, tmp_path):
    job = make_job(str(tmp_path))
    client.force_login(ada)
    response = client.post(reverse("admin:backups_backupjob_changelist"),
                           {"action": "run_now", "_selected_action": [job.pk]}, follow=True)
    body = response.content.decode()
    assert "1 backup(s) queued." in body or "Queueing is not available yet." in body


def test_a_job_added_in_the_admin_gets_its_monthly_full_schedule(client, ada, pool, tmp_path):
    from django.urls import reverse

    from scheduling.models import Schedule

    client.force_login(ada)
    response = client.post(reverse("admin:backups_backupjob_add"), {
        "name": "mail", "description": "", "sources": f'["{tmp_path}"]', "excludes": "[]",
        "pool": pool.pk, "script_timeout": 600, "enabled": "on",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Schedule.objects.filter(kind="backup", name="Monthly full backup: mail").exists()
