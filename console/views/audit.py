"""The auditors' pages: the event log, one event with its proofs checked in the browser,
and the transparency report with its charts.

Events are shown as their log entries tell them (escrow/log/selectors.py reads every
field from the hashed leaf). The proof page sends no proof of its own: its script
(static/console/audit/proof-check.js) fetches the signed checkpoint and the hash tiles
from the public /log/ endpoints and recomputes and checks everything itself.
"""

from __future__ import annotations

import base64
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.roles import Role
from console.access import StaffPage
from console.audit_forms import EarlierCheckpointForm, EventFilterForm
from console.views.public import transparency_context
from escrow.log.keys import log_identity
from escrow.log.selectors import (
    LogEventNotFound,
    audit_event_logged,
    audit_event_page,
    audit_event_type_suggestions,
    log_checkpoint_for_size,
    log_checkpoint_served,
)

EVENTS_PAGE_SIZE = 50


class AuditLogPage(StaffPage):
    roles = (Role.AUDITOR,)

    def get(self, request: HttpRequest) -> HttpResponse:
        form = EventFilterForm(request.GET or None)
        context: dict[str, Any] = {"form": form, "events": None,
                                   "event_types": audit_event_type_suggestions()}
        if form.is_bound and not form.is_valid():
            return render(request, "console/audit/events.html", context, status=400)
        filters = form.page_filters() if form.is_bound else {}
        page = audit_event_page(limit=EVENTS_PAGE_SIZE, **filters)
        query = request.GET.copy()
        query.pop("after", None)
        context.update(events=page.events, next_after=page.next_after,
                       paged=bool(filters.get("after_id")), query=query.urlencode())
        return render(request, "console/audit/events.html", context)


class AuditEventProofPage(StaffPage):
    roles = (Role.AUDITOR,)

    def get(self, request: HttpRequest, event_id: int) -> HttpResponse:
        try:
            event = audit_event_logged(event_id=event_id)
        except LogEventNotFound:
            raise Http404("no such event") from None
        form = EarlierCheckpointForm(request.GET or None)
        earlier = None
        if form.is_valid() and form.cleaned_data.get("since"):
            checkpoint = log_checkpoint_for_size(tree_size=form.cleaned_data["since"])
            if checkpoint is None:
                form.add_error("since", "The log signed no checkpoint of that size.")
            else:
                earlier = log_checkpoint_served(checkpoint)
        # The script gets the entry (non-personal by design) and where the log is; the
        # key, the checkpoint and the tiles it fetches itself, from the public endpoints.
        proof_data = {
            "event_id": event.id,
            "log_index": event.log_index,
            "entry": base64.b64encode(event.entry).decode("ascii"),
            "origin": log_identity().origin,
            "log_base": reverse("log-checkpoint").removesuffix("checkpoint"),
            "earlier_checkpoint": earlier,
        }
        context = {"event": event, "leaf": event.leaf, "form": form, "proof_data": proof_data,
                   "entry_text": event.entry.decode("utf-8")}
        status = 400 if form.errors else 200
        return render(request, "console/audit/event.html", context, status=status)


class AuditTransparencyPage(StaffPage):
    roles = (Role.AUDITOR,)

    def get(self, request: HttpRequest) -> HttpResponse:
        context, status = transparency_context(request)
        return render(request, "console/transparency/auditor.html", context, status=status)
