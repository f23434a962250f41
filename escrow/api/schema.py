"""OpenAPI post-processing: every operation documents its RFC 9457 error answers.

Views declare their success bodies; the error shapes are the same everywhere, so they
are added here once rather than repeated in every extend_schema().
"""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.openapi import AutoSchema

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details. Bodies never repeat submitted values.",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "example": "urn:identity-escrow:problem:validation_error"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine-readable error code."},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

_ERRORS = {
    "400": "Invalid request: malformed body, field or parameter",
    "401": "Missing, unknown, revoked or expired credentials",
    "403": "The credential lacks the role or scope for this operation",
    "404": "Not found (or not visible to this caller)",
    "405": "Method not allowed",
    "406": "Not acceptable",
    "409": "Conflicts with the current state",
    "413": "Request body over the documented limit (API_MAX_BODY_BYTES)",
    "415": "Unsupported media type",
    "429": "Rate limit exceeded; see Retry-After",
    "503": "A dependency of this operation is unavailable; see Retry-After",
}
# The C2SP tlog-tiles resources under /log/ are public and unthrottled; each view adds
# its own (404 for a missing tile, 422 for a rejected cosignature, ...).
_LOG_ERRORS = {
    "400": "Malformed request",
    "405": "Method not allowed",
    "406": "None of the media types in Accept can be served",
    "413": "Request body over the documented limit (API_MAX_BODY_BYTES)",
    "503": "A dependency of this operation is unavailable; see Retry-After",
}


def add_problem_responses(result: dict[str, Any], generator: Any, request: Any,
                          public: bool) -> dict[str, Any]:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in result.get("paths", {}).items():
        if path.startswith("/api/v1/"):
            errors = _ERRORS
        elif path.startswith("/log/"):
            errors = _LOG_ERRORS
        else:
            continue
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                responses.setdefault(status, {"description": description})
            # Views may name an error with a specific description; its body is still a
            # problem document, whichever view declared it.
            for status, response in responses.items():
                if str(status)[0] in "45" and "content" not in response:
                    response["content"] = {"application/problem+json": {"schema": ref}}
    return result


class EscrowAutoSchema(AutoSchema):
    """Names nested `Input`/`Output` serializers after their view.

    Views declare serializers as nested classes (`EnrolmentCreateApi.Input`), so bare
    class names collide across views; `EnrolmentCreateInput` does not.
    """

    def get_serializer_name(
        self, serializer: Any, direction: Literal["request", "response"]
    ) -> str:
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return str(super().get_serializer_name(serializer, direction))
        outer, _, inner = qualname.rpartition(".")
        outer = outer.replace(".", "")
        if outer.endswith("Api"):
            outer = outer[:-3]
        return f"{outer}{inner}"
