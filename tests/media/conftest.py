import pytest

from tapes.vtl import vtl_create


@pytest.fixture
def vlib(vtl_root, db):
    """A small virtual library "tl": 2 drives, 6 slots, 2 mail slots, 4 LTO-8 cartridges of
    8 MiB (TL0001L8 … TL0004L8) on disk and in the inventory."""
    return vtl_create(name="tl", drives=2, slots=6, mailslots=2, tapes=4, capacity=8 * 1024**2)


@pytest.fixture
def disk(vlib):
    """The same library as the virtual tape library sees it on disk."""
    from tapes.media import virtual_library

    return virtual_library(vlib)
