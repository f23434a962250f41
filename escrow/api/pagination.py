"""Cursor pagination for every list under /api/: a bare JSON array, pages linked in `Link`.

A page is the same JSON array a list has always answered, so a client that reads the
body keeps working; the next and previous pages are RFC 8288 links (`rel="next"`,
`rel="prev"`), as GitHub's API does, so a client pages by following `Link` until no
`next` is given.

Keyset ("seek") pagination: a cursor carries the sort key of the row it continues
from, and the page is the rows strictly beyond it in the list's order. Rows inserted
while a client pages are neither repeated nor skipped, no page costs an OFFSET scan or a
COUNT, and a page size of one walks a list whose rows share a timestamp exactly once.
The order is the selector's (its `order_by`, plain non-null fields), with the primary
key appended so that equal sort keys still come in one fixed order.

The query parameters, `cursor` and `page_size` (1 to `API_PAGE_SIZE_MAX`, default
`API_PAGE_SIZE`), are validated like any filter: a bad value is a 400 problem, never a
silent default, and a cursor is opaque (base64url JSON of the sort key) but checked
against the fields it must fit, so an edited one is a 400 too.

This class is REST_FRAMEWORK's DEFAULT_PAGINATION_CLASS: a GenericAPIView list gets it
by itself, an APIView answers through `paginated_response()`.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, Model, Q, QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param

from escrow.api.serializers import StrictSerializer, query_once

PAGE_SIZE_MAX = settings.API_PAGE_SIZE_MAX
PAGE_SIZE_DEFAULT = settings.API_PAGE_SIZE
_CURSOR_MAX_LENGTH = 1000


class InvalidCursor(Exception):
    pass


def _invalid_cursor() -> serializers.ValidationError:
    return serializers.ValidationError(
        {"cursor": [serializers.ErrorDetail("Not a cursor from this list's Link header.",
                                            code="invalid_cursor")]}
    )


class PageQuery(StrictSerializer):
    """The paging parameters every list accepts; a list's filters extend this."""

    cursor = serializers.CharField(
        required=False, max_length=_CURSOR_MAX_LENGTH,
        help_text="Opaque: copy it from a `Link` header, never build one.",
    )
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=PAGE_SIZE_MAX,
        help_text=f"Items per page, 1 to {PAGE_SIZE_MAX} (default {PAGE_SIZE_DEFAULT}).",
    )


SortKey = list[tuple["Field[Any, Any]", bool]]  # (model field, descending), pk last


def _sort_key(queryset: QuerySet[Any]) -> SortKey:
    meta = queryset.model._meta
    ordering = list(queryset.query.order_by or meta.ordering or ["-pk"])
    key: SortKey = []
    for term in ordering:
        if not isinstance(term, str) or "__" in term or "?" in term:
            raise ImproperlyConfigured(f"a paged list orders by plain fields, not {term!r}")
        name = term.lstrip("-")
        field = meta.pk if name == "pk" else meta.get_field(name)
        key.append((field, term.startswith("-")))  # type: ignore[arg-type]
    if key[-1][0] is not meta.pk:
        key.append((meta.pk, key[0][1]))  # type: ignore[arg-type]
    return key


def _cursor_encode(row: Model, key: SortKey, *, backwards: bool) -> str:
    values = [field.value_to_string(row) for field, _ in key]
    raw = json.dumps({"k": values, "b": int(backwards)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str, key: SortKey) -> tuple[list[Any], bool]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values, backwards = raw["k"], raw["b"]
        if (not isinstance(values, list) or len(values) != len(key) or backwards not in (0, 1)
                or not all(isinstance(v, str) for v in values)):
            raise InvalidCursor()
        parsed = [field.to_python(value) for (field, _), value in zip(key, values, strict=True)]
    except (ValueError, TypeError, KeyError, binascii.Error, DjangoValidationError):
        raise InvalidCursor() from None
    if any(value is None for value in parsed):
        raise InvalidCursor()
    return parsed, bool(backwards)


def _beyond(key: SortKey, values: list[Any], *, backwards: bool) -> Q:
    """Rows after `values` in the key's order (before them, going backwards)."""
    clauses = []
    for depth, (field, descending) in enumerate(key):
        equal = {key[i][0].attname: values[i] for i in range(depth)}
        lookup = "lt" if descending != backwards else "gt"
        clauses.append(Q(**equal, **{f"{field.attname}__{lookup}": values[depth]}))
    return reduce(or_, clauses)


class LinkHeaderCursorPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request,
                          view: Any = None) -> list[Any]:
        given = query_once(request)
        query = PageQuery(data={name: given[name] for name in (self.cursor_query_param,
                                                               self.page_size_query_param)
                                if name in given})
        query.is_valid(raise_exception=True)
        size = query.validated_data.get("page_size", PAGE_SIZE_DEFAULT)
        key = _sort_key(queryset)
        backwards, rows_before = False, False
        if "cursor" in query.validated_data:
            try:
                values, backwards = _cursor_decode(query.validated_data["cursor"], key)
            except InvalidCursor:
                raise _invalid_cursor() from None
            queryset = queryset.filter(_beyond(key, values, backwards=backwards))
            rows_before = True  # the page the cursor came from
        order = [("-" if descending != backwards else "") + field.attname
                 for field, descending in key]
        rows = list(queryset.order_by(*order)[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        self.url = request.build_absolute_uri()
        self.next_cursor = self.prev_cursor = None
        if rows and (more if not backwards else rows_before):
            self.next_cursor = _cursor_encode(rows[-1], key, backwards=False)
        if rows and (more if backwards else rows_before):
            self.prev_cursor = _cursor_encode(rows[0], key, backwards=True)
        return rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.url, self.cursor_query_param, cursor)

    def get_next_link(self) -> str | None:
        return self._link(self.next_cursor)

    def get_previous_link(self) -> str | None:
        return self._link(self.prev_cursor)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(data, headers=self.link_headers())

    def link_headers(self) -> dict[str, str]:
        links = [f'<{url}>; rel="{rel}"' for rel, url in
                 (("next", self.get_next_link()), ("prev", self.get_previous_link())) if url]
        return {"Link": ", ".join(links)} if links else {}

    def get_paginated_response_schema(self, schema: Any) -> Any:
        return schema  # the body stays a bare array; the links are in the Link header

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        fields = PageQuery().fields
        return [
            {"name": self.cursor_query_param, "in": "query", "required": False,
             "description": str(fields["cursor"].help_text),
             "schema": {"type": "string", "maxLength": _CURSOR_MAX_LENGTH}},
            {"name": self.page_size_query_param, "in": "query", "required": False,
             "description": str(fields["page_size"].help_text),
             "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX}},
        ]


def paginated_response(*, request: Request, queryset: QuerySet[Any],
                       serializer_class: type[serializers.BaseSerializer],
                       view: Any = None) -> Response:
    """One page of `queryset` as a bare JSON array, with `Link` headers to its neighbours."""
    paginator: BasePagination = api_settings.DEFAULT_PAGINATION_CLASS()  # type: ignore[misc,operator]
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
