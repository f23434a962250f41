"""Staff sign-in: password plus TOTP for a short-lived, revocable personal token."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import StaffToken
from accounts.roles import Role
from escrow.log.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


def current_code(user: Any) -> str:
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def sign_in(username: str, password: str, code: str) -> Any:
    return APIClient().post(
        "/api/v1/auth/token",
        {"username": username, "password": password, "otp_code": code},
        format="json",
    )


def test_alice_signs_in_and_uses_her_token() -> None:
    alice = factories.staff("alice", Role.INTAKE_OFFICER)
    response = sign_in("alice", PASSWORD, current_code(alice))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["roles"] == ["intake_officer"]
    assert body["token"].startswith("est_")
    token = StaffToken.objects.get(user=alice)
    assert bytes(token.key_hash) != body["token"].encode()
    assert token.expires_at > timezone.now()
    assert AuditEvent.objects.filter(event_type="staff.signed_in").count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert client.delete("/api/v1/auth/token/current").status_code == 204
    # A revoked token no longer authenticates.
    assert client.delete("/api/v1/auth/token/current").status_code == 401


@pytest.mark.parametrize("case", ["wrong_password", "wrong_code", "unknown_user", "replay"])
def test_failures_are_uniform_and_logged(case: str) -> None:
    bob = factories.staff("bob", Role.APPROVER)
    code = current_code(bob)
    if case == "replay":
        assert sign_in("bob", PASSWORD, code).status_code == 201
        response = sign_in("bob", PASSWORD, code)
    elif case == "wrong_password":
        response = sign_in("bob", "not the password", code)
    elif case == "wrong_code":
        response = sign_in("bob", PASSWORD, f"{(int(code) + 1) % 1_000_000:06d}")
    else:
        response = sign_in("mallory", PASSWORD, code)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "sign_in_failed"
    failed = AuditEvent.objects.get(event_type="staff.sign_in_failed")
    # The attempted username is sealed, not written into the public entry.
    assert b"bob" not in bytes(failed.entry)
    assert b"mallory" not in bytes(failed.entry)
    assert failed.commitment is not None


def test_an_expired_token_is_refused() -> None:
    carol = factories.staff("carol", Role.APPROVER)
    token = sign_in("carol", PASSWORD, current_code(carol)).json()["token"]
    StaffToken.objects.filter(user=carol).update(expires_at=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.delete("/api/v1/auth/token/current").status_code == 401


def test_sign_in_is_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pin the clock inside one fixed window so the count cannot roll over mid-test.
    monkeypatch.setattr("accounts.throttling._now", lambda: 1_800_000_030.0)
    factories.staff("dave", Role.AUDITOR)
    codes = [sign_in("dave", "wrong", "000000").status_code for _ in range(11)]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429


def test_malformed_sign_in_is_400() -> None:
    response = APIClient().post("/api/v1/auth/token", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"



def test_a_credential_is_logged_against_its_owner() -> None:
    import json

    from accounts.services import credential_create

    platform = factories.PlatformFactory(name="Chirp")
    agency, _ = factories.agency_with_key(name="Thames Valley Police")
    for owner in ({"platform": platform}, {"agency": agency}):
        issued = credential_create(label="second", **owner)
        event = AuditEvent.objects.get(event_type="credential.created",
                                       object_ref=f"credential:{issued.credential.prefix}")
        kind, holder = next(iter(owner.items()))
        assert json.loads(bytes(event.entry))["details"]["owner"] == f"{kind}:{holder.pk}"
        # Only a platform's own events are listed to that platform.
        assert event.platform_id == (platform.pk if kind == "platform" else None)
