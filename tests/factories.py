"""Factories and named actors shared by the tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import factory
from django.contrib.auth.models import User

from accounts.models import Jurisdiction, Platform
from accounts.roles import Role
from accounts.services import credential_create, staff_user_create
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey, ceremony_run
from escrow.log.events import Actor, event_record
from escrow.vault.models import EscrowKey
from escrow.vault.selectors import escrow_key_cache_clear

# Every kind of API caller, as the authorization tests name them.
STAFF_KINDS = ("intake_officer", "approver", "custodian", "auditor", "administrator")
CALLER_KINDS = ("anonymous", "platform", "agency", *STAFF_KINDS,
                "revoked_key", "expired_token", "revoked_token")

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
    # As the ceremony service logs it: enrolment seals only to a key the log names.
    event_record(
        event_type="escrow_key.ceremony", actor=Actor.system("test"),
        object_ref=f"escrow_key:{epoch}",
        details={"epoch": epoch, "threshold": threshold, "custodians": [],
                 "public_key": public_key.public_point.hex(),
                 "fingerprint": public_key.fingerprint().hex()},
    )
    escrow_key_cache_clear()
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


# --- disclosure workflow -------------------------------------------------------------

LEGAL_DOCUMENT = b"%PDF-1.4\n% production order, test fixture\n"


def jurisdiction_enabled(code: str = "GB-EAW", *, enabled: bool = True) -> Jurisdiction:
    """The seeded jurisdiction (created if missing), switched on or off."""
    jurisdiction, _ = Jurisdiction.objects.get_or_create(code=code, defaults={"name": code})
    if jurisdiction.is_enabled != enabled:
        jurisdiction.is_enabled = enabled
        jurisdiction.save(update_fields=["is_enabled"])
    return jurisdiction


def agency_with_key(
    *, name: str = "Metropolitan Police Service", jurisdiction: str = "GB-EAW",
    enabled: bool = True,
) -> tuple[Any, str]:
    from accounts.services import agency_create

    jurisdiction_enabled(jurisdiction, enabled=enabled)
    agency = agency_create(
        name=name,
        jurisdiction_code=jurisdiction,
        callback_phone="+442072301212",
        callback_email="duty-desk@police.example",
    )
    issued = credential_create(agency=agency)
    return agency, issued.api_key


class LegalBasisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "legal_requests.LegalBasis"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"GB-EAW:test-basis-{n}")
    jurisdiction = factory.LazyFunction(lambda: jurisdiction_enabled("GB-EAW"))
    name = "Test basis"
    releasable_fields = factory.LazyFunction(lambda: ["given_name", "family_name", "email"])
    approvals_required = 2
    is_emergency = False
    is_enabled = True


def enrolment(platform: Platform, **identity_overrides: Any) -> Any:
    """A live enrolment on `platform` (needs an active escrow key)."""
    from datetime import UTC, datetime

    from escrow.vault.identity import Evidence, Identity
    from escrow.vault.services.enrolment import enrolment_create

    identity = Identity(
        given_name=identity_overrides.get("given_name", CANARY["given_name"]),
        family_name=identity_overrides.get("family_name", CANARY["family_name"]),
        email=identity_overrides.get("email", CANARY["email"]),
    )
    evidence = Evidence(provider="demo-idv", reference=CANARY["reference"],
                        assurance_level="high", verified_at=datetime(2026, 11, 1, tzinfo=UTC))
    return enrolment_create(platform=platform, identity=identity, evidence=evidence,
                            idempotency_key=idempotency_key()).enrolment


def disclosure_payload(*, targets: list[str], **overrides: Any) -> dict[str, Any]:
    """A well-formed POST /api/v1/disclosure-requests body."""
    import base64
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    payload: dict[str, Any] = {
        "officer": {"name": "DC Sam Example", "rank": "Detective Constable", "badge": "MP4471",
                    "email": "sam.example@police.example", "phone": "+442079460000"},
        "case_reference": "OP-KESTREL-0042",
        "legal_basis": "GB-EAW:production-order",
        "issuing_authority": "Westminster Magistrates' Court",
        "document": {"name": "order.pdf", "content_type": "application/pdf",
                     "content_base64": base64.b64encode(LEGAL_DOCUMENT).decode()},
        "issued_on": (now - timedelta(days=1)).date().isoformat(),
        "expires_at": (now + timedelta(days=30)).isoformat(),
        "targets": targets,
        "requested_fields": ["given_name", "family_name"],
        "justification": "Threats to kill sent to the complainant on 2026-11-02.",
    }
    payload.update(overrides)
    return payload


def disclosure_submission(
    *, pseudonyms: list[str], legal_basis: str = "GB-EAW:production-order",
    fields: tuple[str, ...] = ("given_name", "family_name"), expires_in_days: int = 30,
    emergency_facts: str = "", **overrides: Any,
) -> Any:
    """What an agency states in a request (intake.Submission), for the intake service."""
    from datetime import timedelta

    from django.utils import timezone

    from legal_requests.services import intake

    now = timezone.now()
    submission = intake.Submission(
        officer=intake.Officer(name="DC Sam Example", email="sam.example@police.example",
                               phone="+442079460000"),
        case_reference="OP-KESTREL-0042",
        legal_basis_code=legal_basis,
        issuing_authority="Westminster Magistrates' Court",
        document=intake.LegalDocument(name="order.pdf", content_type="application/pdf",
                                      content=LEGAL_DOCUMENT),
        issued_on=(now - timedelta(days=1)).date(),
        expires_at=now + timedelta(days=expires_in_days),
        pseudonyms=pseudonyms,
        requested_fields=list(fields),
        justification="Threats to kill sent to the complainant.",
        emergency_facts=emergency_facts,
    )
    return replace(submission, **overrides)


def disclosure_request(
    *, agency: Any, targets: list[Any], legal_basis: str = "GB-EAW:production-order",
    fields: tuple[str, ...] = ("given_name", "family_name"), expires_in_days: int = 30,
    emergency_facts: str = "", entered_by: User | None = None,
) -> Any:
    """A request accepted through the intake service, as if filed by `agency`."""
    from legal_requests.services import intake

    submission = disclosure_submission(
        pseudonyms=[t.pseudonym for t in targets], legal_basis=legal_basis, fields=fields,
        expires_in_days=expires_in_days, emergency_facts=emergency_facts,
    )
    return intake.disclosure_create(
        agency=agency, submission=submission,
        channel="paper" if entered_by is not None else "api", entered_by=entered_by,
    )
