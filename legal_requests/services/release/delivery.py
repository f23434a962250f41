"""Delivering a disclosure package to its agency, once, and deleting it afterwards.

With a registered agency key the stored package is a sealed box only that agency can
open; without one it is sealed under a single-use secret emailed to the requesting
officer, valid for PACKAGE_DOWNLOAD_TTL_SECONDS, and useless without the agency's API
key. Either way the first successful fetch deletes it: no plaintext identity, nor
anything that opens to one, outlives delivery.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Agency
from escrow.crypto.package import (
    PackageOpenError,
    download_secret_matches,
    package_open_with_secret,
)
from escrow.log.events import Actor, event_record
from legal_requests.models import DisclosureRequest, Release
from legal_requests.selectors import DisclosureRequestNotFound


class PackageNotAvailable(Exception):
    """There is no package to fetch: not released yet, or already delivered."""


class PackageDownloadExpired(Exception):
    """The single-use download lapsed; the package has been deleted."""


class PackageSecretInvalid(Exception):
    """The download secret is missing or wrong."""


@dataclass(frozen=True)
class DeliveredPackage:
    disclosure: DisclosureRequest
    sealed_to_agency_key: bool
    body: bytes  # the sealed box, or the package JSON for a secret download
    package_sha256: bytes


def download_secret_parse(text: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None
    return raw if len(raw) == 32 else None


def _unseal_for_agency(
    *, disclosure: DisclosureRequest, release: Release, download_secret: str | None
) -> tuple[bytes, bool] | None:
    """(body, sealed_to_agency_key), or None when the download secret does not open it."""
    sealed = bytes(release.package_sealed or b"")
    if release.download_token_hash is None:
        return sealed, True
    secret = download_secret_parse(download_secret or "")
    if secret is None or not download_secret_matches(
        secret=secret, digest=bytes(release.download_token_hash)
    ):
        return None
    try:
        body = package_open_with_secret(
            secret=secret, sealed=sealed, aad=str(disclosure.pk).encode()
        )
    except PackageOpenError:
        return None
    return body, False


def _hand_over(
    *, disclosure: DisclosureRequest, release: Release, actor: Actor, body: bytes,
    sealed_to_agency_key: bool, now: datetime,
) -> DeliveredPackage:
    """Delete the stored package as it is handed over, and log the delivery."""
    release.package_sealed = None
    release.download_token_hash = None
    release.download_secret_sealed = None
    release.delivered_at = now
    release.save(update_fields=["package_sealed", "download_token_hash",
                                "download_secret_sealed", "delivered_at"])
    event_record(
        event_type="disclosure.package_delivered",
        actor=actor,
        object_ref=disclosure.object_ref,
        details={
            "reference": disclosure.reference,
            "package_sha256": bytes(release.package_sha256).hex(),
            "sealed_to_agency_key": sealed_to_agency_key,
        },
    )
    return DeliveredPackage(
        disclosure=disclosure, sealed_to_agency_key=sealed_to_agency_key, body=body,
        package_sha256=bytes(release.package_sha256),
    )


def release_package_fetch(
    *, disclosure: DisclosureRequest, agency: Agency, download_secret: str | None
) -> DeliveredPackage:
    """Hand the package over once and delete it: no plaintext identity outlives delivery."""
    if disclosure.agency_id != agency.pk:
        raise DisclosureRequestNotFound("no such disclosure request")
    actor = Actor.for_agency(agency.pk)
    error: Exception | None = None
    delivered: DeliveredPackage | None = None
    # Every outcome below is committed (a purge, a logged refusal, a delivery) and
    # only then raised, so a refusal is on the record even though the call fails.
    with transaction.atomic():
        release = Release.objects.select_for_update().filter(request=disclosure).first()
        now = timezone.now()
        if release is None or release.package_sealed is None:
            error = PackageNotAvailable("no package is waiting for this request")
        elif release.download_expires_at is not None and release.download_expires_at <= now:
            release.package_sealed = None
            release.download_secret_sealed = None
            release.save(update_fields=["package_sealed", "download_secret_sealed"])
            error = PackageDownloadExpired("the download has expired and was deleted")
        else:
            unsealed = _unseal_for_agency(
                disclosure=disclosure, release=release, download_secret=download_secret
            )
            if unsealed is None:
                event_record(
                    event_type="disclosure.package_download_refused",
                    actor=actor,
                    object_ref=disclosure.object_ref,
                    details={"reference": disclosure.reference, "reason": "download_secret"},
                )
                error = PackageSecretInvalid("the download secret is missing or wrong")
            else:
                body, to_key = unsealed
                delivered = _hand_over(disclosure=disclosure, release=release, actor=actor,
                                       body=body, sealed_to_agency_key=to_key, now=now)
    if error is not None:
        raise error
    assert delivered is not None  # noqa: S101 - one of the branches set it
    return delivered


def release_downloads_purge_expired(*, now: datetime | None = None) -> int:
    """Delete packages whose single-use download lapsed unfetched."""
    moment = now or timezone.now()
    return Release.objects.filter(
        package_sealed__isnull=False,
        download_expires_at__isnull=False,
        download_expires_at__lte=moment,
    ).update(package_sealed=None, download_secret_sealed=None)
