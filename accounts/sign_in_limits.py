"""Sign-in limits: lockouts per account and per client address, and a bounded audit trail.

django-axes counts failed sign-ins in the database (so the limits hold while Redis is
down) and locks out a username, or a client address, after SIGN_IN_FAILURE_LIMIT
failures within SIGN_IN_LOCKOUT_SECONDS. Attempts during a lockout are refused before
the password is even checked, and do not extend it.

The append-only log must not grow with a password flood: per attempted username and
window, the first failure writes `staff.sign_in_failed`, later ones only increment a
`SignInFailureTally`, a lockout writes `staff.sign_in_locked_out` once (with the count so
far), and when the window closes one `staff.sign_in_failures_summary` reports what was
not reported yet. At most three entries per username per window, whatever the flood.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.client_address import client_address
from accounts.models import SignInFailureTally
from escrow.keys import service_key
from escrow.log.events import Actor, event_record

_ANONYMOUS = Actor(kind="anonymous", ref="-")


def account_key(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """The keyed digest that stands for an attempted username (AXES_USERNAME_CALLABLE)."""
    username = (credentials or {}).get("username")
    if username is None:
        return None
    return hmac.new(
        service_key("sign-in-account"), str(username).encode(), hashlib.sha256
    ).hexdigest()


def _cool_off() -> timedelta:
    return timedelta(seconds=settings.SIGN_IN_LOCKOUT_SECONDS)


def sign_in_allowed(*, request: HttpRequest, username: str) -> bool:
    """False while the username or the client address is locked out."""
    return bool(AxesProxyHandler.is_allowed(request, {"username": username}))


def lockout_retry_after(*, username: str, address: str | None) -> int:
    """Seconds until the lockout ends at the latest (the Retry-After header)."""
    key = account_key(None, {"username": username})
    latest = AccessAttempt.objects.filter(Q(username=key) | Q(ip_address=address)).aggregate(
        latest=Max("attempt_time")
    )["latest"]
    if latest is None:
        return 1
    remaining = (latest + _cool_off() - timezone.now()).total_seconds()
    return max(1, math.ceil(remaining))


def _failures(**match: Any) -> int:
    threshold = timezone.now() - _cool_off()
    total = AccessAttempt.objects.filter(attempt_time__gte=threshold, **match).aggregate(
        total=Sum("failures_since_start")
    )["total"]
    return int(total or 0)


def _tally_ref(tally: SignInFailureTally) -> str:
    return f"sign_in_failures:{tally.pk}"


def _tally_close(tally: SignInFailureTally) -> None:
    """Report what the window saw and was not reported yet, then forget the window."""
    unreported = tally.failures - tally.failures_reported
    if unreported > 0 or tally.refused > 0:
        event_record(
            event_type="staff.sign_in_failures_summary",
            actor=_ANONYMOUS,
            object_ref=_tally_ref(tally),
            details={
                "failures": tally.failures,
                "refused_while_locked_out": tally.refused,
                "locked_out": tally.locked_out_at is not None,
                "window_seconds": int((tally.window_ends_at - tally.window_started_at)
                                      .total_seconds()),
            },
        )
    tally.delete()


def _tally_open(key: str, now: datetime) -> SignInFailureTally:
    """The username's current window, locked; a window that ended is closed first."""
    tally = SignInFailureTally.objects.select_for_update().filter(account_key=key).first()
    if tally is not None and tally.window_ends_at <= now:
        _tally_close(tally)
        tally = None
    if tally is not None:
        return tally
    try:
        with transaction.atomic():
            return SignInFailureTally.objects.create(
                account_key=key, window_started_at=now, window_ends_at=now + _cool_off()
            )
    except IntegrityError:  # a concurrent failure opened it first
        return SignInFailureTally.objects.select_for_update().get(account_key=key)


@transaction.atomic
def sign_in_refusal_record(*, username: str) -> None:
    """Count an attempt refused during a lockout; the window's summary reports it."""
    key = account_key(None, {"username": username})
    assert key is not None  # noqa: S101  (a username was given)
    tally = _tally_open(key, timezone.now())
    tally.refused += 1
    tally.save(update_fields=["refused"])


@transaction.atomic
def sign_in_failure_record(*, request: HttpRequest, username: str) -> bool:
    """Count a failed sign-in that django-axes has recorded; True if it started a lockout.

    Writes `staff.sign_in_failed` for the first failure of the window and
    `staff.sign_in_locked_out` once when this failure locks the username or the address.
    """
    key = account_key(None, {"username": username})
    assert key is not None  # noqa: S101  (a username was given)
    now = timezone.now()
    tally = _tally_open(key, now)
    tally.failures += 1
    if tally.failures == 1:
        event_record(
            event_type="staff.sign_in_failed",
            actor=_ANONYMOUS,
            object_ref=_tally_ref(tally),
            # The attempted username is personal data and possibly a password typed in
            # the wrong box: it goes only into the sealed detail.
            sealed={"username": username},
        )
        tally.failures_reported = 1
    locked_out = bool(getattr(request, "axes_locked_out", False))
    if locked_out:
        limit = settings.SIGN_IN_FAILURE_LIMIT
        address = client_address(request)
        account_locked = _failures(username=key) >= limit
        address_locked = address is not None and _failures(ip_address=address) >= limit
        if tally.locked_out_at is None or address_locked:
            event_record(
                event_type="staff.sign_in_locked_out",
                actor=_ANONYMOUS,
                object_ref=_tally_ref(tally),
                details={
                    "account": account_locked,
                    "address": address_locked,
                    "failures_in_window": tally.failures,
                    "lockout_seconds": settings.SIGN_IN_LOCKOUT_SECONDS,
                },
                sealed={"username": username, "address": address},
            )
            tally.failures_reported = tally.failures
        if account_locked and tally.locked_out_at is None:
            tally.locked_out_at = now
    tally.save()
    return locked_out


def sign_in_failures_report_closed(*, limit: int = 1000) -> int:
    """Close every failure window that has ended; returns how many were closed."""
    now = timezone.now()
    closed = 0
    due = SignInFailureTally.objects.filter(window_ends_at__lte=now).order_by("window_ends_at")
    for pk in due.values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            tally = (
                SignInFailureTally.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, window_ends_at__lte=now)
                .first()
            )
            if tally is not None:
                _tally_close(tally)
                closed += 1
    return closed


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what AxesMiddleware answers for a locked-out login.

    The API's sign-in has already answered with its own problem+json, and the console's
    with its own page, so those answers stand; other login forms (the admin's) get a
    plain 429 with Retry-After.
    """
    if original_response is not None and request.path.startswith(("/api/", "/console/")):
        return original_response
    response = HttpResponse(
        "Too many failed sign-ins; try again later.\n", status=429, content_type="text/plain"
    )
    response["Retry-After"] = str(settings.SIGN_IN_LOCKOUT_SECONDS)
    return response
