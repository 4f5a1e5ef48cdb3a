"""Tape end of life: past a limit a tape is retired (audited), never written again, still
readable; the retention check retires worn tapes too."""

from __future__ import annotations

from backups.context import JobContext
from backups.retention import retention_run
from tapes.media import ProtectedTape, tape_label_in_library, tape_load, tape_unload
from tapes.lifecycle import tape_wear_reasons
from tapes.models import AuditRecord, MediaType, Tape

import pytest


def test_a_tape_at_its_load_limit_is_retired_at_unload_and_never_written(library, drive):
    MediaType.objects.filter(name="LTO-8").update(max_loads=2)
    tape = Tape.objects.filter(library=library, media_type__name="LTO-8").order_by("barcode").first()
    for _ in range(2):
        tape_load(tape=tape, drive=drive)
        tape_unload(drive=drive)
    tape.refresh_from_db()
    assert tape.status == Tape.Status.RETIRED
    record = AuditRecord.objects.get(tape=tape, action="retire")
    assert "loaded 2 times (limit 2)" in record.message and record.user is None
    with pytest.raises(ProtectedTape, match="retired and is never written again"):
        tape_label_in_library(tape=tape)
    tape_load(tape=tape, drive=drive)  # reading stays possible
    tape.refresh_from_db()
    assert tape.drive == drive


def test_full_passes_age_and_errors_count(library):
    tape = Tape.objects.filter(library=library).first()
    kind = tape.media_type
    Tape.objects.filter(pk=tape.pk).update(lifetime_bytes_written=kind.native_capacity * 250,
                                           write_errors=5)
    tape.refresh_from_db()
    reasons = tape_wear_reasons(tape)
    assert any("full passes" in r for r in reasons) and any("write errors" in r for r in reasons)


def test_the_retention_check_retires_worn_tapes_and_allocation_skips_them(backup, library):
    Tape.objects.filter(library=library, media_type__name="LTO-8").update(read_errors=99)
    report = retention_run(context=JobContext())
    assert report.count("retire") == Tape.objects.filter(library=library,
                                                         media_type__name="LTO-8").count()
    from backups.errors import NeedsMedia

    with pytest.raises(NeedsMedia):
        backup()
