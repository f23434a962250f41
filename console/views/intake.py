"""Intake officers: a request received on paper or by email, entered with its document.

The page calls the same service as the API's intake (legal_requests/services/intake.py,
channel "paper"): the service checks the agency, the legal basis and its fields, the
dates, and the document's size, declared type and first bytes, and logs any refusal as
`disclosure.refused_at_intake`, which the page then says in words.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.roles import Role
from console import selectors
from console.access import StaffPage
from console.intake_forms import PaperRequestForm
from legal_requests.models import DisclosureRequest
from legal_requests.services import intake

TEMPLATE = "console/intake/new.html"


def _form(request: HttpRequest) -> PaperRequestForm:
    agencies, bases = selectors.intake_choices()
    if request.method == "POST":
        return PaperRequestForm(request.POST, request.FILES, agencies=agencies,
                                legal_bases=bases)
    return PaperRequestForm(agencies=agencies, legal_bases=bases)


def _refusal_words(error: intake.IntakeRefused) -> str:
    if isinstance(error, intake.UnknownTargets):
        lines = ", ".join(str(p + 1) for p in error.problem_extra["positions"])
        return f"No escrowed identity has the pseudonym on line {lines}; check them."
    return f"The request cannot be accepted: {error}."


class PaperRequestPage(StaffPage):
    roles = (Role.INTAKE_OFFICER,)

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, TEMPLATE, {"form": _form(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = _form(request)
        if not form.is_valid():
            return render(request, TEMPLATE, {"form": form}, status=400)
        agency = selectors.intake_agency_get(agency_id=form.cleaned_data["agency"])
        if agency is None:  # pragma: no cover - the choices hold only existing agencies
            form.add_error("agency", "Choose an agency from the list.")
            return render(request, TEMPLATE, {"form": form}, status=400)
        try:
            created = intake.disclosure_create(
                agency=agency, submission=form.submission(),
                channel=DisclosureRequest.Channel.PAPER,
                entered_by=request.user,  # type: ignore[arg-type]
            )
        except intake.IntakeRefused as error:
            status = 413 if isinstance(error, intake.DocumentTooLarge) else 422
            return render(request, TEMPLATE, {"form": form, "refusal": _refusal_words(error),
                                              "refusal_code": error.reason}, status=status)
        messages.success(request, f"{created.reference} is received and logged. Start its "
                                  "review when it is complete: approvers will then decide it.")
        return redirect("console-request", request_id=created.pk)
