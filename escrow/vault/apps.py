from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "escrow.vault"
    # The label predates the split of the `escrow` package: tables and migrations keep it.
    label = "escrow"
    verbose_name = "Identity vault"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Not a cycle: problems imports the models, which Django loads only after every
        # AppConfig is created, so the import has to wait for ready().
        from escrow.vault import checks, problems  # noqa: F401  (checks: system checks)

        problems.register()
