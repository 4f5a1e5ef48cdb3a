"""Every change on the console is a CSRF-protected POST that needs the role's permission,
calls a service and leaves a trail; viewers get 403 and see no buttons."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from scheduling.models import JobRun
from tapes.models import Tape, TapeLocation


def posts(scene) -> list[str]:
    return [
        reverse("console:run-cancel", args=[scene.waiting.pk]),
        reverse("console:tape-export", args=["TST002L8"]),
        reverse("console:tape-verify", args=["TST001L8"]),
        reverse("console:library-inventory", args=["lib1"]),
        reverse("console:restore-queue", args=[scene.set.pk]),
    ]


def test_viewers_may_not_post_anything(client, scene, vic):
    client.force_login(vic)
    for url in posts(scene):
        assert client.post(url, {"target": "/tmp/x", "mode": "safe",
                                  "on_existing": "skip"}).status_code == 403, url
    assert JobRun.objects.count() == 4  # nothing was queued or cancelled
    for page in (reverse("console:run-cancel-confirm", args=[scene.waiting.pk]),
                 reverse("console:restore-options", args=[scene.set.pk])):
        assert client.get(page).status_code == 403, page


def test_changes_are_post_only(client, scene, olga):
    client.force_login(olga)
    for url in posts(scene):
        assert client.get(url).status_code == 405, url


def test_posts_need_the_csrf_token(scene, olga):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(olga)
    for url in posts(scene):
        assert strict.post(url).status_code == 403, url
    assert JobRun.objects.get(pk=scene.waiting.pk).state == JobRun.State.WAITING_MEDIA


def test_viewer_pages_have_no_change_buttons(client, scene, vic):
    client.force_login(vic)
    for url in (reverse("console:dashboard"), reverse("console:run", args=[scene.running.pk]),
                reverse("console:tape", args=["TST001L8"]),
                reverse("console:library", args=["lib1"]),
                reverse("console:restore-browse", args=[scene.set.pk]) + "?dir=/srv/home"):
        html = client.get(url).content.decode()
        assert html.count('method="post"') == 1, url  # only "Log out"
        assert "Cancel this run" not in html and 'type="checkbox"' not in html, url


def test_operators_see_their_buttons(client, scene, olga):
    client.force_login(olga)
    run = client.get(reverse("console:run", args=[scene.running.pk])).content.decode()
    assert "Cancel this run" in run
    tape = client.get(reverse("console:tape", args=["TST001L8"])).content.decode()
    assert "Export to a mail slot" in tape and "Verify (quick)" in tape
    library = client.get(reverse("console:library", args=["lib1"])).content.decode()
    assert "Run an inventory" in library
    browse = client.get(reverse("console:restore-browse", args=[scene.set.pk]) + "?dir=/srv/home")
    assert 'type="checkbox"' in browse.content.decode()


def test_cancel_confirms_first_then_records_who(client, scene, olga):
    client.force_login(olga)
    page = client.get(reverse("console:run-cancel-confirm", args=[scene.running.pk]))
    assert b"not restorable" in page.content  # the confirmation says what cancelling costs
    response = client.post(reverse("console:run-cancel", args=[scene.running.pk]))
    assert response.status_code == 302
    running = JobRun.objects.get(pk=scene.running.pk)
    assert running.cancel_requested_by == olga and running.state == JobRun.State.RUNNING
    client.post(reverse("console:run-cancel", args=[scene.waiting.pk]))
    waiting = JobRun.objects.get(pk=scene.waiting.pk)
    assert waiting.state == JobRun.State.CANCELLED and waiting.cancel_requested_by == olga
    again = client.post(reverse("console:run-cancel", args=[scene.waiting.pk]), follow=True)
    assert b"was not cancelled: it is cancelled" in again.content


def test_verify_and_inventory_queue_runs_for_the_user(client, scene, olga):
    client.force_login(olga)
    response = client.post(reverse("console:tape-verify", args=["TST001L8"]), {"level": "data"})
    verify = JobRun.objects.filter(kind="verify").latest("created_at")
    assert response["Location"] == reverse("console:run", args=[verify.pk])
    assert verify.params == {"tape": "TST001L8", "level": "data", "media_type": "LTO-8"}
    assert verify.requested_by == olga
    client.post(reverse("console:library-inventory", args=["lib1"]))
    inventory = JobRun.objects.get(kind="inventory")
    assert inventory.params == {"library": "lib1"} and inventory.requested_by == olga


@pytest.fixture
def vtl_scene(db, vtl_root, olga):
    from tapes.vtl import vtl_create

    return vtl_create(name="v1", drives=1, slots=4, mailslots=1, tapes=2)


def test_export_moves_the_tape_to_a_mail_slot_with_a_trail(client, vtl_scene, olga):
    client.force_login(olga)
    barcode = Tape.objects.filter(library=vtl_scene).order_by("barcode").first().barcode
    response = client.post(reverse("console:tape-export", args=[barcode]), follow=True)
    assert b"is in mail slot 5" in response.content
    tape = Tape.objects.get(barcode=barcode)
    assert tape.slot.kind == "mail"
    move = TapeLocation.objects.filter(tape=tape).order_by("-at", "-id").first()
    assert move.moved_by == olga and move.mail_slot


def test_export_refusal_is_one_sentence(client, scene, olga):
    Tape.objects.filter(barcode="TST003L8").update(place=Tape.Place.VAULT, slot=None,
                                                   library=None, vault="ironmountain")
    client.force_login(olga)
    response = client.post(reverse("console:tape-export", args=["TST003L8"]), follow=True)
    assert b"Tape TST003L8 is in vault ironmountain, not in a library." in response.content


def test_restore_steps_queue_a_run_with_the_selection(client, scene, olga):
    client.force_login(olga)
    browse = reverse("console:restore-browse", args=[scene.set.pk])
    options = client.get(reverse("console:restore-options", args=[scene.set.pk]),
                         {"path": ["/srv/home/ada/notes.txt", "/srv/home/readme"]})
    assert options.status_code == 200 and b"/srv/home/readme" in options.content
    assert b"errorlist" not in options.content  # not bound before the user submits it
    params = {"path": ["/srv/home/ada/notes.txt", "/srv/home/readme"], "target": "/var/tmp/r",
              "mode": "safe", "on_existing": "rename"}
    confirm = client.get(reverse("console:restore-confirm", args=[scene.set.pk]), params)
    html = confirm.content.decode()
    assert "TST001L8" in html and "in lib1 slot 1" in html and "2 entries" in html
    bad = client.get(reverse("console:restore-confirm", args=[scene.set.pk]),
                     {**params, "target": "relative/dir"})
    assert b"The target must be an absolute path" in bad.content
    response = client.post(reverse("console:restore-queue", args=[scene.set.pk]), params)
    run = JobRun.objects.get(kind="restore")
    assert response["Location"] == reverse("console:run", args=[run.pk])
    assert run.params == {"set_id": scene.set.pk, "target": "/var/tmp/r", "mode": "safe",
                          "on_existing": "rename", "media_type": "LTO-8",
                          "catalog_paths": ["/srv/home/ada/notes.txt", "/srv/home/readme"]}
    assert run.requested_by == olga
    assert client.get(browse).status_code == 200


def test_confirm_names_tapes_outside_the_library(client, scene, olga):
    Tape.objects.filter(barcode="TST001L8").update(place=Tape.Place.VAULT, slot=None,
                                                   library=None, vault="ironmountain")
    client.force_login(olga)
    html = client.get(reverse("console:restore-confirm", args=[scene.set.pk]),
                      {"target": "/r", "mode": "safe", "on_existing": "skip"}).content.decode()
    assert "in vault ironmountain" in html and "not in a library" in html


def test_unrestorable_sets_are_not_offered(client, scene, olga):
    scene.set.status = "failed"
    scene.set.save()
    client.force_login(olga)
    assert client.get(reverse("console:restore-browse", args=[scene.set.pk])).status_code == 404
