from django.apps import AppConfig


class TapesConfig(AppConfig):
    name = "tapes"
    verbose_name = "Tape inventory"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from tapes import roles

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="tapes.roles")
