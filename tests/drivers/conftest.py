"""Fixtures for the drivers suite: a small virtual library and a drive with a fresh cartridge.

Capacities are a few MiB and records small so that the whole suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tapes.drivers.virtual import VirtualLibrary, VirtualTapeDrive

MiB = 1 << 20
TEST_CAPACITY = 4 * MiB
TEST_EARLY_WARNING = 1 * MiB


@pytest.fixture
def vtl_root(tmp_path: Path) -> Path:
    return tmp_path / "vtl"


@pytest.fixture
def library(vtl_root: Path) -> VirtualLibrary:
    """2 drives, 8 storage slots, 2 mail slots, 6 cartridges of 4 MiB (EW 1 MiB before end)."""
    return VirtualLibrary.create(
        vtl_root, "lab", drives=2, slots=8, mailslots=2, tapes=6,
        capacity=TEST_CAPACITY, early_warning=TEST_EARLY_WARNING,
    )


@pytest.fixture
def virtual_drive(library: VirtualLibrary) -> Iterator[VirtualTapeDrive]:
    """Drive 0 with the blank cartridge from slot 1 loaded, at BOT."""
    library.changer().load(1, 0)
    drive = library.drive(0)
    yield drive
    drive.close()
