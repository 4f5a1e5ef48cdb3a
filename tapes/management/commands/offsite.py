"""``offsite vault|plan|export|ship|arrive|recall|import|show|report``: off-site rotation."""

from __future__ import annotations

from tapes.management.commands._base import SubcommandCommand
from tapes.models import Library, MediaPool, PickList, Tape, Vault
from tapes.offsite import (
    offsite_report, picklist_arrive, picklist_create, picklist_export, picklist_get,
    picklist_import, picklist_ship, picklist_text, vault_get,
)
from tapes.services import InventoryError, tape_get


class Command(SubcommandCommand):
    help = "Send tapes to vaults and bring them back, with pick lists and reports."
    subcommands = {
        "vault": "create or update a vault", "plan": "make a pick list of tapes to send",
        "export": "put the next batch into the mail slots", "ship": "mark tapes in transit",
        "arrive": "mark tapes in the vault", "recall": "make a pick list of tapes to bring back",
        "import": "import recalled tapes from the mail slots", "show": "print a pick list",
        "report": "what is off-site, due back, unverified",
    }

    def arguments_vault(self, parser):
        parser.add_argument("name")
        parser.add_argument("--address", default="")
        parser.add_argument("--contact", default="")

    def arguments_plan(self, parser):
        parser.add_argument("--vault", required=True)
        parser.add_argument("--pool")
        parser.add_argument("--job")
        parser.add_argument("--set", type=int, dest="set_id")
        parser.add_argument("--tape", nargs="+", dest="barcodes", default=[])

    def arguments_recall(self, parser):
        parser.add_argument("--vault", required=True)
        parser.add_argument("--expired", action="store_true", help="tapes whose sets all expired")
        parser.add_argument("--set", type=int, dest="set_id", help="tapes a restore of it needs")
        parser.add_argument("--library", help="where they return to")

    def _list_argument(self, parser):
        parser.add_argument("picklist", type=int)

    arguments_export = arguments_ship = arguments_arrive = arguments_show = _list_argument

    def arguments_import(self, parser):
        parser.add_argument("picklist", type=int)
        parser.add_argument("--library", required=True)

    def arguments_report(self, parser):
        parser.add_argument("--unverified-days", type=int, default=90)
        parser.add_argument("--json", action="store_true")

    def handle_vault(self, *, name, address, contact, **_):
        vault, created = Vault.objects.update_or_create(
            name=name, defaults={"address": address, "contact": contact})
        self.stdout.write(f"Vault {vault.name} {'created' if created else 'updated'}.")

    def handle_plan(self, *, vault, pool, job, set_id, barcodes, **_):
        from backups.models import BackupJob, BackupSet
        from backups.offsite import offsite_candidates

        target = vault_get(vault)
        if barcodes:
            tapes = [self._tape(b) for b in barcodes]
        else:
            tapes = offsite_candidates(
                pool=self._named(MediaPool, pool, "pool"), job=self._named(BackupJob, job, "job"),
                backup_set=BackupSet.objects.filter(pk=set_id).first() if set_id else None)
        picklist = picklist_create(kind=PickList.Kind.SEND, vault=target, tapes=tapes,
                                   reason="sent off-site")
        self.stdout.write(picklist_text(picklist))

    def handle_recall(self, *, vault, expired, set_id, library, **_):
        from backups.models import BackupSet
        from backups.offsite import recall_candidates

        if not expired and not set_id:
            raise InventoryError("Say what to recall: --expired, --set ID, or both.")
        backup_set = BackupSet.objects.filter(pk=set_id).first() if set_id else None
        if set_id and backup_set is None:
            raise InventoryError(f"There is no backup set #{set_id}.")
        tapes = recall_candidates(vault=vault_get(vault).name, expired=expired,
                                  backup_set=backup_set)
        why = " and ".join(filter(None, ["expired (to reuse)" if expired else "",
                                         f"needed to restore set #{set_id}" if set_id else ""]))
        picklist = picklist_create(kind=PickList.Kind.RECALL, vault=vault_get(vault), tapes=tapes,
                                   library=self._named(Library, library, "library"), reason=why)
        self.stdout.write(picklist_text(picklist))

    def handle_export(self, *, picklist, **_):
        batch = picklist_export(picklist=picklist_get(picklist))
        self.stdout.write(batch.summary())

    def handle_ship(self, *, picklist, **_):
        shipped = picklist_ship(picklist=picklist_get(picklist))
        self.stdout.write(f"In transit: {', '.join(shipped) or 'nothing'}.")

    def handle_arrive(self, *, picklist, **_):
        arrived = picklist_arrive(picklist=picklist_get(picklist))
        self.stdout.write(f"In the vault: {', '.join(arrived) or 'nothing'}.")

    def handle_import(self, *, picklist, library, **_):
        imported = picklist_import(picklist=picklist_get(picklist),
                                   library=self._named(Library, library, "library"))
        self.stdout.write(f"Imported: {', '.join(imported) or 'nothing'}.")

    def handle_show(self, *, picklist, **_):
        self.stdout.write(picklist_text(picklist_get(picklist)))

    def handle_report(self, *, unverified_days, json, **_):
        report = offsite_report(unverified_days=unverified_days)
        if json:
            return self.print_json(report.as_dict())
        for vault, rows in report.by_vault.items():
            self.stdout.write(f"Vault {vault}: {len(rows)} tape(s): "
                              + ", ".join(r["barcode"] for r in rows))
        self.stdout.write(f"In transit: {', '.join(r['barcode'] for r in report.in_transit) or 'none'}")
        self.stdout.write(f"Due back (nothing kept on them): "
                          f"{', '.join(r['barcode'] for r in report.due_back) or 'none'}")
        self.stdout.write(f"Not verified for {unverified_days} days: "
                          f"{', '.join(r['barcode'] for r in report.unverified) or 'none'}")

    def _tape(self, barcode: str) -> Tape:
        return tape_get(barcode)

    def _named(self, model, name, what):
        if not name:
            return None
        obj = model.objects.filter(name=name).first()
        if obj is None:
            raise InventoryError(f"There is no {what} named {name!r}.")
        return obj
