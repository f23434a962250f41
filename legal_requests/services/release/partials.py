"""Custodians' answers: a partial decryption verified on arrival, or a reasoned refusal.

A partial answers the points of one escrow key epoch with its holder's share of that
epoch. When every epoch the request needs has its own k valid partials, the request
moves approved -> releasing and the release task is queued. Partials are a key to the
released fields, so once a request can no longer be released they are replaced by a
digest (custodian_partials_scrub).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Role
from escrow.crypto.release import (
    PartialDecryption,
    PartialFormatError,
    PartialProofError,
    partial_verify,
)
from escrow.crypto.threshold import EscrowPublicKey
from escrow.jobs import task_enqueue_on_commit
from escrow.log.events import Actor, canonical_json, event_record
from escrow.vault.models import CustodianKey
from legal_requests.models import CustodianResponse, DisclosureRequest
from legal_requests.selectors import release_epoch_progress, release_progress_totals
from legal_requests.services import workflow
from legal_requests.services.release.items import (
    EpochPart,
    ReleaseItem,
    release_items,
    release_parts,
)
from legal_requests.services.release.preconditions import (
    ReleaseNotOpen,
    approval_proof,
    release_check_open,
    release_context_of,
    release_custodian_shares,
)
from legal_requests.services.release.settings import release_setting

logger = logging.getLogger("legal_requests.release")

# The Celery task (legal_requests/tasks.py) that combines the partials and seals the package.
RELEASE_PERFORM_TASK = "legal_requests.release_perform"


class ReleaseUnderWay(Exception):
    """Enough partials are already in; the release is being prepared."""


class PartialMalformed(Exception):
    """The uploaded partial is not a well-formed PartialDecryption."""


class PartialRejected(Exception):
    """The partial failed verification; `reason` says which check."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.problem_extra = {"reason": reason}


class ResponseAlreadyGiven(Exception):
    """This custodian's share already answered this request (a replay or a double submit)."""


@dataclass(frozen=True)
class PartialOutcome:
    # Summed over the epochs the request needs, as the release status counts them.
    accepted: int
    threshold: int
    release_started: bool


def _custodian_actor(custodian: User) -> Actor:
    return Actor.for_staff(custodian.pk, str(Role.CUSTODIAN))


def _refusal_logged(
    error: Exception, *, disclosure: DisclosureRequest, custodian: User, reason: str,
    claimed_index: int | None,
) -> Exception:
    """Record a refused upload in its own transaction, then hand the error back to raise."""
    with transaction.atomic():
        event_record(
            event_type="disclosure.partial_rejected",
            actor=_custodian_actor(custodian),
            object_ref=disclosure.object_ref,
            details={
                "reference": disclosure.reference,
                "reason": reason,
                "claimed_index": claimed_index,
            },
        )
    logger.warning(
        "partial from staff %s for %s refused: %s", custodian.pk, disclosure.reference, reason
    )
    return error


def _partial_check_share(
    partial: PartialDecryption, *, disclosure: DisclosureRequest, custodian: User,
    parts: dict[int, EpochPart], shares: dict[int, CustodianKey],
) -> tuple[EpochPart, CustodianKey]:
    """The partial is for an epoch the request needs, with the caller's own share of it,
    which has not answered."""
    part, share = parts.get(partial.epoch), shares.get(partial.epoch)
    if part is None or share is None:
        raise _refusal_logged(
            PartialRejected(
                "epoch", "the partial is for an escrow key epoch this request does not need "
                         "from you"
            ),
            disclosure=disclosure, custodian=custodian, reason="epoch",
            claimed_index=partial.custodian_index,
        )
    if partial.custodian_index != share.index:
        raise _refusal_logged(
            PartialRejected("custodian_index", "the partial is not for your share index"),
            disclosure=disclosure, custodian=custodian, reason="custodian_index",
            claimed_index=partial.custodian_index,
        )
    if CustodianResponse.objects.filter(
        request=disclosure, custodian_index=share.index, key_epoch=part.epoch
    ).exists():
        raise _refusal_logged(
            ResponseAlreadyGiven("your share has already answered this request"),
            disclosure=disclosure, custodian=custodian, reason="duplicate",
            claimed_index=share.index,
        )
    return part, share


def _partial_check_proofs(
    partial: PartialDecryption, *, disclosure: DisclosureRequest, custodian: User,
    share: CustodianKey, public_key: EscrowPublicKey, items: list[ReleaseItem],
) -> None:
    """Every DLEQ proof verifies against this release's points and context."""
    proof = approval_proof(
        disclosure, timeout=release_setting("RELEASE_CHALLENGE_LOG_WAIT_SECONDS")
    )
    try:
        partial_verify(
            partial=partial,
            public_key=public_key,
            points=[item.point for item in items],
            context=release_context_of(disclosure, proof),
        )
    except PartialProofError as exc:
        reason = "point_count" if exc.reason == "point count" else "proof"
        message = (
            "the partial answers a different set of points"
            if reason == "point_count"
            else "a DLEQ proof does not verify for this request and your share"
        )
        raise _refusal_logged(
            PartialRejected(reason, message), disclosure=disclosure, custodian=custodian,
            reason=reason, claimed_index=share.index,
        ) from exc


