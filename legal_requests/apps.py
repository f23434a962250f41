from django.apps import AppConfig


class LegalRequestsConfig(AppConfig):
    name = "legal_requests"
    verbose_name = "Disclosure requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from legal_requests import problems, tasks  # noqa: F401  (tasks registers Celery tasks)

        problems.register()
