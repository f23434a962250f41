"""Combining k partials, opening the approved fields, and committing the release.

Nothing leaves before the log has it: the release event, committing to the package
content, must be under a signed checkpoint before the sealed package is stored and the
request marked released. Every way this can fail releases nothing and is logged as
`disclosure.release_aborted` with a reason code (recovery.py decides what is retried).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from escrow.crypto.envelope import FieldDecryptionError, field_open
from escrow.crypto.package import (
    PackageKeyError,
    content_commitment,
    content_salt_generate,
    recipient_key_parse,
)
from escrow.crypto.release import NotEnoughPartials, PartialDecryption, partials_combine
from escrow.log.events import Actor, canonical_json, event_record
from escrow.log.models import AuditEvent
from escrow.log.services import LogUnavailable
from legal_requests.models import DisclosureRequest, Release
from legal_requests.selectors import (
    RELEASE_ABORTED_EVENT,
    custodian_partials_valid,
    disclosure_get_for_staff,
)
from legal_requests.services import workflow
from legal_requests.services.release.items import (
    EpochPart,
    ReleaseItem,
    release_items,
    release_parts,
)
from legal_requests.services.release.partials import custodian_partials_scrub
from legal_requests.services.release.preconditions import (
    ApprovalNotCheckpointed,
    LogProof,
    approval_proof,
    log_wait,
    release_context_of,
)
from legal_requests.services.release.sealing import (
    SealedPackage,
    download_secret_mail_queue,
    package_content_build,
    package_document_build,
    package_seal,
)
from legal_requests.services.release.settings import release_setting
from legal_requests.services.webhooks import webhooks_schedule_for_release

logger = logging.getLogger("legal_requests.release")

RELEASE_EVENT = "disclosure.release_committed"
RELEASED_EVENT = "disclosure.released"  # workflow.mark_released writes it with the package


def release_lock_key(disclosure_id: object) -> str:
    return f"release-perform:{disclosure_id}"


def release_lock_clear(disclosure_id: object) -> None:
    """Free the run lock of a worker known to be lost (recovery.py)."""
    cache.delete(release_lock_key(disclosure_id))


def release_commit_has_outcome(commit: AuditEvent) -> bool:
    """Whether a release_committed event is followed by the request's released or
    release_aborted event: the log's promise that no release is left without an outcome."""
    return AuditEvent.objects.filter(
        object_ref=commit.object_ref, event_type__in=(RELEASED_EVENT, RELEASE_ABORTED_EVENT),
        pk__gt=commit.pk,
    ).exists()


class ReleaseAborted(Exception):
    """The release could not be completed; nothing was released."""


class ReleaseLogUnavailable(ReleaseAborted):
    """The log could not checkpoint the release event in time; nothing was released."""


@dataclass(frozen=True)
class ReleaseOutcome:
    release: Release
    download_secret: str | None  # shown once (emailed to the officer), when there is no key


@dataclass(frozen=True)
class ReleaseCommitment:
    """The logged release event, checkpointed, and the salt that opens its commitment."""

    event: AuditEvent
    proof: LogProof
    salt: bytes
    commitment: bytes


def _abort(
    disclosure: DisclosureRequest, *, reason: str, error: ReleaseAborted
) -> ReleaseAborted:
    with transaction.atomic():
        event_record(
            event_type=RELEASE_ABORTED_EVENT,
            actor=Actor.system("release"),
            object_ref=disclosure.object_ref,
            details={"reference": disclosure.reference, "reason": reason},
        )
    logger.error("release of %s aborted: %s", disclosure.reference, reason)
    return error


def _expire(disclosure: DisclosureRequest) -> None:
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().get(pk=disclosure.pk)
        if locked.state in DisclosureRequest.OPEN_STATES:
            workflow.expire(
                locked, actor=Actor.system("release"),
                details={"reason": "authority expired before release"},
            )
        custodian_partials_scrub(disclosure=locked)


def release_perform(*, disclosure_id: UUID) -> ReleaseOutcome | None:
    """Combine the partials, open the approved fields and store the sealed package.

    Safe to run twice: a second run finds the release done (or running) and returns.
    Raises ReleaseAborted (or its subclass ReleaseLogUnavailable) when nothing was
    released; the request then stays `releasing` (or moves to `expired`).
    """
    disclosure = disclosure_get_for_staff(disclosure_id=disclosure_id)
    lock_key = release_lock_key(disclosure.pk)
    if not cache.add(lock_key, "1", timeout=release_setting("RELEASE_LOCK_SECONDS")):
        logger.info("release of %s is already running", disclosure.reference)
        return None
    try:
        return _release_perform_locked(disclosure)
    finally:
        cache.delete(lock_key)


