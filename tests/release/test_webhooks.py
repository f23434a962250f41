"""Platforms are told, by signed and retried webhooks, when a pseudonym was disclosed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import WebhookDelivery
from escrow.log.models import AuditEvent
from legal_requests.models import Release
from legal_requests.services.webhooks import notification_due_at, webhooks_send_due
from legal_requests.tasks import webhooks_send_due_task
from tests.release.conftest import (
    RELEASE_TEST_APPS,
    World,
    approved_request,
    enrol,
    webhook_endpoint,
)
from tests.release.receiver import webhook_receiver
from tests.release.test_release_api import submit

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)


def release(world: World, **kwargs: Any) -> Any:
    request = approved_request(world, [enrol(world)], **kwargs)
    for name in ("frank", "grace", "heidi"):
        assert submit(world, request, name).status_code == 201
    request.refresh_from_db()
    assert request.state == "released"
    return request


class TestSchedule:
    def test_due_at_release_without_a_nondisclosure_period(self) -> None:
        moment = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
        assert notification_due_at(nondisclosure_until=None, released_at=moment) == moment

    def test_due_the_day_after_the_nondisclosure_period(self) -> None:
        moment = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
        assert notification_due_at(nondisclosure_until=date(2027, 2, 28), released_at=moment) == (
            datetime(2027, 3, 1, tzinfo=UTC)
        )
        # A period that ended before the release: due at once.
        assert notification_due_at(nondisclosure_until=date(2026, 1, 1),
                                   released_at=moment) == moment


class TestDelivery:
    def test_signed_delivery_at_release_verifies_with_standard_webhooks(
        self, world: World
    ) -> None:
        with webhook_receiver() as receiver:
            endpoint = webhook_endpoint(world, receiver.url)
            request = release(world, fields=["family_name", "email"])
            assert webhooks_send_due_task() == 1
            (hit,) = receiver.received
        payload = Webhook(endpoint.signing_secret).verify(hit.body, hit.headers)
        assert payload["type"] == "identity.disclosed"
        data = payload["data"]
        target = request.targets.get()
        assert data["pseudonym"] == target.pseudonym
        assert data["request_reference"] == request.reference
        assert data["agency"]["name"] == world.agency.name
        assert data["legal_basis"]["code"] == world.basis.code
        assert data["fields"] == ["family_name", "email"]
        # No identity in the notice: only the platform's own pseudonym.
        assert b"Quartermainezz" not in hit.body
        assert b"canary" not in hit.body
        delivery = WebhookDelivery.objects.get()
        assert hit.headers["webhook-id"] == delivery.webhook_id
        assert delivery.delivered_at is not None
        assert delivery.attempts == 1
        assert AuditEvent.objects.filter(event_type="webhook.delivered").count() == 1
        assert Release.objects.get().platforms_notified_at is not None
        # A delivered event is not sent again.
        assert webhooks_send_due() == 0

    def test_a_forged_signature_does_not_verify(self, world: World) -> None:
        with webhook_receiver() as receiver:
            endpoint = webhook_endpoint(world, receiver.url)
            release(world)
            webhooks_send_due()
            (hit,) = receiver.received
        tampered = hit.body.replace(b"identity.disclosed", b"identity.disclosee")
        with pytest.raises(WebhookVerificationError):
            Webhook(endpoint.signing_secret).verify(tampered, hit.headers)

    def test_failures_retry_with_backoff_under_one_webhook_id(
        self, world: World, settings: Any
    ) -> None:
        settings.WEBHOOK_RETRY_BASE_SECONDS = 60
        with webhook_receiver() as receiver:
            receiver.statuses = [500, 503]
            webhook_endpoint(world, receiver.url)
            release(world)
            delivery = WebhookDelivery.objects.get()
            assert webhooks_send_due() == 1
            delivery.refresh_from_db()
            assert delivery.attempts == 1
            assert delivery.last_status_code == 500
            first_retry = delivery.due_at
            assert first_retry - timezone.now() > timedelta(seconds=50)
            # Not due yet: nothing is sent.
            assert webhooks_send_due() == 0
            assert webhooks_send_due(now=first_retry + timedelta(seconds=1)) == 1
            delivery.refresh_from_db()
            assert delivery.attempts == 2
            assert delivery.last_status_code == 503
            # Exponential: the second wait is twice the first.
            assert delivery.due_at - delivery.last_attempt_at > timedelta(seconds=110)
            assert webhooks_send_due(now=delivery.due_at + timedelta(seconds=1)) == 1
        ids = {hit.headers["webhook-id"] for hit in receiver.received}
        assert len(receiver.received) == 3
        assert ids == {delivery.webhook_id}
        delivery.refresh_from_db()
        assert delivery.delivered_at is not None
        assert delivery.attempts == 3

    def test_gives_up_after_the_last_attempt(self, world: World, settings: Any) -> None:
        settings.WEBHOOK_MAX_ATTEMPTS = 2
        with webhook_receiver() as receiver:
            receiver.statuses = [500, 500]
            webhook_endpoint(world, receiver.url)
            release(world)
            webhooks_send_due()
            later = timezone.now() + timedelta(days=1)
            webhooks_send_due(now=later)
            assert webhooks_send_due(now=later + timedelta(days=1)) == 0
        delivery = WebhookDelivery.objects.get()
        assert delivery.abandoned_at is not None
        assert delivery.delivered_at is None
        assert AuditEvent.objects.filter(event_type="webhook.abandoned").count() == 1

    def test_an_unreachable_receiver_is_retried(self, world: World) -> None:
        webhook_endpoint(world, "http://127.0.0.1:9/unreachable")
        release(world)
        assert webhooks_send_due() == 1
        delivery = WebhookDelivery.objects.get()
        assert delivery.delivered_at is None
        assert delivery.attempts == 1
        assert delivery.last_status_code is None
        assert delivery.last_error

    def test_waits_for_the_end_of_the_nondisclosure_period(self, world: World) -> None:
        until = timezone.now().date() + timedelta(days=30)
        with webhook_receiver() as receiver:
            webhook_endpoint(world, receiver.url)
            release(world, nondisclosure_until=until)
            assert webhooks_send_due() == 0
            delivery = WebhookDelivery.objects.get()
            assert delivery.due_at == datetime.combine(
                until + timedelta(days=1), datetime.min.time(), tzinfo=UTC
            )
            assert webhooks_send_due(now=delivery.due_at + timedelta(minutes=1)) == 1
            (hit,) = receiver.received
        assert json.loads(hit.body)["data"]["nondisclosure_until"] == until.isoformat()
