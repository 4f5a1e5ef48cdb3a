"""``library inventory NAME`` and ``library import NAME``."""

from tapes.management.commands._base import SubcommandCommand
from tapes.media import library_import, library_inventory
from tapes.services import library_get




class Command(SubcommandCommand):
    help = "Read a library's changer and reconcile the inventory; import tapes from mail slots."
    subcommands = {"inventory": "read the changer and update slots and tapes",
                   "import": "move tapes from the mail slots into free storage slots"}

    def arguments_inventory(self, parser):
        parser.add_argument("name")

    arguments_import = arguments_inventory

    def handle_inventory(self, *, name, **_):
        report = library_inventory(library=library_get(name))
        self.stdout.write(f"Inventory of {name}: {report.summary()}.")
        for label, barcodes in (("New", report.appeared), ("Moved", report.moved),
                                ("Gone", report.left)):
            if barcodes:
                self.stdout.write(f"  {label}: {', '.join(barcodes)}")
        for problem in report.problems:
            self.stderr.write(f"  Problem: {problem}")

    def handle_import(self, *, name, **_):
        imported = library_import(library=library_get(name))
        self.stdout.write(f"Imported {len(imported)} tape(s)" +
                          (f": {', '.join(imported)}." if imported else "."))
