"""The transparency report, as JSON or CSV. Public unless TRANSPARENCY_REPORTS_PUBLIC=false."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasRole
from accounts.roles import Role
from escrow.api.conditional import conditional_response, entity_tag
from escrow.api.serializers import StrictSerializer, query_once
from legal_requests.services.transparency import (
    Period,
    transparency_report_cached,
    transparency_report_csv,
)

_MAX_DAYS = 366 * 5


class TransparencyCsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Mapping[str, Any] | None = None) -> bytes:
        if isinstance(data, dict) and "period" in data and "requests" in data:
            return transparency_report_csv(data).encode()
        # Errors stay problem+json bodies whatever format was asked for.
        return json.dumps(data).encode()


class _ReportReaders(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.TRANSPARENCY_REPORTS_PUBLIC:
            return AllowAny().has_permission(request, view)
        return HasRole(Role.AUDITOR, Role.ADMINISTRATOR)().has_permission(request, view)


class PeriodInput(StrictSerializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False)
    half = serializers.ChoiceField(choices=(1, 2), required=False)
    from_ = serializers.DateField(required=False)
    to = serializers.DateField(required=False)
    format = serializers.ChoiceField(choices=("json", "csv"), required=False)

    def to_internal_value(self, data: Any) -> Any:
        data = {("from_" if k == "from" else k): v for k, v in data.items()}
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "from_" in attrs or "to" in attrs:
            if "year" in attrs or "half" in attrs:
                raise serializers.ValidationError("Give year/half or from/to, not both.",
                                                  code="not_allowed")
            if "from_" not in attrs or "to" not in attrs:
                raise serializers.ValidationError("from and to go together.", code="required")
            if attrs["to"] < attrs["from_"] or (attrs["to"] - attrs["from_"]).days > _MAX_DAYS:
                raise serializers.ValidationError("The period is empty or too long.",
                                                  code="max_value")
        elif "half" in attrs and "year" not in attrs:
            raise serializers.ValidationError("half needs a year.", code="required")
        return attrs


def period_from(attrs: dict[str, Any]) -> Period:
    if "from_" in attrs:
        return Period(attrs["from_"], attrs["to"])
    if "year" in attrs:
        if "half" in attrs:
            return Period.half_year(attrs["year"], int(attrs["half"]))
        return Period.year(attrs["year"])
    today: date = timezone.now().date()
    return Period.half_year(today.year, 1 if today.month <= 6 else 2)


class TransparencyReportApi(APIView):
    permission_classes = [_ReportReaders]
    renderer_classes = [JSONRenderer, TransparencyCsvRenderer]

    @extend_schema(
        operation_id="transparency_report",
        auth=[],
        parameters=[
            OpenApiParameter("year", int), OpenApiParameter("half", int, enum=[1, 2]),
            OpenApiParameter("from", OpenApiTypes.DATE), OpenApiParameter("to", OpenApiTypes.DATE),
            OpenApiParameter("format", str, enum=["json", "csv"],
                             description="Or send Accept: text/csv"),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
            304: OpenApiResponse(description="Not Modified: If-None-Match named this "
                                             "report's ETag"),
            400: OpenApiResponse(description="Bad period"),
        },
        description="Counts for a period (default: the current half-year), computed from the "
                    "audit log: requests received by legal basis, jurisdiction and outcome, "
                    "accounts specified, share where data was produced, emergency requests and "
                    "their reviews, non-disclosure orders, refusals at intake and legal holds. "
                    "Public unless the operator sets TRANSPARENCY_REPORTS_PUBLIC=false.",
    )
    def get(self, request: Request) -> HttpResponse:
        payload = PeriodInput(data=query_once(request))
        payload.is_valid(raise_exception=True)
        report = transparency_report_cached(period=period_from(payload.validated_data))
        response = Response(report)
        media_type = request.accepted_renderer.media_type
        if request.accepted_renderer.format == "csv":
            name = f"transparency-{report['period']['from']}-{report['period']['to']}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        # As fresh as the server's own copy of the report; shared caches only when public.
        seconds = settings.TRANSPARENCY_REPORT_CACHE_SECONDS
        scope = "public" if settings.TRANSPARENCY_REPORTS_PUBLIC else "private"
        response["Vary"] = "Accept, Authorization"
        etag = entity_tag(json.dumps(report, sort_keys=True, default=str).encode()
                          + b"\x00" + media_type.encode())
        return conditional_response(
            request._request, response, etag=etag,
            cache_control=f"{scope}, max-age={seconds}" if seconds else "no-cache",
        )
