"""System checks for configuration mistakes an operator can make."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_production_safety(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    if settings.PRODUCTION and settings.DEBUG:
        problems.append(
            Error("DEBUG is on in production", hint="unset DEBUG", id="escrow.E001")
        )
    local = {"127.0.0.1", "localhost", "[::1]", "testserver"}
    public = [h for h in settings.ALLOWED_HOSTS if h not in local]
    if settings.DEBUG and public:
        problems.append(
            Warning(
                "DEBUG is on while ALLOWED_HOSTS names a public host",
                hint="debug pages leak settings and stack traces",
                id="escrow.W001",
            )
        )
    if settings.SECRET_KEY.startswith("dev-insecure") and not settings.DEBUG:
        problems.append(
            Error("the development SECRET_KEY is in use with DEBUG off", id="escrow.E002")
        )
    for name in ("ESCROW_SERVICE_SECRET", "ESCROW_TOTP_SEED_KEY"):
        if settings.PRODUCTION and len(getattr(settings, name)) < 43:
            problems.append(
                Error(
                    f"{name} is shorter than 43 characters",
                    hint="use at least 256 bits, e.g. python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'",
                    id="escrow.E003",
                )
            )
    return problems
