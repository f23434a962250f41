from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff console: server-rendered pages over the same services as the API."""

    name = "console"
    verbose_name = "Staff console"
