"""The retention admin: pages answer, the preview shows, media sets close by action and
show when they are reusable, pick lists print, and a tape's page shows its audit trail."""

from __future__ import annotations

from django.urls import reverse

from backups.context import JobContext
from backups.retention import retention_run
from tapes.models import AuditRecord, MediaSet, PickList, RetentionPolicy, Tape, Vault


def test_retention_pages_answer_with_real_data(client, ada, backup, keep_last_2):
    sets = [backup() for _ in range(3)]
    retention_run(context=JobContext())
    client.force_login(ada)
    page = client.get(reverse("admin:tapes_retentionpolicy_change", args=[keep_last_2.pk]))
    assert page.status_code == 200 and "What expires in the next 90 days" in page.content.decode()
    tape = Tape.objects.filter(audit__action="recycle").first()
    page = client.get(reverse("admin:tapes_tape_change", args=[tape.pk])).content.decode()
    assert "audit trail" in page.lower() and "Returned to scratch" in page
    trail = client.get(reverse("admin:tapes_auditrecord_changelist"),
                       {"subject_type": "backup set", "q": str(sets[0].pk)})
    assert "Expired" in trail.content.decode()
    for name in ("mediaset", "auditrecord", "retentionpolicy", "vault", "picklist"):
        assert client.get(reverse(f"admin:tapes_{name}_changelist")).status_code == 200


def test_close_media_sets_and_print_a_pick_list(client, ada, backup, pool):
    pool.allocation = "continue"
    pool.save()
    backup()
    media_set = MediaSet.objects.get(closed_at__isnull=True)
    client.force_login(ada)
    url = reverse("admin:tapes_mediaset_changelist")
    response = client.post(url, {"action": "close", "_selected_action": [media_set.pk]},
                           follow=True)
    assert "1 media set(s) closed." in response.content.decode()
    media_set.refresh_from_db()
    assert media_set.closed_at and AuditRecord.objects.get(action="close").user.username == "ada"
    page = client.get(reverse("admin:tapes_mediaset_change", args=[media_set.pk])).content.decode()
    assert "not while its sets are kept" in page
    vault = Vault.objects.create(name="north")
    picklist = PickList.objects.create(kind="send", vault=vault)
    picklist.tapes.set(Tape.objects.filter(media_set=media_set))
    response = client.post(reverse("admin:tapes_picklist_changelist"),
                           {"action": "print_pick_list", "_selected_action": [picklist.pk]})
    assert response["Content-Type"].startswith("text/plain")
    assert "PICK LIST #" in response.content.decode()
    assert RetentionPolicy.objects.exists()


def test_the_set_page_shows_its_audit_trail_and_last_verify(client, ada, job, backup):
    from django.urls import reverse

    from tapes.models import AuditRecord, audit

    backup_set = backup()
    audit(action=AuditRecord.Action.EXPIRE, subject=backup_set,
          message=f"Backup set #{backup_set.pk} expired: keep the last 2 sets.")
    client.force_login(ada)
    body = client.get(reverse("admin:backups_backupset_change", args=[backup_set.pk])).content.decode()
    assert f"Backup set #{backup_set.pk} expired: keep the last 2 sets." in body
    assert "Last verify" in body and "never" in body
