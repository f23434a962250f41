"""Every route times every kind of caller: who gets past authentication and permissions.

The routes come from the URLconf itself, so a new route without a row in MATRIX fails
`test_every_route_has_a_row`. For each (route, method) the row names the caller kinds
that may pass the gate; every other kind must be refused with 401 or 403 (never a 2xx,
never a 5xx), and each named kind must not be refused (it may still get a 400, 404 or
409 for the placeholder ids and empty bodies used here). Revoked and expired
credentials are their own kinds and pass only where no credential is needed at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns
from django.core.cache import cache
from django.urls import get_resolver
from rest_framework.test import APIClient

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
}

# Syntactically valid placeholders for each path parameter.
PLACEHOLDERS = {
    "pseudonym": "PSN-0000-0000-0000-0000-0",
    "hold_id": str(uuid.UUID(int=1)),
    "request_id": str(uuid.UUID(int=2)),
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


@pytest.mark.parametrize("route", _routes(), ids=lambda r: r.name)
def test_only_the_named_callers_pass_the_gate(route: Route,
                                              caller_credentials: dict[str, Any]) -> None:
    url = _url(route)
    wrong: list[str] = []
    for method in route.methods:
        allowed = MATRIX[(route.name, method)]
        for kind in KINDS:
            cache.clear()  # the rate limits would otherwise count this test's own calls
            client = APIClient()
            if caller_credentials[kind]:
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {caller_credentials[kind]}")
            response = client.generic(method, url, data="{}", content_type="application/json")
            status = response.status_code
            refused = status in (401, 403)
            if status >= 500 or refused == (kind in allowed):
                wrong.append(f"{method} {url} as {kind}: {status}")
    assert wrong == []
