from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Schedules and job runs"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from scheduling import signals

        # A tape moved (mail slot import, inventory, operator): runs waiting for media look
        # again at once instead of at the next scheduler tick.
        post_save.connect(signals.tape_moved, sender="tapes.TapeLocation",
                          dispatch_uid="scheduling.tape_moved")
