"""Content negotiation, in one place: which media type a request gets back.

- DRF views choose a renderer by `Accept` through `EscrowContentNegotiation` (the
  `DEFAULT_CONTENT_NEGOTIATION_CLASS`). A view that serves something other than JSON
  lists a renderer for that media type (the C2SP views under /log/ serve `text/plain`
  and `application/octet-stream`, exactly what tlog clients ask for).
- Errors are negotiated by path, not by `Accept`: under /api/ and /log/ every error is
  an RFC 9457 `application/problem+json` document (RFC 9110 s15.5.7 lets an error
  ignore `Accept`); browser pages elsewhere (the staff console under /console/) get
  HTML pages, rendered by Django's error views from the templates `400.html`,
  `403.html`, `403_csrf.html`, `404.html` and `500.html` (console/templates/).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

# Paths whose every answer is a documented success or a problem document.
PROBLEM_PATH_PREFIXES = ("/api/", "/log/")


def problem_wanted(request: HttpRequest) -> bool:
    """Whether an error for this request is answered as problem+json (else as HTML)."""
    return request.path_info.startswith(PROBLEM_PATH_PREFIXES)


class EscrowContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with two answers made to fit the contract.

    An `Accept` header with no usable media range (`Accept: ,`) is read as no header at
    all, that is `*/*` (RFC 9110 s12.5.1). A `?format=` the operation does not serve
    (the transparency report documents `?format=csv`) is 406 Not Acceptable, like the
    equivalent `Accept`, rather than DRF's 404 for an existing path.
    """

    def get_accept_list(self, request: Any) -> list[str]:
        return list(super().get_accept_list(request)) or ["*/*"]

    def filter_renderers(self, renderers: Any, format: str) -> Any:
        served = [renderer for renderer in renderers if renderer.format == format]
        if not served:
            raise exceptions.NotAcceptable(available_renderers=renderers)
        return served


class _PassThroughRenderer(BaseRenderer):
    """Advertises a media type for views that build their own `HttpResponse` body."""

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Any = None) -> bytes:
        if isinstance(data, bytes):
            return data
        return b"" if data is None else str(data).encode("utf-8")


class PlainTextRenderer(_PassThroughRenderer):
    # C2SP tlog-checkpoint and signed-note verifier keys are text.
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"


class OctetStreamRenderer(_PassThroughRenderer):
    # C2SP tlog-tiles: hash tiles and entry bundles are raw bytes.
    media_type = "application/octet-stream"
    format = "bin"
    charset = None
