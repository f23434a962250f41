"""Every disclosure-workflow endpoint is described in the OpenAPI schema, as it behaves."""

from __future__ import annotations

from typing import Any

import pytest

REQUEST = "/api/v1/disclosure-requests/{request_id}"
HOLD = "/api/v1/legal-holds/{hold_id}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


STAFF_VIEW = ref("StaffDisclosureRequestOutput")
AGENCY_VIEW = ref("DisclosureRequestOutput")

# (path, method) -> operation id, success status, its JSON body, the request body (or None).
OPERATIONS: dict[tuple[str, str], tuple[str, str, dict[str, Any] | None, str | None]] = {
    ("/api/v1/disclosure-requests", "get"):
        ("disclosure_request_list", "200", array_of("StaffDisclosureRequestOutput"), None),
    ("/api/v1/disclosure-requests", "post"):
        ("disclosure_request_create", "201", STAFF_VIEW, "DisclosureRequestCreateInputRequest"),
    (REQUEST, "get"): ("disclosure_request_get", "200", STAFF_VIEW, None),
    (f"{REQUEST}/document", "get"): ("disclosure_request_document", "200", None, None),
    (f"{REQUEST}/withdraw", "post"):
        ("disclosure_request_withdraw", "200", AGENCY_VIEW, "WithdrawInputRequest"),
    (f"{REQUEST}/information-response", "post"):
        ("disclosure_request_information_response", "200", AGENCY_VIEW, "AnswerInputRequest"),
    (f"{REQUEST}/review", "post"): ("disclosure_request_review_start", "200", STAFF_VIEW, None),
    (f"{REQUEST}/approve", "post"):
        ("disclosure_request_approve", "200", STAFF_VIEW, "ReasonInputRequest"),
    (f"{REQUEST}/reject", "post"):
        ("disclosure_request_reject", "200", STAFF_VIEW, "ReasonInputRequest"),
    (f"{REQUEST}/request-information", "post"):
        ("disclosure_request_information_request", "200", STAFF_VIEW, "QuestionInputRequest"),
    (f"{REQUEST}/callback-verification", "post"):
        ("disclosure_request_callback_verification", "200", STAFF_VIEW, "CallbackInputRequest"),
    (f"{REQUEST}/retrospective-review", "post"):
        ("disclosure_request_retrospective_review", "200", STAFF_VIEW,
         "RetrospectiveInputRequest"),
    ("/api/v1/legal-bases", "get"):
        ("legal_basis_list", "200", array_of("LegalBasisOutput"), None),
    ("/api/v1/legal-holds", "get"): ("legal_hold_list", "200", array_of("LegalHoldOutput"), None),
    ("/api/v1/legal-holds", "post"):
        ("legal_hold_create", "201", array_of("LegalHoldOutput"), "LegalHoldCreateInputRequest"),
    (HOLD, "get"): ("legal_hold_get", "200", ref("LegalHoldOutput"), None),
    (f"{HOLD}/extend", "post"):
        ("legal_hold_extend", "200", ref("LegalHoldOutput"), "HoldReasonInputRequest"),
    (f"{HOLD}/lift", "post"):
        ("legal_hold_lift", "200", ref("LegalHoldOutput"), "HoldReasonInputRequest"),
    ("/api/v1/transparency-reports", "get"):
        ("transparency_report", "200", {"type": "object", "additionalProperties": {}}, None),
}


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_operation_is_in_the_schema(schema: dict[str, Any], path: str, method: str) -> None:
    operation = schema["paths"][path][method]
    operation_id, success, body, request_body = OPERATIONS[(path, method)]
    assert operation["operationId"] == operation_id
    responses = operation["responses"]
    assert [code for code in responses if code.startswith("2")] == [success]
    if body is not None:
        assert responses[success]["content"]["application/json"]["schema"] == body
    if request_body is None:
        assert "requestBody" not in operation
    else:
        assert operation["requestBody"]["content"]["application/json"]["schema"] == ref(
            request_body
        )
    # Every error answer is documented as a problem+json body.
    for code in ("400", "401", "403", "404", "409"):
        assert responses[code]["content"] == {
            "application/problem+json": {"schema": ref("Problem")}
        }


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_ids_in_paths_are_uuids(schema: dict[str, Any], path: str, method: str) -> None:
    path_parameters = [
        p for p in schema["paths"][path][method].get("parameters", []) if p["in"] == "path"
    ]
    names = [name.strip("{}") for name in path.split("/") if name.startswith("{")]
    assert [p["name"] for p in path_parameters] == names
    for parameter in path_parameters:
        assert parameter["required"] is True
        assert parameter["schema"] == {"type": "string", "format": "uuid"}


