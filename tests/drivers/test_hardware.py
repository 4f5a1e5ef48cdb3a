"""The drive-conformance suite on a real drive: set TAPEBACKUP_TEST_DEVICE=/dev/nstN.

DESTROYS the data on the loaded cartridge. Skipped unless the variable is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tapes.drivers.st import LinuxTapeDrive

from .conformance import DriveConformance

DEVICE = os.environ.get("TAPEBACKUP_TEST_DEVICE")

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(not DEVICE, reason="TAPEBACKUP_TEST_DEVICE is not set"),
]


class TestHardwareConformance(DriveConformance):
    @pytest.fixture
    def drive(self) -> Iterator[LinuxTapeDrive]:
        drive = LinuxTapeDrive(DEVICE)
        if not drive.status().online:
            drive.close()
            pytest.skip(f"No tape ready in {DEVICE}.")
        drive.rewind()
        yield drive
        drive.close()
