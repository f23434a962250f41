"""Every disclosure-workflow endpoint is described in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest

OPERATIONS = {
    ("/api/v1/disclosure-requests", "get"): "disclosure_request_list",
    ("/api/v1/disclosure-requests", "post"): "disclosure_request_create",
    ("/api/v1/disclosure-requests/{request_id}", "get"): "disclosure_request_get",
    ("/api/v1/disclosure-requests/{request_id}/document", "get"): "disclosure_request_document",
    ("/api/v1/disclosure-requests/{request_id}/withdraw", "post"): "disclosure_request_withdraw",
    ("/api/v1/disclosure-requests/{request_id}/information-response", "post"):
        "disclosure_request_information_response",
    ("/api/v1/disclosure-requests/{request_id}/review", "post"):
        "disclosure_request_review_start",
    ("/api/v1/disclosure-requests/{request_id}/approve", "post"): "disclosure_request_approve",
    ("/api/v1/disclosure-requests/{request_id}/reject", "post"): "disclosure_request_reject",
    ("/api/v1/disclosure-requests/{request_id}/request-information", "post"):
        "disclosure_request_information_request",
    ("/api/v1/disclosure-requests/{request_id}/callback-verification", "post"):
        "disclosure_request_callback_verification",
    ("/api/v1/disclosure-requests/{request_id}/retrospective-review", "post"):
        "disclosure_request_retrospective_review",
    ("/api/v1/legal-bases", "get"): "legal_basis_list",
    ("/api/v1/legal-holds", "get"): "legal_hold_list",
    ("/api/v1/legal-holds", "post"): "legal_hold_create",
    ("/api/v1/legal-holds/{hold_id}", "get"): "legal_hold_get",
    ("/api/v1/legal-holds/{hold_id}/extend", "post"): "legal_hold_extend",
    ("/api/v1/legal-holds/{hold_id}/lift", "post"): "legal_hold_lift",
    ("/api/v1/transparency-reports", "get"): "transparency_report",
}


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_operation_is_in_the_schema(schema: dict[str, Any], path: str, method: str) -> None:
    operation = schema["paths"][path][method]
    assert operation["operationId"] == OPERATIONS[(path, method)]
    assert operation["responses"]


def test_the_create_body_is_described(schema: dict[str, Any]) -> None:
    body = schema["components"]["schemas"]["DisclosureRequestCreateInputRequest"]
    assert {"officer", "legal_basis", "document", "targets", "requested_fields",
            "expires_at"} <= set(body["required"])
