"""Every path that writes at BOT — label, erase, backup — refuses a tape that holds kept
data, through the real services on the virtual library, with a clear message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from backups.errors import JobError, NeedsMedia
from backups.models import BackupSet
from tapes.media import (
    ProtectedTape, open_drive, tape_erase, tape_erase_in_library, tape_label,
    tape_label_in_library, tape_load,
)
from tapes.models import Tape


@pytest.fixture
def kept_tape(backup) -> Tape:
    """A tape holding the job's only (so: kept) set."""
    backup_set = backup()
    return Tape.objects.get(segments__backup_set=backup_set)


def test_label_refuses_a_protected_tape_in_the_service_and_the_command(kept_tape, drive):
    with pytest.raises(ProtectedTape, match="retention policy keeps"):
        tape_label_in_library(tape=kept_tape)
    with pytest.raises(CommandError, match="cannot be labelled, erased or overwritten"):
        call_command("tape", "label", kept_tape.barcode)
    tape_load(tape=kept_tape, drive=drive)
    with open_drive(drive) as handle, pytest.raises(ProtectedTape):
        tape_label(tape=kept_tape, handle=handle)


def test_erase_refuses_a_protected_tape_in_the_service_and_the_command(kept_tape, drive):
    with pytest.raises(ProtectedTape, match="cannot be labelled, erased or overwritten"):
        tape_erase_in_library(tape=kept_tape)
    with pytest.raises(CommandError, match="cannot be labelled, erased or overwritten"):
        call_command("tape", "erase", kept_tape.barcode, "--no-input")
    tape_load(tape=kept_tape, drive=drive)
    with open_drive(drive) as handle, pytest.raises(ProtectedTape):
        tape_erase(tape=kept_tape, handle=handle)
    kept_tape.refresh_from_db()
    assert kept_tape.label_written_at and kept_tape.bytes_written > 0


def test_unexpired_sets_are_refused_even_when_the_date_says_otherwise(kept_tape):
    Tape.objects.filter(pk=kept_tape.pk).update(protected_until=None)  # a wrong date
    with pytest.raises(ProtectedTape, match=r"holds backup set #\d+ of job home, which has not "
                                            "expired"):
        tape_label_in_library(tape=kept_tape)
    with pytest.raises(ProtectedTape, match="has not expired"):
        tape_erase_in_library(tape=kept_tape)


def test_backup_never_takes_a_protected_tape_for_writing_at_bot(kept_tape, backup, job):
    labelled_at = kept_tape.label_written_at
    # An operator put the full, protected tape back to scratch by hand; every other scratch
    # tape is gone. The engine must not label it: it waits for media instead.
    Tape.objects.filter(pk=kept_tape.pk).update(pool=None, media_set=None, sequence=None,
                                                status=Tape.Status.WRITABLE)
    Tape.objects.exclude(pk=kept_tape.pk).update(status=Tape.Status.RETIRED)
    with pytest.raises(NeedsMedia, match="needs 1 scratch tape"):
        backup()
    # And with a wrong date, the label service refuses it when the engine tries.
    Tape.objects.filter(pk=kept_tape.pk).update(protected_until=timezone.now() - dt.timedelta(1))
    with pytest.raises(JobError, match="has not expired"):
        backup()
    failed = BackupSet.objects.filter(status=BackupSet.Status.FAILED).get()
    assert "has not expired" in failed.error
    kept_tape.refresh_from_db()
    assert kept_tape.label_written_at == labelled_at  # never relabelled: its data untouched


def test_erase_works_once_every_set_has_expired(backup, kept_tape):
    from backups.context import JobContext
    from backups.retention import retention_run

    BackupSet.objects.filter(segments__tape=kept_tape).update(status=BackupSet.Status.FAILED)
    retention_run(context=JobContext())
    call_command("tape", "erase", kept_tape.barcode, "--no-input")
    kept_tape.refresh_from_db()
    assert kept_tape.status == Tape.Status.NEW and kept_tape.bytes_written == 0
    assert kept_tape.lifetime_bytes_written > 0
