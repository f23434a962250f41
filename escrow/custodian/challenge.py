"""The checks of a release challenge, made before the custodian is asked to consent.

The server is not trusted: everything shown to the custodian, and every point they are
asked to decrypt, must follow from a log entry proved under a checkpoint signed by the
log key the custodian supplies. `challenge_verify` runs the steps below in order and
stops at the first that fails, with that step's message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from escrow.crypto.checkpoint import Checkpoint
from escrow.crypto.cosignature import CosignatureVerifier
from escrow.crypto.encoding import b64decode
from escrow.crypto.envelope import FieldContext, point_commitment
from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import InclusionProofError, inclusion_verify, leaf_hash
from escrow.custodian.errors import fail
from escrow.custodian.logview import checkpoint_open_witnessed, log_verifier

CHALLENGE_FORMAT = "identity-escrow-release-challenge/1"
APPROVAL_EVENT = "disclosure.approved"
ENROLMENT_EVENT = "enrolment.created"


@dataclass(frozen=True)
class VerifiedChallenge:
    request_id: str
    approval_log_index: int
    checkpoint: Checkpoint
    approval: dict[str, Any]
    request: dict[str, Any]
    items: list[dict[str, Any]]
    points: list[bytes]
    epoch: int
    key_fingerprint: str
    custodian_index: int
    # The signed checkpoint as served (log signature and cosignatures), for the state file.
    checkpoint_note: str = ""
    # The configured witnesses whose cosignatures on that checkpoint verified.
    cosigned_by: tuple[str, ...] = ()


def _get(mapping: object, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(mapping, dict) or not isinstance(mapping.get(key), kind):
        fail(f"the challenge is malformed: {what}")
    return mapping[key]


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        fail(f"the challenge's {what} is not base64 text")
    raw = b64decode(value)
    if raw is None:
        fail(f"the challenge's {what} is not base64")
    return raw


def _proof_hashes(proved: dict[str, Any]) -> list[bytes]:
    return [_b64(p, "inclusion proof") for p in _get(proved, "inclusion_proof", list, "proof")]


def _included(*, leaf: bytes, index: int, proof: list[bytes], checkpoint: Checkpoint) -> None:
    # RFC 9162 s2.1.3.2, over the leaf bytes hashed here: the server's leaf hash is not used.
    inclusion_verify(
        index=index, size=checkpoint.size, leaf_hash=leaf_hash(leaf), proof=proof,
        root=checkpoint.root_hash,
    )


def _logged_event(
    leaf: bytes, *, event_type: str, object_ref: str, not_json: str, not_event: str
) -> Any:
    try:
        entry = json.loads(leaf)
    except ValueError:
        fail(not_json)
    if entry.get("type") != event_type or entry.get("object") != object_ref:
        fail(not_event)
    return entry


def challenge_verify(
    challenge: Any, *, request_id: str, log_key: str, log_origin: str | None,
    witnesses: Sequence[CosignatureVerifier] = (), witness_quorum: int = 0,
    now: datetime | None = None,
) -> VerifiedChallenge:
    """Every check the tool makes before the custodian is even asked to consent."""
    request, context, approval = _challenge_parts(challenge, request_id=request_id)
    checkpoint, cosigned_by = _checkpoint_verify(
        approval, log_key=log_key, log_origin=log_origin, witnesses=witnesses,
        witness_quorum=witness_quorum,
    )
    leaf, log_index = _approval_prove(approval, context=context, checkpoint=checkpoint)
    entry = _logged_event(
        leaf, event_type=APPROVAL_EVENT, object_ref=f"disclosure_request:{request_id}",
        not_json="the approval leaf is not JSON",
        not_event="the logged event is not the approval of this request",
    )
    record_ids = _shown_as_approved(challenge, request=request, details=entry.get("details") or {})
    _authority_unexpired(request, now=now or datetime.now(UTC))
    escrow_key = _get(challenge, "escrow_key", dict, "escrow key")
    epoch = _get(escrow_key, "epoch", int, "epoch")
    items, points = _points_labelled(
        challenge, record_ids=record_ids, fields=request["fields"], epoch=epoch
    )
    _points_as_enrolled(challenge, checkpoint=checkpoint, items=items, points=points, epoch=epoch)
    return VerifiedChallenge(
        request_id=request_id,
        approval_log_index=log_index,
        checkpoint=checkpoint,
        approval=entry,
        request=request,
        items=items,
        points=points,
        epoch=epoch,
        key_fingerprint=_get(escrow_key, "fingerprint", str, "key fingerprint"),
        custodian_index=_get(_get(challenge, "custodian", dict, "custodian"), "index", int,
                             "custodian index"),
        checkpoint_note=approval["checkpoint"],
        cosigned_by=cosigned_by,
    )


def _challenge_parts(
    challenge: Any, *, request_id: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The request shown, the release context and the approval's proof, for this request."""
    if _get(challenge, "format", str, "format") != CHALLENGE_FORMAT:
        fail("unknown challenge format; update the tool")
    request = _get(challenge, "request", dict, "request")
    context = _get(challenge, "context", dict, "context")
    approval = _get(challenge, "approval", dict, "approval")
    if request.get("id") != request_id or context.get("request_id") != request_id:
        fail("the challenge is for another request than the one you asked for")
    return request, context, approval


