"""Recording audit events: the leaf format and its limits."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from escrow.log.events import MAX_ENTRY_BYTES, Actor, AuditEntryTooLarge, event_record
from escrow.log.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_leaf_is_canonical_json_with_a_sealed_commitment_only() -> None:
    event = event_record(event_type="test.event", actor=Actor.for_staff(7, "auditor"),
                         object_ref="thing:1", details={"b": 1, "a": [2]},
                         sealed={"officer": "PC Canary 4471"})
    entry = bytes(event.entry)
    assert entry == json.dumps(json.loads(entry), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
    leaf = json.loads(entry)
    assert leaf["actor"] == {"kind": "staff", "ref": "7", "role": "auditor"}
    assert leaf["details"] == {"a": [2], "b": 1}
    assert leaf["sealed"] == bytes(event.commitment).hex()
    assert b"Canary" not in entry
    assert b"Canary" not in bytes(event.sealed_detail)


def test_an_entry_too_large_for_a_tile_bundle_is_refused_in_the_callers_transaction() -> None:
    with pytest.raises(AuditEntryTooLarge), transaction.atomic():
        event_record(event_type="test.event", actor=Actor.system(),
                     details={"blob": "x" * MAX_ENTRY_BYTES})
    assert not AuditEvent.objects.filter(event_type="test.event").exists()
