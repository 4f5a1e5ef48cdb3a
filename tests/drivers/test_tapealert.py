"""TapeAlert: flag classes, the sg_logs parser on recorded output, the optional reader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tapes.drivers.tapealert import (
    TapeAlertFlag,
    critical_flags,
    describe,
    parse_sg_logs_tapealert,
    read_tapealert_flags,
)

SAMPLE = (Path(__file__).parent / "fixtures" / "sg_logs-tapealert.txt").read_text()


def test_parse_recorded_output() -> None:
    assert parse_sg_logs_tapealert(SAMPLE) == (0x05, 0x14)


def test_reserved_lines_keep_the_numbering() -> None:
    text = SAMPLE.replace("  Reserved (2dh): 0", "  Reserved (2dh): 1")
    text = text.replace("  Lost statistics: 0", "  Lost statistics: 1")
    assert parse_sg_logs_tapealert(text) == (0x05, 0x14, 0x2D, 0x32)


def test_not_tapealert_output() -> None:
    with pytest.raises(ValueError):
        parse_sg_logs_tapealert("Supported log pages [0x0]:\n")


def test_flag_classes() -> None:
    assert TapeAlertFlag(0x05).critical and TapeAlertFlag(0x05).name == "Read failure"
    assert TapeAlertFlag(0x14).cleaning and not TapeAlertFlag(0x14).critical
    assert TapeAlertFlag(0x13).media_life
    assert critical_flags((0x01, 0x05, 0x16)) == (0x05, 0x16)
    assert describe((0x14,)) == "The drive reports TapeAlert 14h: Cleaning required."


def test_reader_returns_none_without_sg_logs() -> None:
    assert read_tapealert_flags("/dev/sg1", which=lambda name: None) is None


def test_reader_runs_sg_logs() -> None:
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, SAMPLE, "")

    flags = read_tapealert_flags("/dev/sg1", run=run, which=lambda name: "/usr/bin/sg_logs")
    assert flags == (0x05, 0x14)
    assert calls == [["/usr/bin/sg_logs", "-p", "0x2e", "/dev/sg1"]]


def test_reader_returns_none_on_failure() -> None:
    def run(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 99, "", "permission denied")

    assert read_tapealert_flags("/dev/sg1", run=run, which=lambda n: "/x/sg_logs") is None
