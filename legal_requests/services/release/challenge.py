"""The challenge: what a custodian's tool needs before it consents.

The points R of exactly the approved fields of the approved pseudonyms (never the
ciphertexts), the request summary, the release context, and the proofs that the approval
and every target's enrolment are under one signed checkpoint of the log.

A challenge is for one escrow key epoch: the points sealed under it, answered with the
caller's share of it. A custodian who holds shares of two epochs a request needs asks
for each in turn (`epoch`); without one, the first they have not answered yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.utils import timezone

from escrow.crypto.threshold import EscrowPublicKey
from escrow.log.models import AuditEvent
from escrow.log.selectors import LogEventNotSequenced, LogTreeSizeInvalid, log_inclusion_proof
from escrow.vault.models import CustodianKey, EscrowKey
from legal_requests.models import CustodianResponse, DisclosureRequest
from legal_requests.selectors import (
    EpochProgress,
    disclosure_release_fields,
    release_epoch_progress,
)
from legal_requests.services.release.items import (
    EpochPart,
    ReleaseItem,
    release_items,
    release_parts,
)
from legal_requests.services.release.preconditions import (
    ApprovalNotCheckpointed,
    LogProof,
    NotAShareHolder,
    ReleaseNotOpen,
    approval_proof,
    release_check_open,
    release_custodian_shares,
)
from legal_requests.services.release.settings import release_setting


@dataclass(frozen=True)
class EnrolmentProof:
    """A target's `enrolment.created` leaf, which commits to each field's point R."""

    record_id: str
    log_index: int
    leaf: bytes
    inclusion_proof: list[bytes]


def _enrolment_proofs(record_ids: list[str], *, tree_size: int) -> list[EnrolmentProof]:
    # Custodians decrypt whichever points they are shown; these proofs, under the same
    # checkpoint as the approval, let their tool check every R against the point
    # commitment logged when the record was enrolled, so a compromised server cannot
    # show a victim's R under an approved target's label.
    events = {
        e.object_ref.partition(":")[2]: e
        for e in AuditEvent.objects.filter(
            event_type="enrolment.created",
            object_ref__in=[f"enrolment:{r}" for r in record_ids],
        )
    }
    proofs = []
    for record_id in record_ids:
        event = events.get(record_id)
        if event is None:
            raise ReleaseNotOpen("a target's enrolment event is missing from the log")
        try:
            proof = log_inclusion_proof(event=event, tree_size=tree_size)
        except (LogEventNotSequenced, LogTreeSizeInvalid) as exc:
            raise ApprovalNotCheckpointed(
                "a target's enrolment is not yet covered by the approval's checkpoint"
            ) from exc
        proofs.append(EnrolmentProof(record_id=record_id, log_index=proof.log_index,
                                     leaf=bytes(event.entry), inclusion_proof=proof.proof))
    return proofs


@dataclass(frozen=True)
class ReleaseChallenge:
    disclosure: DisclosureRequest
    fields: list[str]
    pseudonym_count: int
    items: list[ReleaseItem]
    record_ids: list[str]
    approval_proof: LogProof
    approval_leaf: bytes
    enrolment_proofs: list[EnrolmentProof]
    escrow_key: EscrowKey
    public_key: EscrowPublicKey
    custodian_index: int
    responses_in: int
    # Every epoch the request needs, with its progress and the caller's share of it.
    epochs: list[tuple[EpochProgress, int | None]]


class EpochNotNeeded(Exception):
    """The request needs no answer under the epoch asked for."""


def _part_choose(
    disclosure: DisclosureRequest, *, parts: dict[int, EpochPart],
    shares: dict[int, CustodianKey], epoch: int | None,
) -> EpochPart:
    if epoch is not None:
        if epoch not in parts:
            raise EpochNotNeeded(f"this request needs no answer under escrow key epoch {epoch}")
        if epoch not in shares:
            raise NotAShareHolder(f"you hold no share of escrow key epoch {epoch}")
        return parts[epoch]
    answered = {
        (e, i) for e, i in CustodianResponse.objects.filter(request=disclosure)
        .values_list("key_epoch", "custodian_index")
    }
    unanswered = [e for e in sorted(shares) if (e, shares[e].index) not in answered]
    return parts[(unanswered or sorted(shares))[0]]


def release_challenge_get(
    *, disclosure: DisclosureRequest, custodian: User, epoch: int | None = None
) -> ReleaseChallenge:
    items = release_items(disclosure)
    if not items:
        release_check_open(disclosure, now=timezone.now())
        raise ReleaseNotOpen("the request names nothing that can be released")
    parts = release_parts(items)
    shares = release_custodian_shares(disclosure=disclosure, custodian=custodian, epochs=parts)
    release_check_open(disclosure, now=timezone.now())
    part = _part_choose(disclosure, parts=parts, shares=shares, epoch=epoch)
    progress = release_epoch_progress(disclosure=disclosure, epochs=list(parts))
    proof = approval_proof(
        disclosure, timeout=release_setting("RELEASE_CHALLENGE_LOG_WAIT_SECONDS")
    )
    approval = AuditEvent.objects.get(pk=disclosure.approval_event_id or 0)
    record_ids = sorted(str(e) for e in disclosure.targets.values_list("enrolment_id", flat=True))
    return ReleaseChallenge(
        disclosure=disclosure,
        fields=disclosure_release_fields(disclosure),
        pseudonym_count=disclosure.targets.count(),
        items=part.items,
        record_ids=record_ids,
        approval_proof=proof,
        approval_leaf=bytes(approval.entry),
        enrolment_proofs=_enrolment_proofs(
            sorted({item.enrolment_id for item in part.items}), tree_size=proof.tree_size
        ),
        escrow_key=part.key_row,
        public_key=part.public_key,
        custodian_index=shares[part.epoch].index,
        responses_in=next(p.partials_in for p in progress if p.epoch == part.epoch),
        epochs=[(p, shares[p.epoch].index if p.epoch in shares else None) for p in progress],
    )
