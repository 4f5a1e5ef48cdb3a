"""The test cast: a small named set of users (one per role) and a small library.

Only the hardware boundary is replaced, and by the virtual tape library (never by mocks of
our own code).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from tapes.roles import ADMINISTRATORS, OPERATORS, VIEWERS


def _user(username: str, group: str, **extra) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True, **extra)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def vic(db) -> User:
    """Vic the viewer: may look at everything, change nothing."""
    return _user("vic", VIEWERS)


@pytest.fixture
def olga(db) -> User:
    """Olga the operator: runs jobs, moves and labels tapes, restores."""
    return _user("olga", OPERATORS)


@pytest.fixture
def ada(db) -> User:
    """Ada the administrator: everything, including policies and users."""
    return _user("ada", ADMINISTRATORS, is_superuser=True)


@pytest.fixture
def vtl_root(tmp_path, settings):
    """Virtual libraries of this test live in its own temporary directory."""
    settings.VTL_ROOT = tmp_path / "vtl"
    return settings.VTL_ROOT


@pytest.fixture
def inventory_library(db):
    """A library known to the inventory only (no virtual tapes on disk): 2 drives, 6 slots,
    1 mail slot, tapes TST001L8..TST004L8 in slots 1-4."""
    from tapes.services import library_create, tape_create

    library = library_create(name="lib1", drives=2, slots=6, mailslots=1)
    for n in range(1, 5):
        tape_create(barcode=f"TST00{n}L8", library=library, slot_number=n)
    return library


# -- the engine cast: a small virtual library on disk, a pool, jobs, real backups ----------
# Test packages that write real sets (backups, restore, retention) share these fixtures and
# override only ``library_spec`` / ``pool_spec`` to get the library and pool they need.

MiB = 1 << 20


@pytest.fixture
def library_spec() -> dict:
    """The ``library`` fixture's arguments to ``vtl_create``."""
    return dict(name="lab", drives=2, slots=8, mailslots=2, tapes=6, capacity=16 * MiB)


@pytest.fixture
def library(db, vtl_root, library_spec):
    from tapes.vtl import vtl_create

    return vtl_create(**library_spec)


@pytest.fixture
def vlib(library, vtl_root):
    """The library as the virtual tape library sees it on disk (faults, cartridge files)."""
    from tapes.drivers.virtual import VirtualLibrary

    return VirtualLibrary.open(vtl_root, library.name)


@pytest.fixture
def drive(library):
    from tapes.models import Drive

    return Drive.objects.get(library=library, index=0)


@pytest.fixture
def pool_spec() -> dict:
    return dict(name="daily", record_size=64 * 1024)


@pytest.fixture
def pool(db, pool_spec):
    from tapes.models import MediaPool, MediaType

    return MediaPool.objects.create(media_type=MediaType.objects.get(name="LTO-8"), **pool_spec)


@pytest.fixture
def make_job(pool):
    """``make_job(source_or_sources, name="home", **fields)`` → a BackupJob in ``pool``."""
    import os

    from backups.models import BackupJob

    def make(source, name="home", **fields):
        sources = [os.fsdecode(s) for s in (source if isinstance(source, list) else [source])]
        return BackupJob.objects.create(name=name, sources=sources, pool=pool, **fields)

    return make


def tape_file(vlib, barcode: str, number: int):
    """A tape file's bytes on disk, exactly what ``tar -f /dev/nst0`` reads from it."""
    return vlib.cartridge_path(barcode) / "files" / f"{number:06d}.tape"
