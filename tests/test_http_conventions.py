"""HTTP conventions a platform's client relies on: Location on 201, rate-limit fields and
Retry-After, conditional GET on the log, and an OpenAPI document that says all of it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from accounts.roles import Role
from escrow.audit.api import CACHE_CHECKPOINT, CACHE_IMMUTABLE, CACHE_PARTIAL
from escrow.log.services import log_sequence
from tests import factories
from tests.log.conftest import events_bulk_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/enrolments"


def enrol(client: APIClient, key: str) -> Any:
    return client.post(URL, factories.identity_payload(), format="json",
                       HTTP_IDEMPOTENCY_KEY=key)


class TestLocation:
    def test_an_enrolment_is_created_where_location_says(self, platform_a: Any) -> None:
        key = factories.idempotency_key()
        created = enrol(platform_a.client, key)
        assert created.status_code == 201
        pseudonym = created.json()["pseudonym"]
        assert created["Location"] == f"{URL}/{pseudonym}"
        fetched = platform_a.client.get(created["Location"])
        assert fetched.status_code == 200
        assert fetched.json()["pseudonym"] == pseudonym
        replayed = enrol(platform_a.client, key)
        assert replayed["Idempotent-Replayed"] == "true"
        assert replayed["Location"] == created["Location"]


    def test_a_staff_token_is_created_where_location_says(self) -> None:
        from tests.test_auth_api import PASSWORD, current_code, sign_in

        alice = factories.staff("alice", Role.INTAKE_OFFICER, password=PASSWORD)
        issued = sign_in("alice", PASSWORD, current_code(alice))
        assert issued.status_code == 201
        assert issued["Location"] == "/api/v1/auth/token/current"
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.json()['token']}")
        assert client.delete(issued["Location"]).status_code == 204  # signed out there


class TestWebhookEndpointsPageLikeEveryList:
    def test_one_at_a_time_reaches_every_endpoint_once(self, platform_a: Any,
                                                       settings: Any) -> None:
        settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = True
        created = [platform_a.client.post("/api/v1/webhook-endpoints",
                                          {"url": f"http://127.0.0.1:9/hook/{n}"},
                                          format="json") for n in range(3)]
        assert [c.status_code for c in created] == [201, 201, 201]
        seen, url = [], "/api/v1/webhook-endpoints?page_size=1"
        while url:
            page = platform_a.client.get(url)
            assert page.status_code == 200
            seen += [endpoint["id"] for endpoint in page.json()]
            url = dict((rel, u) for u, rel in re.findall(r'<([^>]+)>; rel="(\w+)"',
                                                         page.get("Link", ""))).get("next")
        assert seen == [c.json()["id"] for c in created]  # oldest first, each once
        assert platform_a.client.get(created[0]["Location"]).json()["id"] == seen[0]


_POLICY = re.compile(r'^"credential";q=(\d+);w=(\d+)$')
_STATE = re.compile(r'^"credential";r=(\d+);t=(\d+)$')


class TestRateLimitFields:
    @pytest.fixture
    def three_a_minute(self, settings: Any, monkeypatch: Any) -> None:
        monkeypatch.setattr("accounts.throttling._now", lambda: 1_800_000_030.4)
        rates = {**api_settings.DEFAULT_THROTTLE_RATES, "credential": "3/min"}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    def test_every_counted_answer_says_what_is_left(self, platform_a: Any,
                                                    three_a_minute: None) -> None:
        url = f"{URL}/PSN-0000-0000-0000-0000-0"
        answers = [platform_a.client.get(url) for _ in range(4)]
        for answer in answers:
            assert _POLICY.match(answer["RateLimit-Policy"]).groups() == ("3", "60")
        remaining = [int(_STATE.match(a["RateLimit"]).group(1)) for a in answers]
        assert remaining == [2, 1, 0, 0]
        resets = {int(_STATE.match(a["RateLimit"]).group(2)) for a in answers}
        assert resets == {30}  # 29.6 s left in the minute, rounded up
        limited = answers[-1]
        assert limited.status_code == 429
        assert limited["Content-Type"] == "application/problem+json"
        assert limited["Retry-After"] == "30"
        assert "Retry-After" not in answers[0]

    def test_sign_in_has_its_own_policy(self, db: Any, settings: Any) -> None:
        response = APIClient().post("/api/v1/auth/token", {
            "username": "nobody", "password": "x", "otp_code": "000000"}, format="json")
        assert response["RateLimit-Policy"].startswith('"auth";q=')
        assert response["RateLimit"].startswith('"auth";r=')

    def test_the_public_log_is_not_counted(self, db: Any) -> None:
        events_bulk_create(3)
        log_sequence()
        response = APIClient().get("/log/checkpoint")
        assert response.status_code == 200
        assert "RateLimit" not in response


class TestConditionalGet:
    @pytest.fixture
    def log_of_300(self, db: Any) -> None:
        events_bulk_create(300)
        log_sequence()

    @pytest.mark.parametrize(("path", "cache_control"), [
        ("/log/checkpoint", CACHE_CHECKPOINT),
        ("/log/tile/0/000", CACHE_IMMUTABLE),
        ("/log/tile/0/001.p/44", CACHE_PARTIAL),
        ("/log/tile/entries/000", CACHE_IMMUTABLE),
        ("/log/verifier-key", "public, max-age=3600"),
    ])
    def test_a_matching_etag_is_304_with_no_body(self, log_of_300: None, path: str,
                                                 cache_control: str) -> None:
        http = APIClient()
        first = http.get(path)
        assert first.status_code == 200
        etag = first["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        assert first["Cache-Control"] == cache_control
        again = http.get(path, HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304
        assert again.content == b""
        assert again["ETag"] == etag
        assert again["Cache-Control"] == cache_control
        assert http.get(path, HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
        assert http.head(path, HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert http.get(path, HTTP_IF_NONE_MATCH='"stale"').status_code == 200

    def test_the_checkpoint_etag_moves_with_the_log(self, log_of_300: None) -> None:
        http = APIClient()
        before = http.get("/log/checkpoint")["ETag"]
        events_bulk_create(1, start=300)
        log_sequence()
        after = http.get("/log/checkpoint", HTTP_IF_NONE_MATCH=before)
        assert after.status_code == 200
        assert after["ETag"] != before

    def test_auditor_only_entry_bundles_are_private(self, log_of_300: None,
                                                    settings: Any) -> None:
        from accounts.roles import Role
        from tests.log.conftest import staff_client

        settings.ESCROW_LOG_ENTRIES_AUDITORS_ONLY = True
        bundle = staff_client("dave", Role.AUDITOR).get("/log/tile/entries/000")
        assert bundle.status_code == 200
        assert bundle["Cache-Control"] == "private, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(openapi: dict[str, Any]) -> Any:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def _headers(response: dict[str, Any]) -> set[str]:
    return set(response.get("headers", {}))


class TestTheSchemaDocumentsTheHeaders:
    def test_every_201_documents_a_required_location(self, openapi: dict[str, Any]) -> None:
        created = [(path, op) for path, method, op in _operations(openapi)
                   if "201" in op["responses"]]
        assert len(created) >= 4
        for path, operation in created:
            assert "Location" in _headers(operation["responses"]["201"]), path
        assert openapi["components"]["headers"]["Location"]["required"] is True

    def test_every_list_pages_and_documents_link(self, openapi: dict[str, Any]) -> None:
        lists = []
        for path, method, operation in _operations(openapi):
            if method != "get" or not path.startswith("/api/v1/"):
                continue
            body = operation["responses"]["200"].get("content", {}).get("application/json", {})
            schema = body.get("schema", {})
            ref = schema.get("$ref", "").rsplit("/", 1)[-1]
            is_array = (schema.get("type") == "array"
                        or openapi["components"]["schemas"].get(ref, {}).get("type") == "array")
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if is_array or "page_size" in names:
                lists.append(path)
                assert {"cursor", "page_size"} <= names or {"after", "page_size"} <= names, path
                assert "Link" in _headers(operation["responses"]["200"]), path
        assert {"/api/v1/legal-holds", "/api/v1/disclosure-requests", "/api/v1/legal-bases",
                "/api/v1/audit/events"} <= set(lists)

    def test_429_and_successes_document_the_rate_limit_fields(
            self, openapi: dict[str, Any]) -> None:
        for path, _, operation in _operations(openapi):
            if not path.startswith("/api/v1/"):
                continue
            responses = operation["responses"]
            assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= _headers(
                responses["429"]), path
            assert "Retry-After" in _headers(responses["503"]), path
            for status, response in responses.items():
                if str(status).startswith("2"):
                    assert {"RateLimit-Policy", "RateLimit"} <= _headers(response), path

    def test_log_reads_document_conditional_get(self, openapi: dict[str, Any]) -> None:
        for path in ("/log/checkpoint", "/log/tile/{path}", "/log/tile/entries/{path}",
                     "/log/verifier-key", "/api/v1/transparency-reports"):
            operation = openapi["paths"][path]["get"]
            assert {"ETag", "Cache-Control"} <= _headers(operation["responses"]["200"])
            assert "ETag" in _headers(operation["responses"]["304"])
            assert "If-None-Match" in {p["name"] for p in operation["parameters"]}

    def test_enrolment_documents_its_idempotency_rules(self, openapi: dict[str, Any]) -> None:
        operation = openapi["paths"][URL]["post"]
        assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
        assert "Idempotent-Replayed" in _headers(operation["responses"]["201"])
        assert "idempotency_key_reused" in operation["description"]
