"""Platforms register webhook endpoints over the API, rotate their secrets, test them
with a ping and read each delivery's attempts."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import WebhookDelivery, WebhookEndpoint
from accounts.selectors import webhook_endpoints_for_event
from accounts.services import WebhookUrlRejected, credential_create, webhook_url_check
from escrow.log.models import AuditEvent
from legal_requests.services.webhooks import webhooks_send_due
from tests import factories
from tests.release.receiver import webhook_receiver

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints"
PUBLIC_URL = "https://hooks.chirp.example/escrow"


def platform_client(name: str) -> APIClient:
    _, key = factories.platform_with_key(name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def chirp() -> APIClient:
    return platform_client("Chirp")


@pytest.fixture
def natter() -> APIClient:
    return platform_client("Natter")


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = True


def register(client: APIClient, url: str = PUBLIC_URL, **extra: Any) -> Any:
    return client.post(URL, {"url": url, **extra}, format="json")


def verify(secret: str, hit: Any) -> dict[str, Any]:
    return dict(Webhook(secret).verify(hit.body, hit.headers))


def deliver_ping(client: APIClient, endpoint_id: str) -> None:
    assert client.post(f"{URL}/{endpoint_id}/ping").status_code == 202
    assert webhooks_send_due() == 1


class TestSecretShownOnce:
    def test_create_answers_201_with_location_and_the_secret(
        self, chirp: APIClient, caplog: Any
    ) -> None:
        caplog.set_level(logging.DEBUG)
        response = register(chirp, description="moderation queue",
                            event_types=["identity.disclosed"])
        assert response.status_code == 201
        body = response.json()
        assert response["Location"] == f"{URL}/{body['id']}"
        secret = body["signing_secret"]
        assert secret.startswith("whsec_")
        assert body["url"] == PUBLIC_URL
        assert body["event_types"] == ["identity.disclosed"]
        assert body["enabled"] is True
        # Never again: not in the endpoint, the list, the audit log or the logs.
        one = chirp.get(response["Location"])
        listed = chirp.get(URL)
        assert one.status_code == 200
        assert listed.status_code == 200
        assert [e["id"] for e in listed.json()] == [body["id"]]
        for later in (one, listed):
            assert secret not in later.content.decode()
            assert b"signing_secret" not in later.content
        entries = b"".join(bytes(e.entry) for e in AuditEvent.objects.all())
        assert b"webhook_endpoint.created" in entries
        assert secret.encode() not in entries
        assert secret.split("_", 1)[1].encode() not in entries
        assert secret not in caplog.text

    def test_rotation_shows_the_new_secret_once(self, chirp: APIClient) -> None:
        created = register(chirp).json()
        rotated = chirp.post(f"{URL}/{created['id']}/rotate-secret", {}, format="json")
        assert rotated.status_code == 200
        new_secret = rotated.json()["signing_secret"]
        assert new_secret.startswith("whsec_")
        assert new_secret != created["signing_secret"]
        assert rotated.json()["previous_secret_expires_at"] is not None
        shown = chirp.get(f"{URL}/{created['id']}").content.decode()
        assert new_secret not in shown
        assert created["signing_secret"] not in shown
        event = AuditEvent.objects.get(event_type="webhook_endpoint.secret_rotated")
        assert new_secret.encode() not in bytes(event.entry)
        assert created["signing_secret"].encode() not in bytes(event.entry)


class TestUrlValidation:
    @pytest.mark.parametrize("url", [
        "http://hooks.chirp.example/escrow",         # plain http outside loopback
        "https://user:pass@hooks.chirp.example/x",   # credentials in the URL
        "https://token@hooks.chirp.example/x",
        "https://10.0.0.7/hooks",                    # the service's own network
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[fd00::1]/hooks",
        "https://[::ffff:10.0.0.7]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://hooks.chirp.example/escrow#frag",
        "https://127.0.0.1/hooks",                   # loopback, not allowed here
        "http://localhost:8080/hooks",
        "ftp://hooks.chirp.example/x",
    ])
    def test_refused_urls_are_422_without_echoing_them(
        self, chirp: APIClient, settings: Any, url: str
    ) -> None:
        settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = False
        response = register(chirp, url)
        assert response.status_code == 422, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "webhook_url_rejected"
        assert url not in response.content.decode()
        assert not WebhookEndpoint.objects.exists()

    @pytest.mark.parametrize("url", ["hooks.chirp.example/x", "https://", "x" * 501,
                                     "https://2130706433/hooks"])
    def test_malformed_urls_are_400(self, chirp: APIClient, url: str) -> None:
        response = register(chirp, url)
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "url"

    @pytest.mark.parametrize("url", ["https://2130706433/hooks", "https://0x7f.1/hooks",
                                     "https://hooks.example:99999/x", "mailto:ops@example.org",
                                     "https:///hooks", "https://0x7f.0x1/hooks",
                                     "https://evil.0x7f.1/hooks"])
    def test_the_service_refuses_what_the_api_would_not_let_through(self, url: str) -> None:
        # The operators' command reaches the service without the API's URL field.
        with pytest.raises(WebhookUrlRejected):
            webhook_url_check(url)

    @pytest.mark.parametrize("url", ["http://127.0.0.1:8302/hooks", "http://localhost/hooks",
                                     "http://[::1]:9000/hooks"])
    def test_loopback_http_only_where_allowed(
        self, chirp: APIClient, loopback_allowed: None, url: str
    ) -> None:
        assert register(chirp, url).status_code == 201

    def test_allowing_loopback_allows_nothing_else_over_http(
        self, chirp: APIClient, loopback_allowed: None
    ) -> None:
        assert register(chirp, "http://hooks.chirp.example/x").status_code == 422

    @pytest.mark.parametrize("url", ["ftp://127.0.0.1/hooks", "ws://localhost/hooks"])
    def test_allowing_loopback_allows_no_other_scheme(self, loopback_allowed: None,
                                                      url: str) -> None:
        with pytest.raises(WebhookUrlRejected):
            webhook_url_check(url)

    def test_patch_validates_the_url_too(self, chirp: APIClient) -> None:
        created = register(chirp).json()
        response = chirp.patch(f"{URL}/{created['id']}", {"url": "http://hooks.example/x"},
                               format="json")
        assert response.status_code == 422
        assert WebhookEndpoint.objects.get().url == PUBLIC_URL

    def test_unknown_fields_and_event_types_are_400(self, chirp: APIClient) -> None:
        assert register(chirp, secret="whsec_mine").status_code == 400
        response = register(chirp, event_types=["everything"])
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "event_types.0"


class TestTenancy:
    def test_another_platforms_endpoint_is_404_everywhere(
        self, chirp: APIClient, natter: APIClient
    ) -> None:
        theirs = register(chirp).json()["id"]
        path = f"{URL}/{theirs}"
        answers = [
            natter.get(path), natter.patch(path, {"enabled": False}, format="json"),
            natter.post(f"{path}/rotate-secret", {}, format="json"),
            natter.post(f"{path}/ping"), natter.get(f"{path}/deliveries"), natter.delete(path),
        ]
        assert [a.status_code for a in answers] == [404] * 6
        assert all(a["Content-Type"] == "application/problem+json" for a in answers)
        assert natter.get(URL).json() == []
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.is_active
        assert not endpoint.deliveries.exists()

    def test_a_read_only_key_reads_but_cannot_subscribe(self, chirp: APIClient) -> None:
        endpoint_id = register(chirp).json()["id"]
        platform = WebhookEndpoint.objects.get().platform
        reader = APIClient()
        reader.credentials(HTTP_AUTHORIZATION="Bearer " + credential_create(
            platform=platform, scopes=["enrolments:read"]).api_key)
        assert reader.get(URL).status_code == 200
        assert reader.get(f"{URL}/{endpoint_id}/deliveries").status_code == 200
        refused = [register(reader), reader.post(f"{URL}/{endpoint_id}/ping"),
                   reader.patch(f"{URL}/{endpoint_id}", {"enabled": False}, format="json"),
                   reader.post(f"{URL}/{endpoint_id}/rotate-secret", {}, format="json"),
                   reader.delete(f"{URL}/{endpoint_id}")]
        assert [r.status_code for r in refused] == [403] * 5
        assert WebhookEndpoint.objects.count() == 1

    def test_agencies_and_anonymous_callers_are_refused(self, chirp: APIClient) -> None:
        _, agency_key = factories.agency_with_key()
        agency = APIClient()
        agency.credentials(HTTP_AUTHORIZATION=f"Bearer {agency_key}")
        assert agency.get(URL).status_code == 403
        assert register(agency).status_code == 403
        assert APIClient().get(URL).status_code == 401


class TestLifecycle:
    def test_update_and_delete_are_audited(self, chirp: APIClient) -> None:
        endpoint_id = register(chirp).json()["id"]
        patched = chirp.patch(f"{URL}/{endpoint_id}",
                              {"description": "new", "enabled": False}, format="json")
        assert patched.status_code == 200
        assert patched.json()["description"] == "new"
        assert patched.json()["enabled"] is False
        assert chirp.delete(f"{URL}/{endpoint_id}").status_code == 204
        assert chirp.get(f"{URL}/{endpoint_id}").status_code == 404
        assert list(AuditEvent.objects.filter(event_type__startswith="webhook_endpoint.")
                    .order_by("id").values_list("event_type", flat=True)) == [
            "webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.deleted",
        ]

    def test_deleting_an_endpoint_logs_each_notice_it_still_owed(
        self, chirp: APIClient
    ) -> None:
        """Its deliveries go with it, as an abandonment does: each notice of record still
        owed is a `webhook.abandoned` event, so the log shows what the platform will
        never be told (a test event is not one)."""
        from accounts.models import WebhookEventType
        from accounts.services import webhook_event_enqueue

        created = register(chirp, event_types=["enrolment.erased"]).json()
        endpoint = WebhookEndpoint.objects.get(id=created["id"])
        later = timezone.now() + timedelta(days=30)
        for n in (1, 2):
            webhook_event_enqueue(platform_id=endpoint.platform_id,
                                  event_type=WebhookEventType.ENROLMENT_ERASED,
                                  subject_ref=f"enrolment:{n}", data={}, due_at=later)
        delivered = WebhookDelivery.objects.filter(subject_ref="enrolment:2")
        delivered.update(delivered_at=timezone.now())
        assert chirp.post(f"{URL}/{created['id']}/ping").status_code == 202
        assert chirp.delete(f"{URL}/{created['id']}").status_code == 204
        (abandoned,) = AuditEvent.objects.filter(event_type="webhook.abandoned")
        details = json.loads(bytes(abandoned.entry))["details"]
        assert details["event"] == "enrolment.erased"
        assert details["subject"] == "enrolment:1"
        assert details["reason"] == "endpoint deleted"
        assert details["endpoint"] == created["id"]
        deleted = AuditEvent.objects.get(event_type="webhook_endpoint.deleted")
        assert json.loads(bytes(deleted.entry))["details"]["abandoned_deliveries"] == 1
        assert not WebhookDelivery.objects.exists()

    def test_lists_page_with_link_headers(self, chirp: APIClient) -> None:
        ids = [register(chirp).json()["id"] for _ in range(3)]
        seen, url = [], f"{URL}?page_size=2"
        while url:
            page = chirp.get(url)
            assert page.status_code == 200
            seen += [e["id"] for e in page.json()]
            url = next((part.split(";")[0].strip(" <>") for part in
                        page.get("Link", "").split(",") if 'rel="next"' in part), "")
        assert seen == ids  # oldest first, each once

    def test_unknown_list_parameters_are_400(self, chirp: APIClient) -> None:
        register(chirp)
        response = chirp.get(URL, {"enabled": "true"})
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "enabled"

    def test_event_type_filter_picks_the_endpoints_for_an_event(self, chirp: APIClient) -> None:
        everything = register(chirp).json()["id"]
        disclosures = register(chirp, event_types=["identity.disclosed"]).json()["id"]
        erasures = register(chirp, event_types=["enrolment.erased"]).json()["id"]
        chirp.patch(f"{URL}/{everything}", {"enabled": False}, format="json")
        platform_id = WebhookEndpoint.objects.get(pk=everything).platform_id
        found = webhook_endpoints_for_event(platform_id=platform_id,
                                            event_type="identity.disclosed")
        assert [str(e.id) for e in found] == [disclosures]
        assert erasures not in [str(e.id) for e in found]


class TestDelivery:
    def test_ping_is_delivered_signed_and_shown_in_history(
        self, chirp: APIClient, loopback_allowed: None
    ) -> None:
        with webhook_receiver() as receiver:
            created = register(chirp, receiver.url).json()
            receiver.statuses = [503]
            deliver_ping(chirp, created["id"])
            history = chirp.get(f"{URL}/{created['id']}/deliveries").json()
            assert history[0]["status"] == "pending"
            assert history[0]["attempts"][0]["status_code"] == 503
            assert history[0]["attempts"][0]["error"] == "HTTP 503"
            assert history[0]["next_attempt_at"] is not None
            # The retry comes due; the receiver now answers 204.
            WebhookDelivery.objects.update(due_at=timezone.now())
            assert webhooks_send_due() == 1
        first, second = receiver.received
        payload = verify(created["signing_secret"], second)
        assert payload["type"] == "webhook.test"
        assert payload["data"] == {"endpoint_id": created["id"]}
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        (delivery,) = chirp.get(f"{URL}/{created['id']}/deliveries").json()
        assert delivery["id"] == second.headers["webhook-id"]
        assert delivery["status"] == "delivered"
        assert delivery["next_attempt_at"] is None
        assert [a["status_code"] for a in delivery["attempts"]] == [503, 204]
        assert [a["succeeded"] for a in delivery["attempts"]] == [False, True]
        # A ping is the platform's own check, not an event of record.
        assert not AuditEvent.objects.filter(event_type="webhook.delivered").exists()

    def test_one_ping_at_a_time(self, chirp: APIClient, loopback_allowed: None) -> None:
        endpoint_id = register(chirp, "http://127.0.0.1:9/unused").json()["id"]
        assert chirp.post(f"{URL}/{endpoint_id}/ping").status_code == 202
        second = chirp.post(f"{URL}/{endpoint_id}/ping")
        assert second.status_code == 409
        assert second.json()["code"] == "webhook_ping_pending"

    def test_a_disabled_endpoint_cannot_be_pinged(
        self, chirp: APIClient, loopback_allowed: None
    ) -> None:
        endpoint_id = register(chirp, "http://127.0.0.1:9/unused").json()["id"]
        chirp.patch(f"{URL}/{endpoint_id}", {"enabled": False}, format="json")
        refused = chirp.post(f"{URL}/{endpoint_id}/ping")
        assert refused.status_code == 409
        assert refused["Content-Type"] == "application/problem+json"
        assert refused.json()["code"] == "webhook_endpoint_disabled"
        assert chirp.get(f"{URL}/{endpoint_id}/deliveries").json() == []

    def test_disabled_endpoint_receives_nothing(
        self, chirp: APIClient, loopback_allowed: None
    ) -> None:
        with webhook_receiver() as receiver:
            endpoint_id = register(chirp, receiver.url).json()["id"]
            assert chirp.post(f"{URL}/{endpoint_id}/ping").status_code == 202
            chirp.patch(f"{URL}/{endpoint_id}", {"enabled": False}, format="json")
            webhooks_send_due()
        assert receiver.received == []
        (delivery,) = chirp.get(f"{URL}/{endpoint_id}/deliveries").json()
        assert delivery["status"] == "abandoned"
        assert delivery["attempts"] == []


class TestRotationOverlap:
    def rotate(self, client: APIClient, endpoint_id: str, overlap: int) -> str:
        response = client.post(f"{URL}/{endpoint_id}/rotate-secret",
                               {"overlap_seconds": overlap}, format="json")
        assert response.status_code == 200
        return str(response.json()["signing_secret"])

    def test_both_signatures_during_the_overlap_then_only_the_new(
        self, chirp: APIClient, loopback_allowed: None
    ) -> None:
        with webhook_receiver() as receiver:
            created = register(chirp, receiver.url).json()
            old = created["signing_secret"]
            new = self.rotate(chirp, created["id"], 3600)
            deliver_ping(chirp, created["id"])
            # The overlap ends (as an hour later).
            WebhookEndpoint.objects.update(
                previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
            )
            deliver_ping(chirp, created["id"])
        during, after = receiver.received
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verify(old, during)["type"] == verify(new, during)["type"] == "webhook.test"
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert verify(new, after)["type"] == "webhook.test"
        with pytest.raises(WebhookVerificationError):
            verify(old, after)

    def test_zero_overlap_drops_the_old_secret_at_once(
        self, chirp: APIClient, loopback_allowed: None
    ) -> None:
        with webhook_receiver() as receiver:
            created = register(chirp, receiver.url).json()
            new = self.rotate(chirp, created["id"], 0)
            deliver_ping(chirp, created["id"])
        (hit,) = receiver.received
        verify(new, hit)
        with pytest.raises(WebhookVerificationError):
            verify(created["signing_secret"], hit)

    def test_overlap_over_seven_days_is_400(self, chirp: APIClient) -> None:
        endpoint_id = register(chirp).json()["id"]
        response = chirp.post(f"{URL}/{endpoint_id}/rotate-secret",
                              {"overlap_seconds": 8 * 86400}, format="json")
        assert response.status_code == 400
