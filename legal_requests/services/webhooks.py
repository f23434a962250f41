"""Telling platforms that a pseudonym's identity was disclosed: signed, retried webhooks.

Each (released pseudonym, platform endpoint) pair becomes one WebhookDelivery row,
due when the request's non-disclosure period ends (or at once when there is none).
A beat task claims due rows, POSTs them signed with the Standard Webhooks scheme
(headers webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256 over
"id.timestamp.body") and reschedules failures with exponential backoff. The
webhook-id is the row's id, stable across retries, so a platform can drop
duplicates; every delivery and every abandoned delivery is in the audit log.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import urllib.error
import urllib.request
import uuid
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic, sleep
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import WebhookAttempt, WebhookDelivery, WebhookEventType
from accounts.selectors import webhook_endpoints_for_event, webhook_signing_secrets
from accounts.services import (
    WebhookUrlRejected,
    webhook_address_allowed,
    webhook_delivery_outcome_record,
    webhook_url_check,
)
from escrow.log.events import Actor
from legal_requests.models import DisclosureRequest, Release
from legal_requests.selectors import disclosure_release_fields, disclosure_target_list

logger = logging.getLogger("legal_requests.webhooks")

IDENTITY_DISCLOSED = str(WebhookEventType.IDENTITY_DISCLOSED)
_USER_AGENT = "identity-escrow-webhooks/1"

# Overridable in settings. 30 s doubling to a 6 h cap: 15 attempts span about two days.
_SETTING_DEFAULTS: dict[str, Any] = {
    "WEBHOOK_RETRY_BASE_SECONDS": 30,
    "WEBHOOK_RETRY_MAX_SECONDS": 6 * 3600,
    "WEBHOOK_MAX_ATTEMPTS": 15,
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    "WEBHOOK_LEASE_SECONDS": 120,
    # How long an attempt keeps trying to record its outcome through a database outage;
    # with the POST timeout, keep it under the lease, or a re-claim could overlap it.
    "WEBHOOK_RECORD_RETRY_SECONDS": 30,
}


def webhook_setting(name: str) -> Any:
    return getattr(settings, name, _SETTING_DEFAULTS[name])


def notification_due_at(*, nondisclosure_until: date | None, released_at: datetime) -> datetime:
    """When the platform may be told: at release, or once the non-disclosure day is over."""
    if nondisclosure_until is None:
        return released_at
    # "Until 2027-03-01" includes that day: the platform is told from the next midnight UTC.
    end = datetime.combine(nondisclosure_until + timedelta(days=1), time.min, tzinfo=UTC)
    return max(end, released_at)


def _payload(
    *, disclosure: DisclosureRequest, pseudonym: str, fields: list[str], released_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    # Standard Webhooks payload shape: type, timestamp, data. Nothing here identifies
    # the user beyond the platform's own pseudonym.
    return {
        "type": IDENTITY_DISCLOSED,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "pseudonym": pseudonym,
            "disclosed_at": released_at.isoformat().replace("+00:00", "Z"),
            "request_reference": disclosure.reference,
            "agency": {
                "name": disclosure.agency.name,
                "jurisdiction": disclosure.agency.jurisdiction_id,
            },
            "legal_basis": {
                "code": disclosure.legal_basis.code, "name": disclosure.legal_basis.name
            },
            "issuing_authority": disclosure.issuing_authority,
            "fields": fields,
            "emergency": disclosure.is_emergency,
            "nondisclosure_until": (
                disclosure.nondisclosure_until.isoformat()
                if disclosure.nondisclosure_until else None
            ),
        },
    }


def webhooks_schedule_for_release(
    *, disclosure: DisclosureRequest, released_at: datetime
) -> int:
    """Create one delivery per released pseudonym and active endpoint of its platform.

    Call inside the release transaction; scheduling twice creates nothing new.
    """
    fields = disclosure_release_fields(disclosure)
    due_at = notification_due_at(
        nondisclosure_until=disclosure.nondisclosure_until, released_at=released_at
    )
    now = timezone.now()
    created = 0
    for target in disclosure_target_list(disclosure):
        held = set((target.enrolment.sealed_fields or {}).keys())
        endpoints = webhook_endpoints_for_event(
            platform_id=target.enrolment.platform_id, event_type=IDENTITY_DISCLOSED
        )
        if not endpoints:
            logger.warning("platform %s has no webhook endpoint for %s",
                           target.enrolment.platform_id, disclosure.reference)
        for endpoint in endpoints:
            _, was_created = WebhookDelivery.objects.get_or_create(
                dedupe_key=(
                    f"{IDENTITY_DISCLOSED}:{disclosure.pk}:{target.enrolment_id}:{endpoint.pk}"
                ),
                defaults={
                    "endpoint": endpoint,
                    "event_type": IDENTITY_DISCLOSED,
                    "subject_ref": disclosure.object_ref,
                    "payload": _payload(
                        disclosure=disclosure, pseudonym=target.pseudonym,
                        fields=[f for f in fields if f in held], released_at=released_at, now=now,
                    ),
                    "due_at": due_at,
                },
            )
            created += was_created
    return created


def _claim_due(*, now: datetime, limit: int) -> list[uuid.UUID]:
    """Lease up to `limit` due deliveries so no other worker sends them meanwhile."""
    lease = timedelta(seconds=webhook_setting("WEBHOOK_LEASE_SECONDS"))
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(delivered_at__isnull=True, abandoned_at__isnull=True, due_at__lte=now)
            .order_by("due_at")
            .values_list("id", flat=True)[:limit]
        )
        # A crashed worker's lease simply runs out and the row comes due again.
        WebhookDelivery.objects.filter(id__in=ids).update(due_at=now + lease)
    return ids


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is a failed delivery, not an invitation to post elsewhere


class WebhookAddressRefused(OSError):
    """The endpoint's name resolved to an address the service must not post to."""


