from django.apps import AppConfig


class EscrowConfig(AppConfig):
    name = "escrow"
    verbose_name = "Identity vault and audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from escrow.api.registry import register_problem_types
        from escrow.log import checks  # noqa: F401  (registers the log's system checks)

        register_problem_types()
