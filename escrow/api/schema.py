"""OpenAPI post-processing: every operation documents its RFC 9457 error answers and the
response header fields the API sends by convention.

Views declare their success bodies; the error shapes and the conventional headers
(Location on 201, Link on lists, RateLimit-Policy/RateLimit, Retry-After on 429 and 503,
ETag, Cache-Control and 304 on the log's reads) are the same everywhere, so they are
added here once rather than repeated in every extend_schema().
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
    "429": "Rate limit exceeded; see Retry-After and RateLimit",
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


def _header(description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"description": description, "required": required,
            "schema": {"type": "string", **schema}}


# The response header fields this API sends by convention (docs/api.md, "HTTP
# conventions"), documented once here and referenced from each response.
HEADERS = {
    "Location": _header("The created resource (RFC 9110 s10.2.2), a path on this service.",
                        required=True, example="/api/v1/enrolments/PSN-7K2M-Q9XD-4HVA-B1RT-Z"),
    "Link": _header(
        'RFC 8288 links to the neighbouring pages: rel="next" (absent on the last page) and '
        'rel="prev". Follow them as given; the cursor in them is opaque.',
        example='<https://escrow.example/api/v1/legal-holds?cursor=cD0yMDI2&page_size=50>; '
                'rel="next"'),
    "RateLimit-Policy": _header(
        "The caller's quota policy (draft-ietf-httpapi-ratelimit-headers): q requests per w "
        "seconds. Absent while the counter is unavailable (limits then fail open).",
        example='"credential";q=6000;w=60'),
    "RateLimit": _header(
        "What is left of that quota: r requests remaining, t seconds until the window resets.",
        example='"credential";r=5998;t=42'),
    "Retry-After": _header("Seconds to wait before retrying (RFC 9110 s10.2.3).",
                           pattern="^[0-9]+$", example="17"),
    "ETag": _header("A strong entity tag of this representation (RFC 9110 s8.8.3); send it "
                    "back in If-None-Match to get 304 when nothing changed.",
                    required=True, example='"3f1c9a0e6b2d4c8a9e7f1b3d5a6c8e0f"'),
    "Cache-Control": _header("How long caches may keep this (RFC 9111): full tiles and entry "
                             "bundles are immutable, partial ones short-lived, the checkpoint "
                             "revalidated on every use.", required=True,
                             example="public, max-age=31536000, immutable"),
}
_REF = "#/components/headers/"


def _headers_add(response: dict[str, Any], *names: str) -> None:
    headers = response.setdefault("headers", {})
    for name in names:
        headers.setdefault(name, {"$ref": _REF + name})


def _is_list(operation: dict[str, Any]) -> bool:
    return any(p.get("in") == "query" and p.get("name") == "page_size"
               for p in operation.get("parameters", []))


def _api_headers_add(operation: dict[str, Any]) -> None:
    for status, response in operation.get("responses", {}).items():
        status = str(status)
        if status.startswith("2") or status == "429":
            _headers_add(response, "RateLimit-Policy", "RateLimit")
        if status in ("429", "503"):
            _headers_add(response, "Retry-After")
        if status == "201":
            _headers_add(response, "Location")
        if status == "200" and _is_list(operation):
            _headers_add(response, "Link")


def _conditional_get(operation: dict[str, Any]) -> None:
    responses = operation.get("responses", {})
    if "200" not in responses:
        return
    _headers_add(responses["200"], "ETag", "Cache-Control")
    not_modified = responses.setdefault("304", {
        "description": "Not Modified: If-None-Match named this representation's ETag"})
    _headers_add(not_modified, "ETag", "Cache-Control")
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name") == "If-None-Match" for p in parameters):
        parameters.append({"name": "If-None-Match", "in": "header", "required": False,
                           "description": "ETags the client holds (RFC 9110 s13.1.2).",
                           "schema": {"type": "string"}})


def add_http_headers(result: dict[str, Any], generator: Any, request: Any,
                     public: bool) -> dict[str, Any]:
    """Documents the conventional response headers of every operation (docs/api.md)."""
    result.setdefault("components", {}).setdefault("headers", {}).update(HEADERS)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if path.startswith("/api/v1/") and method in {"get", "post", "put", "patch",
                                                          "delete"}:
                _api_headers_add(operation)
            if method == "get" and (path.startswith("/log/")
                                    or "304" in operation.get("responses", {})):
                _conditional_get(operation)
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
