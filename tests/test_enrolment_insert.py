"""The signup's INSERT statements are the ones Django's compiler writes.

`escrow.vault.services.enrolment._insert_sql` writes them without running the compiler
per request; here its text and parameters are compared with the compiler's for each
model a signup stores, one row and several, so a Django upgrade that changes either
shows up as a failing test instead of a different statement.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.models import AutoField
from django.db.models.sql import InsertQuery
from django.utils import timezone

from escrow.log.events import Actor, event_prepare
from escrow.vault.models import BlindIndex, Enrolment
from escrow.vault.services.enrolment import _insert_sql
from tests import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the statement is PostgreSQL's"),
]


def compiled(rows: list[Any]) -> tuple[str, list[Any]]:
    model = type(rows[0])
    query = InsertQuery(model)
    query.insert_values(
        [f for f in model._meta.concrete_fields if not isinstance(f, AutoField)], rows
    )
    [(sql, params)] = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def same_parameter(ours: Any, theirs: Any) -> bool:
    # JSON values are wrapped in an adapter object that compares by identity.
    return type(ours) is type(theirs) and (
        ours == theirs or getattr(ours, "obj", object()) == getattr(theirs, "obj", None)
    )


def assert_as_compiled(rows: list[Any]) -> None:
    ours, theirs = _insert_sql(rows), compiled(rows)
    assert ours[0] == theirs[0]
    assert len(ours[1]) == len(theirs[1])
    assert all(same_parameter(a, b) for a, b in zip(ours[1], theirs[1], strict=True))


def test_the_enrolment_its_indexes_and_its_event_are_inserted_as_django_would(
    escrow_keypair: Any,
) -> None:
    platform = factories.PlatformFactory()
    now = timezone.now()
    enrolment = Enrolment(
        id=uuid.uuid4(), platform=platform, pseudonym="PSN-TEST", pseudonym_version=1,
        key_epoch=1, sealed_fields={"email": "c2VhbGVk", "phone": "c2VhbGVk"},
        evidence_provider="demo-idv", evidence_assurance_level="high",
        evidence_verified_at=now, idempotency_key="key-0001", request_fingerprint=b"\x01" * 32,
        created_at=now,
    )
    indexes = [
        BlindIndex(platform=platform, enrolment=enrolment, kind=kind, digest=bytes([n]) * 16,
                   version=2)
        for n, kind in enumerate(["email", "phone", "name_dob"])
    ]
    event = event_prepare(
        event_type="enrolment.created", actor=Actor.for_platform(platform.id),
        object_ref=f"enrolment:{enrolment.id}", platform_id=platform.id, occurred_at=now,
        details={"epoch": 1, "points": {"email": "00" * 16}},
    )
    for rows in ([enrolment], indexes[:1], indexes, [event]):
        assert_as_compiled(rows)
