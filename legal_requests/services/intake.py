"""Intake: a request arrives (over the API or on paper), is checked, sealed and logged.

Every refusal is itself logged as `disclosure.refused_at_intake` with non-personal details
(jurisdiction, reason code) so the transparency report can count it, and the agency is
told the reason as a problem+json answer.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Agency
from escrow.crypto.sealing import blob_seal
from escrow.keys import service_key
from escrow.log.events import Actor, event_record
from escrow.vault.identity import IDENTITY_FIELDS
from escrow.vault.models import Enrolment
from escrow.vault.selectors import UnknownPseudonyms, pseudonyms_resolve
from legal_requests.models import DisclosureRequest, LegalBasis, RequestTarget
from legal_requests.services import notifications

DOCUMENT_KEY_PURPOSE = "legal-document"
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class IntakeRefused(Exception):
    """The request cannot be accepted; `reason` is the stable code logged and returned."""

    reason = "refused"


class JurisdictionNotEnabled(IntakeRefused):
    """The agency's jurisdiction is not one the operator accepts requests from."""

    reason = "jurisdiction_not_enabled"


class LegalBasisUnavailable(IntakeRefused):
    """The legal basis is unknown, disabled, or belongs to another jurisdiction."""

    reason = "legal_basis_unavailable"


class FieldsNotAllowed(IntakeRefused):
    """The request asks for identity fields its legal basis can never release."""

    reason = "fields_not_allowed"

    def __init__(self, disallowed: list[str], releasable: list[str]) -> None:
        super().__init__(
            "the legal basis does not allow releasing: " + ", ".join(disallowed)
        )
        self.problem_extra = {"disallowed_fields": disallowed, "releasable_fields": releasable}


class DocumentExpired(IntakeRefused):
    """The legal document has already expired (or its dates are inconsistent)."""

    reason = "document_expired"


class EmergencyFactsRequired(IntakeRefused):
    """An emergency legal basis needs the facts of the emergency."""

    reason = "emergency_facts_missing"


class DocumentTooLarge(IntakeRefused):
    reason = "document_too_large"


class DocumentTypeMismatch(IntakeRefused):
    """The document's first bytes are not those of the type it is declared as."""

    reason = "document_type_mismatch"


# The document types accepted, each with the leading bytes its files start with: the
# declared type is the sender's word, the first bytes are what a reader's viewer parses.
# PDF: ISO 32000-1 s7.5.2; PNG: RFC 2083 s3.1; JPEG: ITU T.81 (SOI + a marker);
# TIFF: TIFF 6.0 s2 (byte order, then 42). Plain text is checked as UTF-8 instead.
DOCUMENT_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "text/plain": (),
}
DOCUMENT_TYPES = tuple(DOCUMENT_SIGNATURES)


def document_type_check(document: LegalDocument) -> None:
    """Raise DocumentTypeMismatch unless the content is what its declared type says."""
    signatures = DOCUMENT_SIGNATURES.get(document.content_type)
    if signatures is None:
        raise DocumentTypeMismatch(f"documents of type {document.content_type} are not accepted")
    if document.content_type == "text/plain":
        try:
            text = document.content.decode("utf-8")
        except UnicodeDecodeError:
            text = "\x00"
        if "\x00" in text:
            raise DocumentTypeMismatch("the document is not plain UTF-8 text")
    elif not document.content.startswith(signatures):
        raise DocumentTypeMismatch(f"the document's content is not {document.content_type}")


class UnknownTargets(IntakeRefused):
    """Wraps UnknownPseudonyms so the refusal is counted like any other."""

    reason = "unknown_pseudonym"

    def __init__(self, positions: list[int]) -> None:
        super().__init__(str(UnknownPseudonyms(positions)))
        self.problem_extra = {"positions": positions}


class AgencyInactive(IntakeRefused):
    reason = "agency_inactive"


@dataclass(frozen=True, repr=False)
class Officer:
    name: str
    email: str
    phone: str
    rank: str = ""
    badge: str = ""


@dataclass(frozen=True, repr=False)
class LegalDocument:
    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True, repr=False)
class Submission:
    """What a request states. `repr` is suppressed: it holds personal data."""

    officer: Officer
    case_reference: str
    legal_basis_code: str
    issuing_authority: str
    document: LegalDocument
    issued_on: date
    expires_at: datetime
    pseudonyms: list[str]
    requested_fields: list[str]
    justification: str
    nondisclosure_until: date | None = None
    nondisclosure_basis: str = ""
    emergency_facts: str = ""


