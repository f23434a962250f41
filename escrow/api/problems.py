"""RFC 9457 problem details: every API error leaves through here.

Domain exceptions are registered once (`problem_register`) with their status and a
stable machine-readable code; everything else is mapped from DRF and Django: DRF's
exceptions, a database outage (503 with Retry-After), and Django's own error views
(400/403/404/500 and the CSRF failure view) under /api/ and /log/. Error bodies never
echo submitted values: they may be personal data. A problem document is JSON whatever
the request's `Accept` said (escrow/api/negotiation.py).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.views import csrf, defaults
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from escrow.api.negotiation import problem_wanted

logger = logging.getLogger("escrow.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:identity-escrow:problem:"

# DRF messages for these codes never contain the submitted value; others may
# ("'x' is not a valid choice"), so they are replaced by a neutral text.
_SAFE_CODES = {
    "required", "null", "blank", "max_length", "min_length", "max_value", "min_value",
    "max_digits", "max_decimal_places", "empty", "not_a_list", "not_a_dict",
    "unique", "invalid_pseudonym", "checksum", "length", "alphabet", "too_many",
    "unknown_field", "not_allowed", "not_a_string", "invalid_cursor", "repeated",
}
_NEUTRAL = {
    "invalid": "Invalid value.",
    "invalid_choice": "Not one of the allowed values.",
    "date": "Expected a date in YYYY-MM-DD form.",
    "datetime": "Expected an RFC 3339 date-time.",
}


# Titles for DRF's exceptions whose default text is a template ('Method "{method}" not
# allowed.'): DRF fills it in only for `detail`, with the client's own input.
_TEMPLATE_TITLES = {
    "method_not_allowed": "Method not allowed",
    "unsupported_media_type": "Unsupported media type",
}
# Parse errors whose detail is our own fixed text (escrow/api/parsers.py), not the
# decoder's message, which quotes the body.
_OWN_PARSE_DETAILS = {"json_too_deep", "json_duplicate_key"}
# A database that cannot be reached (or dropped the connection) is an outage, not a bug.
DATABASE_OUTAGE = (OperationalError, InterfaceError)


class ProblemResponse(Response):
    """A problem document: JSON, whatever renderer the request negotiated.

    Rendered as soon as it is built, so middleware and Django's error views can return
    it too; DRF and Django then leave a rendered response as it is.
    """

    @property
    def rendered_content(self) -> Any:  # bytes, as DRF's Response renders
        self["Content-Type"] = PROBLEM_CONTENT_TYPE
        return JSONRenderer().render(self.data)


@dataclass(frozen=True)
class ProblemType:
    status: int
    code: str
    title: str
    # A dependency that does not answer (database, Redis): the answer carries
    # Retry-After and never the exception's text, which names hosts and ports or
    # quotes a statement's parameters.
    outage: bool = False


_REGISTRY: dict[type[Exception], ProblemType] = {}


def problem_register(
    exc_class: type[Exception], *, status: int, code: str, title: str, outage: bool = False
) -> None:
    _REGISTRY[exc_class] = ProblemType(status=status, code=code, title=title, outage=outage)


for _database_outage in DATABASE_OUTAGE:
    problem_register(
        _database_outage, status=503, code="database_unavailable",
        title="The database is unavailable; nothing was done, retry later", outage=True,
    )


def problem_is_outage(exc: Exception) -> bool:
    """Whether `exc` is a registered dependency outage (middleware maps those for any view)."""
    registered = _lookup(exc)
    return registered is not None and registered.outage


def problem_response(
    *, status: int, code: str, title: str, detail: str = "", **extra: Any
) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["code"] = code
    body.update(extra)
    response = ProblemResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    response.render()
    return response


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
    view = context.get("view")
    return problem_for_exception(exc, where=view.__class__.__name__ if view else "")


def problem_for_exception(exc: Exception, *, where: str = "") -> Response:
    """The problem document for any exception: the one mapping, for DRF and middleware."""
    registered = _lookup(exc)
    if registered is not None:
        set_rollback()
        if registered.outage:
            # The type only: the message names hosts or quotes parameters.
            logger.warning("dependency unavailable (%s) in %s", type(exc).__name__, where)
        extra = getattr(exc, "problem_extra", None) or {}
        response = problem_response(
            status=registered.status,
            code=registered.code,
            title=registered.title,
            detail="" if registered.outage else str(exc),
            **extra,
        )
        # An outage's retry time is the operator's setting; a refusal that knows when
        # it ends (a sign-in lockout) carries its own `retry_after` seconds.
        retry_after = getattr(exc, "retry_after", None)
        if registered.outage:
            retry_after = settings.ESCROW_DEPENDENCY_RETRY_AFTER_SECONDS
        if isinstance(retry_after, int):
            response["Retry-After"] = str(max(1, retry_after))
        return response
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
        if isinstance(exc, exceptions.ParseError) and code not in _OWN_PARSE_DETAILS:
            detail = "the body is not valid JSON"
        elif code in _TEMPLATE_TITLES:
            detail = ""  # DRF's text quotes the method or media type the client sent
        title = str(exc.default_detail)
        if "{" in title:
            title = _TEMPLATE_TITLES.get(code, "Request refused")
        response = problem_response(
            status=exc.status_code, code=code, title=title, detail=str(detail)
        )
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            # Whole seconds, rounded up as the RateLimit field's reset is (ratelimit.py).
            response["Retry-After"] = str(max(1, math.ceil(wait)))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            response.status_code = status.HTTP_401_UNAUTHORIZED
        return response
    # Anything else is a bug: log its type (never its message, which may hold input)
    # and answer with a bare problem rather than a stack trace.
    logger.error("unhandled %s in %s", type(exc).__name__, where)
    set_rollback()
    return problem_response(
        status=500, code="internal_error", title="Internal error; the operator has been alerted"
    )


# Django's error views (config/urls.py handler400/403/404/500 and CSRF_FAILURE_VIEW):
# a problem document under /api/ and /log/, Django's HTML page for browser pages.


def _django_problem(status_code: int, code: str, title: str) -> HttpResponse:
    return problem_response(status=status_code, code=code, title=title)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if problem_wanted(request):
        return _django_problem(404, "not_found", "Not found")
    return defaults.page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    if problem_wanted(request):
        return _django_problem(500, "internal_error",
                               "Internal error; the operator has been alerted")
    return defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if problem_wanted(request):
        return _django_problem(400, "bad_request", "Bad request")
    return defaults.bad_request(request, exception or Exception())


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if problem_wanted(request):
        return _django_problem(403, "permission_denied", "Permission denied")
    return defaults.permission_denied(request, exception or PermissionDenied())


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # The API authenticates with bearer tokens, never cookies, and its views are
    # CSRF-exempt; a CSRF failure under /api/ is a route that is not an API view. The
    # reason is not repeated: it describes the client's cookies and headers.
    if problem_wanted(request):
        return _django_problem(403, "csrf_failed", "CSRF verification failed")
    return csrf.csrf_failure(request, reason)
