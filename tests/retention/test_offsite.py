"""Off-site rotation end to end on the virtual library: more tapes than mail slots leave in
batches, reach the vault, are recalled when their sets expired, come back through the mail
slots and are found by the inventory — every move in the history."""

from __future__ import annotations

from django.core.management import call_command

from backups.context import JobContext
from backups.retention import retention_run
from tapes.media import library_inventory
from tapes.models import PickList, Tape, TapeLocation


def _take_out_of_mail_slots(vlib) -> list[str]:
    return [vlib.remove_from_mailslot(n) for n in vlib.mailslot_numbers
            if vlib.changer().status().slot(n).full]


def test_send_to_the_vault_recall_and_import(backup, library, vlib, capsys):
    sets = [backup() for _ in range(5)]  # ALWAYS: one tape per set, 5 > 3 mail slots
    written = sorted(Tape.objects.filter(segments__backup_set__in=sets).values_list(
        "barcode", flat=True))
    assert len(written) == 5
    call_command("offsite", "vault", "iron-mountain", "--address", "1 Vault Road")
    call_command("offsite", "plan", "--vault", "iron-mountain", "--pool", "nightly")
    text = capsys.readouterr().out
    assert "PICK LIST #" in text and "Destination: vault iron-mountain" in text
    assert all(b in text for b in written) and "Date: " in text
    picklist = PickList.objects.get()

    call_command("offsite", "export", str(picklist.pk))
    assert "2 more wait for free mail slots" in capsys.readouterr().out
    first = _take_out_of_mail_slots(vlib)
    assert len(first) == 3
    call_command("offsite", "ship", str(picklist.pk))
    assert Tape.objects.filter(place=Tape.Place.TRANSIT).count() == 3
    call_command("offsite", "export", str(picklist.pk))
    assert "more wait" not in capsys.readouterr().out
    assert len(_take_out_of_mail_slots(vlib)) == 2
    call_command("offsite", "ship", str(picklist.pk))
    picklist.refresh_from_db()
    assert picklist.state == PickList.State.TRANSIT
    call_command("offsite", "arrive", str(picklist.pk))
    picklist.refresh_from_db()
    assert picklist.state == PickList.State.DONE
    assert set(Tape.objects.filter(place=Tape.Place.VAULT, vault="iron-mountain")
               .values_list("barcode", flat=True)) == set(written)

    # Three sets expire (keep the last 2); their tapes are recycled while in the vault.
    retention_run(context=JobContext())
    capsys.readouterr()
    call_command("offsite", "report", "--unverified-days", "30")
    report = capsys.readouterr().out
    assert "Vault iron-mountain: 5 tape(s)" in report and "Due back" in report
    call_command("offsite", "recall", "--vault", "iron-mountain", "--expired",
                 "--library", "ret")
    recall_text = capsys.readouterr().out
    recall = PickList.objects.get(kind=PickList.Kind.RECALL)
    back = sorted(recall.tapes.values_list("barcode", flat=True))
    assert len(back) == 3 and all(b in recall_text for b in back)
    assert all(Tape.objects.get(barcode=b).is_scratch for b in back)

    call_command("offsite", "ship", str(recall.pk))
    assert Tape.objects.filter(barcode__in=back, place=Tape.Place.TRANSIT).count() == 3
    for barcode in back:  # the courier hands them in at the mail slots
        vlib.insert_into_mailslot(barcode)
    call_command("offsite", "import", str(recall.pk), "--library", "ret")
    recall.refresh_from_db()
    assert recall.state == PickList.State.DONE
    report = library_inventory(library=library)
    assert not report.appeared and not report.problems
    for barcode in back:
        tape = Tape.objects.get(barcode=barcode)
        assert tape.place == Tape.Place.LIBRARY and tape.slot.kind == "storage"
        places = list(TapeLocation.objects.filter(tape=tape).order_by("at", "id")
                      .values_list("place", "mail_slot"))
        # library slot … mail slot, shelf (taken out), transit, vault, transit, back in a slot
        assert ("library", True) in places
        tail = [p for p, _ in places]
        assert tail[-4:-1] == ["transit", "vault", "transit"] or "vault" in tail
        assert tail[-1] == "library"

    # a recall for a restore: the tapes of a kept set still in the vault
    kept = sets[-1]
    call_command("offsite", "recall", "--vault", "iron-mountain", "--set", str(kept.pk))
    assert Tape.objects.get(segments__backup_set=kept).barcode in capsys.readouterr().out
