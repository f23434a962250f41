"""Signing in and out of the console, and setting up the second factor at first sign-in.

The checks, limits and log events are accounts.services' (the same as the API's
sign-in); these views only keep the browser session.
"""

from __future__ import annotations

import base64
import math
import time
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.services import (
    SecondFactorAlreadyEnrolled,
    SignInFailed,
    SignInLockedOut,
    staff_console_sign_in,
    staff_console_sign_out,
    staff_totp_enrolment_confirm,
    staff_totp_enrolment_start,
)
from console import selectors
from console.access import StaffPage, session_start, sign_in_redirect, staff_roles
from console.forms import EnrolmentForm, SignInForm

# Password checked, second factor not set up yet: {"user": id, "device": id, "since": t}.
ENROLMENT_KEY = "console_enrolment"
ENROLMENT_SECONDS = 10 * 60
_BACKEND = "django.contrib.auth.backends.ModelBackend"
_CONSOLE_HOME = "/console/"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith(reverse("console-sign-in")):
        return _CONSOLE_HOME  # the sign-in pages themselves: no loop back to them
    if target.startswith(_CONSOLE_HOME) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return _CONSOLE_HOME


def _locked_out_page(request: HttpRequest, exc: SignInLockedOut) -> HttpResponse:
    response = render(request, "console/locked_out.html",
                      {"minutes": max(1, math.ceil(exc.retry_after / 60))}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def _signed_in(request: HttpRequest, user: Any, device: TOTPDevice) -> None:
    login(request, user, backend=_BACKEND)  # a new session key: no fixation
    otp_login(request, device)
    session_start(request)


class SignInPage(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        if staff_roles(request):
            return redirect(_next_url(request))
        return self._form(request, SignInForm())

    def _form(self, request: HttpRequest, form: SignInForm, status: int = 200) -> HttpResponse:
        return render(request, "console/sign_in.html",
                      {"form": form, "next": _next_url(request)}, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SignInForm(request.POST)
        if not form.is_valid():
            return self._form(request, form, status=400)
        try:
            result = staff_console_sign_in(
                username=form.cleaned_data["username"], password=form.cleaned_data["password"],
                otp_code=form.cleaned_data["otp_code"] or "", request=request,
            )
        except SignInLockedOut as exc:
            return _locked_out_page(request, exc)
        except SignInFailed:
            form.add_error(None, "The username, password or one-time code is wrong.")
            return self._form(request, form, status=401)
        if result.device is None:
            logout(request)  # a new, empty session
            request.session[ENROLMENT_KEY] = {"user": result.user.pk, "since": int(time.time())}
            return redirect("console-enrol")
        _signed_in(request, result.user, result.device)
        return redirect(_next_url(request))


class EnrolmentPage(View):
    """First sign-in: scan a QR code into an authenticator app, confirm with its code."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        pending = request.session.get(ENROLMENT_KEY)
        if not isinstance(pending, dict):
            pending = {}
        fresh = time.time() - pending.get("since", 0) < ENROLMENT_SECONDS
        user = selectors.staff_user_get(user_id=pending.get("user")) if fresh else None
        if user is None:
            request.session.pop(ENROLMENT_KEY, None)
            return sign_in_redirect(request)
        self.user: User = user
        self.pending: dict[str, Any] = pending
        return super().dispatch(request, *args, **kwargs)

    def _device(self, request: HttpRequest) -> TOTPDevice:
        device = selectors.totp_device_unconfirmed_get(
            user=self.user, device_id=self.pending.get("device"))
        if device is None:
            device = staff_totp_enrolment_start(user=self.user)
            request.session[ENROLMENT_KEY] = {**self.pending, "device": device.pk}
        return device

    def _form(self, request: HttpRequest, form: EnrolmentForm, status: int = 200
              ) -> HttpResponse:
        device = self._device(request)
        qr = segno.make(device.config_url, error="m")
        return render(request, "console/enrol.html", {
            "form": form,
            "qr_svg": qr.svg_inline(scale=5, title="QR code for your authenticator app"),
            "secret": _base32(device.bin_key),
        }, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            return self._form(request, EnrolmentForm())
        except SecondFactorAlreadyEnrolled:
            return self._already(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = EnrolmentForm(request.POST)
        try:
            if not form.is_valid():
                return self._form(request, form, status=400)
            device = staff_totp_enrolment_confirm(
                user=self.user, device=self._device(request),
                otp_code=form.cleaned_data["otp_code"], request=request,
            )
        except SecondFactorAlreadyEnrolled:
            return self._already(request)
        except SignInLockedOut as exc:
            request.session.pop(ENROLMENT_KEY, None)
            return _locked_out_page(request, exc)
        except SignInFailed:
            form.add_error("otp_code", "That code did not match. Enter the code shown now.")
            return self._form(request, form, status=400)
        request.session.pop(ENROLMENT_KEY, None)
        _signed_in(request, self.user, device)
        messages.success(request, "Your authenticator app is set up, and you are signed in.")
        return redirect(_CONSOLE_HOME)

    def _already(self, request: HttpRequest) -> HttpResponse:
        request.session.pop(ENROLMENT_KEY, None)
        messages.info(request, "Your second factor is already set up: sign in with its code.")
        return redirect("console-sign-in")


def _base32(key: bytes) -> str:
    # Grouped by four for typing it in by hand (RFC 4648 base32, as otpauth URIs carry it).
    text = base64.b32encode(key).decode().rstrip("=")
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


class SignOut(StaffPage):
    def post(self, request: HttpRequest) -> HttpResponse:
        staff_console_sign_out(user=request.user)  # type: ignore[arg-type]
        logout(request)
        messages.info(request, "You are signed out.")
        return redirect("console-sign-in")


class HomePage(StaffPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "console/home.html")
