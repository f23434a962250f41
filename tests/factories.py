"""Factories and named actors shared by the tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import factory
from django.contrib.auth.models import User

from accounts.models import Jurisdiction, Platform
from accounts.roles import Role
from accounts.services import credential_create, staff_user_create
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey, ceremony_run
from escrow.models import EscrowKey

# Distinctive values that must never appear anywhere outside a sealed field.
CANARY = {
    "given_name": "Zebulonqx",
    "family_name": "Quartermainezz",
    "email": "canary.zq81@mailbox.example",
    "phone": "+447700900481",
    "document_number": "CNRY7741Q",
    "postal_line": "41 Canaryquay Wharf",
    "reference": "idv-ref-canary-5521",
}


def identity_payload(**overrides: Any) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "given_name": CANARY["given_name"],
        "family_name": CANARY["family_name"],
        "date_of_birth": "1987-04-12",
        "postal_address": {
            "lines": [CANARY["postal_line"]],
            "locality": "London",
            "postal_code": "E14 5AB",
            "country": "GB",
        },
        "email": CANARY["email"],
        "phone": CANARY["phone"],
        "document": {"type": "passport", "number": CANARY["document_number"], "country": "GB"},
    }
    identity.update(overrides)
    return {
        "identity": identity,
        "evidence": {
            "provider": "demo-idv",
            "reference": CANARY["reference"],
            "assurance_level": "high",
            "verified_at": "2026-11-01T10:00:00Z",
        },
    }


@dataclass
class EscrowKeyPair:
    row: EscrowKey
    public_key: EscrowPublicKey
    shares: list[CustodianShare]


def escrow_key_active(*, threshold: int = 3, custodians: int = 5) -> EscrowKeyPair:
    epoch = (EscrowKey.objects.order_by("-epoch").values_list("epoch", flat=True).first() or 0) + 1
    public_key, shares = ceremony_run(threshold=threshold, custodians=custodians, epoch=epoch)
    EscrowKey.objects.filter(is_active=True).update(is_active=False)
    row = EscrowKey.objects.create(
        epoch=epoch,
        threshold=threshold,
        custodian_count=custodians,
        public_key=public_key.to_dict(),
        is_active=True,
    )
    return EscrowKeyPair(row=row, public_key=public_key, shares=shares)


class PlatformFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Platform

    name = factory.Sequence(lambda n: f"Platform {n}")


class JurisdictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Jurisdiction
        django_get_or_create = ("code",)

    code = "GB-EAW"
    name = "England and Wales"
    is_enabled = True


def platform_with_key(*, name: str | None = None, scopes: list[str] | None = None
                      ) -> tuple[Platform, str]:
    platform = PlatformFactory(name=name) if name else PlatformFactory()
    issued = credential_create(platform=platform, scopes=scopes)
    return platform, issued.api_key


def staff(username: str, *roles: Role, password: str = "correct horse battery") -> User:
    user, _ = staff_user_create(
        username=username, email=f"{username}@escrow.example", password=password,
        roles=list(roles),
    )
    return user


def idempotency_key() -> str:
    return f"idem-{uuid.uuid4()}"
