"""Liveness (the process answers) and readiness (what it depends on answers, and the
background processes have reported recently).

Readiness fails (503) when the database or Redis does not answer, when the active
escrow key is not the one its logged ceremony names (escrow.vault.selectors), or when the log
sequencer, a Celery worker or beat has not reported within
`ESCROW_HEARTBEAT_MAX_AGE_SECONDS` (escrow/jobs.py records the heartbeats in Redis).
Without Redis the processes share no store to report to, so only the database is checked;
with tasks run in-process there is no worker or beat to wait for.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from escrow.jobs import heartbeat_ages
from escrow.vault.selectors import escrow_key_active_row, escrow_key_attestation_problem


@never_cache
def liveness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any failure means not ready; the reason is for operators' logs
        return "unavailable"
    return "ok"


def _redis() -> str:
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1).ping()
    except Exception:
        return "unavailable"
    return "ok"


def heartbeats_expected() -> tuple[str, ...]:
    """The background processes this installation runs, and readiness waits on."""
    if not settings.REDIS_URL or settings.ESCROW_HEARTBEAT_MAX_AGE_SECONDS <= 0:
        return ()
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return ("sequencer",)
    return ("sequencer", "worker", "beat")


def _heartbeats(expected: tuple[str, ...]) -> tuple[dict[str, str], dict[str, float | None]]:
    try:
        ages = heartbeat_ages()
    except Exception:
        return dict.fromkeys(expected, "unavailable"), {}
    limit = settings.ESCROW_HEARTBEAT_MAX_AGE_SECONDS
    checks: dict[str, str] = {}
    shown: dict[str, float | None] = {}
    for name in expected:
        age = ages[name]
        if age is None:
            checks[name], shown[name] = "missing", None
        else:
            checks[name], shown[name] = ("ok" if age <= limit else "stale"), round(age, 1)
    return checks, shown


def _escrow_key() -> str:
    """ok, none (no ceremony yet: nothing to seal to, but nothing wrong either), or
    unattested: the active key is not the one its logged ceremony names."""
    try:
        row = escrow_key_active_row()
        if row is None:
            return "none"
        return "ok" if escrow_key_attestation_problem(row, holders=False) is None else "unattested"
    except Exception:  # the database check above names the cause
        return "unavailable"


@never_cache
def readiness(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database()}
    body: dict[str, object] = {}
    if settings.REDIS_URL:
        checks["redis"] = _redis()
    expected = heartbeats_expected()
    if expected:
        beats, ages = _heartbeats(expected)
        checks.update(beats)
        body["heartbeat_age_seconds"] = ages
    checks["escrow_key"] = _escrow_key()
    ready = all(v in ("ok", "none") for v in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks, **body},
                        status=200 if ready else 503)
