"""The label and clean job kinds run their services in the drive the run reserved."""

from __future__ import annotations

import pytest

from scheduling.models import JobRun
from scheduling.runner import execute_run
from scheduling.services import run_enqueue
from tapes.models import Drive, Tape

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(vtl_root):
    from tapes.vtl import vtl_create

    return vtl_create(name="lab", drives=2, slots=4, mailslots=1, tapes=2, capacity=8 << 20)


def test_a_label_run_labels_its_tapes_in_the_reserved_drive(lab):
    run = run_enqueue(kind="label", params={"barcodes": ["LA0001L8", "LA0002L8"]})
    assert execute_run(run.pk) == JobRun.State.SUCCEEDED
    run.refresh_from_db()
    assert run.result == "Labelled 2 tape(s).", run.log
    assert set(Tape.objects.values_list("status", flat=True)) == {Tape.Status.WRITABLE}
    used = {m.drive_index for m in Tape.objects.get(barcode="LA0001L8").moves.all()
            if m.drive_index is not None}
    assert used == {run.drive.index}


def test_a_label_run_for_an_unknown_tape_fails_with_one_sentence(lab):
    run = run_enqueue(kind="label", params={"barcodes": ["ZZ0001L8"]})
    assert execute_run(run.pk) == JobRun.State.FAILED
    run.refresh_from_db()
    assert run.error == "There is no tape with barcode 'ZZ0001L8' in the inventory."


def test_a_clean_run_cleans_the_drive_it_names(lab):
    from tapes.media import library_inventory, virtual_library

    disk = virtual_library(lab)
    disk.create_cleaning_cartridge("CLN001CU", uses=3)
    library_inventory(library=lab)
    uses = Tape.objects.get(barcode="CLN001CU").cleaning_uses_left  # a new one's, as found
    drive = Drive.objects.get(library=lab, index=1)
    Drive.objects.filter(pk=drive.pk).update(cleaning_requested=True)
    run = run_enqueue(kind="clean", params={"drive_id": drive.pk})
    assert run.drive_id == drive.pk
    assert execute_run(run.pk) == JobRun.State.SUCCEEDED, JobRun.objects.get(pk=run.pk).log
    drive.refresh_from_db()
    assert not drive.cleaning_requested and drive.last_cleaned_at is not None
    assert Tape.objects.get(barcode="CLN001CU").cleaning_uses_left == uses - 1


def test_a_clean_run_without_a_cleaning_cartridge_fails_saying_so(lab):
    drive = Drive.objects.get(library=lab, index=0)
    run = run_enqueue(kind="clean", params={"drive_id": drive.pk})
    assert execute_run(run.pk) == JobRun.State.FAILED
    assert "No cleaning cartridge is in library lab." in JobRun.objects.get(pk=run.pk).error


def test_a_verify_run_gets_a_drive_in_the_library_that_holds_its_tape(lab, vtl_root):
    from tapes.vtl import vtl_create

    vtl_create(name="aaa", drives=1, slots=2, mailslots=0, tapes=1, capacity=8 << 20)
    tape = Tape.objects.get(barcode="LA0002L8")  # in library "lab", listed after "aaa"
    run = run_enqueue(kind="verify", params={"tape": tape.barcode, "level": "quick"})
    assert run.drive is not None and run.drive.library.name == "lab"
