"""Drive reservation: one job per drive (a database constraint), compatible enabled drives,
priority-then-age order for runs waiting for a drive."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from scheduling.models import JobRun
from scheduling.services import run_cancel, run_enqueue, runs_dispatch

pytestmark = pytest.mark.django_db


def _drive_run(sleep_params, **kw) -> JobRun:
    return run_enqueue(kind="sleep", params=sleep_params(drive=True, **kw.pop("p", {})), **kw)


def test_two_runs_cannot_hold_one_drive(inventory_library, sleep_params):
    first, second, third = (_drive_run(sleep_params) for _ in range(3))
    assert first.state == second.state == JobRun.State.QUEUED
    assert first.drive != second.drive  # the library's two drives
    assert third.state == JobRun.State.WAITING_DRIVE and third.drive is None
    assert third.waiting_reason == "Waiting for a free drive."


def test_the_database_refuses_a_second_active_run_on_a_drive(inventory_library, sleep_params):
    first = _drive_run(sleep_params)
    other = run_enqueue(kind="sleep", params=sleep_params())
    with pytest.raises(IntegrityError), transaction.atomic():
        JobRun.objects.filter(pk=other.pk).update(drive=first.drive,
                                                  state=JobRun.State.RUNNING)
    # Finished runs keep their drive for history without holding it.
    JobRun.objects.filter(pk=first.pk).update(state=JobRun.State.SUCCEEDED)
    JobRun.objects.filter(pk=other.pk).update(drive=first.drive, state=JobRun.State.RUNNING)


def test_waiting_runs_get_a_freed_drive_by_priority_then_age(inventory_library, sleep_params):
    first, second = _drive_run(sleep_params), _drive_run(sleep_params)
    old_low = _drive_run(sleep_params, priority=0)
    high = _drive_run(sleep_params, priority=5)
    young_low = _drive_run(sleep_params, priority=0)
    assert {r.state for r in (old_low, high, young_low)} == {JobRun.State.WAITING_DRIVE}
    for done, expected in ((first, high), (second, old_low), (high, young_low)):
        JobRun.objects.filter(pk=done.pk).update(state=JobRun.State.SUCCEEDED)
        runs_dispatch()
        expected.refresh_from_db()
        assert expected.state == JobRun.State.QUEUED and expected.drive_id == done.drive_id


def test_only_compatible_enabled_drives_on_the_requested_node(inventory_library, sleep_params):
    lto9 = _drive_run(sleep_params, p={"media_type": "LTO-9"})
    assert lto9.state == JobRun.State.WAITING_DRIVE
    assert lto9.waiting_reason == "Waiting for a free LTO-9 drive."
    elsewhere = _drive_run(sleep_params, node="nodeB")
    assert elsewhere.state == JobRun.State.WAITING_DRIVE
    inventory_library.drives.update(enabled=False)
    assert _drive_run(sleep_params, p={"media_type": "LTO-7"}).state == JobRun.State.WAITING_DRIVE
    inventory_library.drives.filter(index=1).update(enabled=True)
    runs_dispatch()
    lto7 = JobRun.objects.get(params__media_type="LTO-7")
    assert lto7.state == JobRun.State.QUEUED and lto7.drive.index == 1


def test_cancelling_a_queued_run_frees_its_drive_for_a_waiting_one(inventory_library, olga,
                                                                   sleep_params):
    holders = [_drive_run(sleep_params) for _ in range(2)]
    waiting = _drive_run(sleep_params)
    assert run_cancel(run=holders[0], user=olga)
    waiting.refresh_from_db()
    assert waiting.state == JobRun.State.QUEUED and waiting.drive == holders[0].drive
