"""The ``mtx status`` parser against recorded outputs, and MtxChanger's commands and errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tapes.drivers.base import ChangerError
from tapes.drivers.mtx import MtxChanger, mtx_error_sentence, parse_mtx_status

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize(
    ("name", "loaded"),
    [
        ("mtx-status-empty.txt", [None, None]),
        ("mtx-status-notloaded.txt", [None, None]),
        ("mtx-status-loaded1.txt", [2, None]),
        ("mtx-status-loaded2.txt", [None, 6]),
        ("mtx-status-loadedboth.txt", [3, 4]),
        ("mtx-status-impexp.txt", [None, None]),
    ],
)
def test_bareos_fixtures(name: str, loaded: list[int | None]) -> None:
    status = parse_mtx_status(fixture(name))
    assert len(status.drives) == 2 and len(status.slots) == 24
    assert [d.source_slot for d in status.drives] == loaded
    for drive in status.drives:
        expected = f"{drive.source_slot:06d}L8" if drive.source_slot else None
        assert drive.barcode == expected  # trailing spaces stripped
    assert [s.number for s in status.slots if s.mail_slot] == [21, 22, 23, 24]


def test_loaded_slot_is_empty_and_tags_are_stripped() -> None:
    status = parse_mtx_status(fixture("mtx-status-loaded1.txt"))
    assert not status.slot(2).full
    assert status.slot(1).barcode == "000001L8"
    assert status.find("000002L8") == status.drives[0]


def test_impexp_fixture_has_full_mail_slots() -> None:
    status = parse_mtx_status(fixture("mtx-status-impexp.txt"))
    assert [s.number for s in status.slots if s.mail_slot and s.full] == [21, 23]
    assert status.slot(21).barcode == "000021L8"


def test_pbs_sample_unknown_source_tagless_alternate_and_cleaning() -> None:
    status = parse_mtx_status(fixture("mtx-status-pbs.txt"))
    first, second = status.drives
    assert first.full and first.source_slot is None and first.barcode == "A00001L8"
    assert second.source_slot == 3 and second.barcode == "A00003L8"
    assert status.slot(1).barcode == "CLN002CU"
    assert status.slot(2).full and status.slot(2).barcode is None
    assert status.slot(4).barcode == "A00004L8"
    assert status.slot(6).barcode == "A00006L8"
    assert status.slot(7).mail_slot and status.slot(7).barcode == "A00007L8"


def test_unparsed_line_raises_with_the_line() -> None:
    text = fixture("mtx-status-empty.txt") + "Something odd\n"
    with pytest.raises(ChangerError, match="Something odd"):
        parse_mtx_status(text)


def test_truncated_output_raises() -> None:
    text = "\n".join(fixture("mtx-status-empty.txt").splitlines()[:10])
    with pytest.raises(ChangerError, match="announced 2 drives and 24 slots"):
        parse_mtx_status(text)


@pytest.mark.parametrize(
    ("output", "sentence"),
    [
        ("Drive 0 Full (Storage Element 5 loaded)", "Drive 0 already holds the cartridge "
         "from slot 5."),
        ("Storage Element 7 is Already Full", "Slot 7 is already full."),
        ("Data Transfer Element 1 is Empty", "Drive 1 is empty."),
        ("mtx: Request Sense: ...\nDrive needs offline before move",
         "The drive needs offline before move: eject the tape first."),
        ("weird failure\n", "mtx failed: weird failure."),
    ],
)
def test_error_sentences(output: str, sentence: str) -> None:
    assert mtx_error_sentence(output) == sentence


class RecordedRun:
    """Stands in for subprocess.run: records argv, answers with prepared outputs."""

    def __init__(self, *answers: tuple[int, str, str]):
        self.calls: list[list[str]] = []
        self.answers = list(answers)

    def __call__(self, argv, **kwargs) -> subprocess.CompletedProcess:
        self.calls.append(list(argv))
        code, out, err = self.answers.pop(0) if self.answers else (0, "", "")
        return subprocess.CompletedProcess(argv, code, out, err)


def test_changer_commands() -> None:
    run = RecordedRun((0, fixture("mtx-status-loaded1.txt"), ""))
    changer = MtxChanger("/dev/sg5", run=run)
    assert changer.status().drives[0].barcode == "000002L8"
    changer.load(3, 1)
    changer.transfer(4, 21)
    changer.unload(1, 3)
    assert run.calls == [
        ["mtx", "-f", "/dev/sg5", "status"],
        ["mtx", "-f", "/dev/sg5", "load", "3", "1"],
        ["mtx", "-f", "/dev/sg5", "transfer", "4", "21"],
        ["mtx", "-f", "/dev/sg5", "unload", "3", "1"],
    ]


def test_unload_without_slot_uses_the_source_slot() -> None:
    run = RecordedRun((0, fixture("mtx-status-loaded1.txt"), ""))
    MtxChanger("/dev/sg5", run=run).unload(0)
    assert run.calls[-1] == ["mtx", "-f", "/dev/sg5", "unload", "2", "0"]


def test_failed_command_raises_the_sentence() -> None:
    run = RecordedRun((1, "", "Storage Element 7 is Already Full\n"))
    with pytest.raises(ChangerError, match="^Slot 7 is already full.$"):
        MtxChanger("/dev/sg5", run=run).transfer(1, 7)


def test_missing_mtx_binary() -> None:
    def run(*args, **kwargs):
        raise FileNotFoundError("mtx")

    with pytest.raises(ChangerError, match="not installed"):
        MtxChanger("/dev/sg5", run=run).status()
