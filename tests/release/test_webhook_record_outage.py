"""A webhook the platform received is recorded as delivered even if the database goes away
while the POST is in flight, so the platform does not get it again (found by
bench/faults.py: a PostgreSQL restart during a delivery made the receiver see one
webhook-id twice, once the delivery's lease had lapsed)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import WebhookDelivery
from escrow.log.models import AuditEvent
from legal_requests.services.webhooks import webhooks_send_due
from tests.conftest import on_postgresql
from tests.release.conftest import RELEASE_TEST_APPS, World, webhook_endpoint
from tests.release.receiver import webhook_receiver
from tests.release.test_webhooks import release

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS),
]


def session_ender(pid: int) -> Any:
    """Ends the server session `pid` (as a restart or failover would) and waits until
    it is gone."""
    db = connection.settings_dict

    def end() -> None:
        with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                             user=db["USER"], password=db["PASSWORD"] or None,
                             dbname=db["NAME"], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            deadline = time.monotonic() + 10
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                [pid]).fetchone() and time.monotonic() < deadline:
                time.sleep(0.05)

    return end


def test_a_webhook_received_while_the_database_restarts_is_recorded_and_not_sent_again(
    world: World,
) -> None:
    if not on_postgresql():
        pytest.skip("ends a PostgreSQL session")
    with webhook_receiver() as receiver:
        webhook_endpoint(world, receiver.url)
        request = release(world)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            sender_pid = cursor.fetchone()[0]
        receiver.on_post = session_ender(sender_pid)

        assert webhooks_send_due() == 1
        receiver.on_post = None
        # Later scans, even once the delivery's lease would have lapsed, send nothing.
        assert webhooks_send_due(now=timezone.now() + timedelta(hours=1)) == 0

    assert len(receiver.received) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivered_at is not None
    assert delivery.attempts == 1
    assert AuditEvent.objects.filter(event_type="webhook.delivered",
                                     object_ref=f"webhook_delivery:{delivery.id}").count() == 1
    assert delivery.subject_ref == request.object_ref
