from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks registers system checks, tasks the Celery tasks.
        from accounts import checks, problems, tasks, totp_seeds  # noqa: F401

        problems.register()
        totp_seeds.connect()
