"""What must hold before anyone's share takes part in a release.

The request is approved (or already releasing) and its legal authority has not expired;
the caller holds a share of an escrow key epoch the request needs (items.py) and had no
other part in the request;
and the approval is covered by a signed checkpoint of the log, whose position binds every
partial to this release (the release context).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User

from accounts.roles import Role
from accounts.selectors import user_is_administrator
from escrow.crypto.release import release_context
from escrow.log.services import LogUnavailable, log_wait_for_checkpoint
from escrow.vault.models import CustodianKey
from legal_requests.models import DisclosureRequest
from legal_requests.selectors import disclosure_involved_staff_ids
from legal_requests.services.review import RequestExpired


class NotAShareHolder(Exception):
    """The caller holds no share of an escrow key epoch the request needs."""


class ReleaseSeparationOfDuties(Exception):
    """The caller filed, reviewed or decided this request, so cannot also unlock it."""


class ReleaseNotOpen(Exception):
    """The request is not approved (or is already past releasing)."""


class ApprovalNotCheckpointed(Exception):
    """The approval is not yet covered by a signed checkpoint; retry shortly."""


@dataclass(frozen=True)
class LogProof:
    """Where an event sits in the log, and the signed checkpoint that covers it."""

    log_index: int
    checkpoint_text: str
    tree_size: int
    root_hash: bytes
    inclusion_proof: tuple[bytes, ...]


def log_wait(*, event_id: int, timeout: float) -> LogProof:
    """The log's inclusion of `event_id`, waiting up to `timeout` for a checkpoint.

    Raises the log's LogUnavailable when it cannot (the caller fails closed).
    """
    inclusion = log_wait_for_checkpoint(event_id=event_id, timeout=timeout)
    return LogProof(
        log_index=inclusion.log_index,
        checkpoint_text=inclusion.checkpoint_text,
        tree_size=inclusion.tree_size,
        root_hash=bytes(inclusion.root_hash),
        inclusion_proof=tuple(bytes(p) for p in inclusion.inclusion_proof),
    )


def release_custodian_shares(
    *, disclosure: DisclosureRequest, custodian: User, epochs: Iterable[int]
) -> dict[int, CustodianKey]:
    """The caller's shares of `epochs` (epoch -> share), once separation of duties is checked.

    Shares are read afresh for each call: a redistribution changes who holds them.
    """
    if not custodian.groups.filter(name=str(Role.CUSTODIAN)).exists():
        raise NotAShareHolder("only custodians take part in a release")
    if user_is_administrator(custodian):
        # Whoever can reset accounts must not also hold a share (accounts/roles.py).
        raise ReleaseSeparationOfDuties("an administrator cannot consent to a release")
    shares = {
        key.escrow_key_id: key
        for key in CustodianKey.objects.filter(escrow_key__epoch__in=list(epochs), user=custodian)
    }
    if not shares:
        raise NotAShareHolder("you hold no share of an escrow key epoch this request needs")
    # A person counts once: whoever approved (or filed) a request cannot also supply
    # one of the k shares that unlock it.
    if custodian.pk in disclosure_involved_staff_ids(disclosure):
        raise ReleaseSeparationOfDuties(
            "you filed, reviewed or decided this request, so you cannot release it"
        )
    return shares


def release_check_open(disclosure: DisclosureRequest, *, now: datetime) -> None:
    approved = disclosure.approval_event_id is not None
    if disclosure.state not in DisclosureRequest.RELEASE_STATES or not approved:
        raise ReleaseNotOpen(f"the request is {disclosure.state}, not approved")
    if disclosure.expires_at <= now:
        raise RequestExpired("the legal authority for this request has expired")


def approval_proof(disclosure: DisclosureRequest, *, timeout: float) -> LogProof:
    """The approval's place under a signed checkpoint; call after release_check_open."""
    assert disclosure.approval_event_id is not None  # noqa: S101 - checked by release_check_open
    try:
        return log_wait(event_id=disclosure.approval_event_id, timeout=timeout)
    except LogUnavailable as exc:
        raise ApprovalNotCheckpointed(
            "the approval is not yet covered by a signed log checkpoint; retry shortly"
        ) from exc


def release_context_of(disclosure: DisclosureRequest, proof: LogProof) -> bytes:
    """What every partial for this release is bound to (escrow.crypto.release)."""
    return release_context(request_id=str(disclosure.pk), approval_log_index=proof.log_index)
