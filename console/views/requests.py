"""Disclosure requests: the queue, a request's page, and the review actions on it.

Each action (start the review, ask for information, record an emergency call-back,
decide) calls the same service as the API (legal_requests/services/review.py); a
decision first needs a step-up, a fresh one-time code good for that one decision. Every
refusal of a service is said in words on the page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import get_valid_filename
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from accounts.roles import Role
from accounts.services import SignInLockedOut, StepUpFailed, staff_step_up
from console import selectors
from console.access import StaffPage
from console.forms import (
    ANY_STATE,
    DUE_WITHIN,
    UNDECIDED,
    CallbackForm,
    DecisionForm,
    InformationAnswerForm,
    InformationRequestForm,
    QueueFilterForm,
)
from escrow.vault.identity import IDENTITY_FIELDS
from legal_requests.models import DisclosureRequest
from legal_requests.selectors import (
    DisclosureRequestNotFound,
    disclosure_approval_count,
    disclosure_get_for_staff,
    disclosure_release_fields,
)
from legal_requests.services import review

READERS = (Role.INTAKE_OFFICER, Role.APPROVER, Role.AUDITOR)

# What a refusal by the review services means, said to the person who met it.
REFUSALS: dict[type[Exception], tuple[int, str]] = {
    review.ReviewSeparationOfDuties: (403, "Separation of duties forbids you this"),
    review.AlreadyDecided: (409, "You have already decided this request"),
    review.RoleRequired: (403, "Your role does not allow this"),
    review.RequestStateConflict: (409, "Not possible in the request's present state"),
    review.RequestExpired: (409, "The legal document has expired"),
    review.CallbackVerificationRequired: (409, "The emergency call-back is not recorded yet"),
    review.NotAnEmergency: (409, "Only an emergency request has this step"),
    TransitionNotAllowed: (409, "Not possible in the request's present state"),
    ConcurrentTransition: (409, "The request changed meanwhile; reload the page"),
}


def _request_or_404(request_id: UUID) -> DisclosureRequest:
    try:
        return disclosure_get_for_staff(disclosure_id=request_id)
    except DisclosureRequestNotFound:
        raise Http404("no such request") from None


def _queue_filters(form: QueueFilterForm) -> selectors.QueueFilters:
    data = form.cleaned_data if form.is_valid() else {}
    state = data.get("state") or UNDECIDED
    states: tuple[str, ...] = ()
    if state == UNDECIDED:
        states = tuple(DisclosureRequest.UNDECIDED_STATES)
    elif state != ANY_STATE:
        states = (state,)
    days = {value: ahead for value, _, ahead in DUE_WITHIN}.get(data.get("due") or "")
    return selectors.QueueFilters(states=states, legal_basis=data.get("legal_basis") or "",
                                  agency=data.get("agency") or "",
                                  due_by=None if days is None else timezone.now() + timedelta(
                                      days=days))


class QueuePage(StaffPage):
    roles = READERS

    def get(self, request: HttpRequest) -> HttpResponse:
        legal_bases, agencies = selectors.queue_filter_choices()
        form = QueueFilterForm(request.GET or None, legal_bases=legal_bases, agencies=agencies)
        if form.is_bound and not form.is_valid():
            return render(request, "console/queue.html", {"form": form}, status=400)
        filters = _queue_filters(form)
        requests_page = Paginator(selectors.request_queue(filters=filters),
                                  selectors.QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
        counts = selectors.request_queue_counts(filters=filters)
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            "form": form, "requests_page": requests_page, "now": timezone.now(),
            "counts": [(label, counts.get(value, 0))
                       for value, label in DisclosureRequest.State.choices],
            "query": query.urlencode(),
        }
        # htmx swaps the results only; without JavaScript the whole page comes back.
        template = "console/_queue_results.html" if request.headers.get("HX-Request") else (
            "console/queue.html")
        return render(request, template, context)


def _request_context(disclosure: DisclosureRequest) -> dict[str, Any]:
    return {
        "disclosure": disclosure,
        "targets": [t.pseudonym for t in disclosure.targets.all()],
        "identity_fields": IDENTITY_FIELDS,
        "allowed_fields": list(disclosure.legal_basis.releasable_fields),
        "release_fields": disclosure_release_fields(disclosure),
        "approvals": disclosure_approval_count(disclosure=disclosure),
        "decisions": sorted(disclosure.approvals.all(), key=lambda a: (a.created_at, a.pk)),
        "timeline": selectors.request_timeline(disclosure=disclosure),
        "document_sha256": bytes(disclosure.document_sha256).hex(),
        "now": timezone.now(),
    }


def _request_page(request: HttpRequest, disclosure: DisclosureRequest, *,
                  form: DecisionForm | None = None, callback_form: CallbackForm | None = None,
                  information_form: InformationRequestForm | None = None,
                  answer_form: InformationAnswerForm | None = None,
                  refusal: str = "", status: int = 200) -> HttpResponse:
    context = _request_context(disclosure)
    undecided = disclosure.state in DisclosureRequest.UNDECIDED_STATES
    context.update(
        form=form or DecisionForm(), callback_form=callback_form or CallbackForm(),
        information_form=information_form or InformationRequestForm(),
        may_ask=disclosure.state == DisclosureRequest.State.IN_REVIEW,
        answer_form=answer_form or InformationAnswerForm(),
        may_enter_answer=disclosure.state == DisclosureRequest.State.NEEDS_INFORMATION,
        refusal=refusal, may_decide_here=undecided,
        may_start_review=disclosure.state == DisclosureRequest.State.RECEIVED,
        callback_due=undecided and disclosure.is_emergency
        and disclosure.callback_verified_at is None,
    )
    return render(request, "console/request.html", context, status=status)


class RequestPage(StaffPage):
    roles = READERS

    def get(self, request: HttpRequest, request_id: UUID) -> HttpResponse:
        return _request_page(request, _request_or_404(request_id))


class RequestDocument(StaffPage):
    """The legal document, as an attachment; each reading is an event in the log."""

    roles = READERS

    def get(self, request: HttpRequest, request_id: UUID) -> HttpResponse:
        disclosure = _request_or_404(request_id)
        try:
            name, content_type, content = review.disclosure_document_open(
                disclosure=disclosure, staff=request.user)  # type: ignore[arg-type]
        except review.RoleRequired:
            raise PermissionDenied("reading the document needs another role") from None
        response = HttpResponse(content, content_type=content_type)
        filename = get_valid_filename(name) or "document"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


class RequestAction(StaffPage):
    """A POST calling one review service on a request; a refusal is shown on its page."""

    form_class: type[forms.Form] | None = None
    form_context = "form"  # the form's name in the request page's context

    def act(self, request: HttpRequest, disclosure: DisclosureRequest,
            data: dict[str, Any]) -> str:
        """Call the service; the message to show once it is done."""
        raise NotImplementedError

    def post(self, request: HttpRequest, request_id: UUID) -> HttpResponse:
        disclosure = _request_or_404(request_id)
        form = self.form_class(request.POST) if self.form_class else None
        bound: dict[str, Any] = {self.form_context: form} if form is not None else {}
        if form is not None and not form.is_valid():
            return _request_page(request, disclosure, status=400, **bound)
        try:
            done = self.act(request, disclosure, form.cleaned_data if form else {})
        except (StepUpFailed, SignInLockedOut) as exc:
            assert form is not None  # noqa: S101  (only a form with a code steps up)
            form.add_error("otp_code", _step_up_refusal(exc))
            return _request_page(request, disclosure, status=403, **bound)
        except tuple(REFUSALS) as exc:
            status, title = _refusal(exc)
            return _request_page(request, _request_or_404(request_id), status=status,
                                 refusal=f"{title}: {exc}.", **bound)
        messages.success(request, done)
        return redirect("console-request", request_id=request_id)


class RequestReviewStart(RequestAction):
    """Put a received request in review; whoever does so may not decide it."""

    roles = (Role.INTAKE_OFFICER, Role.APPROVER)

    def act(self, request: HttpRequest, disclosure: DisclosureRequest,
            data: dict[str, Any]) -> str:
        review.disclosure_review_start(disclosure=disclosure,
                                       reviewer=request.user)  # type: ignore[arg-type]
        return f"{disclosure.reference} is in review; approvers can now decide it (you cannot)."


class RequestInformation(RequestAction):
    """Ask the agency for more information; the request waits for its answer."""

    roles = (Role.INTAKE_OFFICER, Role.APPROVER)
    form_class, form_context = InformationRequestForm, "information_form"

    def act(self, request: HttpRequest, disclosure: DisclosureRequest,
            data: dict[str, Any]) -> str:
        review.disclosure_information_ask(disclosure=disclosure,
                                          staff=request.user,  # type: ignore[arg-type]
                                          question=data["question"])
        return "The question is sent to the agency; the request waits for its answer."


class RequestInformationAnswer(RequestAction):
    """Enter the agency's answer, received on paper or by email; back to review."""

    roles = (Role.INTAKE_OFFICER,)
    form_class, form_context = InformationAnswerForm, "answer_form"

    def act(self, request: HttpRequest, disclosure: DisclosureRequest,
            data: dict[str, Any]) -> str:
        review.disclosure_information_answer_enter(
            disclosure=disclosure, staff=request.user,  # type: ignore[arg-type]
            answer=data["answer"], channel=data["channel"])
        return "The agency's answer is recorded; the request is back in review."


