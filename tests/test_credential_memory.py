"""API keys verified once per process: any change made anywhere applies on the next request.

Each test lets this process verify (and remember) a key, changes the credential or its
owner from outside this process's code (another database session, or another process
running the operator command), and checks that the very next request sees the change.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import authentication
from accounts.models import ApiCredential, CredentialGeneration
from tests import factories
from tests.conftest import on_postgresql

# The changes are committed by other sessions, so these tests commit too.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[1]
# Authenticated callers get 404 for a pseudonym that does not exist; others 401 or 403.
PROBE = "/api/v1/enrolments/PSN-0000-0000-0000-0000-0"


@pytest.fixture(autouse=True)
def _postgresql_only(db: Any) -> None:
    if not on_postgresql():
        pytest.skip("keys are remembered only where triggers keep the generation")


def _client(api_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


def _elsewhere(sql: str, *params: Any) -> None:
    """Run `sql` in a session of its own that knows nothing of this process's memory."""
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True,
    ) as other:
        other.execute(sql, params)


def _remembered_key() -> tuple[ApiCredential, APIClient]:
    factories.escrow_key_active()
    platform, api_key = factories.platform_with_key()
    client = _client(api_key)
    assert client.get(PROBE).status_code == 404
    credential = ApiCredential.objects.get(platform=platform)
    assert credential.prefix in authentication._verified_keys
    return credential, client


def test_a_remembered_key_costs_one_small_query() -> None:
    _, client = _remembered_key()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(PROBE).status_code == 404
    credential_reads = [q["sql"] for q in queries.captured_queries
                        if "accounts_apicredential" in q["sql"]]
    assert credential_reads == []
    assert any("accounts_credentialgeneration" in q["sql"] for q in queries.captured_queries)


def test_a_revocation_in_another_process_refuses_the_next_request() -> None:
    credential, client = _remembered_key()
    env = {**os.environ, "DATABASE_URL": _database_url(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603 - the project's own interpreter and command
        [sys.executable, "manage.py", "credential", "revoke", credential.prefix],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert client.get(PROBE).status_code == 401


def test_a_revocation_by_plain_sql_refuses_the_next_request() -> None:
    credential, client = _remembered_key()
    _elsewhere("UPDATE accounts_apicredential SET revoked_at = now() WHERE id = %s",
               credential.pk)
    assert client.get(PROBE).status_code == 401


def test_an_expiry_set_elsewhere_applies_on_the_next_request() -> None:
    credential, client = _remembered_key()
    _elsewhere("UPDATE accounts_apicredential SET expires_at = now() WHERE id = %s",
               credential.pk)
    assert client.get(PROBE).status_code == 401


def test_a_platform_suspended_elsewhere_is_refused_on_the_next_request() -> None:
    credential, client = _remembered_key()
    _elsewhere("UPDATE accounts_platform SET is_active = false WHERE id = %s",
               credential.platform_id)
    assert client.get(PROBE).status_code == 401


def test_a_scope_withdrawn_elsewhere_applies_on_the_next_request() -> None:
    credential, client = _remembered_key()
    _elsewhere("""UPDATE accounts_apicredential SET scopes = '["enrolments:write"]'
                  WHERE id = %s""", credential.pk)
    assert client.get(PROBE).status_code == 403


def test_a_deleted_key_is_refused_on_the_next_request() -> None:
    credential, client = _remembered_key()
    _elsewhere("DELETE FROM accounts_apicredential WHERE id = %s", credential.pk)
    assert client.get(PROBE).status_code == 401


def test_a_change_inside_the_reading_transaction_applies_at_once() -> None:
    credential, client = _remembered_key()
    with transaction.atomic():
        assert client.get(PROBE).status_code == 404
        ApiCredential.objects.filter(pk=credential.pk).update(expires_at=timezone.now())
        assert client.get(PROBE).status_code == 401


def test_a_wrong_secret_behind_a_remembered_prefix_is_refused() -> None:
    credential, _ = _remembered_key()
    forged = f"esk_{credential.prefix}_{'A' * 43}"
    assert _client(forged).get(PROBE).status_code == 401


def test_without_the_generation_row_nothing_is_remembered() -> None:
    CredentialGeneration.objects.all().delete()
    factories.escrow_key_active()
    platform, api_key = factories.platform_with_key()
    client = _client(api_key)
    assert client.get(PROBE).status_code == 404
    assert authentication._verified_keys == {}
    ApiCredential.objects.filter(platform=platform).update(revoked_at="2026-01-01T00:00:00Z")
    assert client.get(PROBE).status_code == 401


def _database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/"
            f"{db['NAME']}")
