"""First-run set-up for the embedded default: a demo library and an administrator.

Idempotent: run it any number of times; it creates only what is missing, and prints the
administrator's password only when it creates the account.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from tapes.models import Library
from tapes.roles import ADMINISTRATORS

DEMO_LIBRARY = "demo"


class Command(BaseCommand):
    help = "Create the demo virtual library and an administrator account if they are missing."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo library.")

    def handle(self, *args, username: str, no_demo: bool, **options):
        if not no_demo:
            self._demo_library()
        self._administrator(username)

    def _demo_library(self) -> None:
        if Library.objects.exists():
            self.stdout.write("A library exists already; the demo library is not created.")
            return
        from tapes.vtl import vtl_create

        library = vtl_create(name=DEMO_LIBRARY, drives=2, slots=24, mailslots=2, tapes=20,
                             media="LTO-8")
        self.stdout.write(f"Created the demo library {library.name!r}: 2 drives, 24 slots, "
                          "2 mail slots, 20 LTO-8 tapes.")

    def _administrator(self, username: str) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Administrator {username!r} exists (change its password with "
                              f"`manage.py changepassword {username}`).")
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        user.groups.add(Group.objects.get(name=ADMINISTRATORS))
        self.stdout.write(self.style.SUCCESS(
            f"Created administrator {username!r} with password: {password}\n"
            "  (shown once; write it down)"
        ))
