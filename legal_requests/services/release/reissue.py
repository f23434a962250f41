"""Reissuing a package's download secret when the officer never received it.

Only for a package sealed under a download secret (an agency with a registered key
needs nothing from the mail), only while it waits, and only by an approver who supplied
no share for the release. The package is sealed again under a fresh single-use secret
(so the old one no longer opens it, and its digest no longer matches), any old secret
mail still pending is cancelled, the new secret goes to the officer through the mail
outbox, and `disclosure.download_secret_reissued` records who did it (the reason is
sealed: it may name people). The download's expiry is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role
from escrow.crypto.package import (
    download_secret_digest,
    download_secret_generate,
    package_open_with_secret,
    package_seal_with_secret,
)
from escrow.log.events import Actor, event_record
from legal_requests.models import CustodianResponse, DisclosureRequest, OutgoingMail, Release
from legal_requests.services.mail import mails_cancel_pending
from legal_requests.services.release.delivery import (
    PackageDownloadExpired,
    PackageNotAvailable,
    download_secret_parse,
)
from legal_requests.services.release.sealing import (
    download_secret_mail_queue,
    download_secret_seal,
    download_secret_text,
    download_secret_unseal,
)

REISSUE_EVENT = "disclosure.download_secret_reissued"


class ReissueRoleRequired(Exception):
    """Only an approver may reissue a download secret."""


class ReissueSeparationOfDuties(Exception):
    """A custodian who supplied a share for this release cannot also reissue its secret."""


class DownloadSecretNotReissuable(Exception):
    """The package is sealed to the agency's registered key: there is no secret to reissue."""


@dataclass(frozen=True)
class ReissuedSecret:
    disclosure: DisclosureRequest
    mail: OutgoingMail
    download_expires_at: datetime | None


def _check_approver(*, disclosure: DisclosureRequest, approver: User) -> None:
    if not approver.groups.filter(name=str(Role.APPROVER)).exists():
        raise ReissueRoleRequired("only an approver may reissue a download secret")
    if CustodianResponse.objects.filter(request=disclosure, custodian=approver).exists():
        raise ReissueSeparationOfDuties(
            "you answered as a custodian for this release, so you cannot reissue its secret"
        )


def _reseal(disclosure: DisclosureRequest, release: Release) -> str:
    """Seal the waiting package under a fresh secret; returns the new secret's text."""
    old = download_secret_parse(download_secret_unseal(
        disclosure=disclosure, sealed=bytes(release.download_secret_sealed or b"")
    ))
    if old is None:  # a stored secret is always 32 bytes: altered data
        raise DownloadSecretNotReissuable("the stored download secret is not readable")
    aad = str(disclosure.pk).encode()
    package_bytes = package_open_with_secret(
        secret=old, sealed=bytes(release.package_sealed or b""), aad=aad
    )
    fresh = download_secret_generate()
    release.package_sealed = package_seal_with_secret(secret=fresh, plaintext=package_bytes,
                                                      aad=aad)
    del package_bytes  # the opened package lives in this frame only
    text = download_secret_text(fresh)
    release.download_token_hash = download_secret_digest(fresh)
    release.download_secret_sealed = download_secret_seal(disclosure=disclosure,
                                                          secret_text=text)
    release.save(update_fields=["package_sealed", "download_token_hash",
                                "download_secret_sealed"])
    return text


def release_download_secret_reissue(
    *, disclosure: DisclosureRequest, approver: User, reason: str
) -> ReissuedSecret:
    """Invalidate the package's download secret and mail a new one to the officer."""
    _check_approver(disclosure=disclosure, approver=approver)
    with transaction.atomic():
        release = Release.objects.select_for_update().filter(request=disclosure).first()
        if release is None or release.package_sealed is None:
            raise PackageNotAvailable("no package is waiting for this request")
        if release.download_token_hash is None or release.download_secret_sealed is None:
            raise DownloadSecretNotReissuable(
                "the package is sealed to the agency's registered key; no secret to reissue"
            )
        expires_at = release.download_expires_at
        if expires_at is not None and expires_at <= timezone.now():
            raise PackageDownloadExpired("the download has expired")
        text = _reseal(disclosure, release)
        cancelled = mails_cancel_pending(disclosure=disclosure, kind=OutgoingMail.DOWNLOAD_SECRET)
        mail = download_secret_mail_queue(
            disclosure, secret_text=text, expires_at=release.download_expires_at, reissued=True
        )
        del text
        event_record(
            event_type=REISSUE_EVENT,
            actor=Actor.for_staff(approver.pk, str(Role.APPROVER)),
            object_ref=disclosure.object_ref,
            details={"reference": disclosure.reference, "mail_id": str(mail.pk),
                     "pending_mails_cancelled": cancelled},
            sealed={"reason": reason},
        )
    return ReissuedSecret(disclosure=disclosure, mail=mail,
                          download_expires_at=release.download_expires_at)
