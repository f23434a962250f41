"""The disclosure package: its content, its human-readable rendering, and its sealing.

With a registered agency key the package is a sealed box only that agency can open;
without one it is sealed under a single-use secret, mailed to the requesting officer
through the mail outbox (services/mail.py: retried, dead-lettered, never lost silently)
and useless without the agency's API key (delivery.py hands it over once). Until the
package is fetched or lapses the secret is also kept sealed under a service key, so an
approver can reissue it when the mail never arrives (reissue.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from escrow.crypto.encoding import b64encode
from escrow.crypto.merkle import leaf_hash
from escrow.crypto.package import (
    download_secret_digest,
    download_secret_generate,
    package_seal_to_recipient,
    package_seal_with_secret,
)
from escrow.crypto.sealing import blob_seal, blob_unseal
from escrow.keys import service_key
from escrow.log.models import AuditEvent
from escrow.vault.models import Enrolment
from legal_requests.models import DisclosureRequest, OutgoingMail, RequestTarget
from legal_requests.selectors import disclosure_release_fields, disclosure_target_list
from legal_requests.services.mail import SECRET_MARKER, mail_queue, mail_send_on_commit
from legal_requests.services.release.items import ReleaseItem
from legal_requests.services.release.preconditions import LogProof
from legal_requests.services.release.settings import release_setting

PACKAGE_FORMAT = "identity-escrow-disclosure-package/1"
SEALED_PACKAGE_FORMAT = "identity-escrow-sealed-package/1"
_DOWNLOAD_SECRET_PURPOSE = "package-download-secret"  # noqa: S105 - a key label


def _field_value(name: str, raw: bytes) -> Any:
    text = raw.decode("utf-8")
    return json.loads(text) if name == "postal_address" else text


def _subject(target: RequestTarget, *, held: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """One pseudonym's opened fields, what it never held, and how it was verified."""
    enrolment: Enrolment = target.enrolment
    evidence: dict[str, Any] = {
        "provider": enrolment.evidence_provider,
        "assurance_level": enrolment.evidence_assurance_level,
        "verified_at": enrolment.evidence_verified_at.isoformat(),
        "enrolled_at": enrolment.created_at.isoformat(),
    }
    if "verification_reference" in held:
        evidence["verification_reference"] = held["verification_reference"]
    return {
        "pseudonym": target.pseudonym,
        "platform": enrolment.platform.name,
        "status": enrolment.status,
        "fields": {k: v for k, v in held.items() if k != "verification_reference"},
        "not_held": [f for f in fields if f not in held],
        "evidence": evidence,
    }


def package_content_build(
    *, disclosure: DisclosureRequest, items: Sequence[ReleaseItem], opened: Sequence[bytes],
    released_at: datetime,
) -> dict[str, Any]:
    """What the agency receives about the request and each subject (opened fields included)."""
    fields = disclosure_release_fields(disclosure)
    values: dict[str, dict[str, Any]] = {}
    for item, raw in zip(items, opened, strict=True):
        values.setdefault(item.enrolment_id, {})[item.field_name] = _field_value(
            item.field_name, raw
        )
    subjects = [
        _subject(target, held=values.get(str(target.enrolment_id), {}), fields=fields)
        for target in disclosure_target_list(disclosure)
    ]
    return {
        "request": {
            "id": str(disclosure.pk),
            "reference": disclosure.reference,
            "case_reference": disclosure.case_reference,
            "agency": disclosure.agency.name,
            "jurisdiction": disclosure.agency.jurisdiction_id,
            "legal_basis": {
                "code": disclosure.legal_basis.code, "name": disclosure.legal_basis.name
            },
            "issuing_authority": disclosure.issuing_authority,
            "fields": fields,
            "expires_at": disclosure.expires_at.isoformat(),
            "is_emergency": disclosure.is_emergency,
        },
        "subjects": subjects,
        "released_at": released_at.isoformat(),
    }


def package_render_html(document: dict[str, Any]) -> str:
    """The human-readable rendering of a package (autoescaped: values are untrusted)."""
    return render_to_string("legal_requests/release_package.html", {"package": document})


