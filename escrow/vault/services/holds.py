"""Legal holds (preservation requests): named enrolments may not be erased for a while.

A hold lasts `LEGAL_HOLD_DAYS` (90) from placement and can be extended once by the same
again. Erasure (escrow.vault.services.enrolment.enrolment_erase) locks the enrolment row and
refuses while a hold is active; placing a hold takes the same row locks, so a hold and
an erasure racing each other are serialised.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Agency
from accounts.roles import Role
from accounts.selectors import user_has_role
from escrow.log.events import Actor, event_record
from escrow.vault.models import Enrolment, LegalHold
from escrow.vault.selectors import UnknownPseudonyms, pseudonyms_resolve


class HoldJurisdictionNotEnabled(Exception):
    """The agency's jurisdiction is not enabled: no preservation requests either."""


class HoldAlreadyActive(Exception):
    """The agency already holds this enrolment; extend that hold instead."""

    def __init__(self, positions: list[int]) -> None:
        super().__init__(
            "an active hold of yours already covers the pseudonyms at positions "
            + ", ".join(str(p) for p in positions)
        )
        self.problem_extra = {"positions": positions}


class HoldNotActive(Exception):
    """The hold has lapsed or was lifted."""


class HoldAlreadyExtended(Exception):
    """A hold can be extended once only."""


class HoldRoleRequired(Exception):
    """Extending or lifting a hold needs an intake officer or an approver."""


def _hold_ref(hold: LegalHold) -> str:
    return f"legal_hold:{hold.pk}"


def _duration() -> timedelta:
    return timedelta(days=settings.LEGAL_HOLD_DAYS)


def legal_hold_place(
    *,
    agency: Agency,
    pseudonyms: list[str],
    case_reference: str,
    placed_by: User | None = None,
) -> list[LegalHold]:
    """One hold per named enrolment, for `agency`; `placed_by` is set for paper requests."""
    if not agency.jurisdiction.is_enabled:
        raise HoldJurisdictionNotEnabled(
            f"requests from jurisdiction {agency.jurisdiction_id} are not accepted"
        )
    resolved = pseudonyms_resolve(pseudonyms=pseudonyms)
    now = timezone.now()
    actor = (
        Actor.for_staff(placed_by.pk, str(Role.INTAKE_OFFICER))
        if placed_by is not None
        else Actor.for_agency(agency.pk)
    )
    holds: list[LegalHold] = []
    with transaction.atomic():
        _targets_lock_unheld(resolved, agency=agency, now=now)
        seen: set[object] = set()
        for pseudonym, enrolment in resolved:
            if enrolment.pk in seen:
                continue
            seen.add(enrolment.pk)
            holds.append(_hold_create(
                enrolment=enrolment, pseudonym=pseudonym, agency=agency, placed_by=placed_by,
                case_reference=case_reference, actor=actor, now=now,
            ))
    return holds


def _targets_lock_unheld(
    resolved: list[tuple[str, Enrolment]], *, agency: Agency, now: datetime
) -> None:
    """Lock the named enrolments; refuse erased ones and ones this agency already holds."""
    # Lock in a fixed order: serialises against erasure without deadlocking.
    ids = sorted({e.pk for _, e in resolved})
    live = {
        e.pk
        for e in Enrolment.objects.select_for_update()
        .filter(pk__in=ids)
        .exclude(status=Enrolment.Status.ERASED)
        .order_by("pk")
    }
    gone = [i for i, (_, e) in enumerate(resolved) if e.pk not in live]
    if gone:
        raise UnknownPseudonyms(gone)
    already = [
        i
        for i, (_, e) in enumerate(resolved)
        if LegalHold.objects.filter(
            enrolment_id=e.pk, agency=agency, lifted_at__isnull=True, expires_at__gt=now
        ).exists()
    ]
    if already:
        raise HoldAlreadyActive(already)


def _hold_create(
    *,
    enrolment: Enrolment,
    pseudonym: str,
    agency: Agency,
    placed_by: User | None,
    case_reference: str,
    actor: Actor,
    now: datetime,
) -> LegalHold:
    hold = LegalHold.objects.create(
        enrolment=enrolment,
        agency=agency,
        placed_by=placed_by,
        placed_at=now,
        expires_at=now + _duration(),
    )
    event_record(
        event_type="legal_hold.placed",
        actor=actor,
        object_ref=_hold_ref(hold),
        occurred_at=now,
        details={
            "jurisdiction": agency.jurisdiction_id,
            "expires_at": hold.expires_at.isoformat(),
        },
        sealed={
            "agency": str(agency.pk),
            "pseudonym": pseudonym,
            "enrolment": str(enrolment.pk),
            "case_reference": case_reference,
        },
    )
    return hold


def _staff_role(user: User) -> Role:
    for role in (Role.INTAKE_OFFICER, Role.APPROVER):
        if user_has_role(user, role):
            return role
    raise HoldRoleRequired("this action needs the role intake_officer or approver")


def _hold_lock_active(hold: LegalHold) -> tuple[LegalHold, datetime]:
    """The hold's row, locked, and the time it was checked to be still in force."""
    locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
    # Read the clock after the lock: a hold may lapse while we wait for it.
    now = timezone.now()
    if locked.lifted_at is not None or locked.expires_at <= now:
        raise HoldNotActive("the hold has lapsed or was lifted")
    return locked, now


def legal_hold_extend(*, hold: LegalHold, staff: User, reason: str = "") -> LegalHold:
    role = _staff_role(staff)
    with transaction.atomic():
        locked, now = _hold_lock_active(hold)
        if locked.extended:
            raise HoldAlreadyExtended("the hold has already been extended once")
        locked.expires_at = locked.expires_at + _duration()
        locked.extended = True
        locked.save(update_fields=["expires_at", "extended"])
        event_record(
            event_type="legal_hold.extended",
            actor=Actor.for_staff(staff.pk, str(role)),
            object_ref=_hold_ref(locked),
            occurred_at=now,
            details={"expires_at": locked.expires_at.isoformat()},
            sealed={"reason": reason} if reason else None,
        )
    return locked


def legal_hold_lift(*, hold: LegalHold, staff: User, reason: str = "") -> LegalHold:
    role = _staff_role(staff)
    with transaction.atomic():
        locked, now = _hold_lock_active(hold)
        locked.lifted_at = now
        locked.save(update_fields=["lifted_at"])
        event_record(
            event_type="legal_hold.lifted",
            actor=Actor.for_staff(staff.pk, str(role)),
            object_ref=_hold_ref(locked),
            occurred_at=now,
            sealed={"reason": reason} if reason else None,
        )
    return locked
