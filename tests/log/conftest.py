"""Fixtures for the audit log: dave the auditor, and events in bulk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import staff_sign_in
from escrow.log.events import canonical_json
from escrow.log.models import AuditEvent
from tests import factories

PASSWORD = "correct horse battery"


def staff_client(username: str, *roles: Role) -> APIClient:
    user = factories.staff(username, *roles, password=PASSWORD)
    device = TOTPDevice.objects.get(user=user)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    issued = staff_sign_in(username=username, password=PASSWORD, otp_code=code)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def dave(db: Any) -> APIClient:
    """Dave the auditor, signed in with a staff token."""
    return staff_client("dave", Role.AUDITOR)


@pytest.fixture
def alice(db: Any) -> APIClient:
    """Alice the intake officer: staff, but no auditor."""
    return staff_client("alice", Role.INTAKE_OFFICER)


# The time in every bulk entry; the rows' copied occurred_at says the same (audit_verify
# compares every copied column with its entry).
BULK_TIME = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def bulk_entry(n: int) -> bytes:
    return canonical_json(
        {"v": 1, "type": "test.bulk", "time": "2026-11-23T18:00:00.000000Z",
         "actor": {"kind": "system", "ref": "bench", "role": ""}, "object": f"n:{n}",
         "details": {"n": n}, "sealed": None}
    )


def events_bulk_create(count: int, *, start: int = 0) -> list[int]:
    """`count` events in a few INSERTs (what event_record writes, minus the sealing)."""
    rows = [
        AuditEvent(event_type="test.bulk", occurred_at=BULK_TIME, actor_kind="system",
                   actor_ref="bench", object_ref=f"n:{n}", entry=bulk_entry(n))
        for n in range(start, start + count)
    ]
    created = AuditEvent.objects.bulk_create(rows, batch_size=5000)
    return [row.pk for row in created]


@pytest.fixture
def make_events(db: Any) -> Callable[..., list[int]]:
    return events_bulk_create
