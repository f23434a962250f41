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
    # A release_committed event still without an outcome this long after it was written
    # is aborted (worker_lost) by the next recovery scan (every 60 s): a live worker gives
    # up waiting for the log after RELEASE_LOG_WAIT_SECONDS, so keep this above that.
    "RELEASE_OUTCOME_DEADLINE_SECONDS": 90,
    "RELEASE_ORPHAN_LOOKBACK_SECONDS": 7 * 24 * 3600,
    # Failed attempts (release_aborted events) after which recovery gives up, and says so.
    "RELEASE_MAX_ATTEMPTS": 24,
    # The single-use download of a package for an agency without a registered key.
    "PACKAGE_DOWNLOAD_TTL_SECONDS": 24 * 3600,
    "ESCROW_PUBLIC_URL": "http://127.0.0.1:8000",
}


def release_setting(name: str) -> Any:
    return getattr(settings, name, _SETTING_DEFAULTS[name])
