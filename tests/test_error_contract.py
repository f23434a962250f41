"""One error contract: every answer under /api/ and /log/ is its documented success or an
RFC 9457 problem with a documented status, whatever the client sends.

Each test is named after the rule it protects and goes through the real URLconf and
middleware stack (Django's test client), as a fuzzer or a careless client would.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.roles import Role
from escrow.log.services import log_sequence
from tests import factories
from tests.log.conftest import events_bulk_create, staff_client

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["type"].startswith("urn:identity-escrow:problem:")
    assert "{" not in body["title"], body["title"]
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def agency_client(db: Any) -> APIClient:
    _, key = factories.agency_with_key(name="Greater Manchester Police")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def bob(db: Any) -> APIClient:
    """Bob the approver, signed in with a staff token; checks CSRF like a browser would."""
    client = staff_client("bob", Role.APPROVER)
    strict = APIClient(enforce_csrf_checks=True)
    strict.credentials(**client._credentials)
    return strict


# --- CSRF and unknown routes ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/disclosure-requests/not-a-uuid/approve",
        "/api/v1/disclosure-requests/not-a-uuid/reject",
        "/api/v1/disclosure-requests/not-a-uuid/review",
        "/api/v1/disclosure-requests/not-a-uuid/callback-verification",
        "/api/v1/audit/events/not-an-int/sealed-detail",
        "/api/v1/legal-holds/not-a-uuid/extend",
        "/api/v1/legal-holds/not-a-uuid/lift",
        "/api/v1/no-such-route",
        "/log/no-such-resource",
    ],
)
def test_staff_post_to_an_unmatched_route_is_a_problem_404_not_the_csrf_page(
    bob: APIClient, path: str
) -> None:
    assert_problem(bob.post(path, {"reason": "a reason long enough"}, format="json"), 404,
                   "not_found")


def test_unknown_api_post_is_a_problem_404(db: Any) -> None:
    anonymous = Client(enforce_csrf_checks=True)
    assert_problem(anonymous.post("/api/v1/nothing/here", data=b"{}",
                                  content_type="application/json"), 404, "not_found")
    assert_problem(anonymous.get("/api/nothing"), 404, "not_found")
    assert_problem(anonymous.delete("/log/nothing"), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/enrolments", "/log/cosignature", "/api/elsewhere"])
def test_csrf_failure_under_api_is_a_problem(path: str) -> None:
    from django.middleware.csrf import REASON_NO_CSRF_COOKIE, _get_failure_view

    # The view Django's CsrfViewMiddleware calls, as configured (CSRF_FAILURE_VIEW).
    view = _get_failure_view()
    response = view(RequestFactory().post(path), reason=REASON_NO_CSRF_COOKIE)
    body = assert_problem(response, 403, "csrf_failed")
    assert REASON_NO_CSRF_COOKIE not in json.dumps(body)


def test_csrf_failure_on_browser_pages_stays_html(db: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_django_error_handlers_answer_problems_under_api_and_html_elsewhere(db: Any) -> None:
    from escrow.api import problems

    factory = RequestFactory()
    for handler, status in [(problems.handler400, 400), (problems.handler403, 403),
                            (problems.handler404, 404)]:
        assert_problem(handler(factory.get("/api/v1/x"), Exception()), status)
        assert_problem(handler(factory.get("/log/x"), Exception()), status)
        page = handler(factory.get("/admin/x"), Exception())
        assert page.status_code == status
        assert page["Content-Type"].startswith("text/html")
    assert_problem(problems.handler500(factory.get("/api/v1/x")), 500, "internal_error")
    assert problems.handler500(factory.get("/admin/"))["Content-Type"].startswith("text/html")


# --- status codes every client can meet ------------------------------------------------


def test_token_revoke_with_a_platform_key_is_a_problem_403(agency_client: APIClient) -> None:
    assert_problem(agency_client.delete("/api/v1/auth/token/current"), 403,
                   "permission_denied")


def test_method_not_allowed_title_has_no_placeholder(agency_client: APIClient) -> None:
    response = agency_client.put("/api/v1/legal-holds", {}, format="json")
    body = assert_problem(response, 405, "method_not_allowed")
    assert body["title"] == "Method not allowed"
    assert "GET" in response["Allow"]


def test_unsupported_media_type_title_has_no_placeholder(agency_client: APIClient) -> None:
    response = agency_client.post("/api/v1/legal-holds", data=b"<x/>",
                                  content_type="application/xml")
    body = assert_problem(response, 415, "unsupported_media_type")
    assert body["title"] == "Unsupported media type"


def test_truncated_api_key_is_authentication_failed(db: Any) -> None:
    _, key = factories.agency_with_key(name="Police Scotland", jurisdiction="GB-SCT")
    for presented in (key[:20], key[:-10], "esk_short", "est_abc_def", key + "x"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {presented}")
        response = client.get("/api/v1/legal-holds")
        assert_problem(response, 401, "authentication_failed")
        assert response["WWW-Authenticate"].startswith("Bearer")
    # No credential at all is still "not authenticated", not "failed".
    assert_problem(APIClient().get("/api/v1/legal-holds"), 401, "not_authenticated")


def test_list_filters_are_validated(db: Any) -> None:
    alice = staff_client("alice", Role.INTAKE_OFFICER)
    body = assert_problem(alice.get("/api/v1/disclosure-requests?state=bogus"), 400,
                          "validation_error")
    assert body["errors"][0]["field"] == "state"
    assert "bogus" not in json.dumps(body)
    assert alice.get("/api/v1/disclosure-requests?state=approved").status_code == 200
    assert alice.get("/api/v1/disclosure-requests").status_code == 200
    assert_problem(alice.get("/api/v1/disclosure-requests?stat=approved"), 400,
                   "validation_error")
    assert_problem(alice.get("/api/v1/legal-holds?state=active"), 400, "validation_error")
    assert_problem(alice.get("/api/v1/legal-bases?jurisdiction=GB"), 400, "validation_error")


# --- media types: one negotiation, C2SP clients served -----------------------------------

TLOG_TEXT_ACCEPTS = [None, "*/*", "text/plain", "text/plain; charset=utf-8", "text/*",
                     "text/plain, */*;q=0.1", "application/json;q=0.9, text/plain",
                     "TEXT/PLAIN", "text/plain;q=abc", ", ,", "*/*;q=0"]
TLOG_BINARY_ACCEPTS = [None, "*/*", "application/octet-stream", "application/*",
                       "application/octet-stream, */*;q=0.5", "Application/Octet-Stream"]


def _get(path: str, accept: str | None) -> Any:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return APIClient().get(path, **headers)


@pytest.fixture
def signed_log(db: Any) -> None:
    events_bulk_create(300)
    log_sequence()


@pytest.mark.parametrize("accept", TLOG_TEXT_ACCEPTS)
def test_log_text_resources_answer_what_tlog_clients_accept(signed_log: None,
                                                            accept: str | None) -> None:
    for path in ("/log/checkpoint", "/log/verifier-key"):
        response = _get(path, accept)
        assert response.status_code == 200, (path, accept, response.content[:200])
        assert response["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("accept", TLOG_BINARY_ACCEPTS)
def test_log_tiles_answer_what_tlog_clients_accept(signed_log: None,
                                                   accept: str | None) -> None:
    for path in ("/log/tile/0/000", "/log/tile/0/001.p/44", "/log/tile/entries/000"):
        response = _get(path, accept)
        assert response.status_code == 200, (path, accept, response.content[:200])
        assert response["Content-Type"] == "application/octet-stream"


def test_unmatched_accept_is_a_problem_406(signed_log: None, agency_client: APIClient) -> None:
    assert_problem(_get("/log/checkpoint", "image/png"), 406, "not_acceptable")
    assert_problem(_get("/log/tile/0/000", "text/html"), 406, "not_acceptable")
    assert_problem(agency_client.get("/api/v1/legal-holds", HTTP_ACCEPT="text/csv"), 406,
                   "not_acceptable")


def test_log_errors_are_problems_whatever_was_accepted(signed_log: None) -> None:
    assert_problem(_get("/log/tile/0/999", "application/octet-stream"), 404, "not_found")
    assert_problem(_get("/log/tile/entries/999", "application/octet-stream"), 404, "not_found")
    response = APIClient().post("/log/cosignature", data=b"not a checkpoint\n",
                                content_type="text/plain")
    assert_problem(response, 422, "cosignature_rejected")
    # Its success is JSON: a client that accepts only text is told so before anything runs.
    response = APIClient().post("/log/cosignature", data=b"not a checkpoint\n",
                                content_type="text/plain", HTTP_ACCEPT="text/plain")
    assert_problem(response, 406, "not_acceptable")


# --- size and depth bounds ---------------------------------------------------------------


def test_body_over_the_limit_is_a_problem_413(agency_client: APIClient) -> None:
    limit = settings.API_MAX_BODY_BYTES
    big = b'{"case_reference": "' + b"x" * (30 * 1024 * 1024) + b'"}'
    assert len(big) > limit
    for path in ("/api/v1/legal-holds", "/log/cosignature", "/api/v1/auth/token",
                 "/api/v1/no-such-route"):
        response = agency_client.post(path, data=big, content_type="application/json")
        body = assert_problem(response, 413, "request_too_large")
        assert str(limit) in body["detail"]


def test_document_over_the_limit_is_a_problem_413(agency_client: APIClient) -> None:
    import base64

    document = base64.b64encode(b"%PDF-1.4\n" + b"\0" * (11 * 1024 * 1024)).decode()
    payload = factories.disclosure_payload(
        targets=["x"], document={"name": "order.pdf", "content_type": "application/pdf",
                                 "content_base64": document})
    response = agency_client.post("/api/v1/disclosure-requests", payload, format="json")
    assert_problem(response, 413)


def test_json_nested_past_the_limit_is_a_problem_400(agency_client: APIClient) -> None:
    depth = settings.API_JSON_MAX_DEPTH
    for nesting in (depth + 1, 100_000):
        body = b"[" * nesting + b"]" * nesting
        response = agency_client.post("/api/v1/legal-holds", data=body,
                                      content_type="application/json")
        assert_problem(response, 400, "json_too_deep")
    # Brackets inside strings are data, not nesting.
    deep_text = json.dumps({"pseudonyms": ["[" * 60], "case_reference": "{" * 60})
    response = agency_client.post("/api/v1/legal-holds", data=deep_text,
                                  content_type="application/json")
    assert response.json()["code"] != "json_too_deep"
    # At the limit the body parses, and the serializer judges it.
    at_limit = json.dumps({"pseudonyms": [], "case_reference": "r"})
    at_limit = at_limit.replace("[]", "[" * (depth - 1) + "]" * (depth - 1))
    response = agency_client.post("/api/v1/legal-holds", data=at_limit,
                                  content_type="application/json")
    assert_problem(response, 400, "validation_error")


def test_duplicate_json_keys_are_rejected(agency_client: APIClient) -> None:
    body = b'{"pseudonyms": ["a"], "case_reference": "one", "case_reference": "two"}'
    response = agency_client.post("/api/v1/legal-holds", data=body,
                                  content_type="application/json")
    problem = assert_problem(response, 400, "json_duplicate_key")
    assert "two" not in json.dumps(problem)
    nested = b'{"pseudonyms": ["a"], "case_reference": "x", "o": {"k": 1, "k": 2}}'
    assert_problem(agency_client.post("/api/v1/legal-holds", data=nested,
                                      content_type="application/json"),
                   400, "json_duplicate_key")


@pytest.mark.parametrize("body", [b"NaN", b'{"a": Infinity}', b"\xff\xfe{}", b"{", b""])
def test_malformed_json_is_a_problem_400(agency_client: APIClient, body: bytes) -> None:
    response = agency_client.post("/api/v1/legal-holds", data=body,
                                  content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM


def test_numbers_are_not_accepted_as_names(agency_client: APIClient) -> None:
    response = agency_client.post(
        "/api/v1/legal-holds", {"pseudonyms": [12345, "ok"], "case_reference": 42},
        format="json")
    body = assert_problem(response, 400, "validation_error")
    fields = {(e["field"], e["code"]) for e in body["errors"]}
    assert ("case_reference", "not_a_string") in fields
    assert ("pseudonyms.0", "not_a_string") in fields


def test_numbers_are_not_accepted_as_names_in_an_enrolment(platform_a: Any) -> None:
    payload = factories.identity_payload(given_name=12345)
    payload["identity"]["postal_address"]["lines"] = [41]
    response = platform_a.client.post("/api/v1/enrolments", payload, format="json",
                                      HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())
    body = assert_problem(response, 400, "validation_error")
    fields = {(e["field"], e["code"]) for e in body["errors"]}
    assert ("identity.given_name", "not_a_string") in fields
    assert ("identity.postal_address.lines.0", "not_a_string") in fields


# --- degraded dependencies ---------------------------------------------------------------


@contextmanager
def database_down() -> Iterator[None]:
    """The default connection swapped for one to a port nothing listens on.

    The shared PostgreSQL server is untouched; the test's own connection (and its
    transaction) is put back afterwards.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    real = connections["default"]
    broken_settings = {**real.settings_dict, "HOST": "127.0.0.1", "PORT": str(closed_port)}
    broken_settings["OPTIONS"] = {**broken_settings.get("OPTIONS", {}), "connect_timeout": 2}
    broken = real.__class__(broken_settings, alias="default")
    connections["default"] = broken
    try:
        yield
    finally:
        broken.close()
        connections["default"] = real


@pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                    reason="simulates a PostgreSQL outage")
def test_database_outage_is_a_problem_503_with_retry_after(signed_log: None) -> None:
    _, key = factories.agency_with_key(name="Kent Police")
    with connections["default"].cursor():
        pass
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    anonymous = APIClient()
    request_id = uuid4()
    with database_down():
        responses = [
            client.get("/api/v1/legal-holds"),
            client.get(f"/api/v1/disclosure-requests/{request_id}"),
            anonymous.get("/log/checkpoint", HTTP_ACCEPT="text/plain"),
            anonymous.get("/log/tile/0/000"),
        ]
    for response in responses:
        assert_problem(response, 503, "database_unavailable")
        assert int(response["Retry-After"]) >= 1



# --- every status documented -------------------------------------------------------------

LOG_STATUSES = {
    ("get", "/log/checkpoint"): {"200", "404", "405", "406", "413", "503"},
    ("get", "/log/verifier-key"): {"200", "405", "406", "413", "503"},
    ("get", "/log/tile/{path}"): {"200", "404", "405", "406", "413", "503"},
    ("get", "/log/tile/entries/{path}"): {"200", "401", "403", "404", "405", "406", "413",
                                          "503"},
    ("post", "/log/cosignature"): {"200", "404", "405", "406", "413", "422", "503"},
}


