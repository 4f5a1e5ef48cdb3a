"""The retention check on real sets written by the engine to the virtual library: expiry,
protection, late recycling (data and catalog kept until the tape is overwritten), audit
records, and the dry run agreeing with the real run."""

from __future__ import annotations

import datetime as dt

from django.core.management import call_command
from django.utils import timezone

from backups.context import JobContext
from backups.models import BackupSet, CatalogEntry
from backups.retention import retention_run
from tapes.media import tape_label_in_library
from tapes.models import AuditRecord, Tape
from tapes.retention_policy import FOREVER


def _tape_of(backup_set: BackupSet) -> Tape:
    return Tape.objects.get(segments__backup_set=backup_set)


def test_a_new_set_protects_its_tape_with_no_end_date_under_a_count_policy(backup):
    first = backup()
    tape = _tape_of(first)
    assert tape.is_protected and tape.protected_until > timezone.now() + dt.timedelta(days=3650)
    report = retention_run(context=JobContext())
    assert report.count("expire") == 0
    first.refresh_from_db()
    assert first.expires_at is None and first.expired_at is None
    assert "last complete full" in first.kept_because


def test_dry_run_and_real_run_agree(backup):
    sets = [backup() for _ in range(4)]
    dry = retention_run(context=JobContext(), dry_run=True)
    assert BackupSet.objects.filter(expired_at__isnull=False).count() == 0  # nothing changed
    real = retention_run(context=JobContext())
    assert [a.key() for a in dry.actions] == [a.key() for a in real.applied]
    assert dry.as_dict()["actions"] == real.as_dict()["actions"]
    expired = set(BackupSet.objects.filter(expired_at__isnull=False).values_list("pk", flat=True))
    assert expired == {sets[0].pk, sets[1].pk}
    assert {a.set_id for a in dry.actions if a.kind == "expire"} == expired
    # a second run has nothing left to do
    assert retention_run(context=JobContext(), dry_run=True).actions == []


def test_late_recycling_keeps_data_and_catalog_until_the_tape_is_overwritten(backup):
    old, *_ = [backup() for _ in range(3)]
    tape = _tape_of(old)
    rows = CatalogEntry.objects.filter(backup_set=old).count()
    assert rows > 0
    retention_run(context=JobContext())
    old.refresh_from_db()
    tape.refresh_from_db()
    assert old.expired_at is not None and "last 2" in old.expiry_reason
    assert tape.is_scratch and tape.status == Tape.Status.WRITABLE and not tape.is_protected
    assert CatalogEntry.objects.filter(backup_set=old).count() == rows  # still findable
    actions = set(AuditRecord.objects.filter(tape=tape).values_list("action", flat=True))
    assert {"protect", "recycle"} <= actions
    assert AuditRecord.objects.filter(subject_type="backup set", subject_id=old.pk,
                                      action="expire").exists()

    tape_label_in_library(tape=tape)  # the tape is written again: now its old rows go
    old.refresh_from_db()
    assert old.overwritten_at is not None
    assert CatalogEntry.objects.filter(backup_set=old).count() == 0
    assert AuditRecord.objects.filter(subject_id=old.pk, action="overwrite").exists()


def test_a_recycled_tape_is_relabelled_by_the_next_backup(backup):
    first, *_ = [backup() for _ in range(3)]
    retention_run(context=JobContext())
    recycled = _tape_of(first)
    assert recycled.is_scratch
    # take every other scratch tape out of service, so the engine must reuse this one
    Tape.objects.filter(pool__isnull=True).exclude(pk=recycled.pk).update(
        status=Tape.Status.RETIRED)
    newest = backup()
    assert _tape_of(newest) == recycled
    first.refresh_from_db()
    assert first.overwritten_at is not None
    assert not CatalogEntry.objects.filter(backup_set=first).exists()
    assert CatalogEntry.objects.filter(backup_set=newest).exists()


def test_retention_command_dry_run_and_json(backup, capsys):
    for _ in range(3):
        backup()
    call_command("retention", "run", "--dry-run")
    out = capsys.readouterr().out
    assert "Would: backup set #" in out and "(dry run)" in out
    assert "What expires in the next 90 days" in out
    call_command("retention", "run", "--json")
    out = capsys.readouterr().out
    assert '"dry_run": false' in out and '"kind": "expire"' in out
    call_command("retention", "preview", "--job", "home")
    assert "What expires" in capsys.readouterr().out


def test_protection_never_drops_below_what_a_kept_set_needs(backup):
    kept = backup()
    tape = _tape_of(kept)
    Tape.objects.filter(pk=tape.pk).update(protected_until=None)  # someone broke it
    retention_run(context=JobContext())
    tape.refresh_from_db()
    assert tape.protected_until == FOREVER
