"""Reads the console's pages need, over the apps' own selectors and models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Case, Count, Q, QuerySet, When
from django.db.models.functions import Coalesce, Least
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Agency
from escrow.log.models import AuditEvent
from escrow.vault.models import CustodianKey
from legal_requests.models import Approval, CustodianResponse, DisclosureRequest
from legal_requests.selectors import (
    EpochProgress,
    disclosure_list_for_staff,
    disclosure_release_fields,
    legal_basis_list,
    release_status_get,
)

QUEUE_PAGE_SIZE = 25


def staff_user_get(*, user_id: int | None) -> User | None:
    """An active account by id, or None."""
    if user_id is None:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def totp_device_unconfirmed_get(*, user: User, device_id: int | None) -> TOTPDevice | None:
    if device_id is None:
        return None
    return TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()


@dataclass(frozen=True)
class QueueFilters:
    # States to show (empty: every state), a legal-basis code and an agency id, or "".
    states: tuple[str, ...] = ()
    legal_basis: str = ""
    agency: str = ""
    due_by: datetime | None = None  # only requests due at or before this instant


def _due_at() -> Least:
    # What is due first: the authority's expiry, or an emergency's retrospective review.
    return Least(Coalesce("review_due_at", "expires_at"), "expires_at")


def _filtered(filters: QueueFilters, *, by_state: bool) -> QuerySet[DisclosureRequest]:
    requests = disclosure_list_for_staff()
    if by_state and filters.states:
        requests = requests.filter(state__in=filters.states)
    if filters.legal_basis:
        requests = requests.filter(legal_basis_id=filters.legal_basis)
    if filters.agency:
        requests = requests.filter(agency_id=filters.agency)
    if filters.due_by is not None:
        requests = requests.alias(due_at=_due_at()).filter(due_at__lte=filters.due_by)
    return requests


def request_queue(*, filters: QueueFilters) -> QuerySet[DisclosureRequest]:
    """The requests matching `filters`: emergencies first, then the longest waiting.

    Each carries `approvals_given`, its approvals at the decision stage.
    """
    given = Count("approvals", distinct=True, filter=Q(
        approvals__stage=Approval.Stage.DECISION, approvals__decision=Approval.Decision.APPROVE))
    return (_filtered(filters, by_state=True).annotate(approvals_given=given)
            .order_by("-is_emergency", "created_at", "pk"))


def request_queue_counts(*, filters: QueueFilters) -> dict[str, int]:
    """How many requests are in each state, under the other filters."""
    rows = (_filtered(filters, by_state=False).order_by().values("state")
            .annotate(n=Count("pk")).values_list("state", "n"))
    return dict(rows)


def queue_filter_choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(legal bases, agencies) as (value, label) pairs for the queue's filters."""
    bases = [(b.code, f"{b.name} ({b.code})") for b in legal_basis_list()]
    agencies = [(str(a.pk), a.name) for a in Agency.objects.order_by("name", "pk")]
    return bases, agencies


@dataclass(frozen=True)
class TimelineEntry:
    event_type: str
    occurred_at: datetime
    actor: str
    log_index: int | None  # None until the sequencer has put the event in the log
    details: dict[str, Any]


def request_timeline(*, disclosure: DisclosureRequest) -> list[TimelineEntry]:
    """The request's events as the audit log records them, oldest first."""
    events = (AuditEvent.objects.filter(object_ref=disclosure.object_ref)
              .select_related("log_entry").order_by("occurred_at", "pk"))
    timeline = []
    for event in events:
        entry = getattr(event, "log_entry", None)
        actor = event.actor_kind if event.actor_kind != "staff" else (
            f"staff #{event.actor_ref}" + (f" ({event.actor_role})" if event.actor_role else ""))
        # The leaf's details are public by design (escrow/log/events.py): no personal data.
        details = json.loads(bytes(event.entry)).get("details") or {}
        timeline.append(TimelineEntry(
            event_type=event.event_type, occurred_at=event.occurred_at, actor=actor,
            log_index=entry.index if entry is not None else None, details=details,
        ))
    return timeline


