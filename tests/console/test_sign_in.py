"""Console sign-in: password and TOTP, first-time enrolment, limits, expiry, sign-out."""

from __future__ import annotations

import time
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from console.access import LAST_SEEN_KEY
from escrow.log.models import AuditEvent
from tests import factories
from tests.console.conftest import PASSWORD, console_client, otp_code

pytestmark = pytest.mark.django_db


def _events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("pk"))


def test_password_and_code_sign_in_without_picking_a_device() -> None:
    bob = factories.staff("bob", Role.APPROVER)
    client = Client()
    page = client.get("/console/sign-in")
    assert b'name="otp_code"' in page.content
    assert b"otp_device" not in page.content  # one device: nothing to pick
    response = client.post("/console/sign-in", {
        "username": "bob", "password": PASSWORD, "otp_code": otp_code(bob)})
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    [event] = _events("staff.signed_in")
    assert (event.actor_ref, event.object_ref) == (str(bob.pk), f"staff:{bob.pk}")


def test_a_wrong_code_is_a_failure_counted_as_the_apis() -> None:
    bob = factories.staff("bob", Role.APPROVER)
    client = Client()
    response = client.post("/console/sign-in", {
        "username": "bob", "password": PASSWORD, "otp_code": "000000"})
    assert response.status_code == 401
    assert b"username, password or one-time code is wrong" in response.content
    assert client.get("/console/").status_code == 302  # not signed in
    assert AccessAttempt.objects.count() == 1  # django-axes counted it
    [failed] = _events("staff.sign_in_failed")
    assert "bob" not in bytes(failed.entry).decode()  # the username is only sealed
    assert _events("staff.signed_in") == []
    del bob


def test_repeated_failures_lock_the_account_out_with_a_page(settings: Any) -> None:
    settings.SIGN_IN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    bob = factories.staff("bob", Role.APPROVER)
    client = Client()
    for _ in range(3):
        client.post("/console/sign-in", {"username": "bob", "password": "wrong password!",
                                         "otp_code": ""})
    response = client.post("/console/sign-in", {
        "username": "bob", "password": PASSWORD, "otp_code": otp_code(bob)})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many failed sign-ins" in response.content
    assert response["Content-Type"].startswith("text/html")
    assert len(_events("staff.sign_in_locked_out")) == 1
    assert _events("staff.signed_in") == []


def _no_device_user() -> Any:
    carol = factories.staff("carol", Role.APPROVER)
    TOTPDevice.objects.filter(user=carol).delete()
    return carol


def test_first_sign_in_enrols_a_totp_device_from_a_qr_code() -> None:
    carol = _no_device_user()
    client = Client()
    response = client.post("/console/sign-in", {"username": "carol", "password": PASSWORD})
    assert response["Location"] == "/console/sign-in/second-factor"
    assert client.get("/console/").status_code == 302  # not signed in yet
    page = client.get("/console/sign-in/second-factor")
    assert page.status_code == 200
    assert b"<svg" in page.content
    assert b"Scan this QR code" in page.content
    device = TOTPDevice.objects.get(user=carol, confirmed=False)
    assert client.get("/console/sign-in/second-factor").status_code == 200
    assert TOTPDevice.objects.get(user=carol).pk == device.pk  # a reload keeps the QR code

    wrong = client.post("/console/sign-in/second-factor", {"otp_code": "000000"})
    assert wrong.status_code == 400
    assert AccessAttempt.objects.count() == 1
    # django-otp throttles a device after a wrong code; as if its delay had passed:
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    done = client.post("/console/sign-in/second-factor", {"otp_code": code})
    assert done["Location"] == "/console/"
    assert TOTPDevice.objects.get(user=carol).confirmed
    assert client.get("/console/").status_code == 200
    assert [e.event_type for e in AuditEvent.objects.filter(actor_ref=str(carol.pk))
            .order_by("pk")][-2:] == ["staff.second_factor_enrolled", "staff.signed_in"]


def test_a_password_alone_cannot_enrol_a_second_device() -> None:
    factories.staff("bob", Role.APPROVER)
    client = Client()
    response = client.post("/console/sign-in", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 401  # bob has a device: the code is required
    assert client.get("/console/sign-in/second-factor")["Location"].startswith(
        "/console/sign-in?next=")
    assert TOTPDevice.objects.filter(user__username="bob").count() == 1


def test_an_idle_session_expires(settings: Any) -> None:
    bob = factories.staff("bob", Role.APPROVER)
    client = console_client(bob)
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - settings.CONSOLE_IDLE_TIMEOUT_SECONDS - 1
    session.save()
    response = client.get("/console/requests/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/sign-in?next=/console/requests/")
    assert client.get("/console/").status_code == 302  # signed out, not just redirected


def test_sign_out_ends_the_session_and_is_logged() -> None:
    bob = factories.staff("bob", Role.APPROVER)
    client = console_client(bob)
    assert client.post("/console/sign-out").status_code == 302
    assert client.get("/console/").status_code == 302
    assert len(_events("staff.signed_out")) == 1


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site() -> None:
    bob = factories.staff("bob", Role.APPROVER)
    for asked, lands in (("/console/requests/", "/console/requests/"),
                         ("https://evil.example/", "/console/"), ("/admin/", "/console/")):
        response = Client().post("/console/sign-in", {
            "username": "bob", "password": PASSWORD, "otp_code": otp_code(bob, drift=0),
            "next": asked})
        assert response["Location"] == lands
        TOTPDevice.objects.filter(user=bob).update(last_t=-1)  # let the same code in again


def test_a_session_without_its_second_factor_opens_no_page() -> None:
    from django.urls import reverse

    bob = factories.staff("bob", Role.APPROVER)
    client = Client()
    client.force_login(bob)  # the password was checked, the TOTP code was not
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time())
    session.save()
    for name in ("console-home", "console-queue"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith("/console/sign-in?next=")


def test_a_csrf_failure_in_the_console_is_a_page() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/console/sign-in", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
