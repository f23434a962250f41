"""The accounts' domain exceptions and their RFC 9457 problem types."""

from __future__ import annotations

from accounts.degraded import (
    DEPENDENCY_UNAVAILABLE_CODE,
    DEPENDENCY_UNAVAILABLE_TITLE,
    REDIS_UNAVAILABLE,
)
from accounts.selectors import WebhookEndpointNotFound
from accounts.services import (
    CredentialRevoked,
    SignInFailed,
    SignInLockedOut,
    WebhookEndpointDisabled,
    WebhookEndpointLimitReached,
    WebhookPingPending,
    WebhookUrlRejected,
)
from escrow.api.problems import problem_register


def register() -> None:
    problem_register(SignInFailed, status=401, code="sign_in_failed",
                     title="Username, password or one-time code is wrong")
    problem_register(CredentialRevoked, status=409, code="credential_revoked",
                     title="The credential is revoked")
    problem_register(WebhookEndpointNotFound, status=404, code="not_found", title="Not found")
    problem_register(WebhookUrlRejected, status=422, code="webhook_url_rejected",
                     title="The service will not post events to this URL")
    problem_register(WebhookEndpointLimitReached, status=409,
                     code="webhook_endpoint_limit_reached",
                     title="The platform has as many webhook endpoints as it may")
    problem_register(WebhookPingPending, status=409, code="webhook_ping_pending",
                     title="The previous test event is still being delivered")
    problem_register(WebhookEndpointDisabled, status=409, code="webhook_endpoint_disabled",
                     title="The webhook endpoint is disabled")
    # With Retry-After: the exception carries when the lockout ends.
    problem_register(SignInLockedOut, status=429, code="sign_in_locked_out",
                     title="Too many failed sign-ins; try again later")
    # Redis unreachable where a request cannot do without it (the rate limits fail
    # open instead): an outage, so Retry-After and no driver message.
    for unavailable in REDIS_UNAVAILABLE:
        problem_register(unavailable, status=503, code=DEPENDENCY_UNAVAILABLE_CODE,
                         title=DEPENDENCY_UNAVAILABLE_TITLE, outage=True)
