"""System checks for the audit log's configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from escrow.crypto.note import key_name_is_valid
from escrow.log.keys import LogKeyInvalid, log_identity


@register()
def check_log_keys(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    origin = settings.ESCROW_LOG_ORIGIN
    if not origin or any(ord(ch) < 0x20 for ch in origin):
        problems.append(
            Error("ESCROW_LOG_ORIGIN is empty or not one line", id="escrow.E101")
        )
    if not settings.ESCROW_LOG_SIGNING_KEY:
        problems.append(
            Error(
                "ESCROW_LOG_SIGNING_KEY is not set: the audit log cannot sign checkpoints",
                hint="generate one with `manage.py log_key_generate`",
                id="escrow.E102",
            )
        )
        return problems
    try:
        identity = log_identity()
    except LogKeyInvalid as exc:
        problems.append(
            Error(
                str(exc),
                hint="a signer key reads PRIVATE+KEY+<name>+<key id>+<base64>",
                id="escrow.E103",
            )
        )
        return problems
    if identity.signer.name != origin and key_name_is_valid(origin):
        problems.append(
            Warning(
                "the log key's name differs from ESCROW_LOG_ORIGIN",
                hint="C2SP tlog-checkpoint: the key name should be the log's origin",
                id="escrow.W101",
            )
        )
    if "dev-insecure" in settings.ESCROW_LOG_SIGNING_KEY and not settings.DEBUG:
        problems.append(
            Error(
                "the development log signing key is in use with DEBUG off",
                hint="its private half is public: set ESCROW_LOG_SIGNING_KEY",
                id="escrow.E104",
            )
        )
    return problems
