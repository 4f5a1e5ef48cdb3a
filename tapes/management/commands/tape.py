"""``tape list|label|load|unload|status|export``: operate on cartridges."""

from django.db.models import Q

from tapes.management.commands._base import SubcommandCommand
from tapes.media import (
    drive_status, free_drive_for, resolve_drive, tape_erase_in_library, tape_export,
    tape_label_in_library, tape_load, tape_unload,
)
from tapes.models import Library, MediaPool, Tape
from tapes.services import InventoryError, tape_get




def tape_row(tape: Tape) -> dict:
    return {
        "barcode": tape.barcode, "media_type": tape.media_type.name, "status": tape.status,
        "pool": tape.pool.name if tape.pool_id else None,
        "media_set": str(tape.media_set.uuid) if tape.media_set_id else None,
        "sequence": tape.sequence, "location": tape.location_text,
        "library": tape.library.name if tape.library_id else None,
        "slot": tape.slot.number if tape.slot_id else None,
        "drive": tape.drive.index if tape.drive_id else None,
        "bytes_written": tape.bytes_written, "write_protected": tape.write_protected,
        "protected_until": tape.protected_until.isoformat() if tape.protected_until else None,
        "label_written_at": tape.label_written_at.isoformat() if tape.label_written_at else None,
    }


class Command(SubcommandCommand):
    help = "List, label, load, unload and export tapes; show a drive's status."
    subcommands = {
        "list": "list tapes", "label": "write a new label on tapes",
        "load": "load a tape into a drive", "unload": "unload a drive",
        "status": "show a drive's status", "export": "move tapes to mail slots",
        "erase": "erase tapes (refused while they hold kept data)",
    }

    def arguments_erase(self, parser):
        parser.add_argument("barcodes", nargs="+")
        parser.add_argument("--no-input", action="store_true", help="do not ask to confirm")

    def handle_erase(self, *, barcodes, no_input, **_):
        tapes = [tape_get(b) for b in barcodes]
        if not no_input:
            answer = input(f"Erase {', '.join(barcodes)}? Everything on them is lost. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise InventoryError("Nothing was erased.")
        for tape in tapes:
            tape_erase_in_library(tape=tape)
            self.stdout.write(f"Erased {tape.barcode}; it is new scratch.")

    def arguments_list(self, parser):
        parser.add_argument("--pool", help="a pool name, or 'scratch'")
        parser.add_argument("--status", choices=Tape.Status.values)
        parser.add_argument("--library")
        parser.add_argument("--json", action="store_true")

    def arguments_label(self, parser):
        parser.add_argument("barcodes", nargs="*")
        parser.add_argument("--all-new", action="store_true", help="every new tape of --library")
        parser.add_argument("--library")
        parser.add_argument("--pool")
        parser.add_argument("--force-foreign", action="store_true",
                            help="overwrite a label written by another program or installation")

    def arguments_load(self, parser):
        parser.add_argument("barcode")
        parser.add_argument("--drive", help="LIBRARY:INDEX (default: a free drive)")

    def arguments_unload(self, parser):
        parser.add_argument("--drive", required=True, help="LIBRARY:INDEX")

    def arguments_status(self, parser):
        parser.add_argument("--drive", required=True, help="LIBRARY:INDEX")
        parser.add_argument("--json", action="store_true")

    def arguments_export(self, parser):
        parser.add_argument("barcodes", nargs="+")

    def handle_list(self, *, pool, status, library, json, **_):
        tapes = Tape.objects.select_related("media_type", "pool", "media_set", "library", "slot",
                                            "drive__library", "slot__library")
        if pool == "scratch":
            tapes = tapes.filter(pool__isnull=True)
        elif pool:
            tapes = tapes.filter(pool__name=pool)
        if status:
            tapes = tapes.filter(status=status)
        if library:
            tapes = tapes.filter(library__name=library)
        rows = [tape_row(t) for t in tapes]
        if json:
            return self.print_json(rows)
        self.stdout.write(f"{'BARCODE':9} {'TYPE':11} {'STATUS':9} {'POOL':12} LOCATION")
        for row in rows:
            self.stdout.write(f"{row['barcode']:9} {row['media_type']:11} {row['status']:9} "
                              f"{(row['pool'] or 'scratch'):12} {row['location']}")

    def handle_label(self, *, barcodes, all_new, library, pool, force_foreign, **_):
        tapes = self._tapes_to_label(barcodes, all_new, library)
        target = None
        if pool:
            target = MediaPool.objects.filter(name=pool).first()
            if target is None:
                raise InventoryError(f"There is no pool named {pool!r}.")
        for tape in tapes:
            tape_label_in_library(tape=tape, pool=target, force_foreign=force_foreign)
            self.stdout.write(f"Labelled {tape.barcode}" + (f" for pool {pool}." if pool else "."))
        self.stdout.write(f"{len(tapes)} tape(s) labelled.")

    def _tapes_to_label(self, barcodes, all_new, library) -> list[Tape]:
        if all_new == bool(barcodes):
            raise InventoryError("Name the tapes to label, or use --all-new --library NAME.")
        if barcodes:
            return [tape_get(b) for b in barcodes]
        lib = Library.objects.filter(name=library).first() if library else None
        if lib is None:
            raise InventoryError("--all-new needs --library NAME of an existing library.")
        return list(Tape.objects.filter(library=lib, status=Tape.Status.NEW)
                    .exclude(Q(media_type__kind="cleaning")).order_by("barcode"))

    def handle_load(self, *, barcode, drive, **_):
        tape = tape_get(barcode)
        target = resolve_drive(drive) if drive else free_drive_for(tape)
        tape_load(tape=tape, drive=target, reason="loaded by operator")
        self.stdout.write(f"Loaded {barcode} into {target}.")

    def handle_unload(self, *, drive, **_):
        target = resolve_drive(drive)
        tape = tape_unload(drive=target, reason="unloaded by operator")
        tape.refresh_from_db()
        self.stdout.write(f"Unloaded {tape.barcode} from {target}; it is {tape.location_text}.")

    def handle_status(self, *, drive, json, **_):
        target = resolve_drive(drive)
        data = drive_status(drive=target)
        if json:
            return self.print_json(data)
        for key, value in data.items():
            self.stdout.write(f"{key:20} {value}")

    def handle_export(self, *, barcodes, **_):
        for barcode in barcodes:
            slot = tape_export(tape=tape_get(barcode))
            self.stdout.write(f"{barcode} is in mail slot {slot}.")
