"""The three roles and what each may do.

Groups are created by a migration (tapes/migrations/0003_roles.py); their permissions are
(re)assigned after every ``migrate`` by ``sync_role_permissions``, because later apps and
models add permissions that did not exist when the groups were created.
"""

from __future__ import annotations

from django.apps import apps as global_apps

VIEWERS = "Viewers"
OPERATORS = "Operators"
ADMINISTRATORS = "Administrators"
ROLES = (VIEWERS, OPERATORS, ADMINISTRATORS)

# Apps whose objects every role may see.
VISIBLE_APPS = ("tapes", "backups", "scheduling", "django_q")

# What operators may do on top of viewing: run jobs, move and label tapes, restore. Policies
# (pools, retention, schedules, job definitions) stay with administrators.
OPERATOR_PERMISSIONS = {
    "tapes.operate_tape",
    "tapes.change_tape",
    "tapes.add_tapelocation",
    "tapes.operate_library",
    "backups.run_backup",
    "backups.restore_files",
    "backups.verify_media",
    "scheduling.add_jobrun",
    "scheduling.cancel_jobrun",
}


def _permissions(Permission, *, apps: tuple[str, ...] | None = None, codenames=None):
    qs = Permission.objects.select_related("content_type")
    if apps is not None:
        qs = qs.filter(content_type__app_label__in=apps)
    if codenames is not None:
        wanted = {tuple(name.split(".", 1)) for name in codenames}
        qs = [p for p in qs if (p.content_type.app_label, p.codename) in wanted]
    return list(qs)


def sync_role_permissions(sender=None, apps=global_apps, using="default", **kwargs) -> None:
    """Give each role group exactly its permissions (idempotent)."""
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:
        return
    groups = {g.name: g for g in Group.objects.using(using).filter(name__in=ROLES)}
    if len(groups) < len(ROLES):
        return  # before the roles migration has run
    viewing = [
        p for p in _permissions(Permission, apps=VISIBLE_APPS) if p.codename.startswith("view_")
    ]
    operating = _permissions(Permission, codenames=OPERATOR_PERMISSIONS)
    groups[VIEWERS].permissions.set(viewing)
    groups[OPERATORS].permissions.set(viewing + operating)
    groups[ADMINISTRATORS].permissions.set(Permission.objects.using(using).all())
