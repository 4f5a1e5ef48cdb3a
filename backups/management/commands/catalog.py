"""``catalog find PATTERN [--job NAME] [--json]`` · ``catalog browse --set ID [PATH]`` ·
``catalog rebuild (--tape BARCODE... | --library NAME)`` (DESIGN §9) ·
``catalog search-index [on|off]`` (the optional trigram index, ``backups.search_index``)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError
from django.db import connection

from backups.catalog_search import catalog_browse, catalog_find, catalog_rebuild
from backups.errors import JobError
from backups.management.commands.restore import PrintingContext
from backups.models import BackupSet
from backups.search_index import search_index_disable, search_index_enable, search_index_enabled
from tapes.management.commands._base import SubcommandCommand
from tapes.media import resolve_drive
from tapes.models import Library, Tape


class Command(SubcommandCommand):
    help = "Search the catalog, browse a set, or rebuild the catalog from tapes."
    operator_errors = (*SubcommandCommand.operator_errors, JobError)
    subcommands = {"find": "find files across jobs and sets",
                   "browse": "list one directory of a set",
                   "rebuild": "recreate the catalog from the index files on tapes",
                   "search-index": "show, build or drop the trigram index for find "
                                   "(PostgreSQL)"}

    def arguments_find(self, parser):
        parser.add_argument("pattern", help="a glob (*.conf, /srv/*/x) or a substring")
        parser.add_argument("--job")
        parser.add_argument("--limit", type=int, default=1000)
        parser.add_argument("--json", action="store_true")

    def arguments_browse(self, parser):
        parser.add_argument("--set", type=int, dest="set_id", required=True)
        parser.add_argument("path", nargs="?", default="/")
        parser.add_argument("--json", action="store_true")

    def arguments_rebuild(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--tape", action="append", dest="barcodes")
        which.add_argument("--library")
        parser.add_argument("--drive", help="LIBRARY:INDEX of the drive to read with")
        parser.add_argument("--json", action="store_true")

    def arguments_search_index(self, parser):
        parser.add_argument("state", nargs="?", choices=("on", "off"),
                            help="on: build it (concurrently); off: drop it; none: show it")

    def handle_find(self, *, pattern, job, limit, json, **options):
        versions = catalog_find(pattern, job=job, limit=limit)
        if json:
            return self.print_json(versions)
        if not versions:
            raise CommandError(f"Nothing in the catalog matches {pattern!r}.")
        for v in versions:
            when = v["set_started_at"][:16].replace("T", " ")
            self.stdout.write(f"{v['path']}\tset {v['set']} ({v['job']}, {when})\t{v['size']} bytes"
                              f"\t{(v['checksum'] or '-')[:16]}\t{','.join(v['tapes'])}")

    def handle_browse(self, *, set_id, path, json, **options):
        backup_set = BackupSet.objects.filter(pk=set_id).first()
        if backup_set is None:
            raise CommandError(f"There is no backup set {set_id}.")
        listing = catalog_browse(backup_set=backup_set, directory=path)
        if json:
            return self.print_json(listing)
        for e in listing["entries"]:
            mtime = dt.datetime.fromtimestamp(e["mtime_ns"] / 1e9, dt.timezone.utc)
            extra = f"  ({e['entries']} entries, {e['bytes']} bytes)" if "entries" in e else ""
            self.stdout.write(f"{e['type'][:4]:4} {e['mode']:04o} {e['size']:>12} "
                              f"{mtime:%Y-%m-%d %H:%M} {e['name']}{extra}")
        self.stdout.write(f"{listing['count']} entries, {listing['bytes']} bytes in {listing['directory']}")

    def handle_rebuild(self, *, barcodes, library, drive, json, **options):
        drive_obj = resolve_drive(drive) if drive else None
        if barcodes:
            tapes = []
            for barcode in barcodes:
                tape = Tape.objects.filter(barcode=barcode).first()
                if tape is None:
                    raise CommandError(f"There is no tape with barcode {barcode!r} in the "
                                       "inventory; run a library inventory first.")
                tapes.append(tape)
            report = catalog_rebuild(tapes=tapes, drive=drive_obj,
                                     context=PrintingContext(self, quiet=True))
        else:
            lib = Library.objects.filter(name=library).first()
            if lib is None:
                raise CommandError(f"There is no library named {library!r}.")
            report = catalog_rebuild(library=lib, drive=drive_obj,
                                     context=PrintingContext(self, quiet=True))
        if json:
            return self.print_json(report.as_dict())
        for problem in report.problems:
            self.stderr.write(f"warning: {problem}")
        self.stdout.write(report.summary())

    def handle_search_index(self, *, state, **options):
        if state == "on":
            built = search_index_enable()
            self.stdout.write("Built the catalog's search index." if built
                              else "The catalog's search index is already on.")
        elif state == "off":
            dropped = search_index_disable()
            self.stdout.write("Dropped the catalog's search index." if dropped
                              else "The catalog's search index is already off.")
        elif connection.vendor != "postgresql":
            self.stdout.write("The catalog has no search index on SQLite: find scans the "
                              "catalog.")
        else:
            on = search_index_enabled()
            self.stdout.write("The catalog's search index is " + (
                "on: find uses it; loading the catalog takes about three times as long." if on else
                "off: find scans the catalog; `catalog search-index on` builds it."))
