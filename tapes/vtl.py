"""Services for the virtual tape library: create one on disk and in the inventory at once."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from tapes.drivers.base import TapeError
from tapes.models import Library, MediaType
from tapes.services import InventoryError, library_create, tape_create

DEFAULT_CAPACITY = 1024**3  # 1 GiB: room for demos; files grow only as far as written


def vtl_create(*, name: str, drives: int = 2, slots: int = 24, mailslots: int = 2,
               tapes: int = 20, media: str = "LTO-8", capacity: int = DEFAULT_CAPACITY,
               node: str | None = None) -> Library:
    """Create a virtual library on disk and register it, its drives, slots and tapes."""
    from tapes.drivers.virtual import VirtualLibrary

    media_type = MediaType.objects.filter(name=media).first()
    if media_type is None or media_type.is_cleaning:
        raise InventoryError(f"There is no data media type named {media!r}.")
    if Library.objects.filter(name=name).exists():
        raise InventoryError(f"A library named {name!r} already exists.")
    try:
        vlib = VirtualLibrary.create(
            settings.VTL_ROOT, name, drives=drives, slots=slots, mailslots=mailslots,
            tapes=tapes, media_suffix=media_type.barcode_suffix, capacity=capacity,
        )
    except TapeError as exc:
        raise InventoryError(str(exc)) from None
    with transaction.atomic():
        library = library_create(
            name=name, kind=Library.Kind.VIRTUAL, device_path=str(vlib.path), drives=drives,
            slots=slots, mailslots=mailslots, node=node or settings.TAPEBACKUP_NODE, media=media,
        )
        for element in vlib.changer().status().slots:
            if element.full and element.barcode:
                tape_create(barcode=element.barcode, library=library, slot_number=element.number,
                            reason="created with the virtual library")
    return library
