"""Pages for everyone, signed in or not: the transparency report with its charts, and
the log's verifier key with its latest checkpoint.

The report's figures come from the same service as the JSON and CSV report
(legal_requests/services/transparency.py); the page draws them as charts
(static/console/transparency/charts.js, reading the figures from a JSON data element)
and as tables, which stay readable without JavaScript and by a screen reader.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from console.audit_forms import ReportPeriodForm
from escrow.log.keys import log_identity
from escrow.log.selectors import log_checkpoint_latest, log_checkpoint_served
from legal_requests.selectors import legal_basis_list
from legal_requests.services.transparency import (
    OUTCOMES,
    Period,
    transparency_report_cached,
)


def _period(form: ReportPeriodForm) -> Period:
    year = form.cleaned_data["year"] if form.is_valid() else form.fields["year"].initial
    half = form.cleaned_data["half"] if form.is_valid() else form.fields["half"].initial
    return Period.year(year) if half == 0 else Period.half_year(year, half)


def transparency_context(request: HttpRequest) -> tuple[dict[str, Any], int]:
    """The report for the period asked (default: the current half-year), with the
    figures the charts draw; and 400 if the period asked is not one offered."""
    form = ReportPeriodForm(request.GET or None)
    report = transparency_report_cached(period=_period(form))
    names = {basis.code: basis.name for basis in legal_basis_list()}
    by_basis = [{**row, "name": names.get(row["legal_basis"], row["legal_basis"])}
                for row in report["by_legal_basis"]]
    chart_data = {
        "outcomes": list(OUTCOMES),
        "by_month": report["by_month"],
        "by_legal_basis": by_basis,
        "emergency": report["emergency"]["requests"],
        "received": report["requests"]["received"],
    }
    api = reverse("transparency-report")
    period = report["period"]
    context = {
        "form": form, "report": report, "by_legal_basis": by_basis, "chart_data": chart_data,
        "json_url": f"{api}?from={period['from']}&to={period['to']}",
        "csv_url": f"{api}?from={period['from']}&to={period['to']}&format=csv",
    }
    return context, 400 if form.is_bound and not form.is_valid() else 200


class _PublicPage(View):
    """Open to anyone; the report only while the operator publishes it."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not settings.TRANSPARENCY_REPORTS_PUBLIC:
            raise PermissionDenied("this service does not publish its transparency report")
        return super().dispatch(request, *args, **kwargs)


class TransparencyPage(_PublicPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        context, status = transparency_context(request)
        return render(request, "console/transparency/public.html", context, status=status)


class LogKeyPage(View):
    """The log's verifier key and latest checkpoint, and how to check them yourself."""

    def get(self, request: HttpRequest) -> HttpResponse:
        checkpoint = log_checkpoint_latest()
        log_url = request.build_absolute_uri(reverse("log-checkpoint")).removesuffix("checkpoint")
        context = {
            "verifier_key": log_identity().verifier_key,
            "origin": settings.ESCROW_LOG_ORIGIN,
            "checkpoint": checkpoint,
            "checkpoint_text": log_checkpoint_served(checkpoint) if checkpoint else "",
            "log_url": log_url,
        }
        return render(request, "console/transparency/log_key.html", context)
