"""LTO barcodes: six volume-serial characters and a two-character media identifier.

Plain Python (no Django) so the drivers, the inventory and an offline tool agree on what a
barcode is (reference/tape-devices.md §4.1).
"""

from __future__ import annotations

import re

BARCODE_RE = re.compile(r"^[A-Z0-9]{6}[A-Z0-9]{2}$")
CLEANING_PREFIX = "CLN"


class BarcodeError(ValueError):
    """A barcode that is not an LTO barcode; ``str()`` is one sentence for the operator."""


def split_barcode(barcode: str) -> tuple[str, str]:
    """Return (volume serial, media suffix) or raise BarcodeError saying what is wrong."""
    if len(barcode) != 8:
        raise BarcodeError(
            f"Barcode {barcode!r} has {len(barcode)} characters; an LTO barcode has 8 "
            "(6 for the volume serial and 2 for the media type, e.g. A00017L8)."
        )
    if not BARCODE_RE.match(barcode):
        raise BarcodeError(
            f"Barcode {barcode!r} may only contain capital letters A-Z and digits 0-9."
        )
    return barcode[:6], barcode[6:]


def is_cleaning(barcode: str) -> bool:
    return barcode.startswith(CLEANING_PREFIX)