def _checkpoint_verify(
    approval: dict[str, Any], *, log_key: str, log_origin: str | None,
    witnesses: Sequence[CosignatureVerifier], witness_quorum: int,
) -> tuple[Checkpoint, tuple[str, ...]]:
    """1. The checkpoint is signed by the log key the custodian trusts, and cosigned by a
    quorum of the witnesses they trust (see `escrow.custodian.logview`)."""
    verifier = log_verifier(log_key)
    checkpoint_text = _get(approval, "checkpoint", str, "checkpoint")
    return checkpoint_open_witnessed(
        message=checkpoint_text.encode("utf-8"), verifier=verifier,
        origin=log_origin or verifier.name, witnesses=witnesses, quorum=witness_quorum,
    )


def _approval_prove(
    approval: dict[str, Any], *, context: dict[str, Any], checkpoint: Checkpoint
) -> tuple[bytes, int]:
    """2. The approval event is in that checkpoint's tree: its leaf bytes and log index."""
    leaf = _b64(approval.get("leaf"), "approval leaf")
    log_index = _get(approval, "log_index", int, "approval log index")
    proof = _proof_hashes(approval)
    try:
        _included(leaf=leaf, index=log_index, proof=proof, checkpoint=checkpoint)
    except InclusionProofError as exc:
        fail(f"the approval is NOT included in the signed checkpoint: {exc}")
    if context.get("approval_log_index") != log_index:
        fail("the release context names another approval than the one proved")
    return leaf, log_index


def _shown_as_approved(
    challenge: Any, *, request: dict[str, Any], details: dict[str, Any]
) -> list[Any]:
    """3. What the custodian is shown is what the logged approval says; the target records.

    The approval logs the fields, a digest of the targets, the expiry and the legal
    basis code; the request the server shows must not differ in any of them.
    """
    fields = _get(request, "fields", list, "fields")
    logged_fields = details.get("fields")
    if not isinstance(logged_fields, list) or not set(fields) <= set(logged_fields):
        fail("the fields to release are not the ones the logged approval names")
    record_ids = _get(challenge, "record_ids", list, "record ids")
    digest = hashlib.sha256("\n".join(sorted(str(r) for r in record_ids)).encode()).hexdigest()
    if details.get("targets_sha256") != digest or details.get("target_count") != len(record_ids):
        fail("the pseudonyms to release are not the ones the logged approval names")
    if request.get("pseudonym_count") != len(record_ids):
        fail("the pseudonym count shown differs from the logged approval")
    if details.get("expires_at") and details["expires_at"] != request.get("expires_at"):
        fail("the expiry shown differs from the logged approval")
    if details.get("legal_basis") and details["legal_basis"] != (
        (request.get("legal_basis") or {}).get("code")
    ):
        fail("the legal basis shown differs from the logged approval")
    return record_ids


