"""RFC 9457 problem details: every API error leaves through here.

Domain exceptions are registered once (`problem_register`) with their status and a
stable machine-readable code; everything else is mapped from DRF and Django. Error
bodies never echo submitted values: they may be personal data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("escrow.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:identity-escrow:problem:"

# DRF messages for these codes never contain the submitted value; others may
# ("'x' is not a valid choice"), so they are replaced by a neutral text.
_SAFE_CODES = {
    "required", "null", "blank", "max_length", "min_length", "max_value", "min_value",
    "max_digits", "max_decimal_places", "empty", "not_a_list", "not_a_dict",
    "unique", "invalid_pseudonym", "checksum", "length", "alphabet", "too_many",
    "unknown_field", "not_allowed",
}
_NEUTRAL = {
    "invalid": "Invalid value.",
    "invalid_choice": "Not one of the allowed values.",
    "date": "Expected a date in YYYY-MM-DD form.",
    "datetime": "Expected an RFC 3339 date-time.",
}


@dataclass(frozen=True)
class ProblemType:
    status: int
    code: str
    title: str


_REGISTRY: dict[type[Exception], ProblemType] = {}


def problem_register(exc_class: type[Exception], *, status: int, code: str, title: str) -> None:
    _REGISTRY[exc_class] = ProblemType(status=status, code=code, title=title)


def problem_response(
    *, status: int, code: str, title: str, detail: str = "", **extra: Any
) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["code"] = code
    body.update(extra)
    return Response(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def _flatten(errors: Any, path: str = "") -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = "" if key == "non_field_errors" else str(key)
            out += _flatten(value, f"{path}.{name}".strip(".") if name else path)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, dict | list):
                out += _flatten(value, f"{path}[{index}]" if path else f"[{index}]")
            else:
                out += _flatten(value, path)
    else:
        code = getattr(errors, "code", "invalid") or "invalid"
        message = str(errors) if code in _SAFE_CODES else _NEUTRAL.get(code, "Invalid value.")
        out.append({"field": path, "code": code, "message": message})
    return out


def _lookup(exc: Exception) -> ProblemType | None:
    for klass in type(exc).__mro__:
        if klass in _REGISTRY:
            return _REGISTRY[klass]
    return None


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    registered = _lookup(exc)
    if registered is not None:
        set_rollback()
        extra = getattr(exc, "problem_extra", None) or {}
        return problem_response(
            status=registered.status,
            code=registered.code,
            title=registered.title,
            detail=str(exc),
            **extra,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        return problem_response(
            status=400,
            code="validation_error",
            title="The request body or parameters are invalid",
            errors=_flatten(exc.detail),
        )
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code = exc.default_code if isinstance(exc.default_code, str) else "error"
        detail = exc.detail if isinstance(exc.detail, str) else ""
        if isinstance(exc, exceptions.ParseError):
            detail = "the body is not valid JSON"
        response = problem_response(
            status=exc.status_code, code=code, title=str(exc.default_detail), detail=str(detail)
        )
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            response["Retry-After"] = str(int(wait) + 1)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            response.status_code = status.HTTP_401_UNAUTHORIZED
        return response
    # Anything else is a bug: log its type (never its message, which may hold input)
    # and answer with a bare problem rather than a stack trace.
    logger.error("unhandled %s in %s", type(exc).__name__, context.get("view").__class__.__name__)
    set_rollback()
    return problem_response(
        status=500, code="internal_error", title="Internal error; the operator has been alerted"
    )


def _json_problem(status_code: int, code: str, title: str) -> JsonResponse:
    return JsonResponse(
        {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status_code, "code": code},
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_problem(404, "not_found", "Not found")


def handler500(request: HttpRequest) -> JsonResponse:
    return _json_problem(500, "internal_error", "Internal error; the operator has been alerted")


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_problem(400, "bad_request", "Bad request")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_problem(403, "permission_denied", "Permission denied")
