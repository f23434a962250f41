"""The signup's stored values: INSERT statements as Django's compiler writes them, and
request fingerprints as earlier versions computed them.

`escrow.vault.services.enrolment._insert_sql` writes them without running the compiler
per request; here its text and parameters are compared with the compiler's for each
model a signup stores, one row and several, so a Django upgrade that changes either
shows up as a failing test instead of a different statement.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import AutoField
from django.db.models.sql import InsertQuery
from django.utils import timezone

from escrow.keys import service_key
from escrow.log.events import Actor, event_prepare
from escrow.vault.identity import Evidence, Identity, PostalAddress
from escrow.vault.models import BlindIndex, Enrolment
from escrow.vault.services.enrolment import _fingerprint, _insert_sql
from tests import factories

pytestmark = pytest.mark.django_db


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


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the statement is PostgreSQL's")
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


@pytest.mark.parametrize("identity", [
    Identity(family_name="Okafor", email="erin@mail.example"),
    Identity(given_name="Erin", family_name="Okafor", date_of_birth=date(1990, 1, 2),
             postal_address=PostalAddress(lines=("1 High St", "Flat 2"), locality="Leeds",
                                          postal_code="LS1 1AA", country="GB"),
             email="erin@mail.example", phone="+447700900123", document_type="passport",
             document_number="P1234567", document_country="GB"),
])
def test_a_request_fingerprint_is_what_it_was(identity: Identity) -> None:
    # A retry after an upgrade must still match the fingerprint stored before it.
    platform = factories.PlatformFactory()
    evidence = Evidence(provider="demo-idv", reference="ref", assurance_level="high",
                        verified_at=datetime(2026, 11, 1, 10, tzinfo=UTC))
    body = json.dumps({"identity": asdict(identity), "evidence": asdict(evidence)},
                      sort_keys=True, separators=(",", ":"), default=str).encode()
    earlier = hmac.new(service_key("idempotency"), str(platform.id).encode() + b"\x00" + body,
                       hashlib.sha256).digest()
    assert _fingerprint(platform=platform, identity=identity, evidence=evidence) == earlier


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="prepared on PostgreSQL only")
def test_the_lookup_and_the_insert_are_prepared_once_per_connection() -> None:
    """PostgreSQL plans the signup's two statements once per connection and keeps the
    plan; every other statement is bound on the client and planned each time, as
    Django does."""
    from django.db.backends.postgresql.base import Cursor as DjangoClientCursor

    factories.escrow_key_active()
    platform, _ = factories.platform_with_key()

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall()]

    factories.enrolment(platform)
    statements = prepared()
    assert any("FROM escrow_blindindex b" in s for s in statements)
    assert any(s.lstrip().startswith("WITH rows_0 AS (INSERT") for s in statements)
    factories.enrolment(platform, email="second@example.org")
    factories.enrolment(platform, email="third@example.org")
    assert len(prepared()) == len(statements)  # reused, not prepared again
    # Django's own cursors are still client-side ones, and prepare nothing.
    with connection.cursor() as cursor:
        assert type(cursor.cursor) is DjangoClientCursor
    assert not any("pg_prepared_statements" in s for s in prepared())
