"""What the custodian tool refuses before it asks for consent: each check, tampered once."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escrow.crypto.note import signer_key_generate
from escrow.custodian.challenge import challenge_verify
from escrow.custodian.consent import consent_summary
from escrow.custodian.errors import CustodianToolError
from escrow.log.keys import log_identity
from tests.release.conftest import RELEASE_TEST_APPS, World, approved_request, enrol
from tests.release.test_release_api import fetch_challenge

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)


@pytest.fixture
def challenge(world: World) -> dict[str, Any]:
    request = approved_request(world, [enrol(world, 1), enrol(world, 2)],
                               fields=["family_name", "email"])
    return fetch_challenge(world, request, "frank")


def verify(challenge: dict[str, Any], **overrides: Any) -> Any:
    arguments = {
        "request_id": challenge["request"]["id"],
        "log_key": log_identity().verifier_key,
        "log_origin": None,
    }
    arguments.update(overrides)
    return challenge_verify(challenge, **arguments)


def test_an_honest_challenge_verifies(challenge: dict[str, Any]) -> None:
    verified = verify(challenge)
    assert len(verified.points) == 4
    assert verified.custodian_index == 1
    summary = consent_summary(verified)
    assert "family_name, email" in summary
    assert "Pseudonyms:        2" in summary


def _leaf_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(challenge: dict[str, Any]) -> None:
        entry = json.loads(base64.b64decode(challenge["approval"]["leaf"]))
        edit(entry)
        challenge["approval"]["leaf"] = base64.b64encode(
            json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        ).decode()
    return apply


def _drop_last_record(challenge: dict[str, Any]) -> None:
    dropped = challenge["record_ids"].pop()
    challenge["items"] = [i for i in challenge["items"] if i["record_id"] != dropped]
    challenge["request"]["pseudonym_count"] -= 1


def _swap_points(challenge: dict[str, Any]) -> None:
    # A compromised server labels one person's R with another approved item's label.
    first, last = challenge["items"][0], challenge["items"][-1]
    first["point"], last["point"] = last["point"], first["point"]


def _swap_enrolment_leaves(challenge: dict[str, Any]) -> None:
    first, last = challenge["enrolments"][0], challenge["enrolments"][-1]
    first["record_id"], last["record_id"] = last["record_id"], first["record_id"]


TAMPERINGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a point relabelled": (_swap_points, "NOT the one logged"),
    "an enrolment proof at a wrong index": (
        lambda c: c["enrolments"][0].update(log_index=c["enrolments"][0]["log_index"] + 1),
        "NOT included",
    ),
    "an enrolment entry of another record": (_swap_enrolment_leaves, "not the enrolment"),
    "no enrolment proofs": (lambda c: c.update(enrolments=[]), "NOT the one logged"),
    "another request": (lambda c: c["context"].update(request_id="x"), "another request"),
    "a checkpoint altered after signing": (
        lambda c: c["approval"].update(
            checkpoint=c["approval"]["checkpoint"].replace(
                f"\n{c['approval']['tree_size']}\n", f"\n{c['approval']['tree_size'] + 1}\n", 1
            )
        ),
        "does NOT verify",
    ),
    "a leaf not in the tree": (
        _leaf_edit(lambda e: e["details"].update(fields=["family_name", "email", "phone"])),
        "NOT included",
    ),
    "a wrong log index": (
        lambda c: c["approval"].update(log_index=c["approval"]["log_index"] + 1),
        "NOT included",
    ),
    "a context naming another approval": (
        lambda c: c["context"].update(approval_log_index=c["approval"]["log_index"] + 1),
        "another approval",
    ),
    "a field beyond the approval": (
        lambda c: c["request"]["fields"].append("phone"), "fields",
    ),
    "a point labelled with an unapproved field": (
        lambda c: c["items"][0].update(field="phone"), "outside the approval",
    ),
    "a record outside the approval": (
        lambda c: c["items"][0].update(record_id="00000000-0000-4000-8000-000000000000"),
        "outside the approval",
    ),
    "a target left out": (_drop_last_record, "pseudonyms to release"),
    "a changed expiry": (
        lambda c: c["request"].update(
            expires_at=(datetime.now(UTC) + timedelta(days=400)).isoformat()
        ),
        "expiry",
    ),
    "another legal basis": (
        lambda c: c["request"]["legal_basis"].update(code="US:subpoena"), "legal basis",
    ),
    "a point of another epoch": (lambda c: c["items"][0].update(epoch=99), "epoch"),
    "a field twice": (lambda c: c["items"].append(dict(c["items"][0])), "twice"),
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_a_tampered_challenge_is_refused(challenge: dict[str, Any], name: str) -> None:
    tamper, message = TAMPERINGS[name]
    tampered = copy.deepcopy(challenge)
    tamper(tampered)
    with pytest.raises(CustodianToolError, match=message):
        verify(tampered)


def test_another_log_key_is_refused(challenge: dict[str, Any]) -> None:
    _, impostor = signer_key_generate(name=log_identity().origin)
    with pytest.raises(CustodianToolError, match="does NOT verify"):
        verify(challenge, log_key=impostor)


def test_another_origin_is_refused(challenge: dict[str, Any]) -> None:
    with pytest.raises(CustodianToolError, match="does NOT verify"):
        verify(challenge, log_origin="some.other.log/origin")


def test_an_expired_authority_is_refused(challenge: dict[str, Any]) -> None:
    with pytest.raises(CustodianToolError, match="expired"):
        challenge_verify(
            challenge, request_id=challenge["request"]["id"],
            log_key=log_identity().verifier_key, log_origin=None,
            now=datetime.now(UTC) + timedelta(days=365),
        )