def _partial_record(
    partial: PartialDecryption, *, disclosure: DisclosureRequest, custodian: User,
    share: CustodianKey, part: EpochPart, epochs: list[int],
) -> PartialOutcome:
    """Store a verified partial on the locked row; the one that completes the last epoch
    starts the release."""
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().get(pk=disclosure.pk)
        if locked.state != DisclosureRequest.State.APPROVED:
            raise ReleaseUnderWay("enough partials are in; the release is being prepared")
        event = event_record(
            event_type="disclosure.partial_accepted",
            actor=_custodian_actor(custodian),
            object_ref=locked.object_ref,
            details={
                "reference": locked.reference,
                "custodian_index": share.index,
                "epoch": part.epoch,
                "points": len(part.items),
            },
        )
        try:
            with transaction.atomic():
                CustodianResponse.objects.create(
                    request=locked, custodian=custodian, custodian_index=share.index,
                    key_epoch=part.epoch, partial=partial.to_dict(), audit_event=event,
                )
        except IntegrityError:
            # A concurrent double submit: the other one won.
            raise ResponseAlreadyGiven("your share has already answered this request") from None
        # Counted under the request's row lock, so exactly one partial starts the release.
        progress = release_epoch_progress(disclosure=locked, epochs=epochs)
        accepted, threshold = release_progress_totals(progress)
        started = all(p.complete for p in progress)
        if started:
            workflow.begin_release(
                locked,
                actor=Actor.system("release"),
                details={"partials": accepted, "threshold": threshold},
            )
            _release_enqueue_on_commit(str(locked.pk))
    return PartialOutcome(accepted=accepted, threshold=threshold, release_started=started)


def release_partial_submit(
    *, disclosure: DisclosureRequest, custodian: User, partial_data: dict[str, Any]
) -> PartialOutcome:
    """Verify one custodian's partial now, record it, and start the release once every
    epoch the request needs has k."""
    parts = release_parts(release_items(disclosure))
    shares = release_custodian_shares(disclosure=disclosure, custodian=custodian, epochs=parts)
    try:
        partial = PartialDecryption.from_dict(partial_data)
    except PartialFormatError as exc:
        raise _refusal_logged(
            PartialMalformed(str(exc)), disclosure=disclosure, custodian=custodian,
            reason="malformed", claimed_index=None,
        ) from exc
    if disclosure.state == DisclosureRequest.State.RELEASING:
        raise ReleaseUnderWay("enough partials are in; the release is being prepared")
    release_check_open(disclosure, now=timezone.now())
    part, share = _partial_check_share(
        partial, disclosure=disclosure, custodian=custodian, parts=parts, shares=shares
    )
    _partial_check_proofs(
        partial, disclosure=disclosure, custodian=custodian, share=share,
        public_key=part.public_key, items=part.items,
    )
    return _partial_record(
        partial, disclosure=disclosure, custodian=custodian, share=share, part=part,
        epochs=list(parts),
    )


def release_refusal_submit(*, disclosure: DisclosureRequest, custodian: User, reason: str) -> None:
    """A custodian declines to take part, with every share of theirs the request needs
    that has not answered yet; the reason is sealed in the log."""
    parts = release_parts(release_items(disclosure))
    shares = release_custodian_shares(disclosure=disclosure, custodian=custodian, epochs=parts)
    if disclosure.state not in DisclosureRequest.RELEASE_STATES:
        raise ReleaseNotOpen(f"the request is {disclosure.state}, not approved")
    answered = set(
        CustodianResponse.objects.filter(request=disclosure)
        .values_list("key_epoch", "custodian_index")
    )
    pending = [share for epoch, share in sorted(shares.items())
               if (epoch, share.index) not in answered]
    if not pending:
        raise ResponseAlreadyGiven("your share has already answered this request")
    with transaction.atomic():
        event = event_record(
            event_type="disclosure.custodian_refused",
            actor=_custodian_actor(custodian),
            object_ref=disclosure.object_ref,
            details={
                "reference": disclosure.reference,
                "shares": [{"epoch": s.escrow_key_id, "custodian_index": s.index}
                           for s in pending],
            },
            sealed={"reason": reason},
        )
        try:
            with transaction.atomic():
                CustodianResponse.objects.bulk_create(
                    CustodianResponse(
                        request=disclosure, custodian=custodian, custodian_index=share.index,
                        key_epoch=share.escrow_key_id, partial=None, refusal_reason=reason,
                        audit_event=event,
                    )
                    for share in pending
                )
        except IntegrityError:
            raise ResponseAlreadyGiven("your share has already answered this request") from None


def _release_enqueue_on_commit(disclosure_id: str) -> None:
    task_enqueue_on_commit(RELEASE_PERFORM_TASK, disclosure_id)


def _partial_redacted(partial: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(canonical_json(partial)).hexdigest()
    return {
        "format": partial.get("format"),
        "custodian_index": partial.get("custodian_index"),
        "epoch": partial.get("epoch"),
        "redacted": True,
        "sha256": digest,
    }


def custodian_partials_scrub(*, disclosure: DisclosureRequest) -> int:
    """Replace stored partials by a digest once they can no longer be needed.

    k partials and the ciphertexts beside them are a key to the released fields: left
    in the database, a dump would reveal every identity ever released. What remains
    shows who took part (index, epoch) and what they sent (SHA-256), nothing that opens.
    Call inside the transaction that releases, expires or otherwise ends the request.
    """
    scrubbed = 0
    for response in CustodianResponse.objects.select_for_update().filter(
        request=disclosure, partial__isnull=False
    ):
        partial = response.partial
        if not isinstance(partial, dict) or partial.get("redacted"):
            continue
        response.partial = _partial_redacted(partial)
        response.save(update_fields=["partial"])
        scrubbed += 1
    return scrubbed
