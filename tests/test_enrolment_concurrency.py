"""Idempotent enrolment under concurrent retries, on real PostgreSQL transactions."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from escrow.log.models import AuditEvent
from escrow.vault.models import BlindIndex, Enrolment
from tests import factories
from tests.conftest import on_postgresql
from tests.factories import identity_payload

# serialized_rollback restores the rows migrations seeded (legal bases) after the flush.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres]

RETRIES = 8


def _race(api_key: str, key: str, payload: dict[str, Any]) -> list[Any]:
    barrier = threading.Barrier(RETRIES)
    responses: list[Any] = [None] * RETRIES

    def attempt(slot: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
        barrier.wait()
        try:
            responses[slot] = client.post("/api/v1/enrolments", payload, format="json",
                                          HTTP_IDEMPOTENCY_KEY=key)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(RETRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def test_concurrent_retries_store_one_enrolment_and_agree() -> None:
    if not on_postgresql():
        pytest.skip("concurrency is tested on PostgreSQL; SQLite serialises writers")
    factories.escrow_key_active()
    _, api_key = factories.platform_with_key()
    key = factories.idempotency_key()
    responses = _race(api_key, key, identity_payload())
    assert all(r is not None for r in responses)
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["pseudonym"] for r in responses}) == 1
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == RETRIES - 1
    assert Enrolment.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="enrolment.created").count() == 1
    assert BlindIndex.objects.count() == BlindIndex.objects.filter(
        enrolment=Enrolment.objects.get()).count()


def test_concurrent_conflicting_bodies_store_exactly_one() -> None:
    if not on_postgresql():
        pytest.skip("concurrency is tested on PostgreSQL; SQLite serialises writers")
    factories.escrow_key_active()
    _, api_key = factories.platform_with_key()
    key = factories.idempotency_key()
    barrier = threading.Barrier(2)
    results: list[int] = []

    def attempt(name: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
        barrier.wait()
        try:
            response = client.post("/api/v1/enrolments", identity_payload(given_name=name),
                                   format="json", HTTP_IDEMPOTENCY_KEY=key)
            results.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in ("Ann", "Bea")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [201, 409]
    assert Enrolment.objects.count() == 1