def _authority_unexpired(request: dict[str, Any], *, now: datetime) -> None:
    expires_at = _expiry_parse(_get(request, "expires_at", str, "expiry"))
    if expires_at <= now:
        fail("the legal authority for this request has expired")


def _expiry_parse(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail("the expiry is not a date-time")
    if moment.tzinfo is None:
        fail("the expiry has no time zone")
    return moment


def _points_labelled(
    challenge: Any, *, record_ids: list[Any], fields: list[Any], epoch: int
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """4. Every point is labelled with an approved record and field of one epoch."""
    items = _get(challenge, "items", list, "items")
    if not items:
        fail("the challenge names no points")
    points = []
    allowed_records = set(record_ids)
    for item in items:
        if (
            not isinstance(item, dict)
            or item.get("record_id") not in allowed_records
            or item.get("field") not in fields
            or item.get("epoch") != epoch
        ):
            fail("a point is labelled with a record, field or epoch outside the approval")
        try:
            point = bytes.fromhex(_get(item, "point", str, "point"))
        except ValueError:
            fail("a point is not hex")
        points.append(point)
    if len({(i["record_id"], i["field"]) for i in items}) != len(items):
        fail("the challenge names the same field twice")
    return items, points


def _points_as_enrolled(
    challenge: Any, *, checkpoint: Checkpoint, items: list[dict[str, Any]],
    points: list[bytes], epoch: int,
) -> None:
    """5. Every point is the one logged when its record was enrolled.

    The enrolment entry, proved under the same checkpoint, commits to (record, platform,
    field, epoch, R). Without this a compromised server could show another person's R
    under an approved label, and the custodian would decrypt it.
    """
    logged_points = _logged_enrolment_points(challenge, checkpoint)
    for item, point in zip(items, points, strict=True):
        expected = logged_points.get(item["record_id"], {}).get(item["field"])
        try:
            context = FieldContext(
                record_id=item["record_id"], platform_id=str(item.get("platform_id")),
                field_name=item["field"], epoch=epoch,
            )
            actual = point_commitment(context=context, ephemeral_point=point).hex()
        except CryptoError:
            fail("a point or its label is malformed")
        if expected is None or not hmac.compare_digest(expected, actual):
            fail("a point is NOT the one logged when its record was enrolled")


def _logged_enrolment_points(challenge: Any, checkpoint: Checkpoint) -> dict[str, dict[str, str]]:
    """record id -> field -> logged point commitment, from proved enrolment entries."""
    logged: dict[str, dict[str, str]] = {}
    for proved in _get(challenge, "enrolments", list, "enrolment proofs"):
        if not isinstance(proved, dict):
            fail("an enrolment proof is malformed")
        record_id = _get(proved, "record_id", str, "enrolment record id")
        leaf = _b64(proved.get("leaf"), "enrolment leaf")
        proof = _proof_hashes(proved)
        try:
            _included(
                leaf=leaf, index=_get(proved, "log_index", int, "enrolment log index"),
                proof=proof, checkpoint=checkpoint,
            )
        except InclusionProofError:
            fail("a target's enrolment is NOT included in the signed checkpoint")
        entry = _logged_event(
            leaf, event_type=ENROLMENT_EVENT, object_ref=f"enrolment:{record_id}",
            not_json="an enrolment leaf is not JSON",
            not_event="a logged event is not the enrolment of its target",
        )
        points = (entry.get("details") or {}).get("points")
        if not isinstance(points, dict):
            fail("a target's enrolment entry commits to no points")
        logged[record_id] = points
    return logged
