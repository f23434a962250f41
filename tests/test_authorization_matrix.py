"""Every route times every kind of caller: who gets past authentication and permissions.

The routes come from the URLconf itself, so a new route without a row in MATRIX fails
`test_every_route_has_a_row`; that includes the staff console's pages, where staff kinds
are browser sessions signed in with their second factor and a refusal is a 403 page or a
redirect to the console's sign-in. For each (route, method) the row names the caller kinds
that may pass the gate; every other kind must be refused with 401 or 403 (never a 2xx,
never a 5xx), and each named kind must not be refused (it may still get a 400, 404 or
409 for the placeholder ids and empty bodies used here). Revoked and expired
credentials are their own kinds and pass only where no credential is needed at all.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import get_resolver
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from console.access import LAST_SEEN_KEY
from tests import factories

pytestmark = pytest.mark.django_db

KINDS = factories.CALLER_KINDS
STAFF = factories.STAFF_KINDS

EVERYONE = frozenset(KINDS)
BAD_CREDENTIALS = frozenset({"revoked_key", "expired_token", "revoked_token"})
# Public reads that still authenticate a presented credential: a bad one is refused
# (401) rather than silently treated as anonymous.
PUBLIC = EVERYONE - BAD_CREDENTIALS


def _kinds(*names: str) -> frozenset[str]:
    return frozenset(names)


# Who passes the gate of each route and method. Read it as the access policy.
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("staff-token-create", "POST"): EVERYONE,  # sign-in: no credential needed
    ("staff-token-revoke", "DELETE"): _kinds(*STAFF),
    ("enrolment-create", "POST"): _kinds("platform"),
    ("enrolment-detail", "GET"): _kinds("platform"),
    ("enrolment-detail", "DELETE"): _kinds("platform"),
    ("enrolment-ban", "POST"): _kinds("platform"),
    ("enrolment-unban", "POST"): _kinds("platform"),
    ("webhook-endpoint-list", "GET"): _kinds("platform"),
    ("webhook-endpoint-list", "POST"): _kinds("platform"),
    ("webhook-endpoint-detail", "GET"): _kinds("platform"),
    ("webhook-endpoint-detail", "PATCH"): _kinds("platform"),
    ("webhook-endpoint-detail", "DELETE"): _kinds("platform"),
    ("webhook-endpoint-rotate-secret", "POST"): _kinds("platform"),
    ("webhook-endpoint-ping", "POST"): _kinds("platform"),
    ("webhook-delivery-list", "GET"): _kinds("platform"),
    ("legal-hold-list", "GET"): _kinds("agency", "intake_officer", "approver", "auditor"),
    ("legal-hold-list", "POST"): _kinds("agency"),
    ("legal-hold-detail", "GET"): _kinds("agency", "intake_officer", "approver", "auditor"),
    ("legal-hold-extend", "POST"): _kinds("intake_officer", "approver"),
    ("legal-hold-lift", "POST"): _kinds("intake_officer", "approver"),
    ("release-status", "GET"): _kinds(
        "intake_officer", "approver", "custodian", "auditor", "administrator"),
    ("release-challenge", "GET"): _kinds("custodian"),
    ("release-partials", "POST"): _kinds("custodian"),
    ("disclosure-package", "GET"): _kinds("agency"),
    ("disclosure-package-reissue-secret", "POST"): _kinds("approver"),
    ("legal-basis-list", "GET"): _kinds("agency", "intake_officer", "approver", "auditor"),
    ("disclosure-request-list", "GET"): _kinds("agency", "intake_officer", "approver", "auditor"),
    ("disclosure-request-list", "POST"): _kinds("agency", "intake_officer"),  # paper requests
    ("disclosure-request-detail", "GET"): _kinds(
        "agency", "intake_officer", "approver", "auditor"),
    ("disclosure-request-document", "GET"): _kinds("intake_officer", "approver", "auditor"),
    ("disclosure-request-withdraw", "POST"): _kinds("agency"),
    ("disclosure-request-information-response", "POST"): _kinds("agency"),
    ("disclosure-request-review", "POST"): _kinds("intake_officer", "approver"),
    ("disclosure-request-approve", "POST"): _kinds("approver"),
    ("disclosure-request-reject", "POST"): _kinds("approver"),
    ("disclosure-request-request-information", "POST"): _kinds("intake_officer", "approver"),
    ("disclosure-request-callback-verification", "POST"): _kinds("intake_officer", "approver"),
    ("disclosure-request-retrospective-review", "POST"): _kinds("approver"),
    ("transparency-report", "GET"): PUBLIC,
    ("log-checkpoint", "GET"): EVERYONE,
    ("log-verifier-key", "GET"): EVERYONE,
    ("log-cosignature", "POST"): EVERYONE,  # witnesses prove themselves by signature
    # Staff tokens are read here (an operator may keep entry bundles to auditors).
    ("log-entries", "GET"): EVERYONE - {"expired_token", "revoked_token"},
    ("log-tile", "GET"): EVERYONE,
    ("audit-event-list", "GET"): _kinds("auditor"),
    ("audit-event-detail", "GET"): _kinds("auditor"),
    ("audit-sealed-detail-open", "POST"): _kinds("auditor"),
    ("audit-inclusion-proof", "GET"): _kinds("auditor"),
    ("audit-consistency-proof", "GET"): _kinds("auditor"),
    ("audit-export", "GET"): _kinds("auditor"),
    ("schema", "GET"): PUBLIC,
    ("api-docs", "GET"): PUBLIC,
    ("health-live", "GET"): EVERYONE,
    ("health-ready", "GET"): EVERYONE,
    # Metrics answer a scraper on loopback that no proxy forwarded (or one with the
    # metrics token, when set): the test client is such a scraper, whatever it presents.
    ("metrics", "GET"): EVERYONE,
    # The staff console (console/urls.py): browser sessions, not bearer credentials.
    ("console-home", "GET"): _kinds(*STAFF),
    ("console-sign-in", "GET"): EVERYONE,
    ("console-sign-in", "POST"): EVERYONE,
    # Only a session whose password was checked and which has no second factor yet.
    ("console-enrol", "GET"): _kinds(),
    ("console-enrol", "POST"): _kinds(),
    ("console-sign-out", "POST"): _kinds(*STAFF),
    ("console-queue", "GET"): _kinds("intake_officer", "approver", "auditor"),
    ("console-request", "GET"): _kinds("intake_officer", "approver", "auditor"),
    ("console-request-document", "GET"): _kinds("intake_officer", "approver", "auditor"),
    ("console-request-review", "POST"): _kinds("intake_officer", "approver"),
    ("console-request-information", "POST"): _kinds("intake_officer", "approver"),
    ("console-request-callback", "POST"): _kinds("intake_officer", "approver"),
    ("console-request-decision", "POST"): _kinds("approver"),
    # Administrators' pages (console/views/staff_admin.py, tenants_admin.py).
    ("console-staff", "GET"): _kinds("administrator"),
    ("console-staff-create", "POST"): _kinds("administrator"),
    ("console-staff-detail", "GET"): _kinds("administrator"),
    ("console-staff-roles", "POST"): _kinds("administrator"),
    ("console-staff-reset", "POST"): _kinds("administrator"),
    ("console-staff-disable", "POST"): _kinds("administrator"),
    ("console-staff-change", "POST"): _kinds("administrator"),
    ("console-platforms", "GET"): _kinds("administrator"),
    ("console-platforms", "POST"): _kinds("administrator"),
    ("console-platform", "GET"): _kinds("administrator"),
    ("console-key-issue", "POST"): _kinds("administrator"),
    ("console-key-revoke", "POST"): _kinds("administrator"),
    ("console-webhook", "GET"): _kinds("administrator"),
    ("console-webhook-disable", "POST"): _kinds("administrator"),
    ("console-agencies", "GET"): _kinds("administrator"),
    ("console-agencies", "POST"): _kinds("administrator"),
    ("console-request-information-answer", "POST"): _kinds("intake_officer"),
    ("console-intake-new", "GET"): _kinds("intake_officer"),
    ("console-intake-new", "POST"): _kinds("intake_officer"),
    ("console-releases", "GET"): _kinds("custodian"),
    ("console-audit-events", "GET"): _kinds("auditor"),
    ("console-audit-event", "GET"): _kinds("auditor"),
    ("console-audit-transparency", "GET"): _kinds("auditor"),
    # Public pages (console/public_urls.py): a bearer credential means nothing to them.
    ("public-transparency", "GET"): EVERYONE,
    ("public-log-key", "GET"): EVERYONE,
}

# Syntactically valid placeholders for each path parameter.
PLACEHOLDERS = {
    "pseudonym": "PSN-0000-0000-0000-0000-0",
    "hold_id": str(uuid.UUID(int=1)),
    "request_id": str(uuid.UUID(int=2)),
    "endpoint_id": str(uuid.UUID(int=3)),
    "user_id": "1",
    "change_id": str(uuid.UUID(int=4)),
    "platform_id": str(uuid.UUID(int=5)),
    "credential_id": "1",
    "event_id": "1",
    "path": "0/000",
}


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    methods: tuple[str, ...]


def _routes() -> list[Route]:
    routes = []
    for view, pattern, _namespace, name in extract_views_from_urlpatterns(
        get_resolver().url_patterns
    ):
        if pattern.startswith("admin/") or name is None:
            continue  # the admin has its own tests; the nameless route is the 404 catch-all
        view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
        methods = (
            tuple(m.upper() for m in ("get", "post", "put", "patch", "delete")
                  if hasattr(view_class, m))
            if view_class is not None else ("GET",)
        )
        routes.append(Route(name=name, pattern=pattern, methods=methods))
    return routes


def _url(route: Route) -> str:
    from django.urls import reverse

    if route.name in ("log-entries", "log-tile"):
        return reverse(route.name, kwargs={"path": PLACEHOLDERS["path"]})
    kwargs = {k: v for k, v in PLACEHOLDERS.items() if f":{k}>" in route.pattern}
    return reverse(route.name, kwargs=kwargs)


def test_every_route_has_a_row() -> None:
    seen = {(route.name, method) for route in _routes() for method in route.methods}
    assert seen - MATRIX.keys() == set(), "new routes need a row in MATRIX"
    assert MATRIX.keys() - seen == set(), "MATRIX names routes that no longer exist"


def _console_session(kind: str) -> Client:
    """A console session: staff kinds signed in with their second factor; every other kind
    is a browser with no session (a bearer credential means nothing to the console)."""
    client = Client()
    if kind in STAFF:
        user = User.objects.get(username=f"matrix-{kind}")
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
        session[LAST_SEEN_KEY] = int(time.time())
        session.save()
    return client


def _client(route: Route, kind: str, credentials: dict[str, Any]) -> Client:
    if route.name.startswith("console-"):
        return _console_session(kind)
    client = APIClient()
    if credentials[kind]:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {credentials[kind]}")
    return client


def _refused(route: Route, response: Any) -> bool:
    if route.name.startswith("console-") and response.status_code == 302:
        # A console page refuses whoever is not signed in by sending them to sign in.
        return bool(response["Location"].startswith("/console/sign-in?next="))
    return bool(response.status_code in (401, 403))


@pytest.mark.parametrize("route", _routes(), ids=lambda r: r.name)
def test_only_the_named_callers_pass_the_gate(route: Route, caller_credentials: dict[str, Any],
                                              settings: Any) -> None:
    url = _url(route)
    if route.name == "health-ready":
        # The gate is what is tested here, not the background processes' heartbeats.
        settings.ESCROW_HEARTBEAT_MAX_AGE_SECONDS = 0
    wrong: list[str] = []
    for method in route.methods:
        allowed = MATRIX[(route.name, method)]
        for kind in KINDS:
            cache.clear()  # the rate limits would otherwise count this test's own calls
            client = _client(route, kind, caller_credentials)
            response = client.generic(method, url, data="{}", content_type="application/json")
            status = response.status_code
            refused = _refused(route, response)
            if status >= 500 or refused == (kind in allowed):
                wrong.append(f"{method} {url} as {kind}: {status}")
    assert wrong == []
