"""Property-based fuzzing of the platform API from its own OpenAPI schema.

Any input at all gets a documented answer: never a 5xx, always a status, content type
and body that the schema declares. (Schemathesis' own pytest plugin is disabled in
pyproject.toml for pytest 9 compatibility; its Hypothesis strategies are used directly.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def api_schema(db: Any) -> Iterator[Any]:
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from config.wsgi import application

    # Calling the WSGI app directly would close the test's connection (and its
    # transaction) after each request, as Django's own test client prevents.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def not_a_server_error(ctx: Any, response: Any, case: Any) -> bool:
    assert response.status_code < 500, f"server error {response.status_code}"
    return True


# Headers too: a documented required header (Location on 201, ETag on the log's reads)
# must be sent.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


def test_enrolment_api_answers_every_input_as_documented(api_schema: Any,
                                                         platform_a: Any) -> None:
    operations = [
        result.ok()
        for result in api_schema.include(path_regex=r"^/api/v1/enrolments").get_all_operations()
    ]
    assert len(operations) >= 5
    auth = {"Authorization": f"Bearer {platform_a.api_key}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: Any) -> None:
            case.validate_response(case.call(headers=auth), checks=CHECKS)

        answers_as_documented()


def test_a_real_signup_validates_against_the_schema(api_schema: Any, platform_a: Any) -> None:
    operation = api_schema["/api/v1/enrolments"]["POST"]
    case = operation.Case(
        body=factories.identity_payload(),
        headers={"Idempotency-Key": factories.idempotency_key(),
                 "Authorization": f"Bearer {platform_a.api_key}"},
    )
    response = case.call()
    assert response.status_code == 201
    case.validate_response(response, checks=[status_code_conformance,
                                             response_schema_conformance])


# CI runs a few examples per operation and caller; FUZZ_EXAMPLES=40 for a deeper run.
FUZZ_EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "8"))


@pytest.mark.parametrize("kind", factories.CALLER_KINDS)
def test_every_operation_answers_every_caller_as_documented(
    api_schema: Any, caller_credentials: dict[str, Any], kind: str
) -> None:
    """Every operation of the OpenAPI document, fuzzed as each kind of caller."""
    from django.core.cache import cache

    secret = caller_credentials[kind]
    auth = {"Authorization": f"Bearer {secret}"} if secret else {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 40
    cases = 0
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case: Any) -> None:
            nonlocal cases
            cases += 1
            cache.clear()  # rate limits count per caller; this test is one caller
            case.validate_response(case.call(headers=auth), checks=CHECKS)

        try:
            answers_as_documented()
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            failures.append(f"{operation.method.upper()} {operation.path}: {first_line}")
    print(f"{kind}: {cases} cases over {len(operations)} operations")
    assert failures == []
