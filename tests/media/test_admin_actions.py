"""The admin's tape, drive and library actions call the services and report counts."""

from django.urls import reverse

from tapes.models import Drive, Library, MediaPool, Tape


def _post_action(client, model: str, action: str, ids, **extra):
    url = reverse(f"admin:tapes_{model}_changelist")
    return client.post(url, {"action": action, "_selected_action": ids, **extra}, follow=True)


def test_label_action_asks_for_the_pool_then_labels(client, olga, vlib):
    pool = MediaPool.objects.create(name="offsite")
    client.force_login(olga)
    ids = list(Tape.objects.filter(barcode__in=["TL0001L8", "TL0002L8"]).values_list("pk", flat=True))
    page = _post_action(client, "tape", "label", ids)
    assert "Label tapes" in page.content.decode() and "TL0001L8" in page.content.decode()
    assert not Tape.objects.filter(status=Tape.Status.WRITABLE).exists()
    done = _post_action(client, "tape", "label", ids, apply="1", pool=pool.pk)
    assert "2 tape(s) labelled." in done.content.decode()
    assert Tape.objects.filter(status=Tape.Status.WRITABLE, pool=pool).count() == 2


def test_load_unload_and_export_actions(client, olga, vlib):
    client.force_login(olga)
    tape = Tape.objects.get(barcode="TL0003L8")
    body = _post_action(client, "tape", "load", [tape.pk]).content.decode()
    assert "1 tape(s) loaded." in body
    tape.refresh_from_db()
    assert tape.drive is not None
    assert "1 tape(s) unloaded." in _post_action(client, "tape", "unload", [tape.pk]).content.decode()
    body = _post_action(client, "tape", "unload", [tape.pk]).content.decode()
    assert "is not in a drive" in body and "0 tape(s) unloaded." in body
    assert "1 tape(s) moved to mail slots." in _post_action(client, "tape", "export", [tape.pk]).content.decode()
    tape.refresh_from_db()
    assert tape.slot.kind == "mail"


def test_inventory_now_and_import(client, olga, vlib, disk):
    client.force_login(olga)
    disk.insert_into_mailslot("NEW002L8", create=True)
    body = _post_action(client, "library", "inventory_now", [vlib.pk]).content.decode()
    assert "1 new, 0 moved, 0 gone from the library" in body
    body = _post_action(client, "library", "import_from_mail_slots", [vlib.pk]).content.decode()
    assert "1 library(ies) imported." in body
    assert Tape.objects.get(barcode="NEW002L8").slot.kind == "storage"


def test_drive_page_shows_the_drive_status(client, ada, vlib):
    client.force_login(ada)
    drive = Drive.objects.get(library=vlib, index=0)
    body = client.get(reverse("admin:tapes_drive_change", args=[drive.pk])).content.decode()
    assert "online:" in body and "loaded: False" in body


def test_viewer_gets_no_operating_actions(client, vic, vlib):
    client.force_login(vic)
    body = client.get(reverse("admin:tapes_tape_changelist")).content.decode()
    assert 'value="label"' not in body and 'value="export"' not in body
    tape = Tape.objects.get(barcode="TL0001L8")
    _post_action(client, "tape", "load", [tape.pk])
    tape.refresh_from_db()
    assert tape.drive is None
    assert not Library.objects.exclude(last_inventory_at=None).exists()


def test_clear_suspect_action_lifts_the_flag_with_an_audit_record(client, olga, vlib):
    from tapes.models import AuditRecord
    from tapes.services import tape_mark_suspect

    client.force_login(olga)
    tape = Tape.objects.get(barcode="TL0001L8")
    assert tape_mark_suspect(tape=tape, reason="read error at record 7")
    assert not tape_mark_suspect(tape=tape, reason="again")  # suspect once, errors counted
    tape.refresh_from_db()
    assert tape.read_errors == 2
    body = _post_action(client, "tape", "clear_suspect", [tape.pk]).content.decode()
    assert "1 tape(s) no longer suspect." in body
    tape.refresh_from_db()
    assert tape.suspect_since is None
    assert AuditRecord.objects.filter(tape=tape, action="suspect").count() == 2
    assert AuditRecord.objects.filter(tape=tape, user=olga).exists()
