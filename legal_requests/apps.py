from django.apps import AppConfig


class LegalRequestsConfig(AppConfig):
    name = "legal_requests"
    verbose_name = "Disclosure requests"
    default_auto_field = "django.db.models.BigAutoField"