def _connect_checked(address: tuple[str, int], timeout: Any,
                     source_address: Any = None) -> socket.socket:
    """Resolve the host once, refuse it unless every address is public
    (`webhook_address_allowed`), and connect to one of those addresses. A name is only
    an address once resolved: checked as a name, it could lead to an internal host, or
    answer the check with a public address and the connection with an internal one
    (DNS rebinding). TLS is still verified for the name (http.client wraps the socket
    with it as server_hostname)."""
    host, port = address
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses or not all(webhook_address_allowed(a) for a in addresses):
        raise WebhookAddressRefused("the endpoint's host resolves to a non-public address")
    failure: OSError = WebhookAddressRefused("no address to connect to")
    for checked in addresses:
        try:
            return socket.create_connection((checked, port), timeout, source_address)
        except OSError as exc:
            failure = exc
    raise failure


class _Checked:
    """An http.client connection that opens its socket with `_connect_checked`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_checked


class _CheckedHTTPConnection(_Checked, http.client.HTTPConnection):
    pass


class _CheckedHTTPSConnection(_Checked, http.client.HTTPSConnection):
    pass


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPSConnection, req, context=getattr(self, "_context", None))


def webhook_opener_build() -> urllib.request.OpenerDirector:
    """The deliveries' HTTP client: no redirects, connections only to checked addresses,
    and no proxy from the environment (a proxy would resolve and connect in the
    service's stead, past the check)."""
    return urllib.request.build_opener(
        _NoRedirect, _CheckedHTTPHandler, _CheckedHTTPSHandler, urllib.request.ProxyHandler({})
    )


_opener = webhook_opener_build()


def webhook_signed_headers(
    *, delivery: WebhookDelivery, body: str, timestamp: datetime
) -> dict[str, str]:
    # During a secret rotation's overlap, one signature per secret, space-separated
    # (Standard Webhooks: a receiver accepts the message if any signature verifies).
    signatures = [
        Webhook(secret).sign(msg_id=delivery.webhook_id, timestamp=timestamp, data=body)
        for secret in webhook_signing_secrets(endpoint=delivery.endpoint, now=timestamp)
    ]
    return {
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": _USER_AGENT,
    }


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    try:  # the policy now, not as it was when the endpoint was registered
        webhook_url_check(delivery.endpoint.url)
    except WebhookUrlRejected:
        return None, "WebhookUrlRejected"
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    # Signed at send time: receivers reject timestamps more than a few minutes old.
    headers = webhook_signed_headers(delivery=delivery, body=body, timestamp=timezone.now())
    http_request = urllib.request.Request(  # noqa: S310 - operator-registered https/http URL
        delivery.endpoint.url, data=body.encode(), headers=headers, method="POST"
    )
    try:
        timeout = webhook_setting("WEBHOOK_TIMEOUT_SECONDS")
        with _opener.open(http_request, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except urllib.error.URLError as exc:  # what urllib wraps a connection's failure in
        reason = exc.reason
        return None, type(reason if isinstance(reason, Exception) else exc).__name__
    except (OSError, ValueError) as exc:
        return None, type(exc).__name__


def _backoff(attempts: int) -> timedelta:
    base = webhook_setting("WEBHOOK_RETRY_BASE_SECONDS")
    cap = webhook_setting("WEBHOOK_RETRY_MAX_SECONDS")
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def webhook_delivery_attempt(*, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    """One attempt; records the outcome with a compare-and-swap on `delivered_at`."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(id=delivery_id, delivered_at__isnull=True, abandoned_at__isnull=True)
        .first()
    )
    if delivery is None:
        return None
    if not delivery.endpoint.is_active:
        _finish(delivery, status=None, error="endpoint disabled", delivered=False, final=True)
        return delivery
    started = monotonic()
    status, error = _post(delivery)
    took = timedelta(seconds=monotonic() - started)
    delivered = status is not None and 200 <= status < 300
    final = not delivered and delivery.attempts + 1 >= webhook_setting("WEBHOOK_MAX_ATTEMPTS")
    _finish_through_outage(delivery, status=status, error=error, delivered=delivered,
                           final=final, took=took)
    return delivery


def _finish_through_outage(delivery: WebhookDelivery, **outcome: Any) -> None:
    """`_finish`, retried while the database is briefly unreachable.

    The POST has been made: an outcome that is not recorded leaves the delivery claimed
    until its lease lapses, and then the platform gets the same webhook-id again. A
    database restart or failover takes seconds, so keep trying (with a fresh connection)
    for WEBHOOK_RECORD_RETRY_SECONDS, well inside the lease, before falling back to
    at-least-once. `_finish` is a compare-and-swap, so trying twice records once.
    """
    deadline = monotonic() + webhook_setting("WEBHOOK_RECORD_RETRY_SECONDS")
    pause = 0.25
    while True:
        try:
            _finish(delivery, **outcome)
            return
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or monotonic() + pause > deadline:
                raise
            logger.warning("webhook %s: outcome not recorded (%s); retrying",
                           delivery.webhook_id, type(exc).__name__)
            connection.close()
            sleep(pause)
            pause = min(pause * 2, 4.0)


def _finish(
    delivery: WebhookDelivery, *, status: int | None, error: str, delivered: bool, final: bool,
    took: timedelta | None = None,
) -> None:
    now = timezone.now()
    attempts = delivery.attempts + 1
    changes: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": status,
        "last_error": error[:200],
    }
    if delivered:
        changes["delivered_at"] = now
    elif final:
        changes["abandoned_at"] = now
    else:
        changes["due_at"] = now + _backoff(attempts)
    with transaction.atomic():
        updated = WebhookDelivery.objects.filter(
            id=delivery.id, delivered_at__isnull=True, abandoned_at__isnull=True
        ).update(**changes)
        if not updated:
            return
        if took is not None:  # an HTTP request was made (not a disabled endpoint)
            WebhookAttempt.objects.create(
                delivery_id=delivery.id, attempted_at=now - took, status_code=status,
                error=error[:200], duration_ms=int(took.total_seconds() * 1000),
                succeeded=delivered,
            )
        logger.info("webhook %s attempt %d: %s", delivery.webhook_id, attempts,
                    "delivered" if delivered else (error or status))
        # A test event is the platform's own check, not an event of record.
        if (delivered or final) and delivery.event_type != WebhookEventType.TEST:
            webhook_delivery_outcome_record(delivery=delivery, delivered=delivered,
                                            attempts=attempts, actor=Actor.system("webhooks"))
            _release_mark_notified(delivery.subject_ref, now)


def _release_mark_notified(subject_ref: str, now: datetime) -> None:
    prefix = DisclosureRequest.OBJECT_REF_PREFIX
    if not subject_ref.startswith(prefix):
        return
    outstanding = WebhookDelivery.objects.filter(
        subject_ref=subject_ref, delivered_at__isnull=True, abandoned_at__isnull=True
    ).exists()
    if not outstanding:
        Release.objects.filter(
            request_id=uuid.UUID(subject_ref[len(prefix):]), platforms_notified_at__isnull=True
        ).update(platforms_notified_at=now)


def webhooks_send_due(*, limit: int = 100, now: datetime | None = None) -> int:
    """Claim and attempt every due delivery (up to `limit`); returns how many were tried."""
    ids = _claim_due(now=now or timezone.now(), limit=limit)
    for delivery_id in ids:
        webhook_delivery_attempt(delivery_id=delivery_id)
    return len(ids)
