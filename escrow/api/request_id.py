"""The request id: taken from `X-Request-ID` when it is well-formed, made up otherwise,
bound to every log record written while the request runs (and carried into the Celery
tasks it queues, by django-structlog), and returned in `X-Request-ID` on every answer,
problem documents and Django's error pages included.

The header comes from the client, so it is only accepted when it is short and plain
(letters, digits, `.`, `_`, `:`, `-`): anything else could forge or split log lines, and
is replaced rather than refused, since a log correlation header must never fail a request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 128
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{REQUEST_ID_MAX_LENGTH}}}")
# Probes, and witnesses polling the log's checkpoint, arrive every few seconds; their
# lines would drown the rest.
_QUIET_PREFIXES = ("/healthz/", "/metrics", "/log/checkpoint")

logger = structlog.get_logger("escrow.request")


def request_id_from(value: str | None) -> str:
    """The client's id if it is acceptable, else a new random one (a UUID4's hex)."""
    if value and _REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE, so that every answer below it carries the header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            self._log(request, response.status_code, started)
            return response
        finally:
            structlog.contextvars.clear_contextvars()

    @staticmethod
    def _log(request: HttpRequest, status: int, started: float) -> None:
        match = request.resolver_match
        level = logging.DEBUG if request.path.startswith(_QUIET_PREFIXES) else logging.INFO
        # The route is the URL pattern: the path itself can hold a pseudonym, and the
        # query string a search term.
        logger.log(level, "request_finished", method=request.method,
                   route=match.route if match else None, status=status,
                   duration_ms=round((time.monotonic() - started) * 1000, 1))
