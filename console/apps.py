from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator's console: dashboard, restore wizard, run/tape/library pages, /metrics
    and /health. An entry-point layer: its views read models and call other apps' services,
    and hold no business logic of their own."""

    name = "console"
    verbose_name = "Operator console"
