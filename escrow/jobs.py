"""Follow-up work queued after commit, by task name.

A service never imports its app's tasks module: tasks load ids and call services, so
the dependency runs one way only. A service names the task instead; every app imports
its own tasks module in `AppConfig.ready()`, so each name is registered in every
process (web, worker, beat, tests) before any service runs. In eager mode (the demo)
the task then runs in-process once the transaction commits.
"""

from __future__ import annotations

import logging
import time

from celery import current_app
from django.core.cache import cache
from django.db import transaction
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger("escrow.jobs")

# The background processes readiness waits on (config/health.py, docs/operations.md):
# the log sequencer reports after each run it leads; beat whenever it sends
# HEARTBEAT_TASK, and a worker whenever it runs it.
HEARTBEAT_COMPONENTS = ("sequencer", "worker", "beat")
HEARTBEAT_TASK = "escrow.heartbeat"
# Kept well past any sensible readiness window, so a stale beat reads as stale, not absent.
_HEARTBEAT_TTL_SECONDS = 24 * 3600


class UnknownTask(LookupError):
    """No Celery task has that name: its app's tasks module was not imported."""


def task_enqueue_on_commit(name: str, *args: object) -> None:
    """Queue task `name` with `args` once the surrounding transaction commits.

    The name is resolved now, inside the caller's transaction, so a typo fails the
    service rather than being lost after the commit.
    """
    try:
        task = current_app.tasks[name]
    except KeyError:
        raise UnknownTask(name) from None
    transaction.on_commit(lambda: task.delay(*args))


def heartbeat_record(component: str) -> None:
    """Note that `component` is alive now, in the shared cache (Redis in production).

    Never fails its caller: a heartbeat that cannot be written shows as stale in readiness,
    which is where an unreachable Redis belongs, not inside the sequencer's batch.
    """
    try:
        cache.set(f"heartbeat:{component}", time.time(), timeout=_HEARTBEAT_TTL_SECONDS)
    except (RedisError, ConnectionInterrupted, OSError) as exc:
        logger.warning("heartbeat of %s not recorded: %s", component, type(exc).__name__)


def heartbeat_ages() -> dict[str, float | None]:
    """Seconds since each component last reported (None: never, or forgotten)."""
    found = cache.get_many([f"heartbeat:{name}" for name in HEARTBEAT_COMPONENTS])
    now = time.time()
    ages: dict[str, float | None] = {}
    for name in HEARTBEAT_COMPONENTS:
        beat_at = found.get(f"heartbeat:{name}")
        ages[name] = None if beat_at is None else max(0.0, now - float(beat_at))
    return ages
