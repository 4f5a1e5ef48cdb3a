"""Every console page answers for every role, shows what the role may do and nothing more,
and stays a fixed number of queries (no N+1)."""

from __future__ import annotations

import pytest
from django.urls import reverse

ROLES = ("vic", "olga", "ada")


def page_urls(scene) -> list[str]:
    s = scene
    return [
        reverse("console:dashboard"), reverse("console:dashboard-live"),
        reverse("console:runs"), reverse("console:runs") + "?state=failed&kind=verify",
        reverse("console:run", args=[s.running.pk]),
        reverse("console:run-live", args=[s.running.pk]),
        reverse("console:run", args=[s.failed.pk]),
        reverse("console:tapes"), reverse("console:tapes") + "?pool=scratch&status=new&q=TST",
        reverse("console:tape", args=[s.tape.barcode]), reverse("console:tape", args=["TST002L8"]),
        reverse("console:library", args=[s.library.name]),
        reverse("console:restore"), reverse("console:restore-calendar", args=[s.job.pk]),
        reverse("console:restore-calendar", args=[s.job.pk]) + "?month=2020-12",
        reverse("console:restore-browse", args=[s.set.pk]),
        reverse("console:restore-browse", args=[s.set.pk]) + "?dir=/srv/home",
        reverse("console:restore-browse", args=[s.set.pk]) + "?q=txt",
    ]


@pytest.mark.parametrize("who", ROLES)
def test_every_page_answers_for_every_role(client, scene, who, request):
    client.force_login(request.getfixturevalue(who))
    for url in page_urls(scene):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def test_pages_need_a_login(client, scene):
    for url in page_urls(scene):
        response = client.get(url)
        assert response.status_code == 302 and reverse("console:login") in response["Location"], url


def test_login_page_logs_in_and_out(client, scene, vic):
    response = client.post(reverse("console:login"), {"username": "vic", "password": "pw"})
    assert response.status_code == 302
    assert client.get(reverse("console:dashboard")).status_code == 200
    client.post(reverse("console:logout"))
    assert client.get(reverse("console:dashboard")).status_code == 302


def test_dashboard_shows_drives_waiting_failures_scratch_offsite_and_next_runs(client, scene, vic):
    client.force_login(vic)
    html = client.get(reverse("console:dashboard")).content.decode()
    assert f'data-run="{scene.running.pk}" data-bytes="500"' in html  # the live progress bar
    assert 'aria-valuenow="50"' in html
    assert "Needs 1 scratch LTO-8 tape for pool daily." in html
    assert "The drive went away." in html
    assert "Pool daily has 3 scratch tape(s)" in html  # the health report's reasons
    assert "ironmountain" in html and "TST001L8" in html  # the pick list
    assert "home nightly" in html
    assert "<svg" in html and "Capacity used per pool" in html
    assert 'data-refresh-url="/live/"' in html


def test_dashboard_lists_tapes_to_send_and_to_recall(client, scene, vic):
    from tapes.models import Tape

    Tape.objects.filter(barcode="TST004L8").update(place=Tape.Place.VAULT, slot=None,
                                                   library=None, vault="ironmountain")
    scene.set.segments.update(tape=Tape.objects.get(barcode="TST002L8"))
    Tape.objects.filter(barcode="TST002L8").update(media_set=scene.set.media_set, sequence=1)
    client.force_login(vic)
    html = client.get(reverse("console:dashboard-live")).content.decode()
    send = html.split("To send off-site:")[1].split("</p>")[0]
    assert "TST002L8" in send and "TST001L8" not in send  # TST001L8 is on a pick list already
    assert "TST004L8" in html.split("To recall")[1].split("</p>")[0]


def test_dashboard_query_count_does_not_grow_with_drives_and_runs(client, scene, vic,
                                                                  django_assert_max_num_queries):
    from tapes.services import library_create

    client.force_login(vic)
    client.get(reverse("console:dashboard-live"))
    library_create(name="lib2", drives=6, slots=10, mailslots=1)
    with django_assert_max_num_queries(25):
        client.get(reverse("console:dashboard-live"))


def test_runs_list_pages_without_counting(client, scene, vic, django_assert_max_num_queries):
    client.force_login(vic)
    with django_assert_max_num_queries(6) as captured:
        html = client.get(reverse("console:runs")).content.decode()
    # One row beyond the page says whether there is a next one; the table is never counted.
    assert not any("COUNT(" in q["sql"] for q in captured.captured_queries)
    assert f'href="/runs/{scene.running.pk}/"' in html


def test_run_page_shows_log_and_progress(client, scene, vic):
    client.force_login(vic)
    html = client.get(reverse("console:run", args=[scene.running.pk])).content.decode()
    assert "line two" in html and 'aria-valuenow="50"' in html


def test_tape_page_shows_place_history_sets_and_life(client, scene, vic):
    client.force_login(vic)
    html = client.get(reverse("console:tape", args=["TST001L8"])).content.decode()
    assert "In lib1 slot 1" in html
    assert f"#{scene.set.pk}" in html and "home" in html
    assert "Loads" in html and "Life left" in html
    assert "The drive went away." in html  # the failed verify run of this tape


def test_library_page_is_a_grid_of_slots_and_drives(client, scene, vic):
    client.force_login(vic)
    html = client.get(reverse("console:library", args=["lib1"])).content.decode()
    assert html.count('class="slot ') >= 7 and "TST004L8" in html and "drive 1" in html


def test_metrics_and_health_need_no_login(client, scene):
    assert client.get(reverse("console:metrics")).status_code == 200
    assert client.get(reverse("console:health")).status_code == 200