def package_document_build(
    *, content: dict[str, Any], salt: bytes, commitment: bytes, release_event: AuditEvent,
    release_proof: LogProof,
) -> dict[str, Any]:
    """The package: content, the salt that opens the logged commitment, and the log's proof."""
    entry = bytes(release_event.entry)
    document = {
        "format": PACKAGE_FORMAT,
        "salt": b64encode(salt),
        "content": content,
        "release": {
            "log_index": release_proof.log_index,
            "tree_size": release_proof.tree_size,
            "root_hash": b64encode(release_proof.root_hash),
            "checkpoint": release_proof.checkpoint_text,
            "inclusion_proof": [b64encode(p) for p in release_proof.inclusion_proof],
            "leaf": b64encode(entry),
            "leaf_hash": b64encode(leaf_hash(entry)),
            "content_commitment": commitment.hex(),
        },
    }
    document["html"] = package_render_html(document)
    return document


@dataclass(frozen=True)
class SealedPackage:
    sealed: bytes
    sha256: bytes  # of the package before sealing, as the agency will see it
    # Set only without an agency key: the single-use secret (shown once) and its digest.
    download_secret: str | None = None
    download_token_hash: bytes | None = None
    download_secret_sealed: bytes | None = None
    download_expires_at: datetime | None = None


def _download_secret_aad(disclosure: DisclosureRequest) -> bytes:
    return f"release-download-secret:{disclosure.pk}".encode()


def download_secret_seal(*, disclosure: DisclosureRequest, secret_text: str) -> bytes:
    """The secret as Release keeps it for a reissue: sealed, bound to the request."""
    return blob_seal(key=service_key(_DOWNLOAD_SECRET_PURPOSE), plaintext=secret_text.encode(),
                     associated_data=_download_secret_aad(disclosure))


def download_secret_unseal(*, disclosure: DisclosureRequest, sealed: bytes) -> str:
    return blob_unseal(key=service_key(_DOWNLOAD_SECRET_PURPOSE), sealed=sealed,
                       associated_data=_download_secret_aad(disclosure)).decode()


def download_secret_text(secret: bytes) -> str:
    return base64.urlsafe_b64encode(secret).decode("ascii").rstrip("=")


def package_seal(
    *, disclosure: DisclosureRequest, package_bytes: bytes, recipient_key: bytes | None
) -> SealedPackage:
    """Seal to the agency's key, or else under a fresh single-use download secret."""
    sha256 = hashlib.sha256(package_bytes).digest()
    if recipient_key is not None:
        sealed = package_seal_to_recipient(
            recipient_public_key=recipient_key, plaintext=package_bytes
        )
        return SealedPackage(sealed=sealed, sha256=sha256)
    secret = download_secret_generate()
    sealed = package_seal_with_secret(
        secret=secret, plaintext=package_bytes, aad=str(disclosure.pk).encode()
    )
    secret_text = download_secret_text(secret)
    return SealedPackage(
        sealed=sealed,
        sha256=sha256,
        download_secret=secret_text,
        download_token_hash=download_secret_digest(secret),
        download_secret_sealed=download_secret_seal(disclosure=disclosure,
                                                    secret_text=secret_text),
        download_expires_at=timezone.now() + timedelta(
            seconds=release_setting("PACKAGE_DOWNLOAD_TTL_SECONDS")
        ),
    )


def download_secret_mail_queue(
    disclosure: DisclosureRequest, *, secret_text: str, expires_at: datetime | None,
    reissued: bool = False,
) -> OutgoingMail:
    """Put the secret's mail to the officer in the outbox (call inside the transaction)."""
    # The secret alone is useless: the download also needs the agency's API key.
    base_url = release_setting("ESCROW_PUBLIC_URL")
    url = f"{base_url}/api/v1/disclosure-requests/{disclosure.pk}/package"
    again = (
        "A new download secret was issued for it; any earlier one no longer works.\n\n"
        if reissued else ""
    )
    body = (
        f"The disclosure package for {disclosure.reference} (your case "
        f"{disclosure.case_reference}) is ready.\n\n{again}Fetch it once, with your agency "
        f"API key, before {expires_at}:\n\n"
        f"  GET {url}\n  Authorization: Bearer <agency API key>\n"
        f"  Download-Secret: {SECRET_MARKER}\n\n"
        "The package can be downloaded only once, and is deleted after that or at expiry.\n"
    )
    mail = mail_queue(
        disclosure=disclosure, kind=OutgoingMail.DOWNLOAD_SECRET,
        recipient=disclosure.officer_email,
        subject=f"Disclosure package ready: {disclosure.reference}",
        body=body, secret=secret_text,
    )
    mail_send_on_commit(mail)
    return mail
