from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups and restores"

    def ready(self) -> None:
        # The retention check listens to the label service (tapes.signals).
        from backups import retention  # noqa: F401
