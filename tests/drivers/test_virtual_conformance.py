"""The drive-conformance suite on the virtual drive."""

from __future__ import annotations

import pytest

from tapes.drivers.virtual import VirtualTapeDrive

from .conformance import DriveConformance


class TestVirtualConformance(DriveConformance):
    @pytest.fixture
    def drive(self, virtual_drive: VirtualTapeDrive) -> VirtualTapeDrive:
        return virtual_drive
