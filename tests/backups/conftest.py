"""The backups cast: the shared engine cast of tests/conftest.py (library ``lab``: 2 drives,
8 slots, 2 mail slots, 6 blank 16 MiB cartridges; pool ``daily`` with 64 KiB records).

Only the hardware is replaced, by the virtual tape library; the engine runs for real.
"""

from tests.conftest import MiB, tape_file  # noqa: F401  (tests import them from here)

CAPACITY = 16 * MiB
RECORD = 64 * 1024
