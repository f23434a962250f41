"""Administrators' pages for platforms, their API keys and webhooks, and agencies.

The same audited services as the management commands (accounts/services.py). An API
key is shown once, on the page that answers its issue, and never stored in the clear;
issuing and revoking one needs a step-up.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import selectors
from accounts.models import ApiCredential, Platform, WebhookEndpoint
from accounts.services import (
    AgencyContactInvalid,
    CredentialRevoked,
    SignInLockedOut,
    StepUpFailed,
    agency_create,
    credential_create,
    credential_revoke,
    platform_create,
    webhook_endpoint_update,
)
from console.access import StaffPage
from console.administration_forms import AgencyForm, KeyIssueForm, KeyRevokeForm, PlatformForm
from console.views.staff_admin import ADMINISTRATORS, PAGE_SIZE, refusal_text, step_up
from escrow.log.events import Actor

DELIVERIES_PAGE_SIZE = 50


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_staff(request.user.pk, "administrator")


def _platform_or_404(platform_id: UUID) -> Platform:
    platform = selectors.platform_list().filter(pk=platform_id).first()
    if platform is None:
        raise Http404("no such platform")
    return platform


class PlatformListPage(StaffPage):
    roles = ADMINISTRATORS

    def get(self, request: HttpRequest, form: PlatformForm | None = None,
            status: int = 200) -> HttpResponse:
        page = Paginator(selectors.platform_list(), PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "console/administration/platforms.html",
                      {"platforms_page": page, "form": form or PlatformForm()}, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PlatformForm(request.POST)
        if not form.is_valid():
            return self.get(request, form=form, status=400)
        try:
            platform = platform_create(name=form.cleaned_data["name"], actor=_actor(request))
        except IntegrityError:
            form.add_error("name", "A platform with that name exists.")
            return self.get(request, form=form, status=409)
        messages.success(request, f"Platform {platform.name} created; issue it an API key.")
        return redirect("console-platform", platform_id=platform.pk)


def _platform_page(request: HttpRequest, platform: Platform, *, issued_key: str = "",
                   key_form: KeyIssueForm | None = None, refusal: str = "",
                   status: int = 200) -> HttpResponse:
    return render(request, "console/administration/platform.html", {
        "platform": platform, "credentials": selectors.platform_credentials(platform=platform),
        "endpoints": selectors.webhook_endpoint_list_for_platform(platform=platform),
        "key_form": key_form or KeyIssueForm(), "revoke_form": KeyRevokeForm(),
        "issued_key": issued_key, "refusal": refusal,
    }, status=status)


class PlatformPage(StaffPage):
    roles = ADMINISTRATORS

    def get(self, request: HttpRequest, platform_id: UUID) -> HttpResponse:
        return _platform_page(request, _platform_or_404(platform_id))


class KeyIssue(StaffPage):
    """Issue a key; the answer is the one page that ever shows it (never cached)."""

    roles = ADMINISTRATORS

    def post(self, request: HttpRequest, platform_id: UUID) -> HttpResponse:
        platform = _platform_or_404(platform_id)
        form = KeyIssueForm(request.POST)
        if not form.is_valid():
            return _platform_page(request, platform, key_form=form, status=400)
        try:
            step_up(request, form.cleaned_data["otp_code"], "credential.create",
                    f"platform:{platform.pk}")
        except (StepUpFailed, SignInLockedOut) as exc:
            return _platform_page(request, platform, refusal=refusal_text(exc), status=403)
        issued = credential_create(platform=platform, label=form.cleaned_data["label"],
                                   actor=_actor(request))
        response = _platform_page(request, platform, issued_key=issued.api_key)
        response["Cache-Control"] = "no-store"
        return response


class KeyRevoke(StaffPage):
    roles = ADMINISTRATORS

    def post(self, request: HttpRequest, credential_id: int) -> HttpResponse:
        credential = (ApiCredential.objects.filter(pk=credential_id, platform__isnull=False)
                      .select_related("platform").first())
        if credential is None or credential.platform is None:
            raise Http404("no such platform key")
        platform = credential.platform
        form = KeyRevokeForm(request.POST)
        if not form.is_valid():
            return _platform_page(request, platform, refusal="Give a one-time code to revoke "
                                  "a key. Nothing changed.", status=400)
        try:
            step_up(request, form.cleaned_data["otp_code"], "credential.revoke",
                    f"credential:{credential.prefix}")
            credential_revoke(credential=credential, actor=_actor(request))
        except (StepUpFailed, SignInLockedOut, CredentialRevoked) as exc:
            return _platform_page(request, platform, refusal=refusal_text(exc),
                                  status=409 if isinstance(exc, CredentialRevoked) else 403)
        messages.success(request, f"Key {credential.prefix} revoked.")
        return redirect("console-platform", platform_id=platform.pk)


def _endpoint_or_404(endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_related("platform").filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("no such webhook endpoint")
    return endpoint


class WebhookPage(StaffPage):
    """An endpoint's delivery history, newest first (read-only: the platform manages its
    endpoints over the API; an administrator may only switch one off)."""

    roles = ADMINISTRATORS

    def get(self, request: HttpRequest, endpoint_id: UUID) -> HttpResponse:
        endpoint = _endpoint_or_404(endpoint_id)
        page = Paginator(selectors.webhook_delivery_list_for_endpoint(endpoint=endpoint),
                         DELIVERIES_PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "console/administration/webhook.html",
                      {"endpoint": endpoint, "deliveries_page": page})


class WebhookDisable(StaffPage):
    roles = ADMINISTRATORS

    def post(self, request: HttpRequest, endpoint_id: UUID) -> HttpResponse:
        endpoint = _endpoint_or_404(endpoint_id)
        webhook_endpoint_update(endpoint=endpoint, is_active=False, actor=_actor(request))
        messages.success(request, "The endpoint is disabled: nothing more is sent to it.")
        return redirect("console-webhook", endpoint_id=endpoint.pk)


class AgencyListPage(StaffPage):
    roles = ADMINISTRATORS

    def get(self, request: HttpRequest, form: AgencyForm | None = None, refusal: str = "",
            status: int = 200) -> HttpResponse:
        page = Paginator(selectors.agency_list(), PAGE_SIZE).get_page(request.GET.get("page"))
        form = form or AgencyForm(jurisdictions=selectors.jurisdiction_choices())
        return render(request, "console/administration/agencies.html",
                      {"agencies_page": page, "form": form, "refusal": refusal},
                      status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AgencyForm(request.POST, jurisdictions=selectors.jurisdiction_choices())
        if not form.is_valid():
            return self.get(request, form=form, status=400)
        data = form.cleaned_data
        try:
            agency = agency_create(
                name=data["name"], jurisdiction_code=data["jurisdiction"],
                callback_phone=data["callback_phone"], callback_email=data["callback_email"],
                actor=_actor(request))
        except AgencyContactInvalid as exc:
            form.add_error(exc.field, str(exc).capitalize() + ".")
            return self.get(request, form=form, status=400)
        except IntegrityError:
            form.add_error("name", "An agency with that name exists.")
            return self.get(request, form=form, status=409)
        messages.success(request, f"Agency {agency.name} added with its call-back contacts. "
                                  "Issue its API key with manage.py credential.")
        return redirect("console-agencies")
