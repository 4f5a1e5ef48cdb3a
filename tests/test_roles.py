"""Viewers change nothing; operators move and label tapes but do not edit policies."""

import pytest
from django.urls import reverse

from tapes.models import MediaPool, Tape


@pytest.fixture
def pool(db):
    return MediaPool.objects.create(name="monthly")


def test_viewer_sees_but_cannot_change_anything(client, vic, inventory_library, pool):
    client.force_login(vic)
    tape = Tape.objects.first()
    assert client.get(reverse("admin:tapes_tape_changelist")).status_code == 200
    change = reverse("admin:tapes_tape_change", args=[tape.pk])
    assert client.post(change, {"status": "damaged"}).status_code == 403
    assert client.get(reverse("admin:tapes_mediapool_add")).status_code == 403
    client.post(reverse("admin:tapes_tape_changelist"),
                           {"action": "mark_damaged", "_selected_action": [tape.pk]})
    tape.refresh_from_db()
    assert tape.status == Tape.Status.NEW
    assert not vic.has_perm("tapes.operate_tape")
    assert all(not p.startswith(("add_", "change_", "delete_"))
               for p in (perm.split(".")[1] for perm in vic.get_all_permissions()))


def test_operator_cannot_edit_policies(client, olga, pool):
    client.force_login(olga)
    url = reverse("admin:tapes_mediapool_change", args=[pool.pk])
    assert client.get(url).status_code == 200  # can look
    assert client.post(url, {"name": "renamed", "allocation": "always"}).status_code == 403
    assert client.get(reverse("admin:tapes_mediapool_add")).status_code == 403
    pool.refresh_from_db()
    assert pool.name == "monthly"


def test_operator_may_operate_tapes(client, olga, inventory_library):
    client.force_login(olga)
    assert olga.has_perm("tapes.operate_tape") and olga.has_perm("tapes.change_tape")
    tape = Tape.objects.first()
    client.post(reverse("admin:tapes_tape_changelist"),
                {"action": "mark_damaged", "_selected_action": [tape.pk]})
    tape.refresh_from_db()
    assert tape.status == Tape.Status.DAMAGED


def test_administrator_may_edit_policies_and_users(ada):
    assert ada.has_perm("tapes.change_mediapool") and ada.has_perm("auth.add_user")
