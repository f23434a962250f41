"""Conditional GET for cacheable resources: a strong ETag, If-None-Match, 304.

The entity tag is a digest of the body the view built, so it changes exactly when the
representation does and needs no version column; a client or a cache that sends it
back in `If-None-Match` gets `304 Not Modified` with no body (RFC 9110 s13.1.2,
s15.4.5). The 304 keeps the ETag and Cache-Control, as RFC 9111 s4.3.4 needs to
freshen a stored copy.
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def conditional_response(request: HttpRequest, response: HttpResponse, *,
                         cache_control: str, etag: str | None = None) -> HttpResponse:
    """`response` with its ETag and Cache-Control, or a 304 when the client has it already.

    The tag is a digest of the body; a DRF Response, rendered only later, is given its
    `etag` by the view (a digest of its data and media type).
    """
    etag = etag or entity_tag(response.content)
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return get_conditional_response(request, etag=etag, response=response) or response
