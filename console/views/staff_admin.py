"""Administrators' pages for staff accounts: create, roles, resets, disabling.

Every change is a call to accounts/services_staff.py, which logs it and holds the rules
(two administrators for a reset or a privileged grant, no administrator who approves).
Every credential or role change first needs a step-up: a fresh one-time code.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts import selectors, services_staff
from accounts.models import StaffChange
from accounts.roles import PRIVILEGED_ROLES, Role, RoleConflict
from accounts.services import SignInLockedOut, StepUpFailed, staff_step_up
from console.access import StaffPage
from console.administration_forms import (
    ChangeDecisionForm,
    DisableForm,
    ResetForm,
    RoleForm,
    StaffCreateForm,
)

ADMINISTRATORS = (Role.ADMINISTRATOR,)
PAGE_SIZE = 25

# A refusal by the services, said in words to the administrator who met it.
REFUSALS: dict[type[Exception], int] = {
    RoleConflict: 403,
    services_staff.StaffChangeRefused: 409,
    services_staff.AdministratorRequired: 403,
    StepUpFailed: 403,
    SignInLockedOut: 429,
}


def refusal_status(exc: Exception) -> int:
    return next(REFUSALS[klass] for klass in type(exc).__mro__ if klass in REFUSALS)


def refusal_text(exc: Exception) -> str:
    if isinstance(exc, SignInLockedOut):
        return "Too many wrong codes: your account is locked for a while. Nothing changed."
    if isinstance(exc, StepUpFailed):
        return ("That code was wrong or already used (each code works once; wait for the "
                "next one). Nothing changed.")
    return f"Refused: {exc}. Nothing changed."


def step_up(request: HttpRequest, code: str, action: str, object_ref: str) -> None:
    staff_step_up(user=request.user, otp_code=code, action=action,  # type: ignore[arg-type]
                  object_ref=object_ref, request=request)


def _staff_or_404(user_id: int) -> User:
    user = selectors.staff_get(user_id=user_id)
    if user is None:
        raise Http404("no such staff account")
    return user


class StaffListPage(StaffPage):
    roles = ADMINISTRATORS

    def get(self, request: HttpRequest, form: StaffCreateForm | None = None,
            status: int = 200) -> HttpResponse:
        page = Paginator(selectors.staff_list(), PAGE_SIZE).get_page(request.GET.get("page"))
        changes = selectors.staff_change_list_open(now=timezone.now())
        return render(request, "console/administration/staff_list.html", {
            "staff_page": page, "changes": changes, "form": form or StaffCreateForm(),
            "decision_form": ChangeDecisionForm(),
        }, status=status)


class StaffCreate(StaffPage):
    roles = ADMINISTRATORS

    def post(self, request: HttpRequest) -> HttpResponse:
        form = StaffCreateForm(request.POST)
        if not form.is_valid():
            return StaffListPage().get(request, form=form, status=400)
        try:
            user = services_staff.staff_account_create(
                username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                administrator=request.user)  # type: ignore[arg-type]
        except IntegrityError:
            form.add_error("username", "That username is taken.")
            return StaffListPage().get(request, form=form, status=409)
        messages.success(request, f"Account {user.username} created; a temporary password "
                                  "was mailed to its owner. It has no role yet.")
        return redirect("console-staff-detail", user_id=user.pk)


def _detail(request: HttpRequest, user: User, *, refusal: str = "", status: int = 200,
            bound: dict[str, forms.Form] | None = None) -> HttpResponse:
    held = sorted(user.groups.values_list("name", flat=True))
    context: dict[str, Any] = {
        "account": user, "held_roles": held, "refusal": refusal,
        "changes": [c for c in selectors.staff_change_list_open(now=timezone.now())
                    if c.target_id == user.pk],
        "role_form": RoleForm(), "reset_form": ResetForm(), "disable_form": DisableForm(),
        "privileged": sorted(str(r) for r in PRIVILEGED_ROLES),
        "is_self": user.pk == request.user.pk,
    }
    context.update(bound or {})  # a form sent back with its errors
    return render(request, "console/administration/staff_detail.html", context, status=status)


class StaffDetailPage(StaffPage):
    roles = ADMINISTRATORS

    def get(self, request: HttpRequest, user_id: int) -> HttpResponse:
        return _detail(request, _staff_or_404(user_id))


class StaffAction(StaffPage):
    """POST a form about one account; on success go back to its page with a message."""

    roles = ADMINISTRATORS
    form_class: type[forms.Form]
    form_name: str

    def post(self, request: HttpRequest, user_id: int) -> HttpResponse:
        user = _staff_or_404(user_id)
        form = self.form_class(request.POST)
        if not form.is_valid():
            return _detail(request, user, status=400, bound={self.form_name: form})
        try:
            step_up(request, form.cleaned_data["otp_code"], self.action_name(form),
                    f"staff:{user.pk}")
            message = self.act(request, user, form.cleaned_data)
        except tuple(REFUSALS) as exc:
            return _detail(request, user, refusal=refusal_text(exc),
                           status=refusal_status(exc))
        messages.success(request, message)
        return redirect("console-staff-detail", user_id=user.pk)

    def action_name(self, form: forms.Form) -> str:
        raise NotImplementedError

    def act(self, request: HttpRequest, user: User, data: dict[str, Any]) -> str:
        raise NotImplementedError


class StaffRoles(StaffAction):
    form_class = RoleForm
    form_name = "role_form"

    def action_name(self, form: forms.Form) -> str:
        return f"staff.role_{form.cleaned_data['action']}"

    def act(self, request: HttpRequest, user: User, data: dict[str, Any]) -> str:
        role, admin = Role(data["role"]), request.user
        if data["action"] == "revoke":
            services_staff.staff_role_revoke(user=user, role=role, administrator=admin)  # type: ignore[arg-type]
            return f"Role {role} revoked from {user.username}."
        if role in PRIVILEGED_ROLES:
            services_staff.staff_change_propose(
                kind=StaffChange.Kind.ROLE_GRANT, target=user, role=role,
                administrator=admin)  # type: ignore[arg-type]
            return (f"Granting {role} to {user.username} is proposed; a second "
                    "administrator must approve it.")
        services_staff.staff_role_grant(user=user, role=role, administrator=admin)  # type: ignore[arg-type]
        return f"Role {role} granted to {user.username}."


class StaffResetPropose(StaffAction):
    form_class = ResetForm
    form_name = "reset_form"

    def action_name(self, form: forms.Form) -> str:
        return f"staff.propose_{form.cleaned_data['kind']}"

    def act(self, request: HttpRequest, user: User, data: dict[str, Any]) -> str:
        change = services_staff.staff_change_propose(
            kind=StaffChange.Kind(data["kind"]), target=user,
            administrator=request.user)  # type: ignore[arg-type]
        return (f"{change.get_kind_display()} of {user.username} proposed; it happens when a "
                "second administrator approves it.")


class StaffDisable(StaffAction):
    form_class = DisableForm
    form_name = "disable_form"

    def action_name(self, form: forms.Form) -> str:
        return "staff.disable"

    def act(self, request: HttpRequest, user: User, data: dict[str, Any]) -> str:
        services_staff.staff_account_disable(user=user, administrator=request.user)  # type: ignore[arg-type]
        return f"{user.username} is disabled; their sessions and tokens are ended."


class StaffChangeDecide(StaffPage):
    """The second administrator's approval (or anyone's cancellation) of a proposal."""

    roles = ADMINISTRATORS

    def post(self, request: HttpRequest, change_id: UUID) -> HttpResponse:
        change = selectors.staff_change_get_open(change_id=change_id)
        if change is None:
            raise Http404("no such open proposal")
        form = ChangeDecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose approve or cancel, and give a one-time code.")
            return redirect("console-staff")
        approve = form.cleaned_data["decision"] == "approve"
        try:
            step_up(request, form.cleaned_data["otp_code"],
                    "staff.change_approve" if approve else "staff.change_cancel",
                    f"staff:{change.target_id}")
            decide = (services_staff.staff_change_approve if approve
                      else services_staff.staff_change_cancel)
            decide(change=change, administrator=request.user)  # type: ignore[arg-type]
        except tuple(REFUSALS) as exc:
            messages.error(request, refusal_text(exc))
            return redirect("console-staff")
        messages.success(request, f"{change.get_kind_display()} of {change.target.username} "
                                  f"{'approved and made' if approve else 'cancelled'}.")
        return redirect("console-staff")