def document_associated_data(disclosure_id: uuid.UUID) -> bytes:
    # Binds the sealed document to its request row: a swapped blob fails to open.
    return b"disclosure-document\x00" + str(disclosure_id).encode()


def _actor_for(agency: Agency, entered_by: User | None) -> Actor:
    if entered_by is not None:
        return Actor.for_staff(entered_by.pk, "intake_officer")
    return Actor.for_agency(agency.pk)


def _refuse(*, agency: Agency, channel: str, actor: Actor, error: IntakeRefused,
            legal_basis: str = "") -> IntakeRefused:
    with transaction.atomic():
        event_record(
            event_type="disclosure.refused_at_intake",
            actor=actor,
            object_ref=f"agency:{agency.pk}",
            details={
                "jurisdiction": agency.jurisdiction_id,
                "reason": error.reason,
                "channel": channel,
                "legal_basis": legal_basis,
            },
        )
    return error


def _check(*, agency: Agency, submission: Submission, now: datetime) -> LegalBasis:
    if not agency.is_active or agency.verified_at is None:
        raise AgencyInactive("the agency is not an active, verified account")
    if not agency.jurisdiction.is_enabled:
        raise JurisdictionNotEnabled(
            f"requests from jurisdiction {agency.jurisdiction_id} are not accepted"
        )
    basis = LegalBasis.objects.filter(
        code=submission.legal_basis_code, jurisdiction_id=agency.jurisdiction_id, is_enabled=True
    ).first()
    if basis is None:
        raise LegalBasisUnavailable(
            f"the legal basis is not available in jurisdiction {agency.jurisdiction_id}"
        )
    releasable = [f for f in IDENTITY_FIELDS if f in set(basis.releasable_fields)]
    disallowed = [f for f in submission.requested_fields if f not in releasable]
    if disallowed:
        raise FieldsNotAllowed(disallowed, releasable)
    if submission.expires_at <= now:
        raise DocumentExpired("the legal document has expired")
    if submission.issued_on > now.date() or submission.issued_on > submission.expires_at.date():
        raise DocumentExpired("the legal document's issue date is after today or its expiry")
    if basis.is_emergency and not submission.emergency_facts.strip():
        raise EmergencyFactsRequired("an emergency request must state the facts of the emergency")
    if len(submission.document.content) > settings.DISCLOSURE_DOCUMENT_MAX_BYTES:
        raise DocumentTooLarge(
            f"the document exceeds {settings.DISCLOSURE_DOCUMENT_MAX_BYTES} bytes"
        )
    document_type_check(submission.document)
    return basis


def _new_reference(year: int) -> str:
    # Random rather than sequential: a reference does not reveal how many requests exist.
    body = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"DR-{year}-{body}"


def _disclosure_insert(
    *,
    disclosure_id: uuid.UUID,
    agency: Agency,
    channel: str,
    entered_by: User | None,
    submission: Submission,
    basis: LegalBasis,
    sealed_document: bytes,
    digest: bytes,
    year: int,
) -> DisclosureRequest:
    officer = submission.officer
    document = submission.document
    for _attempt in range(5):
        try:
            # A savepoint, so a reference collision does not poison the outer transaction.
            with transaction.atomic():
                return DisclosureRequest.objects.create(
                    id=disclosure_id,
                    reference=_new_reference(year),
                    channel=channel,
                    agency=agency,
                    entered_by=entered_by,
                    officer_name=officer.name,
                    officer_rank=officer.rank,
                    officer_badge=officer.badge,
                    officer_email=officer.email,
                    officer_phone=officer.phone,
                    case_reference=submission.case_reference,
                    legal_basis=basis,
                    issuing_authority=submission.issuing_authority,
                    document_sealed=sealed_document,
                    document_sha256=digest,
                    document_name=document.name,
                    document_content_type=document.content_type,
                    document_size=len(document.content),
                    issued_on=submission.issued_on,
                    expires_at=submission.expires_at,
                    requested_fields=list(submission.requested_fields),
                    justification=submission.justification,
                    nondisclosure_until=submission.nondisclosure_until,
                    nondisclosure_basis=submission.nondisclosure_basis,
                    is_emergency=basis.is_emergency,
                    emergency_facts=submission.emergency_facts,
                )
        except IntegrityError:
            # Only the random reference can collide here; draw another.
            continue
    raise RuntimeError("could not allocate a request reference")  # pragma: no cover


