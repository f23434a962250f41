"""The release's waits, locks and addresses: overridable in settings, sound by default."""

from __future__ import annotations

from typing import Any

from django.conf import settings

_SETTING_DEFAULTS: dict[str, Any] = {
    # A custodian's tool waits this long for the approval's checkpoint before a 503.
    "RELEASE_CHALLENGE_LOG_WAIT_SECONDS": 2.0,
    # The release waits this long for its own checkpoint, then fails closed.
    "RELEASE_LOG_WAIT_SECONDS": 30.0,
    "RELEASE_LOCK_SECONDS": 300,
    # A stalled release (log down, worker lost) is retried after this long.
    "RELEASE_RETRY_SECONDS": 300,
    # The single-use download of a package for an agency without a registered key.
    "PACKAGE_DOWNLOAD_TTL_SECONDS": 24 * 3600,
    "ESCROW_PUBLIC_URL": "http://127.0.0.1:8000",
}


def release_setting(name: str) -> Any:
    return getattr(settings, name, _SETTING_DEFAULTS[name])
