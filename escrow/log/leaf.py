"""Reading a log leaf, and checking the columns copied out of it.

`AuditEvent.entry` is the canonical JSON leaf (escrow/log/events.py) that the Merkle
tree hashes and the checkpoints sign. The event's other columns (type, time, actor,
object, commitment) are copies kept for indexes only: nothing verifies them, so a
database superuser can rewrite them unnoticed by the tree. Whatever is published or
shown to auditors is therefore read from the leaf with `leaf_parse`, and
`manage.py audit_verify` compares every copy with its leaf (`leaf_columns_differ`).

No Django here: the verifier and an offline auditor use it on plain bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

LEAF_VERSION = 1
# The canonical time format of a leaf: fixed width, so it sorts as text.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeafMalformed(Exception):
    """The bytes are not a version-1 leaf of this log."""


@dataclass(frozen=True)
class Leaf:
    """What one log entry says, and nothing else."""

    event_type: str
    time: str
    actor_kind: str
    actor_ref: str
    actor_role: str
    object_ref: str
    details: dict[str, Any]
    sealed: str | None  # hex commitment

    @property
    def occurred_at(self) -> datetime:
        return leaf_time_parse(self.time)


@dataclass(frozen=True)
class CopiedColumns:
    """An event row's copies of its leaf's fields, as stored."""

    event_type: str
    occurred_at: datetime
    actor_kind: str
    actor_ref: str
    actor_role: str
    object_ref: str
    commitment: bytes | None


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_time_format(moment: datetime) -> str:
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    # isoformat is several times faster than strftime; the verifier calls this per entry.
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


def leaf_time_parse(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise LeafMalformed(f"{what} is not a string")
    return value


def leaf_parse(entry: bytes) -> Leaf:
    """The fields of a leaf; LeafMalformed if it is not a well-formed version-1 leaf."""
    try:
        value = json.loads(entry)
    except (UnicodeDecodeError, ValueError):
        raise LeafMalformed("not JSON") from None
    if not isinstance(value, dict) or value.get("v") != LEAF_VERSION:
        raise LeafMalformed("not a version-1 leaf")
    actor = value.get("actor")
    details = value.get("details")
    sealed = value.get("sealed")
    if not isinstance(actor, dict) or not isinstance(details, dict):
        raise LeafMalformed("actor or details is not an object")
    if sealed is not None and not isinstance(sealed, str):
        raise LeafMalformed("sealed is neither null nor a string")
    time = _text(value.get("time"), "time")
    try:
        leaf_time_parse(time)
    except ValueError:
        raise LeafMalformed("time is not in the leaf's format") from None
    return Leaf(
        event_type=_text(value.get("type"), "type"),
        time=time,
        actor_kind=_text(actor.get("kind"), "actor.kind"),
        actor_ref=_text(actor.get("ref"), "actor.ref"),
        actor_role=_text(actor.get("role"), "actor.role"),
        object_ref=_text(value.get("object"), "object"),
        details=details,
        sealed=sealed,
    )


def _string(value: str) -> str:
    # json.dumps of a str, without its cost in the common all-plain-ASCII case.
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def _expected_ends(columns: CopiedColumns) -> tuple[bytes, bytes]:
    """The bytes a canonical leaf with these fields starts and ends with.

    Canonical JSON sorts keys: actor, details, object, sealed, time, type, v. Only
    `details` varies in shape, so the rest is fixed text around it.
    """
    sealed = f'"{columns.commitment.hex()}"' if columns.commitment is not None else "null"
    head = (
        f'{{"actor":{{"kind":{_string(columns.actor_kind)},"ref":{_string(columns.actor_ref)},'
        f'"role":{_string(columns.actor_role)}}},"details":{{'
    )
    tail = (
        f'}},"object":{_string(columns.object_ref)},"sealed":{sealed},'
        f'"time":"{leaf_time_format(columns.occurred_at)}",'
        f'"type":{_string(columns.event_type)},"v":{LEAF_VERSION}}}'
    )
    return head.encode(), tail.encode()


def leaf_columns_differ(entry: bytes, columns: CopiedColumns) -> list[str]:
    """The names of the copied columns that differ from the leaf (empty if all agree)."""
    head, tail = _expected_ends(columns)
    if len(entry) >= len(head) + len(tail) and entry.startswith(head) and entry.endswith(tail):
        # The common case, without parsing (the verifier does this for every entry):
        # a leaf whose fixed text around `details` is what the columns say. The leaf's
        # bytes are what the tree hashes, and only event_record writes them, canonically.
        return []
    try:
        leaf = leaf_parse(entry)
    except LeafMalformed as exc:
        return [f"entry ({exc})"]
    sealed = columns.commitment.hex() if columns.commitment is not None else None
    pairs = {
        "event_type": (leaf.event_type, columns.event_type),
        "occurred_at": (leaf.time, leaf_time_format(columns.occurred_at)),
        "actor_kind": (leaf.actor_kind, columns.actor_kind),
        "actor_ref": (leaf.actor_ref, columns.actor_ref),
        "actor_role": (leaf.actor_role, columns.actor_role),
        "object_ref": (leaf.object_ref, columns.object_ref),
        "commitment": (leaf.sealed, sealed),
    }
    differ = [name for name, (logged, copied) in pairs.items() if logged != copied]
    # Agreeing fields in a leaf that is not canonical: the leaf itself is odd.
    return differ or ["entry (not canonical JSON)"]
