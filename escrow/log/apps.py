from django.apps import AppConfig


class LogConfig(AppConfig):
    name = "escrow.log"
    label = "log"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from escrow.log import (  # noqa: F401  (system checks)
            checks,
            problems,
            tasks,
        )

        problems.register()
