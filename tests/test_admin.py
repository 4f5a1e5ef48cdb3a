"""Every admin page answers and every admin action works (STYLE §18)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tapes.models import MediaPool, MediaSet, Tape


@pytest.fixture
def everything(inventory_library):
    """At least one object of every registered model."""
    pool = MediaPool.objects.create(name="daily")
    MediaSet.objects.create(pool=pool)
    return inventory_library


def _admin_urls():
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        yield model, model_admin, f"admin:{opts.app_label}_{opts.model_name}"


def test_every_changelist_add_and_change_page_answers(client, ada, everything):
    client.force_login(ada)
    for model, model_admin, base in _admin_urls():
        assert client.get(reverse(f"{base}_changelist")).status_code == 200, base
        if model_admin.has_add_permission(_request(ada)):
            assert client.get(reverse(f"{base}_add")).status_code == 200, base
        obj = model._default_manager.first()
        if obj is not None:
            assert client.get(reverse(f"{base}_change", args=[obj.pk])).status_code == 200, base


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


def test_mark_damaged_and_back_report_counts(client, ada, everything):
    client.force_login(ada)
    url = reverse("admin:tapes_tape_changelist")
    ids = list(Tape.objects.values_list("pk", flat=True)[:2])
    response = client.post(url, {"action": "mark_damaged", "_selected_action": ids}, follow=True)
    assert "2 tape(s) marked damaged." in response.content.decode()
    assert Tape.objects.filter(status=Tape.Status.DAMAGED).count() == 2
    response = client.post(url, {"action": "mark_writable_again", "_selected_action": ids},
                           follow=True)
    assert "2 tape(s) marked writable." in response.content.decode()


def test_tape_search_by_barcode(client, ada, everything):
    client.force_login(ada)
    response = client.get(reverse("admin:tapes_tape_changelist"), {"q": "TST003"})
    body = response.content.decode()
    assert "TST003L8" in body and "TST001L8" not in body
