"""The release endpoints are described in the OpenAPI schema, as they behave."""

from __future__ import annotations

from typing import Any

import pytest

STAFF_TOKEN = [{"staffToken": []}]

# (path, method) -> operation id, success status, its JSON body, the request body (or None).
OPERATIONS: dict[tuple[str, str], tuple[str, str, str, str | None]] = {
    ("/api/v1/releases/{request_id}", "get"):
        ("release_status", "200", "ReleaseStatusOutput", None),
    ("/api/v1/releases/{request_id}/challenge", "get"):
        ("release_challenge", "200", "ReleaseChallengeOutput", None),
    ("/api/v1/releases/{request_id}/partials", "post"):
        ("release_partial_submit", "201", "ReleasePartialOutput", "ReleasePartialInputRequest"),
    ("/api/v1/disclosure-requests/{request_id}/package", "get"):
        ("disclosure_package_fetch", "200", "SealedPackageOutput", None),
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return schema["components"]["schemas"][name]


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_operation_is_in_the_schema(schema: dict[str, Any], path: str, method: str) -> None:
    operation = schema["paths"][path][method]
    operation_id, success, body, request_body = OPERATIONS[(path, method)]
    assert operation["operationId"] == operation_id
    responses = operation["responses"]
    assert [code for code in responses if code.startswith("2")] == [success]
    assert responses[success]["content"] == {"application/json": {"schema": ref(body)}}
    if request_body is None:
        assert "requestBody" not in operation
    else:
        assert operation["requestBody"]["content"] == {
            "application/json": {"schema": ref(request_body)}
        }
    for code in ("400", "401", "403", "404", "409", "503"):
        assert responses[code]["content"] == {
            "application/problem+json": {"schema": ref("Problem")}
        }
    (request_id,) = [p for p in operation["parameters"] if p["in"] == "path"]
    assert request_id == {"in": "path", "name": "request_id", "required": True,
                          "schema": {"type": "string", "format": "uuid"}}


@pytest.mark.parametrize("path", ["/api/v1/releases/{request_id}",
                                  "/api/v1/releases/{request_id}/challenge",
                                  "/api/v1/releases/{request_id}/partials"])
def test_custodian_endpoints_take_staff_tokens_only(schema: dict[str, Any], path: str) -> None:
    (operation,) = [op for method, op in schema["paths"][path].items() if method != "parameters"]
    assert operation["security"] == STAFF_TOKEN


def test_the_challenge_is_described(schema: dict[str, Any]) -> None:
    challenge = component(schema, "ReleaseChallengeOutput")
    assert set(challenge["required"]) == set(challenge["properties"]) == {
        "format", "request", "context", "escrow_key", "custodian", "partials_in", "epochs",
        "approval", "record_ids", "enrolments", "items",
    }
    properties = challenge["properties"]
    assert properties["request"] == ref("ReleaseRequestSummaryOutput")
    assert properties["context"] == ref("ReleaseContextOutput")
    assert properties["approval"] == ref("ReleaseApprovalProofOutput")
    assert properties["partials_in"]["type"] == "integer"
    assert properties["epochs"]["items"] == ref("ReleaseChallengeEpochOutput")
    assert properties["record_ids"] == {"type": "array",
                                        "items": {"type": "string", "format": "uuid"}}
    assert properties["enrolments"] == {"type": "array",
                                        "items": ref("ReleaseEnrolmentProofOutput")}
    assert properties["items"] == {"type": "array", "items": ref("ReleaseItemOutput")}

    item = component(schema, "ReleaseItemOutput")
    assert set(item["required"]) == {"record_id", "platform_id", "field", "epoch", "point"}
    assert item["properties"]["record_id"] == {"type": "string", "format": "uuid"}
    assert item["properties"]["epoch"] == {"type": "integer"}
    assert item["properties"]["point"]["type"] == "string"
    context = component(schema, "ReleaseContextOutput")
    assert context["properties"] == {"request_id": {"type": "string", "format": "uuid"},
                                     "approval_log_index": {"type": "integer"}}
    assert set(context["required"]) == {"request_id", "approval_log_index"}
    proof = component(schema, "ReleaseApprovalProofOutput")
    assert set(proof["required"]) == {"log_index", "tree_size", "root_hash", "checkpoint",
                                      "inclusion_proof", "leaf"}
    assert proof["properties"]["inclusion_proof"]["items"] == {"type": "string"}
    key = component(schema, "ReleaseEscrowKeyOutput")
    assert set(key["required"]) == {"epoch", "threshold", "fingerprint"}
    summary = component(schema, "ReleaseRequestSummaryOutput")
    assert set(summary["required"]) == set(summary["properties"])
    assert summary["properties"]["fields"] == {"type": "array", "items": {"type": "string"}}
    assert summary["properties"]["pseudonym_count"] == {"type": "integer"}


def test_a_custodian_answers_with_a_partial_or_a_refusal(schema: dict[str, Any]) -> None:
    answer = component(schema, "ReleasePartialInputRequest")
    # Exactly one of the two is sent: neither is required on its own.
    assert "required" not in answer
    assert answer["properties"]["partial"]["type"] == "object"
    assert answer["properties"]["refusal_reason"] == {"type": "string", "minLength": 1,
                                                      "maxLength": 2000}
    outcome = component(schema, "ReleasePartialOutput")
    assert outcome["required"] == ["decision"]
    assert outcome["properties"]["decision"] == ref("DecisionEnum")
    assert component(schema, "DecisionEnum")["enum"] == ["consent", "refusal"]
    assert outcome["properties"]["accepted"] == {"type": "integer"}
    assert outcome["properties"]["threshold"] == {"type": "integer"}
    assert outcome["properties"]["release_started"] == {"type": "boolean"}


def test_the_status_carries_no_personal_data(schema: dict[str, Any]) -> None:
    status = component(schema, "ReleaseStatusOutput")
    assert set(status["required"]) == set(status["properties"]) == {
        "request_id", "reference", "state", "threshold", "partials_in", "refusals",
        "last_abort_reason", "last_abort_at", "release_log_index", "prepared_at",
        "delivered_at", "download_expires_at", "platforms_notified_at", "download_secret_mail",
        "epochs",
    }
    nullable = {name for name, p in status["properties"].items() if p.get("nullable")}
    assert nullable == {
        "threshold", "last_abort_reason", "last_abort_at", "release_log_index", "prepared_at",
        "delivered_at", "download_expires_at", "platforms_notified_at", "download_secret_mail",
    }
    assert status["properties"]["last_abort_at"]["format"] == "date-time"
    # The mail's state and its failure's class name: never the recipient or the secret.
    mail = component(schema, "DownloadSecretMailOutput")
    assert set(mail["properties"]) == {"state", "attempts", "last_error", "next_attempt_at"}


def test_the_download_secret_reissue_is_documented(schema: dict[str, Any]) -> None:
    path = "/api/v1/disclosure-requests/{request_id}/package/reissue-secret"
    operation = schema["paths"][path]["post"]
    assert operation["operationId"] == "disclosure_package_secret_reissue"
    assert {"202", "403", "404", "409", "410"} <= set(operation["responses"])
    assert operation["security"] == [{"staffToken": []}]
    body = component(schema, "DownloadSecretReissueInputRequest")
    assert body["required"] == ["reason"]


def test_the_package_download_is_described(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/v1/disclosure-requests/{request_id}/package"]["get"]
    (secret,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert secret["name"] == "Download-Secret"
    assert not secret.get("required")
    assert secret["schema"] == {"type": "string"}
    package = component(schema, "SealedPackageOutput")
    assert set(package["required"]) == {"format", "request_id", "reference", "encryption",
                                        "package_sha256", "sealed_package"}
    assert package["properties"]["request_id"] == {"type": "string", "format": "uuid"}