def test_every_log_status_is_documented(schema: dict[str, Any]) -> None:
    for (method, path), statuses in LOG_STATUSES.items():
        responses = schema["paths"][path][method]["responses"]
        assert statuses <= set(responses), (path, statuses - set(responses))


def test_every_error_status_is_a_documented_problem(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path.startswith("/api/v1/"):
                assert {"400", "401", "404", "405", "406", "413", "415", "503"} <= set(
                    responses), (method, path)
            for status, response in responses.items():
                if status[0] in "45":
                    assert "application/problem+json" in response["content"], (method, path)


def test_log_media_types_are_documented(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    assert "text/plain" in paths["/log/checkpoint"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in paths["/log/verifier-key"]["get"]["responses"]["200"]["content"]
    for tile in ("/log/tile/{path}", "/log/tile/entries/{path}"):
        assert "application/octet-stream" in paths[tile]["get"]["responses"]["200"]["content"]


def test_a_format_the_operation_does_not_serve_is_a_problem_406(signed_log: None,
                                                                 agency_client: APIClient
                                                                 ) -> None:
    assert_problem(APIClient().get("/log/verifier-key?format=xml"), 406, "not_acceptable")
    assert_problem(agency_client.get("/api/v1/legal-holds?format=yaml"), 406, "not_acceptable")
