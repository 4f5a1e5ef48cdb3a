"""Labels: written on tape file 0, checked before every write, refused on kept or foreign
tapes — in the service that writes, whoever calls it."""

import datetime as dt
import io
import tarfile

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tapes.format.label import read_label
from tapes.media import (
    ProtectedTape, WrongTape, label_verify, open_drive, tape_label, tape_label_in_library,
    tape_load,
)
from tapes.models import Drive, MediaPool, Tape


def test_label_command_writes_file_zero(vlib, disk):
    pool = MediaPool.objects.create(name="weekly")
    call_command("tape", "label", "TL0001L8", "--pool", "weekly")
    tape = Tape.objects.get(barcode="TL0001L8")
    assert tape.status == Tape.Status.WRITABLE and tape.pool == pool and tape.label_written_at
    assert tape.slot.number == 1  # back in its slot
    from tapes.drivers.virtual import VirtualTapeDrive

    with VirtualTapeDrive.for_cartridge(disk.cartridge_path("TL0001L8")) as handle:
        label = read_label(handle)
    assert label.barcode == "TL0001L8" and label.pool == "weekly"


def test_label_all_new_labels_every_new_tape(vlib):
    call_command("tape", "label", "--all-new", "--library", "tl")
    assert set(Tape.objects.values_list("status", flat=True)) == {Tape.Status.WRITABLE}


def test_a_protected_tape_is_never_relabelled(vlib):
    tape = Tape.objects.get(barcode="TL0001L8")
    Tape.objects.filter(pk=tape.pk).update(protected_until=timezone.now() + dt.timedelta(days=3))
    with pytest.raises(CommandError, match="holds backup data kept until"):
        call_command("tape", "label", "TL0001L8")
    drive = Drive.objects.get(library=vlib, index=0)
    tape_load(tape=tape, drive=drive)
    with open_drive(drive) as handle, pytest.raises(ProtectedTape):
        tape_label(tape=tape, handle=handle)  # the service refuses too, not only the command


def _write_foreign_archive(drive):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        data = b"someone else's backup"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    record = buffer.getvalue().ljust(256 * 1024, b"\0")
    with open_drive(drive) as handle:
        handle.write_record(record)
        handle.write_filemarks(1)


def test_a_foreign_tape_needs_force_foreign(vlib):
    tape = Tape.objects.get(barcode="TL0003L8")
    drive = Drive.objects.get(library=vlib, index=1)
    tape_load(tape=tape, drive=drive)
    _write_foreign_archive(drive)
    with pytest.raises(CommandError, match="foreign label.*--force-foreign"):
        call_command("tape", "label", "TL0003L8")
    call_command("tape", "label", "TL0003L8", "--force-foreign")
    assert Tape.objects.get(pk=tape.pk).status == Tape.Status.WRITABLE


def test_label_verify_refuses_a_swapped_cartridge(vlib, disk):
    one, two = Tape.objects.get(barcode="TL0001L8"), Tape.objects.get(barcode="TL0002L8")
    tape_label_in_library(tape=one)
    tape_label_in_library(tape=two)
    drive = Drive.objects.get(library=vlib, index=0)
    tape_load(tape=one, drive=drive)
    with open_drive(drive) as handle:
        assert label_verify(handle=handle, tape=one).barcode == "TL0001L8"
        with pytest.raises(WrongTape, match="labelled TL0001L8, not TL0002L8"):
            label_verify(handle=handle, tape=two)


def test_label_verify_refuses_a_blank_tape(vlib):
    tape = Tape.objects.get(barcode="TL0004L8")
    drive = Drive.objects.get(library=vlib, index=0)
    tape_load(tape=tape, drive=drive)
    with open_drive(drive) as handle, pytest.raises(WrongTape, match="blank"):
        label_verify(handle=handle, tape=tape)
