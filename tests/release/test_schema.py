"""The release endpoints are described in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest

OPERATIONS = {
    ("/api/v1/releases/{request_id}", "get"): "release_status",
    ("/api/v1/releases/{request_id}/challenge", "get"): "release_challenge",
    ("/api/v1/releases/{request_id}/partials", "post"): "release_partial_submit",
    ("/api/v1/disclosure-requests/{request_id}/package", "get"): "disclosure_package_fetch",
}


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_operation_is_in_the_schema(schema: dict[str, Any], path: str, method: str) -> None:
    operation = schema["paths"][path][method]
    assert operation["operationId"] == OPERATIONS[(path, method)]
    assert operation["responses"]


def test_the_challenge_is_described(schema: dict[str, Any]) -> None:
    challenge = schema["components"]["schemas"]["ReleaseChallengeOutput"]
    assert {"request", "context", "approval", "items", "record_ids"} <= set(
        challenge["properties"]
    )
    assert "point" in schema["components"]["schemas"]["ReleaseItemOutput"]["properties"]
