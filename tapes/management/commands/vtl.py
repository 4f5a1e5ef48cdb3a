"""``vtl create NAME …`` and ``vtl status NAME``: the virtual tape library."""

from tapes.management.commands._base import SubcommandCommand
from tapes.media import virtual_library
from tapes.models import Library
from tapes.services import InventoryError
from tapes.vtl import vtl_create


def size(text: str) -> int:
    """'2G', '512M', '100000' → bytes (powers of 1024), with one sentence for nonsense."""
    import argparse

    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (write e.g. 800M or 2G).") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (write e.g. 800M or 2G).")
    return value


class Command(SubcommandCommand):
    help = "Create and show virtual tape libraries."
    subcommands = {"create": "create a virtual library on disk and in the inventory",
                   "status": "show slots and drives as mtx status does"}

    def arguments_create(self, parser):
        parser.add_argument("name")
        parser.add_argument("--drives", type=int, default=2)
        parser.add_argument("--slots", type=int, default=24)
        parser.add_argument("--mailslots", type=int, default=2)
        parser.add_argument("--tapes", type=int, default=20)
        parser.add_argument("--media", default="LTO-8")
        parser.add_argument("--capacity", type=size, default=size("1G"),
                            help="capacity of each virtual cartridge, e.g. 800M or 2G")

    def arguments_status(self, parser):
        parser.add_argument("name")

    def handle_create(self, *, name, drives, slots, mailslots, tapes, media, capacity, **_):
        library = vtl_create(name=name, drives=drives, slots=slots, mailslots=mailslots,
                             tapes=tapes, media=media, capacity=capacity)
        self.stdout.write(f"Created virtual library {library.name}: {drives} drives, {slots} "
                          f"slots, {mailslots} mail slots, {tapes} {media} cartridges.")

    def handle_status(self, *, name, **_):
        library = Library.objects.filter(name=name, kind=Library.Kind.VIRTUAL).first()
        if library is None:
            raise InventoryError(f"There is no virtual library named {name!r}.")
        self.stdout.write(virtual_library(library).mtx_status_text().rstrip("\n"))