def _release_perform_locked(disclosure: DisclosureRequest) -> ReleaseOutcome | None:
    already_released = Release.objects.filter(request=disclosure).exists()
    if already_released or disclosure.state != DisclosureRequest.State.RELEASING:
        return None
    if disclosure.expires_at <= timezone.now():
        _expire(disclosure)
        raise _abort(disclosure, reason="authority_expired",
                     error=ReleaseAborted("the legal authority expired before release"))
    recipient_key = _recipient_key(disclosure)
    items = release_items(disclosure)
    parts = release_parts(items)
    try:
        proof = approval_proof(disclosure, timeout=release_setting("RELEASE_LOG_WAIT_SECONDS"))
    except ApprovalNotCheckpointed as exc:
        raise _abort(disclosure, reason="log_unavailable",
                     error=ReleaseLogUnavailable(str(exc))) from exc
    partials = {
        epoch: [
            PartialDecryption.from_dict(response.partial)
            for response in custodian_partials_valid(disclosure=disclosure, epoch=epoch)
            if response.partial is not None  # always: refusals are not selected
        ]
        for epoch in parts
    }
    opened = _fields_open(disclosure, items=items, parts=parts, partials=partials,
                          context=release_context_of(disclosure, proof))
    released_at = timezone.now()
    content = package_content_build(
        disclosure=disclosure, items=items, opened=opened, released_at=released_at
    )
    del opened
    try:
        committed = _release_commit(
            disclosure, content_bytes=canonical_json(content), targets=len(content["subjects"]),
            fields=content["request"]["fields"],
            epochs=[
                {"epoch": epoch, "custodians": sorted(
                    p.custodian_index for p in partials[epoch]
                )[: part.threshold]}
                for epoch, part in parts.items()
            ],
            approval_log_index=proof.log_index,
        )
    except ReleaseAborted:
        del content  # the traceback keeps this frame alive; the plaintext need not go with it
        raise
    document = package_document_build(
        content=content, salt=committed.salt, commitment=committed.commitment,
        release_event=committed.event, release_proof=committed.proof,
    )
    del content
    package_bytes = canonical_json(document)
    del document
    package = package_seal(disclosure=disclosure, package_bytes=package_bytes,
                           recipient_key=recipient_key)
    del package_bytes
    return _release_store(disclosure, committed=committed, package=package,
                          released_at=released_at)


def _recipient_key(disclosure: DisclosureRequest) -> bytes | None:
    """The agency's registered package key, or None to seal under a download secret."""
    agency_key = disclosure.agency.package_public_key
    if not agency_key:
        return None
    # Checked before anything is opened: a package no one can seal must not be made.
    try:
        return recipient_key_parse(agency_key)
    except PackageKeyError as exc:
        raise _abort(disclosure, reason="agency_key_invalid", error=ReleaseAborted(
            "the agency's registered package key is not an X25519 public key"
        )) from exc


def _fields_open(
    disclosure: DisclosureRequest, *, items: Sequence[ReleaseItem], parts: dict[int, EpochPart],
    partials: dict[int, list[PartialDecryption]], context: bytes,
) -> list[bytes]:
    """The plaintext of every item, in the items' order: each epoch's points combined from
    that epoch's stored partials (verified again on combining) under that epoch's key."""
    opened_by_epoch: dict[int, Iterator[bytes]] = {}
    try:
        for epoch, part in parts.items():
            shared_points = partials_combine(
                partials=partials[epoch], public_key=part.public_key,
                points=[item.point for item in part.items], context=context,
            )
            opened_by_epoch[epoch] = iter([
                field_open(sealed=item.sealed, context=item.field_context, shared_point=point,
                           public_key=part.public_key)
                for item, point in zip(part.items, shared_points, strict=True)
            ])
            del shared_points  # xR_j opens these fields for anyone holding it; keep it no longer
    except NotEnoughPartials as exc:
        raise _abort(disclosure, reason="not_enough_partials",
                     error=ReleaseAborted("fewer than k partials verify")) from exc
    except FieldDecryptionError as exc:
        raise _abort(disclosure, reason="field_did_not_open",
                     error=ReleaseAborted("a sealed field did not open")) from exc
    # release_parts keeps the items' order within each epoch.
    return [next(opened_by_epoch[item.epoch]) for item in items]


