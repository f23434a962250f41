"""Webhooks a newcomer sees: the erasure notice, the operators' command, and the demo's
scheduler and local receiver verifying a real signed delivery."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from standardwebhooks.webhooks import Webhook

from accounts.models import Platform, WebhookDelivery, WebhookEndpoint
from accounts.services import webhook_endpoint_create, webhook_endpoint_ping
from escrow.log.models import AuditEvent
from legal_requests.services.webhooks import webhooks_send_due
from tests import factories
from tests.conftest import PlatformClient
from tests.factories import CANARY, identity_payload
from tests.processes import Started, database_url, free_loopback_port, wait_until
from tests.release.receiver import webhook_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = True


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_erasure_sends_the_platform_a_signed_notice(platform_a: PlatformClient) -> None:
    enrolled = platform_a.client.post("/api/v1/enrolments", identity_payload(), format="json",
                                      HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())
    pseudonym = enrolled.json()["pseudonym"]
    with webhook_receiver() as receiver:
        created = platform_a.client.post(
            "/api/v1/webhook-endpoints", {"url": receiver.url,
                                          "event_types": ["enrolment.erased"]}, format="json",
        ).json()
        assert platform_a.client.delete(f"/api/v1/enrolments/{pseudonym}").status_code == 200
        assert webhooks_send_due() == 1
    (hit,) = receiver.received
    payload = Webhook(created["signing_secret"]).verify(hit.body, hit.headers)
    assert payload["type"] == "enrolment.erased"
    assert payload["data"]["pseudonym"] == pseudonym
    assert all(value.encode() not in hit.body for value in CANARY.values())
    assert AuditEvent.objects.filter(event_type="webhook.delivered").count() == 1


def test_endpoints_filtered_to_other_events_get_no_erasure_notice(
    platform_a: PlatformClient,
) -> None:
    platform_a.client.post("/api/v1/webhook-endpoints",
                           {"url": "https://hooks.example/x",
                            "event_types": ["identity.disclosed"]}, format="json")
    enrolled = platform_a.client.post("/api/v1/enrolments", identity_payload(), format="json",
                                      HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())
    platform_a.client.delete(f"/api/v1/enrolments/{enrolled.json()['pseudonym']}")
    assert not WebhookDelivery.objects.exists()


def test_operator_command_adds_lists_rotates_disables_and_deletes() -> None:
    factories.platform_with_key(name="Chirp")
    added = run("webhook_endpoint", "--platform", "Chirp", "add", "https://hooks.chirp.example/x",
                "--event-types", "identity.disclosed")
    secret = re.search(r"(whsec_\S+)", added).group(1)  # type: ignore[union-attr]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.signing_secret == secret
    listing = run("webhook_endpoint", "--platform", "Chirp", "list")
    assert str(endpoint.id) in listing
    assert "enabled" in listing
    assert "whsec_" not in listing
    rotated = run("webhook_endpoint", "--platform", "Chirp", "rotate", str(endpoint.id),
                  "--overlap-hours", "1")
    endpoint.refresh_from_db()
    assert endpoint.signing_secret in rotated
    assert endpoint.previous_signing_secret == secret
    run("webhook_endpoint", "--platform", "Chirp", "disable", str(endpoint.id))
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    with pytest.raises(CommandError, match="must use https"):
        run("webhook_endpoint", "--platform", "Chirp", "add", "http://hooks.chirp.example/x")
    factories.platform_with_key(name="Natter")
    with pytest.raises(CommandError, match="no such webhook endpoint"):
        run("webhook_endpoint", "--platform", "Natter", "delete", str(endpoint.id))
    run("webhook_endpoint", "--platform", "Chirp", "delete", str(endpoint.id))
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(event_type__startswith="webhook_endpoint.").count() == 4


def test_scheduled_tasks_run_the_due_delivery_scan() -> None:
    with webhook_receiver() as receiver:
        platform, _ = factories.platform_with_key(name="Chirp")
        endpoint = WebhookEndpoint.objects.create(platform=platform, url=receiver.url,
                                                  signing_secret="whsec_" + "A" * 44)
        webhook_endpoint_ping(endpoint=endpoint)
        output = run("scheduled_tasks", "--skip", "log-sequence")
    assert "release-webhooks-send-due: 1" in output
    assert len(receiver.received) == 1


def test_scheduled_tasks_refuse_an_unknown_entry() -> None:
    with pytest.raises(CommandError, match="no such schedule entries"):
        run("scheduled_tasks", "--skip", "no-such-task")


def test_demo_setup_points_the_demo_platform_at_the_receiver(
    tmp_path: Path, escrow_keypair: Any,
) -> None:
    run("demo_setup", "--out", str(tmp_path), "--webhook-receiver-url",
        "http://127.0.0.1:8001/webhooks")
    platform = Platform.objects.get(name="Demo Social")
    endpoint = WebhookEndpoint.objects.get(platform=platform)
    secret_file = tmp_path / "webhook-receiver.secret"
    assert secret_file.read_text() == f"{endpoint.signing_secret}\n"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert endpoint.signing_secret not in (tmp_path / "credentials.json").read_text()
    # Started again on another port: the same endpoint follows, the secret stays.
    run("demo_setup", "--out", str(tmp_path), "--webhook-receiver-url",
        "http://127.0.0.1:9001/webhooks")
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9001/webhooks"
    assert secret_file.read_text() == f"{endpoint.signing_secret}\n"
    assert WebhookEndpoint.objects.count() == 1
    # A lost secret file gets a fresh secret (the old one was shown once and is gone).
    secret_file.unlink()
    run("demo_setup", "--out", str(tmp_path), "--webhook-receiver-url",
        "http://127.0.0.1:9001/webhooks")
    endpoint.refresh_from_db()
    assert secret_file.read_text() == f"{endpoint.signing_secret}\n"


def test_demo_receiver_verifies_a_real_signed_delivery(tmp_path: Path) -> None:
    platform, _ = factories.platform_with_key(name="Chirp")
    port = free_loopback_port()
    issued = webhook_endpoint_create(platform=platform,
                                     url=f"http://127.0.0.1:{port}/webhooks")
    secret_file = tmp_path / "receiver.secret"
    # One secret a line: the receiver tries each (another endpoint's comes first).
    secret_file.write_text(f"whsec_{'C' * 44}\n{issued.signing_secret}\n")
    receiver = Started([sys.executable, "manage.py", "webhook_receiver", "--port", str(port),
                        "--secret-file", str(secret_file)], env={})
    try:
        receiver.wait_for("listening on", timeout=60)
        good = webhook_endpoint_ping(endpoint=issued.endpoint)
        webhooks_send_due()
        receiver.wait_for(f"verified {good.webhook_id} webhook.test", timeout=10)
        good.refresh_from_db()
        assert good.delivered_at is not None
        assert good.last_status_code == 204
        # A receiver holding another secret refuses the delivery, and it stays due.
        secret_file.write_text("whsec_" + "B" * 44)
        bad = webhook_endpoint_ping(endpoint=issued.endpoint)
        webhooks_send_due()
        receiver.wait_for(f"REJECTED {bad.webhook_id}", timeout=10)
    finally:
        receiver.stop()
    bad.refresh_from_db()
    assert bad.delivered_at is None
    assert bad.last_status_code == 401


def test_console_shows_endpoints_and_attempts_but_never_a_secret(client: Any) -> None:
    from tests.test_operator_commands import _admin_client

    client, _ = _admin_client(client)
    platform, _ = factories.platform_with_key(name="Chirp")
    with webhook_receiver() as receiver:
        issued = webhook_endpoint_create(platform=platform, url=receiver.url)
        delivery = webhook_endpoint_ping(endpoint=issued.endpoint)
        webhooks_send_due()
    pages = [client.get("/admin/accounts/webhookendpoint/"),
             client.get(f"/admin/accounts/webhookendpoint/{issued.endpoint.pk}/change/"),
             client.get(f"/admin/accounts/webhookdelivery/{delivery.pk}/change/")]
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all(issued.signing_secret.encode() not in page.content for page in pages)
    assert b"204" in pages[2].content  # the attempt's status
    edit = client.post(f"/admin/accounts/webhookendpoint/{issued.endpoint.pk}/change/",
                       {"url": "https://elsewhere.example/x", "is_active": ""})
    assert edit.status_code == 403
    issued.endpoint.refresh_from_db()
    assert issued.endpoint.is_active


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_demo_scheduler_loop_delivers_and_stops_cleanly(settings: Any) -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the loop runs in another process, which sees only a server database")
    platform, _ = factories.platform_with_key(name="Chirp")
    with webhook_receiver() as receiver:
        issued = webhook_endpoint_create(platform=platform, url=receiver.url)
        delivery = webhook_endpoint_ping(endpoint=issued.endpoint)
        loop = Started([sys.executable, "manage.py", "scheduled_tasks", "--loop",
                        "--max-interval", "1", "--skip", "log-sequence"],
                       env={"DATABASE_URL": database_url(settings.DATABASES["default"])})
        try:
            wait_until(lambda: receiver.received, timeout=60, what="the ping to arrive")
        finally:
            assert loop.stop() == 0
    Webhook(issued.signing_secret).verify(receiver.received[0].body,
                                          receiver.received[0].headers)
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None
    assert "release-webhooks-send-due: 1" in loop.text
