"""System checks for the versioned pseudonym and blind-index secrets."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from escrow.crypto.pseudonym import MIN_SERVICE_SECRET_LENGTH
from escrow.keys import secret_versions


@register()
def check_secret_versions(app_configs: Any, **kwargs: Any) -> list[Any]:
    try:
        versions = secret_versions()
    except ValueError as exc:
        return [Error(str(exc), id="escrow.E201")]
    problems: list[Any] = [
        Error(f"secret version {version} in ESCROW_SECRET_VERSIONS is shorter than "
              f"{MIN_SERVICE_SECRET_LENGTH} bytes", id="escrow.E202")
        for version, secret in versions.items()
        if version > 1 and len(secret) < MIN_SERVICE_SECRET_LENGTH
    ]
    if settings.ESCROW_PSEUDONYM_SECRET_VERSION not in versions:
        problems.append(Error(
            f"ESCROW_PSEUDONYM_SECRET_VERSION is {settings.ESCROW_PSEUDONYM_SECRET_VERSION}, "
            "which ESCROW_SECRET_VERSIONS does not configure: enrolments would fail",
            id="escrow.E203",
        ))
    return problems
