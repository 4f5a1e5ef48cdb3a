"""Job runs: enqueue, the claim, the lifecycle, the bounded log, cancel, waiting for media."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection

from scheduling.models import JobRun
from scheduling.runner import bounded_log, execute_run
from scheduling.services import run_cancel, run_claim, run_enqueue
from tapes.models import Tape
from tapes.services import tape_create, tape_move_offline, tape_move_to_slot

pytestmark = pytest.mark.django_db


def _queued_task_count() -> int:
    from django_q.models import OrmQ

    return OrmQ.objects.count()


def test_enqueue_creates_the_row_first_and_queues_a_task_after_commit(
        sleep_params, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = run_enqueue(kind="sleep", params=sleep_params())
        assert run.state == JobRun.State.QUEUED and run.attempt == 1
        assert _queued_task_count() == 0  # not before the commit
    assert len(callbacks) == 1 and _queued_task_count() == 1
    assert JobRun.objects.get(pk=run.pk).task_id


def test_a_rolled_back_enqueue_queues_nothing(sleep_params, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            run_enqueue(kind="sleep", params=sleep_params())
            raise RuntimeError
    assert callbacks == [] and JobRun.objects.count() == 0 and _queued_task_count() == 0


def test_claim_is_idempotent(sleep_params):
    run = run_enqueue(kind="sleep", params=sleep_params())
    first = run_claim(run_id=run.pk)
    assert first is not None and first.state == JobRun.State.RUNNING and first.claim_token
    assert first.worker_pid and first.worker_host
    assert run_claim(run_id=run.pk) is None


def test_a_duplicate_delivery_exits_at_once(sleep_params, counter):
    run = run_enqueue(kind="sleep", params=sleep_params())
    assert execute_run(run.pk) == JobRun.State.SUCCEEDED
    assert "not queued any more" in execute_run(run.pk)
    assert counter.starts() == 1 and counter.ends() == 1


def test_a_successful_run_records_progress_log_and_times(sleep_params):
    run = run_enqueue(kind="sleep", params=sleep_params(0.3))
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == JobRun.State.SUCCEEDED
    assert run.started_at <= run.finished_at and run.heartbeat_at
    assert run.files > 0 and run.bytes == run.files * 1000
    assert "Started on" in run.log and "Finished: slept" in run.log
    assert run.result == "slept 0.3 s"


def test_warnings_end_as_succeeded_with_warnings(sleep_params):
    run = run_enqueue(kind="sleep", params=sleep_params(warn=True))
    assert execute_run(run.pk) == JobRun.State.WARNINGS
    run.refresh_from_db()
    assert run.warnings == 1 and "WARNING: A test warning." in run.log


def test_a_job_error_fails_with_its_sentence_and_the_traceback_in_the_log(sleep_params):
    run = run_enqueue(kind="sleep", params=sleep_params(fail=True))
    assert execute_run(run.pk) == JobRun.State.FAILED
    run.refresh_from_db()
    assert run.error == "The test job failed on purpose."
    assert "Traceback (most recent call last)" in run.log
    assert mail.outbox and "failed" in mail.outbox[0].subject


@pytest.fixture
def kind_without_service():
    """A kind whose service module is not installed, as a kind from a later issue would be."""
    from scheduling import registry
    from scheduling.kinds import _service

    def call(*, run, context, drive_id=None):
        return _service("backups.not_yet_written", "service_run")(context=context)

    registry.register(registry.JobKindSpec(kind="future", call=call, label="Future"))
    yield "future"
    registry._REGISTRY.pop("future", None)


def test_a_kind_whose_service_is_missing_fails_with_one_sentence(kind_without_service):
    run = run_enqueue(kind=kind_without_service, params={})
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == JobRun.State.FAILED
    assert run.error == "This job kind is not available yet."


def test_an_unknown_kind_is_refused():
    from scheduling.services import SchedulingError

    with pytest.raises(SchedulingError, match="There is no job kind 'nonsense'"):
        run_enqueue(kind="nonsense", params={})


def test_the_test_kind_is_off_without_its_setting(settings):
    from scheduling.services import SchedulingError

    settings.TAPEBACKUP_TEST_JOB_KINDS = False
    with pytest.raises(SchedulingError):
        run_enqueue(kind="sleep", params={})


def test_the_log_keeps_its_tail_and_says_how_much_it_dropped():
    text, dropped = bounded_log("", [f"line {n:04d}" for n in range(1000)], 0, limit=1024)
    assert len(text.encode()) <= 1024 + 40
    assert text.startswith(f"[… {dropped} earlier lines dropped]") and dropped == 898
    assert text.endswith("line 0999")
    text, dropped2 = bounded_log(text, ["more"], dropped, limit=1024)
    assert dropped2 == dropped + 1 and text.count("earlier lines dropped") == 1


def test_a_long_log_stays_bounded_on_the_row(settings, sleep_params):
    from scheduling.runner import JobRunner

    settings.TAPEBACKUP_LOG_MAX_BYTES = 2048
    run = run_claim(run_id=run_enqueue(kind="sleep", params=sleep_params()).pk)
    runner = JobRunner(run)
    for n in range(500):
        runner.context.log(f"file number {n} written")
    runner.succeed("done")
    run.refresh_from_db()
    assert len(run.log.encode()) < 2048 + 100 and run.log_dropped_lines > 400
    assert "earlier lines dropped" in run.log and "Finished: done" in run.log


def test_cancel_before_start_ends_the_run_and_its_task_does_nothing(olga, sleep_params, counter):
    run = run_enqueue(kind="sleep", params=sleep_params())
    assert run_cancel(run=run, user=olga) is True
    run.refresh_from_db()
    assert run.state == JobRun.State.CANCELLED and run.cancel_requested_by == olga
    assert "not queued" in execute_run(run.pk) and counter.starts() == 0
    assert run_cancel(run=run, user=olga) is False


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_while_running_stops_at_the_next_safe_point(olga, sleep_params, counter,
                                                          settings):
    import threading

    settings.TAPEBACKUP_HEARTBEAT_THREAD = True

    run = run_enqueue(kind="sleep", params=sleep_params(30))
    worker = threading.Thread(target=lambda: (execute_run(run.pk), connection.close()))
    worker.start()
    _wait(lambda: counter.starts() == 1)
    assert run_cancel(run=JobRun.objects.get(pk=run.pk), user=olga) is True
    worker.join(timeout=10)
    assert not worker.is_alive()
    run.refresh_from_db()
    assert run.state == JobRun.State.CANCELLED and counter.ends() == 0
    assert "cancelled by an operator" in run.error


@pytest.mark.parametrize("how", ["spawn", "popen"])
def test_child_processes_are_killed_when_the_run_ends(sleep_params, counter, how):
    import os

    run = run_enqueue(kind="sleep", params=sleep_params(child=how))
    execute_run(run.pk)
    pid = int(counter.lines("CHILD")[0].split()[1])
    _wait(lambda: not _alive(pid))
    assert not _alive(pid), os.system(f"ps -o pid,stat,cmd -p {pid}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(condition, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)


# Waiting for media -----------------------------------------------------------------------

@pytest.fixture
def vaulted_tape(inventory_library):
    tape = tape_create(barcode="A00017L8")
    tape_move_offline(tape=tape, place=Tape.Place.VAULT, vault="Iron Mountain")
    return tape


def test_needs_media_waits_with_the_reason_and_notifies_once(vaulted_tape, sleep_params):
    run = run_enqueue(kind="sleep", params=sleep_params(barcode="A00017L8"))
    assert execute_run(run.pk) == JobRun.State.WAITING_MEDIA
    run.refresh_from_db()
    assert run.waiting_reason == "Needs tape A00017L8, which is in vault Iron Mountain."
    assert run.waiting_since and run.drive is None
    assert len(mail.outbox) == 1 and "waiting for media" in mail.outbox[0].subject
    # Re-checking while the tape is still away changes nothing and mails nobody.
    from scheduling.services import runs_recheck_media

    assert runs_recheck_media() == 0 and len(mail.outbox) == 1


def test_a_waiting_run_resumes_when_the_tape_comes_in_through_the_mail_slot(
        vaulted_tape, inventory_library, sleep_params, counter,
        django_capture_on_commit_callbacks):
    run = run_enqueue(kind="sleep", params=sleep_params(barcode="A00017L8"))
    execute_run(run.pk)
    mail_slot = inventory_library.slots.get(kind="mail").number
    with django_capture_on_commit_callbacks(execute=True):
        tape_move_to_slot(tape=vaulted_tape, library=inventory_library, slot_number=mail_slot,
                          reason="imported")
    run.refresh_from_db()
    assert run.state == JobRun.State.QUEUED  # re-queued by the tape move, after commit
    assert "Resumed" in run.log
    assert execute_run(run.pk) == JobRun.State.SUCCEEDED
    assert counter.ends(run.pk) == 1


def test_a_run_waiting_past_the_deadline_fails_with_a_sentence(vaulted_tape, sleep_params,
                                                                settings):
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.services import runs_recheck_media

    settings.TAPEBACKUP_MEDIA_DEADLINE_SECONDS = 3600
    run = run_enqueue(kind="sleep", params=sleep_params(barcode="A00017L8"))
    execute_run(run.pk)
    runs_recheck_media(now=timezone.now() + timedelta(minutes=59))
    assert JobRun.objects.get(pk=run.pk).state == JobRun.State.WAITING_MEDIA
    runs_recheck_media(now=timezone.now() + timedelta(minutes=61))
    run.refresh_from_db()
    assert run.state == JobRun.State.FAILED
    assert run.error == ("Gave up after waiting 1 hours for media: Needs tape A00017L8, which "
                         "is in vault Iron Mountain.")


def test_a_pool_need_says_how_many_of_which_type(sleep_params):
    from backups.errors import NeedsMedia
    from scheduling.services import media_reason

    exc = NeedsMedia("x", pool="monthly", media_type="LTO-8", count=2)
    assert media_reason(exc) == "Needs 2 scratch LTO-8 tapes for pool monthly."