def intake_choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(agencies, legal bases) a paper request can name: active, verified agencies and
    enabled bases, as (value, label) pairs. The intake service checks they match."""
    agencies = [(str(a.pk), f"{a.name} ({a.jurisdiction_id})") for a in
                Agency.objects.filter(is_active=True, verified_at__isnull=False)
                .order_by("name", "pk")]
    bases = [(b.code, f"{b.name} ({b.code})") for b in legal_basis_list() if b.is_enabled]
    return agencies, bases


def intake_agency_get(*, agency_id: str) -> Agency | None:
    return Agency.objects.select_related("jurisdiction").filter(pk=agency_id).first()


# --- custodians ---------------------------------------------------------------------------

CUSTODIAN_PAGE_SIZE = 20


@dataclass(frozen=True)
class CustodianRelease:
    """A release as a custodian sees it: what it covers and how far it is, never who."""

    request_id: str
    reference: str
    state: str
    state_label: str
    legal_basis: str
    legal_basis_code: str
    is_emergency: bool
    pseudonym_count: int
    fields: list[str]
    expires_at: datetime
    threshold: int | None
    partials_in: int
    refusals: int
    my_answer: str  # "partial", "refusal" or "" (not every share of theirs answered yet)
    release_log_index: int | None
    prepared_at: datetime | None
    # Each escrow key epoch the request needs (records keep the epoch they were sealed
    # under), and those of them the custodian holds a share of and has not answered.
    epochs: tuple[EpochProgress, ...] = ()
    my_pending_epochs: tuple[int, ...] = ()

    @property
    def can_answer(self) -> bool:
        return self.waiting and bool(self.my_pending_epochs)

    @property
    def waiting(self) -> bool:
        return self.state in DisclosureRequest.RELEASE_STATES


def custodian_release_requests() -> QuerySet[DisclosureRequest]:
    """Requests approved for release or released: those still waiting first, newest first."""
    waiting = Case(When(state__in=DisclosureRequest.RELEASE_STATES, then=0), default=1)
    return (disclosure_list_for_staff()
            .filter(state__in=(*DisclosureRequest.RELEASE_STATES,
                               DisclosureRequest.State.RELEASED, DisclosureRequest.State.CLOSED))
            .annotate(waiting=waiting, pseudonym_count=Count("targets", distinct=True))
            .order_by("waiting", "-updated_at", "pk"))


def custodian_release_rows(*, disclosures: list[DisclosureRequest],
                           custodian: User) -> list[CustodianRelease]:
    """Each request's coverage and progress (k of n partials) and `custodian`'s own answer."""
    held = dict(CustodianKey.objects.filter(user=custodian)
                .values_list("escrow_key_id", "index"))
    mine: dict[Any, dict[int, bool]] = {}
    for request_id, epoch, index, partial_null in (
        CustodianResponse.objects.filter(request__in=disclosures, custodian=custodian)
        .annotate(partial_null=Q(partial__isnull=True))
        .values_list("request_id", "key_epoch", "custodian_index", "partial_null")
    ):
        if held.get(epoch) == index:
            mine.setdefault(request_id, {})[epoch] = not partial_null
    rows = []
    for disclosure in disclosures:
        status = release_status_get(disclosure=disclosure)
        answered = mine.get(disclosure.pk, {})
        mine_needed = [p.epoch for p in status.epochs if p.epoch in held]
        pending = tuple(e for e in mine_needed if e not in answered)
        answer = ""
        if mine_needed and not pending:
            answer = "partial" if any(answered[e] for e in mine_needed) else "refusal"
        rows.append(CustodianRelease(
            request_id=str(disclosure.pk), reference=disclosure.reference,
            state=disclosure.state, state_label=disclosure.get_state_display(),
            legal_basis=disclosure.legal_basis.name, legal_basis_code=disclosure.legal_basis_id,
            is_emergency=disclosure.is_emergency,
            pseudonym_count=getattr(disclosure, "pseudonym_count", 0),
            fields=disclosure_release_fields(disclosure), expires_at=disclosure.expires_at,
            threshold=status.threshold, partials_in=status.partials_in,
            refusals=status.refusals, my_answer=answer,
            release_log_index=status.release_log_index, prepared_at=status.prepared_at,
            epochs=status.epochs, my_pending_epochs=pending,
        ))
    return rows


@dataclass(frozen=True)
class HeldShare:
    epoch: int
    index: int
    threshold: int
    custodians: int
    is_active: bool


def custodian_shares_held(*, custodian: User) -> list[HeldShare]:
    """The shares `custodian` holds, newest epoch first: the active key's for new records,
    older epochs' for the records sealed before a later ceremony."""
    return [
        HeldShare(epoch=key.escrow_key.epoch, index=key.index,
                  threshold=key.escrow_key.threshold,
                  custodians=key.escrow_key.custodian_count, is_active=key.escrow_key.is_active)
        for key in CustodianKey.objects.filter(user=custodian).select_related("escrow_key")
        .order_by("-escrow_key__epoch")
    ]
