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
