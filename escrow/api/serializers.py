"""Shared serializer behaviour for the API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request


def _not_a_string() -> list[serializers.ErrorDetail]:
    return [serializers.ErrorDetail("Expected a string.", code="not_a_string")]


def _string_errors(field: serializers.Field, value: Any) -> Any:
    """DRF's CharField turns 42 into "42"; a name, a reference or a pseudonym is text.

    Errors take DRF's own shapes (a list for the field, a dict by index for list items),
    so they flatten like every other validation error.
    """
    if isinstance(field, serializers.CharField):
        return _not_a_string() if value is not None and not isinstance(value, str) else None
    if (isinstance(field, serializers.ListField)
            and isinstance(field.child, serializers.CharField) and isinstance(value, list)):
        bad = {index: _not_a_string() for index, item in enumerate(value)
               if item is not None and not isinstance(item, str)}
        return bad or None
    return None


class StrictSerializer(serializers.Serializer):
    """Rejects keys the schema does not name, so a typo is an error, not silently lost data,
    and non-string values where the schema says string (nested strict serializers check
    their own fields)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")]
                     for name in unknown}
                )
            not_strings = {
                name: errors for name, field in self.fields.items()
                if name in data and not field.read_only
                and (errors := _string_errors(field, data[name])) is not None
            }
            if not_strings:
                # Reported beside the other fields' errors, not instead of them.
                try:
                    super().to_internal_value(data)
                except serializers.ValidationError as exc:
                    if isinstance(exc.detail, dict):
                        not_strings = {**exc.detail, **not_strings}
                raise serializers.ValidationError(not_strings)
        return super().to_internal_value(data)


class NoFilters(StrictSerializer):
    """The query of a list operation that takes no filters: any parameter is an error.

    Ignoring one would answer `?state=active` with every row, as if it had filtered.
    """


def query_once(request: Request) -> dict[str, str]:
    """The query parameters, each given once: a repeated one is a 400, not its last value
    (`?state=received&state=approved` would otherwise list only the approved ones)."""
    repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1)
    if repeated:
        raise serializers.ValidationError(
            {name: [serializers.ErrorDetail("Give this parameter once.", code="repeated")]
             for name in repeated}
        )
    return {name: str(value) for name, value in request.query_params.items()}