class RequestCallback(RequestAction):
    """Record the call-back of an emergency request's agency, on the contact on file."""

    roles = (Role.INTAKE_OFFICER, Role.APPROVER)
    form_class, form_context = CallbackForm, "callback_form"

    def act(self, request: HttpRequest, disclosure: DisclosureRequest,
            data: dict[str, Any]) -> str:
        review.disclosure_callback_verify(disclosure=disclosure,
                                          staff=request.user,  # type: ignore[arg-type]
                                          method=data["method"], notes=data["notes"])
        return "The call-back is recorded; approvers other than you can now decide the request."


class RequestDecision(RequestAction):
    """Approve or reject, with a reason, after a step-up with a fresh one-time code."""

    roles = (Role.APPROVER,)
    form_class = DecisionForm

    def act(self, request: HttpRequest, disclosure: DisclosureRequest,
            data: dict[str, Any]) -> str:
        decision = data["decision"]
        staff_step_up(user=request.user, otp_code=data["otp_code"],  # type: ignore[arg-type]
                      action=f"disclosure.{decision}", object_ref=disclosure.object_ref,
                      request=request)
        decide = review.disclosure_approve if decision == "approve" else review.disclosure_reject
        decide(disclosure=disclosure, approver=request.user,  # type: ignore[arg-type]
               reason=data["reason"])
        return _decided_message(_request_or_404(disclosure.pk), decision)


def _refusal(exc: Exception) -> tuple[int, str]:
    for klass in type(exc).__mro__:
        if klass in REFUSALS:
            return REFUSALS[klass]
    raise exc  # pragma: no cover - only REFUSALS' classes are caught


def _step_up_refusal(exc: Exception) -> str:
    if isinstance(exc, SignInLockedOut):
        return "Too many wrong codes: your account is locked for a while. Nothing was recorded."
    return ("That code was wrong or already used (each code works once; wait for the next "
            "one). Nothing was recorded.")


def _decided_message(disclosure: DisclosureRequest, decision: str) -> str:
    if decision == "reject":
        return f"Your rejection of {disclosure.reference} is recorded; the request is rejected."
    required = disclosure.legal_basis.approvals_required
    given = disclosure_approval_count(disclosure=disclosure)
    if disclosure.state == DisclosureRequest.State.APPROVED:
        return f"Your approval is recorded ({given} of {required}); the request is approved."
    return f"Your approval is recorded ({given} of {required} needed)."
