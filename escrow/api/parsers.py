"""The one JSON parser every API view uses (DRF's `DEFAULT_PARSER_CLASSES`).

Stricter than JSON itself allows, because the standard library's reading of the
ambiguous cases is a vulnerability here: a duplicated key silently keeps the last
value (so two components can read two different requests from one body), NaN and
Infinity are not JSON, and nesting is limited only by the interpreter's stack.
The limits are settings, documented in docs/reliability.md ("One error contract"):

- `API_MAX_BODY_BYTES`: a longer body is refused with 413 (the request-size
  middleware refuses it on `Content-Length` before any view runs; this is the
  backstop for a body read without one).
- `API_JSON_MAX_DEPTH`: deeper nesting of arrays and objects is a 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class RequestBodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this service accepts"
    default_code = "request_too_large"


class JSONTooDeep(exceptions.ParseError):
    default_detail = "The JSON body nests arrays and objects deeper than this service accepts"
    default_code = "json_too_deep"


class JSONDuplicateKey(exceptions.ParseError):
    # The key is not named: it is client input, and may be personal data.
    default_detail = "A JSON object in the body names the same key twice"
    default_code = "json_duplicate_key"


class JSONNotStrict(exceptions.ParseError):
    default_detail = "The body is not valid JSON (RFC 8259, UTF-8)"
    default_code = "parse_error"


def body_too_large(limit: int) -> RequestBodyTooLarge:
    return RequestBodyTooLarge(f"The request body is over the limit of {limit} bytes.")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise JSONDuplicateKey()
    return found


def _no_constants(name: str) -> Any:
    raise JSONNotStrict()


def json_depth(value: Any) -> int:
    """Nesting depth of arrays and objects: 0 for a scalar, 1 for `[]` or `{}`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_strict_loads(body: bytes, *, max_depth: int, encoding: str = "utf-8") -> Any:
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise JSONNotStrict() from None
    try:
        data = json.loads(text, object_pairs_hook=_object_without_duplicates,
                          parse_constant=_no_constants)
    except RecursionError:
        # The C scanner guards its recursion: a body nested past the interpreter's
        # stack (100,000 brackets) stops here cleanly, long past max_depth anyway.
        raise JSONTooDeep() from None
    except ValueError:
        raise JSONNotStrict() from None
    if json_depth(data) > max_depth:
        raise JSONTooDeep()
    return data


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise body_too_large(limit)
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        return json_strict_loads(body, max_depth=settings.API_JSON_MAX_DEPTH,
                                 encoding=encoding)
