"""What the service does when Redis does not answer (docs/reliability.md, "When Redis is down").

Redis holds the rate-limit counters, the shared cache and the Celery broker; the
database holds every record. The policy:

- The rate limits fail open: a request is not refused because its counter cannot be
  read (enrolment keeps working). Password guessing stays limited meanwhile by the
  sign-in lockouts, which live in the database.
- A request that cannot be served without Redis answers a 503 problem with Retry-After,
  never a 500 and never the driver's message (it names hosts and ports): the Redis
  errors are registered as outages in accounts/problems.py, and escrow/api/problems.py
  maps them like any other problem (middleware included, for views outside DRF).
- Each process logs a warning at most once per ESCROW_DEGRADED_WARNING_SECONDS for each
  degraded function, so an outage does not flood the logs.
"""

from __future__ import annotations

import logging
import time

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django_redis.exceptions import ConnectionInterrupted

logger = logging.getLogger("escrow.degraded")

# What a client library raises when Redis is unreachable or too slow, whether reached
# directly (redis), through the cache (django-redis) or as the broker (kombu).
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionInterrupted,
    kombu.exceptions.OperationalError,
)
DEPENDENCY_UNAVAILABLE_CODE = "dependency_unavailable"
DEPENDENCY_UNAVAILABLE_TITLE = "A service this request needs is unavailable; retry later"

_last_warned: dict[str, float] = {}


def degraded_warn(function: str, exc: BaseException) -> None:
    """Warn that `function` runs degraded, at most once per interval per process."""
    now = time.monotonic()
    last = _last_warned.get(function)
    if last is not None and now - last < settings.ESCROW_DEGRADED_WARNING_SECONDS:
        return
    _last_warned[function] = now
    # The exception's type only: its message names hosts and ports.
    logger.warning("Redis unavailable (%s): %s", type(exc).__name__, function)


def degraded_warnings_reset() -> None:
    """Forget when each warning was last logged (tests)."""
    _last_warned.clear()
