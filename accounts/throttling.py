"""Per-credential rate limits, counted in the shared cache (Redis outside the demo).

A fixed-window counter: one pipelined INCR + EXPIRE NX round trip per request. Each
count is told to the client in the RateLimit-Policy and RateLimit fields
(escrow/api/ratelimit.py); a 429 also carries Retry-After.
DRF's SimpleRateThrottle keeps and rewrites the list of every request time in the
window, which at thousands of requests a minute costs more than the request it guards.

Anonymous callers are counted by `accounts.client_address` (the configured number of
trusted proxies), never by whatever X-Forwarded-For a client sends. When Redis does not
answer, the limits fail open (accounts/degraded.py): refusing every request because a
counter is unreadable would turn a cache outage into a full outage.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from accounts.authentication import ApiPrincipal
from accounts.client_address import client_address
from accounts.degraded import REDIS_UNAVAILABLE, degraded_warn
from escrow.api.ratelimit import RateLimitCount, rate_limit_record

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _now() -> float:
    return time.time()


def _parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period[0]]


def _count(key: str, *, ttl: int) -> int:
    """Increment the window's counter, setting its expiry on first use."""
    if hasattr(cache, "client") and hasattr(cache.client, "get_client"):  # django-redis
        full_key = cache.make_key(key)
        pipe = cache.client.get_client(write=True).pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl, nx=True)  # Redis 7: only when no expiry is set yet
        used, _ = pipe.execute()  # one round trip
        return int(used)
    # The in-process cache of the demo: add() sets the expiry, incr() counts.
    cache.add(key, 0, timeout=ttl)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=ttl)
        return 1


class _FixedWindowThrottle(BaseThrottle):
    scope = ""

    def identity(self, request: Request) -> str:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        limit, period = _parse_rate(str(api_settings.DEFAULT_THROTTLE_RATES[self.scope]))
        now = _now()
        window = int(now // period)
        key = f"throttle:{self.scope}:{self.identity(request)}:{window}"
        try:
            used = _count(key, ttl=period + 1)
        except REDIS_UNAVAILABLE as exc:
            degraded_warn("rate limits suspended (failing open)", exc)
            return True
        self._wait = (window + 1) * period - now
        rate_limit_record(request._request, RateLimitCount(
            policy=self.scope, quota=limit, window_seconds=period, used=used,
            reset_seconds=self._wait,
        ))
        return used <= limit

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class CredentialRateThrottle(_FixedWindowThrottle):
    scope = "credential"

    def identity(self, request: Request) -> str:
        principal = request.user
        if isinstance(principal, ApiPrincipal):
            return principal.pk
        if getattr(principal, "is_authenticated", False):
            return f"staff:{principal.pk}"  # type: ignore[union-attr]
        return f"ip:{client_address(request._request)}"


class SignInRateThrottle(_FixedWindowThrottle):
    """Slows password and TOTP guessing per client address."""

    scope = "auth"

    def identity(self, request: Request) -> str:
        return str(client_address(request._request))
