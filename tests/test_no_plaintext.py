"""Canary identity values never appear in any database column, log line or error body."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connection

from tests import factories
from tests.factories import CANARY, identity_payload

pytestmark = pytest.mark.django_db


def database_dump() -> str:
    """Every row of every table as text (bytes decoded leniently), like a stolen dump."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value).decode("latin-1"))
                    else:
                        chunks.append(str(value))
    return "\n".join(chunks)


def canary_variants() -> list[str]:
    out = []
    for value in CANARY.values():
        out += [value, value.lower(), value.upper(), value.replace("+", "")]
    return out


def test_no_identity_value_in_the_database_or_logs(
    platform_a: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = platform_a.client
    created = client.post("/api/v1/enrolments", identity_payload(), format="json",
                          HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())
    assert created.status_code == 201
    pseudonym = created.json()["pseudonym"]
    # Exercise every path once more: replay-conflict, ban, failures carrying canaries.
    bad = identity_payload()
    bad["identity"]["email"] = CANARY["family_name"]
    failed = client.post("/api/v1/enrolments", bad, format="json",
                         HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())
    assert failed.status_code == 400
    client.post(f"/api/v1/enrolments/{pseudonym}/ban")
    second = client.post("/api/v1/enrolments", identity_payload(), format="json",
                         HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())
    assert second.json()["banned_match"] is True

    dump = database_dump()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    bodies = created.content.decode() + failed.content.decode() + second.content.decode()
    for value in canary_variants():
        assert value not in dump, "identity value found in the database"
        assert value not in logs, "identity value found in a log line"
        assert value not in bodies, "identity value found in a response body"
