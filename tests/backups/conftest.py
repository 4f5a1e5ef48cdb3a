"""The backups cast: a small virtual library (16 MiB cartridges), a pool, and a job factory.

Only the hardware is replaced, by the virtual tape library; the engine runs for real.
"""

from __future__ import annotations

import os

import pytest

from backups.models import BackupJob
from tapes.models import Drive, MediaPool, MediaType

MiB = 1 << 20
CAPACITY = 16 * MiB
RECORD = 64 * 1024


@pytest.fixture
def library(db, vtl_root):
    """Library ``lab``: 2 drives, 8 slots, 2 mail slots, 6 blank 16 MiB cartridges."""
    from tapes.vtl import vtl_create

    return vtl_create(name="lab", drives=2, slots=8, mailslots=2, tapes=6, capacity=CAPACITY)


@pytest.fixture
def vlib(library, vtl_root):
    """The library on disk (faults, cartridge files)."""
    from tapes.drivers.virtual import VirtualLibrary

    return VirtualLibrary.open(vtl_root, library.name)


@pytest.fixture
def drive(library) -> Drive:
    return Drive.objects.get(library=library, index=0)


@pytest.fixture
def pool(db) -> MediaPool:
    return MediaPool.objects.create(name="daily", record_size=RECORD,
                                    media_type=MediaType.objects.get(name="LTO-8"))


@pytest.fixture
def make_job(pool):
    def make(source, name="home", **fields) -> BackupJob:
        sources = [os.fsdecode(s) for s in (source if isinstance(source, list) else [source])]
        return BackupJob.objects.create(name=name, sources=sources, pool=pool, **fields)

    return make


def tape_file(vlib, barcode: str, number: int):
    """The tape file's bytes on disk, as `tar -f /dev/nst0` would read them."""
    return vlib.cartridge_path(barcode) / "files" / f"{number:06d}.tape"
