"""``pool create NAME [--allocation continue|always|'CRON'] [--media LTO-8] [--retention DAYS]
[--record-size N]``"""

from __future__ import annotations


from backups.errors import JobError
from backups.services import pool_create
from tapes.management.commands._base import SubcommandCommand


class Command(SubcommandCommand):
    help = "Manage media pools."
    operator_errors = (*SubcommandCommand.operator_errors, JobError)
    subcommands = {"create": "Create a media pool."}

    def arguments_create(self, parser):
        parser.add_argument("name")
        parser.add_argument("--allocation", default="continue",
                            help="continue, always, or a cron expression such as '0 0 1 * *'.")
        parser.add_argument("--media", default="LTO-8", help="Media type of its scratch tapes.")
        parser.add_argument("--retention", type=int, default=30, metavar="DAYS")
        parser.add_argument("--record-size", type=int, default=256 * 1024, metavar="BYTES")
        parser.add_argument("--json", action="store_true")

    def handle_create(self, *, name, allocation, media, retention, record_size, json, **_):
        pool = pool_create(name=name, allocation=allocation, media=media,
                           retention_days=retention, record_size=record_size)
        if json:
            return self.print_json({"id": pool.pk, "name": pool.name,
                                    "allocation": pool.allocation, "cron": pool.allocation_cron,
                                    "media": media, "retention_days": pool.retention_days,
                                    "record_size": pool.record_size})
        self.stdout.write(f"Pool {pool.name} created ({pool.get_allocation_display().lower()}).")