def _admitted(
    *, agency: Agency, submission: Submission, channel: str, actor: Actor, now: datetime
) -> tuple[LegalBasis, list[tuple[str, Enrolment]]]:
    """The legal basis and the distinct targets, or the refusal, logged, raised."""
    try:
        basis = _check(agency=agency, submission=submission, now=now)
        try:
            resolved = pseudonyms_resolve(pseudonyms=submission.pseudonyms)
        except UnknownPseudonyms as exc:
            raise UnknownTargets(exc.positions) from None
    except IntakeRefused as error:
        code = submission.legal_basis_code
        known = LegalBasis.objects.filter(code=code).exists()
        raise _refuse(agency=agency, channel=channel, actor=actor, error=error,
                      legal_basis=code if known else "") from None
    # Two spellings of one pseudonym name one target.
    targets: list[tuple[str, Enrolment]] = []
    for pseudonym, enrolment in resolved:
        if all(enrolment.pk != e.pk for _, e in targets):
            targets.append((pseudonym, enrolment))
    return basis, targets


def _received_record(
    disclosure: DisclosureRequest, *, actor: Actor, submission: Submission,
    targets: list[tuple[str, Enrolment]], digest: bytes, now: datetime,
) -> None:
    """The `disclosure.received` event: counts in the clear, who and what sealed."""
    officer = submission.officer
    basis = disclosure.legal_basis
    event_record(
        event_type="disclosure.received",
        actor=actor,
        object_ref=disclosure.object_ref,
        occurred_at=now,
        details={
            "reference": disclosure.reference,
            "channel": disclosure.channel,
            "jurisdiction": disclosure.agency.jurisdiction_id,
            "legal_basis": basis.code,
            "emergency": basis.is_emergency,
            "fields": list(disclosure.requested_fields),
            "target_count": len(targets),
            "nondisclosure": submission.nondisclosure_until is not None,
            "document_sha256": digest.hex(),
            "issued_on": submission.issued_on.isoformat(),
            "expires_at": submission.expires_at.isoformat(),
        },
        sealed={
            "agency": str(disclosure.agency.pk),
            "case_reference": submission.case_reference,
            "officer": {"name": officer.name, "email": officer.email, "phone": officer.phone,
                        "rank": officer.rank, "badge": officer.badge},
            "issuing_authority": submission.issuing_authority,
            "pseudonyms": [p for p, _ in targets],
            "enrolments": [str(e.pk) for _, e in targets],
        },
    )


def disclosure_create(
    *,
    agency: Agency,
    submission: Submission,
    channel: str,
    entered_by: User | None = None,
) -> DisclosureRequest:
    """Accept a request, or log the refusal and raise an IntakeRefused subclass.

    `entered_by` is the intake officer for a paper request (channel=paper), None when
    the agency submits it with its own credentials.
    """
    if (channel == DisclosureRequest.Channel.PAPER) != (entered_by is not None):
        raise ValueError("a paper request needs the intake officer who entered it, and only it")
    now = timezone.now()
    actor = _actor_for(agency, entered_by)
    basis, targets = _admitted(
        agency=agency, submission=submission, channel=channel, actor=actor, now=now
    )
    disclosure_id = uuid.uuid4()
    document = submission.document
    digest = hashlib.sha256(document.content).digest()
    sealed_document = blob_seal(
        key=service_key(DOCUMENT_KEY_PURPOSE),
        plaintext=document.content,
        associated_data=document_associated_data(disclosure_id),
    )
    with transaction.atomic():
        disclosure = _disclosure_insert(
            disclosure_id=disclosure_id, agency=agency, channel=channel, entered_by=entered_by,
            submission=submission, basis=basis, sealed_document=sealed_document, digest=digest,
            year=now.year,
        )
        RequestTarget.objects.bulk_create(
            [RequestTarget(request=disclosure, pseudonym=p, enrolment=e) for p, e in targets]
        )
        _received_record(disclosure, actor=actor, submission=submission, targets=targets,
                         digest=digest, now=now)
        notifications.notify_on_commit(notifications.REQUEST_RECEIVED, disclosure)
    return disclosure