def test_the_create_body_is_described(schema: dict[str, Any]) -> None:
    body = schema["components"]["schemas"]["DisclosureRequestCreateInputRequest"]
    assert set(body["required"]) == {
        "officer", "case_reference", "legal_basis", "issuing_authority", "document",
        "issued_on", "expires_at", "targets", "requested_fields", "justification",
    }
    properties = body["properties"]
    assert properties["agency"] == {
        "type": "string", "format": "uuid",
        "description": "Paper requests only (intake officers): the agency the document came from.",
    }
    assert properties["officer"] == ref("OfficerInputRequest")
    assert properties["document"] == ref("DocumentInputRequest")
    assert properties["nondisclosure"] == ref("NondisclosureInputRequest")
    assert properties["issued_on"] == {"type": "string", "format": "date"}
    assert properties["expires_at"] == {"type": "string", "format": "date-time"}
    targets = properties["targets"]
    assert (targets["type"], targets["minItems"], targets["maxItems"]) == ("array", 1, 100)
    assert targets["items"] == {"type": "string", "minLength": 1, "maxLength": 64}
    fields = properties["requested_fields"]
    assert (fields["type"], fields["minItems"], fields["maxItems"]) == ("array", 1, 10)
    assert fields["items"] == ref("RequestedFieldsEnum")
    assert set(schema["components"]["schemas"]["RequestedFieldsEnum"]["enum"]) == {
        "given_name", "family_name", "date_of_birth", "postal_address", "email", "phone",
        "document_type", "document_number", "document_country", "verification_reference",
    }
    document = schema["components"]["schemas"]["DocumentInputRequest"]
    assert set(document["required"]) == {"name", "content_type", "content_base64"}
    officer = schema["components"]["schemas"]["OfficerInputRequest"]
    assert set(officer["required"]) == {"name", "email", "phone"}
    assert officer["properties"]["email"]["format"] == "email"


def test_intake_refusals_are_documented(schema: dict[str, Any]) -> None:
    responses = schema["paths"]["/api/v1/disclosure-requests"]["post"]["responses"]
    assert responses["413"]["description"] == "document_too_large"
    for code in ("jurisdiction_not_enabled", "legal_basis_unavailable", "fields_not_allowed",
                 "document_expired", "emergency_facts_missing", "unknown_pseudonym"):
        assert code in responses["422"]["description"]
    for status in ("413", "422"):
        assert responses[status]["content"] == {
            "application/problem+json": {"schema": ref("Problem")}
        }


def test_the_staff_view_extends_the_agency_view(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    agency_view = components["DisclosureRequestOutput"]["properties"]
    staff_view = components["StaffDisclosureRequestOutput"]["properties"]
    assert set(staff_view) - set(agency_view) == {
        "entered_by", "reviewed_by", "callback_verified_by", "agency_callback_phone",
        "agency_callback_email", "approval_event", "review_escalated_at", "decisions",
    }
    assert set(agency_view) <= set(staff_view)
    assert agency_view["id"] == {"type": "string", "format": "uuid"}
    assert agency_view["expires_at"] == {"type": "string", "format": "date-time"}
    assert agency_view["nondisclosure_until"] == {
        "type": "string", "format": "date", "nullable": True
    }
    assert agency_view["approvals_received"] == {"type": "integer", "readOnly": True}
    assert staff_view["decisions"]["type"] == "array"


def test_the_document_is_binary(schema: dict[str, Any]) -> None:
    responses = schema["paths"][f"{REQUEST}/document"]["get"]["responses"]
    assert responses["200"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }


def test_the_transparency_report_is_json_or_csv(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/v1/transparency-reports"]["get"]
    assert operation["responses"]["200"]["content"]["text/csv"] == {"schema": {"type": "string"}}
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(parameters) == {"year", "half", "from", "to", "format"}
    assert all(not p.get("required") for p in parameters.values())
    # A conditional GET: If-None-Match with the report's ETag answers 304.
    assert [p["name"] for p in operation["parameters"] if p["in"] == "header"] == [
        "If-None-Match"]
    assert "304" in operation["responses"]
    assert parameters["year"]["schema"] == {"type": "integer"}
    assert parameters["half"]["schema"] == {"type": "integer", "enum": [1, 2]}
    assert parameters["from"]["schema"] == {"type": "string", "format": "date"}
    assert parameters["to"]["schema"] == {"type": "string", "format": "date"}
    assert parameters["format"]["schema"] == {"type": "string", "enum": ["csv", "json"]}
    # Public by default: no credential is documented (TRANSPARENCY_REPORTS_PUBLIC).
    assert "security" not in operation
