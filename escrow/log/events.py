"""Recording audit events: one INSERT inside the caller's transaction.

The leaf format (what the verifiable log hashes) is canonical JSON, UTF-8, keys sorted,
no insignificant whitespace:

    {"actor":{"kind":"platform","ref":"<uuid>","role":""},"details":{...},
     "object":"enrolment:<uuid>","sealed":"<hex commitment>"|null,
     "time":"2026-11-23T18:00:00.000000Z","type":"enrolment.created","v":1}

`details` holds only non-personal values (ids, states, counts, legal-basis codes).
Anything else goes into `sealed`, which the log holds only as a salted commitment.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from escrow.crypto.commitment import commitment_create, opening_seal, opening_unseal
from escrow.keys import service_key
from escrow.log.models import AuditEvent

LEAF_VERSION = 1
# C2SP tlog-tiles: an entry bundle stores each entry behind a uint16 length.
MAX_ENTRY_BYTES = 65_535


class AuditEntryTooLarge(Exception):
    """An event's leaf would not fit a tile bundle; a bug in the caller's details."""


@dataclass(frozen=True)
class Actor:
    kind: str  # platform | agency | staff | system | anonymous
    ref: str
    role: str = ""

    @classmethod
    def system(cls, component: str = "service") -> Actor:
        return cls(kind="system", ref=component)

    @classmethod
    def for_platform(cls, platform_id: object) -> Actor:
        return cls(kind="platform", ref=str(platform_id))

    @classmethod
    def for_agency(cls, agency_id: object) -> Actor:
        return cls(kind="agency", ref=str(agency_id))

    @classmethod
    def for_staff(cls, user_id: object, role: str = "") -> Actor:
        # A staff member appears by account number, never by name: the log is public.
        return cls(kind="staff", ref=str(user_id), role=role)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_record(
    *,
    event_type: str,
    actor: Actor,
    object_ref: str = "",
    platform_id: str | uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event; call inside the transaction that makes the change it records."""
    event = event_prepare(
        event_type=event_type, actor=actor, object_ref=object_ref, platform_id=platform_id,
        details=details, sealed=sealed, occurred_at=occurred_at,
    )
    event.save(force_insert=True)
    return event


def event_prepare(
    *,
    event_type: str,
    actor: Actor,
    object_ref: str = "",
    platform_id: str | uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """The event, not yet saved, for a caller that inserts it in the same statement as
    the change it records (the statement is then that change's transaction)."""
    moment = occurred_at or timezone.now()
    commitment = sealed_blob = None
    if sealed is not None:
        opening, commitment = commitment_create(detail=canonical_json(sealed))
        sealed_blob = opening_seal(
            key=service_key("sealed-detail"), opening=opening, commitment=commitment
        )
    event = AuditEvent(
        event_type=event_type,
        occurred_at=moment,
        actor_kind=actor.kind,
        actor_ref=actor.ref,
        actor_role=actor.role,
        object_ref=object_ref,
        platform_id=platform_id,
        commitment=commitment,
        sealed_detail=sealed_blob,
    )
    event.entry = _leaf(event, details or {})
    if len(event.entry) > MAX_ENTRY_BYTES:
        # Refused here, in the caller's transaction, rather than halting the sequencer later.
        raise AuditEntryTooLarge(f"{event_type} entry is {len(event.entry)} bytes")
    return event


def _leaf(event: AuditEvent, details: dict[str, Any]) -> bytes:
    return canonical_json(
        {
            "v": LEAF_VERSION,
            "type": event.event_type,
            "time": _timestamp(event.occurred_at),
            "actor": {"kind": event.actor_kind, "ref": event.actor_ref, "role": event.actor_role},
            "object": event.object_ref,
            "details": details,
            "sealed": bytes(event.commitment).hex() if event.commitment is not None else None,
        }
    )


def sealed_detail_open(event: AuditEvent) -> dict[str, Any] | None:
    """For auditors: decrypt a sealed detail and check it against the logged commitment."""
    if event.commitment is None or event.sealed_detail is None:
        return None
    opening = opening_unseal(
        key=service_key("sealed-detail"),
        sealed=bytes(event.sealed_detail),
        commitment=bytes(event.commitment),
    )
    return {"salt": opening.salt.hex(), "detail": json.loads(opening.detail)}
