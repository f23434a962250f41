"""Sign-in limits: a forged X-Forwarded-For moves nothing, guessing locks the account and
the address, and a password flood adds a handful of log entries, not one per attempt.

The first test is the acceptance check F-signin-limits (40 wrong passwords for one
approver, each claiming another client address) replayed in-process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.client_address import client_address
from accounts.models import SignInFailureTally
from accounts.roles import Role
from accounts.sign_in_limits import sign_in_failures_report_closed
from escrow.log.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"
URL = "/api/v1/auth/token"
LIMIT = 10


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.SIGN_IN_FAILURE_LIMIT = LIMIT
    settings.AXES_FAILURE_LIMIT = LIMIT


def current_code(user: Any) -> str:
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def sign_in(username: str, password: str, code: str = "000000", *, forwarded: str = "",
            remote: str = "127.0.0.1") -> Any:
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post(
        URL, {"username": username, "password": password, "otp_code": code}, format="json",
        **extra,
    )


def log_size() -> int:
    return AuditEvent.objects.count()


def assert_locked_out(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "sign_in_locked_out"
    assert 1 <= int(response["Retry-After"]) <= 900


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_forty_wrong_passwords_from_forty_addresses_lock_the_account_and_barely_grow_the_log(
    settings: Any, trusted_proxies: int
) -> None:
    # With one trusted proxy each request really comes from another address (the
    # attacker's best case): the per-address throttle never fires, the account must lock.
    settings.ESCROW_TRUSTED_PROXY_COUNT = trusted_proxies
    bob = factories.staff("bob", Role.APPROVER)
    before = log_size()
    statuses = [
        sign_in("bob", f"wrong-{i}", forwarded=f"203.0.113.{i + 1}").status_code
        for i in range(40)
    ]
    first_refusal = next(i + 1 for i, s in enumerate(statuses) if s in (423, 429))
    assert first_refusal <= LIMIT + 1 <= 20, statuses
    assert set(statuses[first_refusal - 1:]) == {429}
    assert log_size() - before <= 3
    assert AuditEvent.objects.filter(event_type="staff.sign_in_locked_out").count() == 1
    # Locked out means locked out: the right password and code are refused unheard.
    # (From an address the throttle has not seen, so that the lockout is what answers.)
    assert_locked_out(sign_in("bob", PASSWORD, current_code(bob), forwarded="198.51.100.7",
                              remote="198.51.100.7"))


def test_a_forged_forwarded_for_does_not_bypass_the_sign_in_throttle(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SIGN_IN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 1000  # throttle only
    monkeypatch.setattr("accounts.throttling._now", lambda: 1_800_000_030.0)
    codes = [
        sign_in(f"user{i}", "wrong", forwarded=f"203.0.113.{i + 1}").status_code
        for i in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429


def test_client_address_ignores_forwarded_for_without_trusted_proxies(settings: Any) -> None:
    settings.ESCROW_TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.10",
                                   HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_address(request) == "192.0.2.10"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own claim is ignored
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "203.0.113.9"),  # skipped the outer proxy: its sender
        (1, "", "192.0.2.10"),
        (1, "not-an-address", "192.0.2.10"),
        (1, "2001:db8:0:0::1", "2001:db8::1"),
    ],
)
def test_client_address_is_the_nth_forwarded_entry_from_the_right(
    settings: Any, proxies: int, forwarded: str, expected: str
) -> None:
    settings.ESCROW_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.10",
                                   HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_one_address_guessing_many_usernames_is_locked_out(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                   "auth": "1000/min"},
    }
    carol = factories.staff("carol", Role.APPROVER)
    codes = [sign_in(f"guess{i}", "wrong", remote="192.0.2.66").status_code
             for i in range(LIMIT)]
    assert codes == [401] * LIMIT
    assert_locked_out(sign_in("carol", PASSWORD, current_code(carol), remote="192.0.2.66"))
    locked = AuditEvent.objects.get(event_type="staff.sign_in_locked_out")
    assert b'"address":true' in bytes(locked.entry)
    assert b"192.0.2.66" not in bytes(locked.entry)  # sealed, not public
    # Another address is not affected.
    assert sign_in("carol", PASSWORD, current_code(carol), remote="192.0.2.67").status_code == 201


def test_a_wrong_one_time_code_counts_towards_the_lockout(settings: Any) -> None:
    settings.ESCROW_TRUSTED_PROXY_COUNT = 1
    dave = factories.staff("dave", Role.AUDITOR)
    right = current_code(dave)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    codes = [sign_in("dave", PASSWORD, wrong, forwarded=f"203.0.113.{i + 1}").status_code
             for i in range(LIMIT)]
    assert codes == [401] * LIMIT
    assert_locked_out(sign_in("dave", PASSWORD, right, forwarded="198.51.100.1"))


def test_the_lockout_ends_after_the_cool_off(settings: Any) -> None:
    settings.ESCROW_TRUSTED_PROXY_COUNT = 1
    erin = factories.staff("erin", Role.INTAKE_OFFICER)
    for i in range(LIMIT):
        sign_in("erin", "wrong", forwarded=f"203.0.113.{i + 1}")
    assert_locked_out(sign_in("erin", PASSWORD, current_code(erin), forwarded="198.51.100.1"))
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - timedelta(seconds=settings.SIGN_IN_LOCKOUT_SECONDS + 1)
    )
    response = sign_in("erin", PASSWORD, current_code(erin), forwarded="198.51.100.1")
    assert response.status_code == 201, response.content


def test_attempted_usernames_are_not_stored_in_clear(settings: Any) -> None:
    sign_in("mallory-typed-her-password-here", "wrong")
    attempt = AccessAttempt.objects.get()
    assert "mallory" not in attempt.username
    assert "mallory" not in (attempt.post_data + attempt.get_data)
    assert "mallory" not in SignInFailureTally.objects.get().account_key


def test_a_closed_failure_window_is_reported_by_one_summary_event(settings: Any) -> None:
    settings.ESCROW_TRUSTED_PROXY_COUNT = 1
    factories.staff("frank", Role.APPROVER)
    for i in range(3):
        sign_in("frank", "wrong", forwarded=f"203.0.113.{i + 1}")
    sign_in("nobody", "wrong", forwarded="203.0.113.99")  # a single failure: nothing to add
    assert AuditEvent.objects.filter(event_type="staff.sign_in_failed").count() == 2
    assert sign_in_failures_report_closed() == 0  # windows still open
    SignInFailureTally.objects.update(window_ends_at=timezone.now())
    assert sign_in_failures_report_closed() == 2
    summary = AuditEvent.objects.get(event_type="staff.sign_in_failures_summary")
    assert b'"failures":3' in bytes(summary.entry)
    assert not SignInFailureTally.objects.exists()
    assert sign_in_failures_report_closed() == 0


def test_in_process_sign_in_still_works_without_a_request() -> None:
    from accounts.services import staff_sign_in

    grace = factories.staff("grace", Role.APPROVER)
    issued = staff_sign_in(username="grace", password=PASSWORD, otp_code=current_code(grace))
    assert issued.secret.startswith("est_")


def test_a_sign_in_is_logged_as_the_staff_member_in_their_role_with_their_token() -> None:
    from accounts.services import staff_sign_in

    grace = factories.staff("grace", Role.APPROVER)
    issued = staff_sign_in(username="grace", password=PASSWORD, otp_code=current_code(grace))
    event = AuditEvent.objects.get(event_type="staff.signed_in")
    assert (event.actor_kind, event.actor_ref, event.actor_role) == (
        "staff", str(grace.pk), "approver")
    assert event.object_ref == f"staff_token:{issued.token.prefix}"