def _release_commit(
    disclosure: DisclosureRequest, *, content_bytes: bytes, targets: int, fields: list[str],
    epochs: list[dict[str, object]], approval_log_index: int,
) -> ReleaseCommitment:
    """Log the release event, committing to the content, and wait for its checkpoint."""
    salt = content_salt_generate()
    commitment = content_commitment(
        context=str(disclosure.pk).encode(), salt=salt, content=content_bytes
    )
    del content_bytes
    # Nothing is released that is not first in the log: the event commits to the
    # content (salted, so the public log learns nothing from it) before anything leaves.
    with transaction.atomic():
        event = event_record(
            event_type=RELEASE_EVENT,
            actor=Actor.system("release"),
            object_ref=disclosure.object_ref,
            details={
                "reference": disclosure.reference,
                "targets": targets,
                "fields": fields,
                # Each epoch the targets were sealed under, and whose shares opened it.
                "epochs": epochs,
                "approval_log_index": approval_log_index,
                "content_commitment": commitment.hex(),
            },
        )
    try:
        proof = log_wait(event_id=event.pk, timeout=release_setting("RELEASE_LOG_WAIT_SECONDS"))
    except LogUnavailable as exc:
        raise _abort(
            disclosure, reason="log_unavailable",
            error=ReleaseLogUnavailable(
                "the log could not checkpoint the release; nothing was released"
            ),
        ) from exc
    return ReleaseCommitment(event=event, proof=proof, salt=salt, commitment=commitment)


def _release_blocked(locked: DisclosureRequest) -> str | None:
    """Why the locked request may no longer be released, as an abort reason."""
    # Withdrawn, expired or moved on while we waited for the log: store nothing.
    if locked.state != DisclosureRequest.State.RELEASING:
        return f"state_{locked.state}"
    if locked.expires_at <= timezone.now():
        return "authority_expired"
    return None


def _release_store(
    disclosure: DisclosureRequest, *, committed: ReleaseCommitment, package: SealedPackage,
    released_at: datetime,
) -> ReleaseOutcome:
    """Store the sealed package and mark the request released, unless it moved meanwhile."""
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().select_related(
            "agency", "legal_basis"
        ).get(pk=disclosure.pk)
        # Recovery aborts a commit left without an outcome past its deadline (a lost
        # worker, recovery.py); a worker that was only slow must then store nothing, or
        # the log would show that commit both aborted and released.
        superseded = release_commit_has_outcome(committed.event)
        blocked = None if superseded else _release_blocked(locked)
        if blocked is None and not superseded:
            release = _release_create(
                locked, committed=committed, package=package, released_at=released_at
            )
    if superseded:
        logger.error("release of %s: its commit was aborted meanwhile", disclosure.reference)
        raise ReleaseAborted("nothing was released: the attempt was aborted by recovery")
    if blocked is not None:
        if blocked == "authority_expired":
            _expire(disclosure)
        raise _abort(disclosure, reason=blocked,
                     error=ReleaseAborted(f"nothing was released: {blocked}"))
    logger.info("released %s at log index %d", disclosure.reference, committed.proof.log_index)
    return ReleaseOutcome(release=release, download_secret=package.download_secret)


def _release_create(
    locked: DisclosureRequest, *, committed: ReleaseCommitment, package: SealedPackage,
    released_at: datetime,
) -> Release:
    """On the locked row: store the package, mark released, and queue what follows."""
    release = Release.objects.create(
        request=locked,
        release_event=committed.event,
        log_index=committed.proof.log_index,
        checkpoint=committed.proof.checkpoint_text,
        package_sealed=package.sealed,
        package_sha256=package.sha256,
        download_token_hash=package.download_token_hash,
        download_secret_sealed=package.download_secret_sealed,
        download_expires_at=package.download_expires_at,
        prepared_at=timezone.now(),
    )
    workflow.mark_released(
        locked,
        actor=Actor.system("release"),
        details={
            "targets": locked.targets.count(),
            "release_log_index": committed.proof.log_index,
            "delivery": "agency_key" if package.download_secret is None else "download_secret",
        },
    )
    webhooks_schedule_for_release(disclosure=locked, released_at=released_at)
    custodian_partials_scrub(disclosure=locked)
    if package.download_secret is not None:
        download_secret_mail_queue(
            locked, secret_text=package.download_secret, expires_at=package.download_expires_at
        )
    return release
