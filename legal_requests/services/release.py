"""Threshold release: custodians' partial decryptions in, the disclosure package out.

The order of events is the guarantee:

1. A custodian fetches the challenge: the points R of exactly the approved fields of
   exactly the approved pseudonyms, and the proof that the approval is in a signed
   checkpoint of the log. Their tool checks that proof before it computes anything.
2. Each partial is verified on arrival (DLEQ proof against this request's release
   context, the custodian's own share index, the active epoch) and recorded; a bad one
   is refused with a precise reason and the refusal is logged too.
3. When k valid partials are in, the request moves approved -> releasing and a task
   combines them, opens only the approved fields and builds the package in memory.
4. A release event committing to the package content is written and the task waits
   until a signed checkpoint covers it. Only then is the (sealed) package stored and
   the request marked released. If the log cannot checkpoint, nothing is stored, the
   request stays `releasing` and the attempt is logged as aborted (fail closed).

CPython cannot zeroise `bytes`: the combined points, data keys and plaintexts are
immutable objects that live until the garbage collector reuses their memory. This
module keeps them in local variables only, drops every reference as soon as the
package is sealed, and never logs or stores them unsealed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.roles import Role
from escrow.crypto.envelope import FieldContext, FieldDecryptionError, SealedField, field_open
from escrow.crypto.merkle import leaf_hash
from escrow.crypto.package import (
    PackageKeyError,
    content_commitment,
    content_salt_generate,
    download_secret_digest,
    download_secret_generate,
    package_seal_to_recipient,
    package_seal_with_secret,
    recipient_key_parse,
)
from escrow.crypto.release import (
    NotEnoughPartials,
    PartialDecryption,
    PartialFormatError,
    PartialProofError,
    partial_verify,
    partials_combine,
    release_context,
)
from escrow.crypto.threshold import EscrowPublicKey
from escrow.jobs import task_enqueue_on_commit
from escrow.log.events import Actor, canonical_json, event_record
from escrow.log.models import AuditEvent
from escrow.log.selectors import LogEventNotSequenced, LogTreeSizeInvalid, log_inclusion_proof
from escrow.vault.identity import IDENTITY_FIELDS
from escrow.vault.models import CustodianKey, Enrolment, EscrowKey
from legal_requests import workflow
from legal_requests.models import Approval, CustodianResponse, DisclosureRequest, Release
from legal_requests.selectors import request_approver_ids, request_intake_staff_ids
from legal_requests.services.review import RETROSPECTIVE_REVIEWS_REQUIRED

logger = logging.getLogger("legal_requests.release")

PACKAGE_FORMAT = "identity-escrow-disclosure-package/1"
SEALED_PACKAGE_FORMAT = "identity-escrow-sealed-package/1"
# The Celery task (legal_requests/tasks.py) that combines the partials and seals the package.
RELEASE_PERFORM_TASK = "legal_requests.release_perform"
RELEASE_EVENT = "disclosure.release_committed"
ABORT_EVENT = "disclosure.release_aborted"
# Abort reasons a later attempt may overcome; any other needs an operator.
# (An operator can fix an agency's key; the next scan then completes the release.)
RETRYABLE_ABORTS = frozenset({"log_unavailable", "agency_key_invalid"})
RELEASE_STATES = (workflow.APPROVED, workflow.RELEASING)

# Overridable in settings; the defaults are sound for production.
_SETTING_DEFAULTS: dict[str, Any] = {
    # A custodian's tool waits this long for the approval's checkpoint before a 503.
    "RELEASE_CHALLENGE_LOG_WAIT_SECONDS": 2.0,
    # The release waits this long for its own checkpoint, then fails closed.
    "RELEASE_LOG_WAIT_SECONDS": 30.0,
    "RELEASE_LOCK_SECONDS": 300,
    # A stalled release (log down, worker lost) is retried after this long.
    "RELEASE_RETRY_SECONDS": 300,
    # The single-use download of a package for an agency without a registered key.
    "PACKAGE_DOWNLOAD_TTL_SECONDS": 24 * 3600,
    "ESCROW_PUBLIC_URL": "http://127.0.0.1:8000",
}


def release_setting(name: str) -> Any:
    return getattr(settings, name, _SETTING_DEFAULTS[name])


# --- errors (mapped to problem types in escrow/api/registry.py) -----------------------


class ReleaseRequestNotFound(Exception):
    """No disclosure request with that id."""


class NotAShareHolder(Exception):
    """The caller holds no share of the active escrow key."""


class SeparationOfDuties(Exception):
    """The caller filed, reviewed or decided this request, so cannot also unlock it."""


class ReleaseNotOpen(Exception):
    """The request is not approved (or is already past releasing)."""


class ReleaseUnderWay(Exception):
    """Enough partials are already in; the release is being prepared."""


class RequestExpired(Exception):
    """The legal authority has expired: nothing may be released under it."""


class ApprovalNotCheckpointed(Exception):
    """The approval is not yet covered by a signed checkpoint; retry shortly."""


class ReleaseEpochMismatch(Exception):
    """A target was sealed under another escrow key epoch than the active one."""


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


class ReleaseAborted(Exception):
    """The release could not be completed; nothing was released."""


class ReleaseLogUnavailable(ReleaseAborted):
    """The log could not checkpoint the release event in time; nothing was released."""


# --- the log --------------------------------------------------------------------------


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
    from escrow.log.services import log_wait_for_checkpoint

    inclusion = log_wait_for_checkpoint(event_id=event_id, timeout=timeout)
    return LogProof(
        log_index=inclusion.log_index,
        checkpoint_text=inclusion.checkpoint_text,
        tree_size=inclusion.tree_size,
        root_hash=bytes(inclusion.root_hash),
        inclusion_proof=tuple(bytes(p) for p in inclusion.inclusion_proof),
    )


def _log_unavailable_error() -> type[Exception]:
    from escrow.log.services import LogUnavailable

    return LogUnavailable


# --- what a release covers -------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseItem:
    """One sealed field of one approved pseudonym: its point R and where it belongs."""

    target_pseudonym: str
    enrolment_id: str
    platform_id: str
    field_name: str
    epoch: int
    sealed: SealedField

    @property
    def point(self) -> bytes:
        return self.sealed.ephemeral_point

    @property
    def field_context(self) -> FieldContext:
        return FieldContext(
            record_id=self.enrolment_id,
            platform_id=self.platform_id,
            field_name=self.field_name,
            epoch=self.epoch,
        )


def release_fields(request: DisclosureRequest) -> list[str]:
    """The approved fields, in the vocabulary's fixed order, never beyond the legal basis."""
    allowed = set(request.legal_basis.releasable_fields)
    return [f for f in IDENTITY_FIELDS if f in request.requested_fields and f in allowed]


def _targets(request: DisclosureRequest) -> list[Any]:
    return list(
        request.targets.select_related("enrolment", "enrolment__platform").order_by("pseudonym")
    )


def release_items(request: DisclosureRequest, *, epoch: int) -> list[ReleaseItem]:
    """Every (pseudonym, approved field) the request can open, in a fixed order.

    The order is what makes a custodian's i-th partial answer the server's i-th point;
    erased enrolments and fields a person never supplied simply have no item.
    """
    fields = release_fields(request)
    items: list[ReleaseItem] = []
    for target in _targets(request):
        enrolment: Enrolment = target.enrolment
        if enrolment.sealed_fields is None:
            continue
        if enrolment.key_epoch != epoch:
            raise ReleaseEpochMismatch(
                "a target was sealed under another escrow key epoch than the active one"
            )
        for name in fields:
            encoded = enrolment.sealed_fields.get(name)
            if encoded is None:
                continue
            items.append(
                ReleaseItem(
                    target_pseudonym=target.pseudonym,
                    enrolment_id=str(enrolment.id),
                    platform_id=str(enrolment.platform_id),
                    field_name=name,
                    epoch=enrolment.key_epoch,
                    sealed=SealedField.from_bytes(base64.b64decode(encoded)),
                )
            )
    return items


def _active_key() -> tuple[EscrowKey, EscrowPublicKey]:
    row = EscrowKey.objects.filter(is_active=True).first()
    if row is None:
        raise ReleaseNotOpen("no active escrow key")
    return row, EscrowPublicKey.from_dict(row.public_key)


def request_get(request_id: object) -> DisclosureRequest:
    try:
        key = uuid.UUID(str(request_id))
    except ValueError:
        raise ReleaseRequestNotFound("no such disclosure request") from None
    request = (
        DisclosureRequest.objects.select_related("agency", "agency__jurisdiction", "legal_basis")
        .filter(pk=key)
        .first()
    )
    if request is None:
        raise ReleaseRequestNotFound("no such disclosure request")
    return request


def request_involved_user_ids(request: DisclosureRequest) -> set[int]:
    """Everyone who filed, reviewed, verified or decided the request."""
    return request_approver_ids(request) | request_intake_staff_ids(request)


def _custodian_key(*, request: DisclosureRequest, custodian: User, epoch: int) -> CustodianKey:
    """The caller's share of the active epoch, once separation of duties is checked."""
    if not custodian.groups.filter(name=str(Role.CUSTODIAN)).exists():
        raise NotAShareHolder("only custodians take part in a release")
    key = CustodianKey.objects.filter(escrow_key__epoch=epoch, user=custodian).first()
    if key is None:
        raise NotAShareHolder("you hold no share of the active escrow key")
    # A person counts once: whoever approved (or filed) a request cannot also supply
    # one of the k shares that unlock it.
    if custodian.pk in request_involved_user_ids(request):
        raise SeparationOfDuties(
            "you filed, reviewed or decided this request, so you cannot release it"
        )
    return key


def _check_open(request: DisclosureRequest, *, now: datetime) -> None:
    if request.state not in RELEASE_STATES or request.approval_event_id is None:
        raise ReleaseNotOpen(f"the request is {request.state}, not approved")
    if request.expires_at <= now:
        raise RequestExpired("the legal authority for this request has expired")


def _approval_proof(request: DisclosureRequest, *, timeout: float) -> LogProof:
    assert request.approval_event_id is not None  # noqa: S101 - checked by _check_open
    try:
        return log_wait(event_id=request.approval_event_id, timeout=timeout)
    except _log_unavailable_error() as exc:
        raise ApprovalNotCheckpointed(
            "the approval is not yet covered by a signed log checkpoint; retry shortly"
        ) from exc


def _context(request: DisclosureRequest, proof: LogProof) -> bytes:
    return release_context(request_id=str(request.pk), approval_log_index=proof.log_index)


# --- the challenge ----------------------------------------------------------------------


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
    request: DisclosureRequest
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


def release_challenge_get(*, request_id: object, custodian: User) -> ReleaseChallenge:
    request = request_get(request_id)
    key_row, public_key = _active_key()
    key = _custodian_key(request=request, custodian=custodian, epoch=key_row.epoch)
    _check_open(request, now=timezone.now())
    items = release_items(request, epoch=key_row.epoch)
    if not items:
        raise ReleaseNotOpen("the request names nothing that can be released")
    proof = _approval_proof(request, timeout=release_setting("RELEASE_CHALLENGE_LOG_WAIT_SECONDS"))
    approval = AuditEvent.objects.get(pk=request.approval_event_id or 0)
    record_ids = sorted(str(e) for e in request.targets.values_list("enrolment_id", flat=True))
    return ReleaseChallenge(
        request=request,
        fields=release_fields(request),
        pseudonym_count=request.targets.count(),
        items=items,
        record_ids=record_ids,
        approval_proof=proof,
        approval_leaf=bytes(approval.entry),
        enrolment_proofs=_enrolment_proofs(
            sorted({item.enrolment_id for item in items}), tree_size=proof.tree_size
        ),
        escrow_key=key_row,
        public_key=public_key,
        custodian_index=key.index,
        responses_in=_valid_partials(request, epoch=key_row.epoch).count(),
    )


# --- custodians' answers -----------------------------------------------------------------


@dataclass(frozen=True)
class PartialOutcome:
    accepted: int
    threshold: int
    release_started: bool


def _valid_partials(request: DisclosureRequest, *, epoch: int) -> Any:
    return CustodianResponse.objects.filter(
        request=request, key_epoch=epoch, partial__isnull=False
    ).order_by("custodian_index")


def _custodian_actor(custodian: User) -> Actor:
    return Actor.for_staff(custodian.pk, str(Role.CUSTODIAN))


def _refuse_logged(
    *, request: DisclosureRequest, custodian: User, claimed_index: int | None, error: Exception,
    reason: str,
) -> Exception:
    """Record a refused upload in its own transaction, then hand the error back to raise."""
    with transaction.atomic():
        event_record(
            event_type="disclosure.partial_rejected",
            actor=_custodian_actor(custodian),
            object_ref=workflow.request_object_ref(request),
            details={
                "reference": request.reference,
                "reason": reason,
                "claimed_index": claimed_index,
            },
        )
    logger.warning(
        "partial from staff %s for %s refused: %s", custodian.pk, request.reference, reason
    )
    return error


def release_partial_submit(
    *, request_id: object, custodian: User, partial_data: dict[str, Any]
) -> PartialOutcome:
    """Verify one custodian's partial now, record it, and start the release at k."""
    request = request_get(request_id)
    key_row, public_key = _active_key()
    key = _custodian_key(request=request, custodian=custodian, epoch=key_row.epoch)

    def refuse(error: Exception, reason: str, claimed: int | None = None) -> Exception:
        return _refuse_logged(
            request=request, custodian=custodian, claimed_index=claimed, error=error, reason=reason
        )

    try:
        partial = PartialDecryption.from_dict(partial_data)
    except PartialFormatError as exc:
        raise refuse(PartialMalformed(str(exc)), "malformed") from exc
    if request.state == workflow.RELEASING:
        raise ReleaseUnderWay("enough partials are in; the release is being prepared")
    _check_open(request, now=timezone.now())
    if partial.epoch != key_row.epoch:
        raise refuse(
            PartialRejected("epoch", "the partial is for another escrow key epoch"),
            "epoch", partial.custodian_index,
        )
    if partial.custodian_index != key.index:
        raise refuse(
            PartialRejected("custodian_index", "the partial is not for your share index"),
            "custodian_index", partial.custodian_index,
        )
    if CustodianResponse.objects.filter(
        request=request, custodian_index=key.index, key_epoch=key_row.epoch
    ).exists():
        raise refuse(ResponseAlreadyGiven("your share has already answered this request"),
                     "duplicate", key.index)
    items = release_items(request, epoch=key_row.epoch)
    proof = _approval_proof(request, timeout=release_setting("RELEASE_CHALLENGE_LOG_WAIT_SECONDS"))
    try:
        partial_verify(
            partial=partial,
            public_key=public_key,
            points=[item.point for item in items],
            context=_context(request, proof),
        )
    except PartialProofError as exc:
        reason = "point_count" if exc.reason == "point count" else "proof"
        message = (
            "the partial answers a different set of points"
            if reason == "point_count"
            else "a DLEQ proof does not verify for this request and your share"
        )
        raise refuse(PartialRejected(reason, message), reason, key.index) from exc

    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state != workflow.APPROVED:
            raise ReleaseUnderWay("enough partials are in; the release is being prepared")
        event = event_record(
            event_type="disclosure.partial_accepted",
            actor=_custodian_actor(custodian),
            object_ref=workflow.request_object_ref(locked),
            details={
                "reference": locked.reference,
                "custodian_index": key.index,
                "epoch": key_row.epoch,
                "points": len(items),
            },
        )
        try:
            with transaction.atomic():
                CustodianResponse.objects.create(
                    request=locked,
                    custodian=custodian,
                    custodian_index=key.index,
                    key_epoch=key_row.epoch,
                    partial=partial.to_dict(),
                    audit_event=event,
                )
        except IntegrityError:
            # A concurrent double submit: the other one won.
            raise ResponseAlreadyGiven("your share has already answered this request") from None
        accepted = _valid_partials(locked, epoch=key_row.epoch).count()
        started = accepted >= key_row.threshold
        if started:
            workflow.begin_release(
                locked,
                actor=Actor.system("release"),
                details={"partials": accepted, "threshold": key_row.threshold},
            )
            _release_enqueue_on_commit(str(locked.pk))
    return PartialOutcome(accepted=accepted, threshold=key_row.threshold, release_started=started)


def release_refusal_submit(*, request_id: object, custodian: User, reason: str) -> None:
    """A custodian declines to take part; the reason is sealed in the log."""
    request = request_get(request_id)
    key_row, _ = _active_key()
    key = _custodian_key(request=request, custodian=custodian, epoch=key_row.epoch)
    if request.state not in RELEASE_STATES:
        raise ReleaseNotOpen(f"the request is {request.state}, not approved")
    with transaction.atomic():
        event = event_record(
            event_type="disclosure.custodian_refused",
            actor=_custodian_actor(custodian),
            object_ref=workflow.request_object_ref(request),
            details={"reference": request.reference, "custodian_index": key.index},
            sealed={"reason": reason},
        )
        try:
            with transaction.atomic():
                CustodianResponse.objects.create(
                    request=request,
                    custodian=custodian,
                    custodian_index=key.index,
                    key_epoch=key_row.epoch,
                    partial=None,
                    refusal_reason=reason,
                    audit_event=event,
                )
        except IntegrityError:
            raise ResponseAlreadyGiven("your share has already answered this request") from None


def _release_enqueue_on_commit(request_id: str) -> None:
    task_enqueue_on_commit(RELEASE_PERFORM_TASK, request_id)


# --- combination and the package ----------------------------------------------------------


@dataclass(frozen=True)
class ReleaseOutcome:
    release: Release
    download_secret: str | None  # shown once (emailed to the officer), when there is no key


def _abort(request: DisclosureRequest, *, reason: str, error: ReleaseAborted) -> ReleaseAborted:
    with transaction.atomic():
        event_record(
            event_type=ABORT_EVENT,
            actor=Actor.system("release"),
            object_ref=workflow.request_object_ref(request),
            details={"reference": request.reference, "reason": reason},
        )
    logger.error("release of %s aborted: %s", request.reference, reason)
    return error


def _expire(request: DisclosureRequest) -> None:
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state in workflow.OPEN_STATES:
            workflow.expire(
                locked, actor=Actor.system("release"),
                details={"reason": "authority expired before release"},
            )
        custodian_partials_scrub(request=locked)


def _partial_redacted(partial: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(canonical_json(partial)).hexdigest()
    return {
        "format": partial.get("format"),
        "custodian_index": partial.get("custodian_index"),
        "epoch": partial.get("epoch"),
        "redacted": True,
        "sha256": digest,
    }


def custodian_partials_scrub(*, request: DisclosureRequest) -> int:
    """Replace stored partials by a digest once they can no longer be needed.

    k partials and the ciphertexts beside them are a key to the released fields: left
    in the database, a dump would reveal every identity ever released. What remains
    shows who took part (index, epoch) and what they sent (SHA-256), nothing that opens.
    Call inside the transaction that releases, expires or otherwise ends the request.
    """
    scrubbed = 0
    for response in CustodianResponse.objects.select_for_update().filter(
        request=request, partial__isnull=False
    ):
        partial = response.partial
        if not isinstance(partial, dict) or partial.get("redacted"):
            continue
        response.partial = _partial_redacted(partial)
        response.save(update_fields=["partial"])
        scrubbed += 1
    return scrubbed


def custodian_partials_scrub_closed() -> int:
    """Scrub the partials of every request that can no longer be released (beat)."""
    scrubbed = 0
    requests = DisclosureRequest.objects.filter(
        custodian_responses__partial__has_key="shares"
    ).exclude(state__in=RELEASE_STATES).distinct()
    for request in requests:
        with transaction.atomic():
            scrubbed += custodian_partials_scrub(request=request)
    return scrubbed


def _field_value(name: str, raw: bytes) -> Any:
    text = raw.decode("utf-8")
    return json.loads(text) if name == "postal_address" else text


def _content_build(
    *, request: DisclosureRequest, items: Sequence[ReleaseItem], opened: Sequence[bytes],
    released_at: datetime,
) -> dict[str, Any]:
    fields = release_fields(request)
    values: dict[str, dict[str, Any]] = {}
    for item, raw in zip(items, opened, strict=True):
        values.setdefault(item.enrolment_id, {})[item.field_name] = _field_value(
            item.field_name, raw
        )
    subjects = []
    for target in _targets(request):
        enrolment: Enrolment = target.enrolment
        held = values.get(str(enrolment.id), {})
        evidence: dict[str, Any] = {
            "provider": enrolment.evidence_provider,
            "assurance_level": enrolment.evidence_assurance_level,
            "verified_at": enrolment.evidence_verified_at.isoformat(),
            "enrolled_at": enrolment.created_at.isoformat(),
        }
        if "verification_reference" in held:
            evidence["verification_reference"] = held["verification_reference"]
        subjects.append(
            {
                "pseudonym": target.pseudonym,
                "platform": enrolment.platform.name,
                "status": enrolment.status,
                "fields": {k: v for k, v in held.items() if k != "verification_reference"},
                "not_held": [f for f in fields if f not in held],
                "evidence": evidence,
            }
        )
    return {
        "request": {
            "id": str(request.pk),
            "reference": request.reference,
            "case_reference": request.case_reference,
            "agency": request.agency.name,
            "jurisdiction": request.agency.jurisdiction_id,
            "legal_basis": {"code": request.legal_basis.code, "name": request.legal_basis.name},
            "issuing_authority": request.issuing_authority,
            "fields": fields,
            "expires_at": request.expires_at.isoformat(),
            "is_emergency": request.is_emergency,
        },
        "subjects": subjects,
        "released_at": released_at.isoformat(),
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def package_render_html(document: dict[str, Any]) -> str:
    """The human-readable rendering of a package (autoescaped: values are untrusted)."""
    return render_to_string("legal_requests/release_package.html", {"package": document})


def release_perform(*, request_id: object) -> ReleaseOutcome | None:
    """Combine the partials, open the approved fields and store the sealed package.

    Safe to run twice: a second run finds the release done (or running) and returns.
    Raises ReleaseAborted (or its subclass ReleaseLogUnavailable) when nothing was
    released; the request then stays `releasing` (or moves to `expired`).
    """
    request = request_get(request_id)
    lock_key = f"release-perform:{request.pk}"
    if not cache.add(lock_key, "1", timeout=release_setting("RELEASE_LOCK_SECONDS")):
        logger.info("release of %s is already running", request.reference)
        return None
    try:
        return _release_perform_locked(request)
    finally:
        cache.delete(lock_key)


def _release_perform_locked(request: DisclosureRequest) -> ReleaseOutcome | None:
    existing = Release.objects.filter(request=request).first()
    if existing is not None or request.state != workflow.RELEASING:
        return None
    if request.expires_at <= timezone.now():
        _expire(request)
        raise _abort(request, reason="authority_expired",
                     error=ReleaseAborted("the legal authority expired before release"))
    agency_key = request.agency.package_public_key
    recipient_key: bytes | None = None
    if agency_key:
        # Checked before anything is opened: a package no one can seal must not be made.
        try:
            recipient_key = recipient_key_parse(agency_key)
        except PackageKeyError as exc:
            raise _abort(request, reason="agency_key_invalid", error=ReleaseAborted(
                "the agency's registered package key is not an X25519 public key"
            )) from exc
    key_row, public_key = _active_key()
    items = release_items(request, epoch=key_row.epoch)
    try:
        proof = _approval_proof(request, timeout=release_setting("RELEASE_LOG_WAIT_SECONDS"))
    except ApprovalNotCheckpointed as exc:
        raise _abort(request, reason="log_unavailable",
                     error=ReleaseLogUnavailable(str(exc))) from exc
    context = _context(request, proof)
    partials = [
        PartialDecryption.from_dict(response.partial)
        for response in _valid_partials(request, epoch=key_row.epoch)
    ]
    try:
        shared_points = partials_combine(
            partials=partials, public_key=public_key,
            points=[item.point for item in items], context=context,
        )
        opened = [
            field_open(sealed=item.sealed, context=item.field_context, shared_point=point,
                       public_key=public_key)
            for item, point in zip(items, shared_points, strict=True)
        ]
    except NotEnoughPartials as exc:
        raise _abort(request, reason="not_enough_partials",
                     error=ReleaseAborted("fewer than k partials verify")) from exc
    except FieldDecryptionError as exc:
        raise _abort(request, reason="field_did_not_open",
                     error=ReleaseAborted("a sealed field did not open")) from exc
    del shared_points  # xR_j opens these fields for anyone holding it; keep it no longer

    released_at = timezone.now()
    content = _content_build(request=request, items=items, opened=opened, released_at=released_at)
    del opened
    salt = content_salt_generate()
    content_bytes = canonical_json(content)
    commitment = content_commitment(
        context=str(request.pk).encode(), salt=salt, content=content_bytes
    )
    # Nothing is released that is not first in the log: the event commits to the
    # content (salted, so the public log learns nothing from it) before anything leaves.
    with transaction.atomic():
        release_event = event_record(
            event_type=RELEASE_EVENT,
            actor=Actor.system("release"),
            object_ref=workflow.request_object_ref(request),
            details={
                "reference": request.reference,
                "targets": len(content["subjects"]),
                "fields": content["request"]["fields"],
                "epoch": key_row.epoch,
                "custodians": sorted(p.custodian_index for p in partials)[: key_row.threshold],
                "approval_log_index": proof.log_index,
                "content_commitment": commitment.hex(),
            },
        )
    try:
        release_proof = log_wait(
            event_id=release_event.pk, timeout=release_setting("RELEASE_LOG_WAIT_SECONDS")
        )
    except _log_unavailable_error() as exc:
        del content, content_bytes
        raise _abort(
            request, reason="log_unavailable",
            error=ReleaseLogUnavailable(
                "the log could not checkpoint the release; nothing was released"
            ),
        ) from exc

    document = {
        "format": PACKAGE_FORMAT,
        "salt": _b64(salt),
        "content": content,
        "release": {
            "log_index": release_proof.log_index,
            "tree_size": release_proof.tree_size,
            "root_hash": _b64(release_proof.root_hash),
            "checkpoint": release_proof.checkpoint_text,
            "inclusion_proof": [_b64(p) for p in release_proof.inclusion_proof],
            "leaf": _b64(bytes(release_event.entry)),
            "leaf_hash": _b64(leaf_hash(bytes(release_event.entry))),
            "content_commitment": commitment.hex(),
        },
    }
    document["html"] = package_render_html(document)
    package_bytes = canonical_json(document)
    del content, content_bytes, document

    secret_text: str | None = None
    if recipient_key is not None:
        sealed = package_seal_to_recipient(
            recipient_public_key=recipient_key, plaintext=package_bytes
        )
        token_hash = None
        download_expires_at = None
    else:
        secret = download_secret_generate()
        sealed = package_seal_with_secret(
            secret=secret, plaintext=package_bytes, aad=str(request.pk).encode()
        )
        token_hash = download_secret_digest(secret)
        download_expires_at = timezone.now() + timedelta(
            seconds=release_setting("PACKAGE_DOWNLOAD_TTL_SECONDS")
        )
        secret_text = base64.urlsafe_b64encode(secret).decode("ascii").rstrip("=")
    package_sha256 = _sha256(package_bytes)
    del package_bytes

    blocked: str | None = None
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().select_related(
            "agency", "legal_basis"
        ).get(pk=request.pk)
        # Withdrawn, expired or moved on while we waited for the log: store nothing.
        if locked.state != workflow.RELEASING:
            blocked = f"state_{locked.state}"
        elif locked.expires_at <= timezone.now():
            blocked = "authority_expired"
        else:
            release = Release.objects.create(
                request=locked,
                release_event=release_event,
                log_index=release_proof.log_index,
                checkpoint=release_proof.checkpoint_text,
                package_sealed=sealed,
                package_sha256=package_sha256,
                download_token_hash=token_hash,
                download_expires_at=download_expires_at,
                prepared_at=timezone.now(),
            )
            workflow.mark_released(
                locked,
                actor=Actor.system("release"),
                details={
                    "targets": locked.targets.count(),
                    "release_log_index": release_proof.log_index,
                    "delivery": "agency_key" if recipient_key else "download_secret",
                },
            )
            from legal_requests.services.webhooks import webhooks_schedule_for_release

            webhooks_schedule_for_release(request=locked, released_at=released_at)
            custodian_partials_scrub(request=locked)
            if secret_text is not None:
                _email_download_secret_on_commit(locked, secret_text, download_expires_at)
    if blocked is not None:
        del sealed
        if blocked == "authority_expired":
            _expire(request)
        raise _abort(request, reason=blocked,
                     error=ReleaseAborted(f"nothing was released: {blocked}"))
    logger.info("released %s at log index %d", request.reference, release_proof.log_index)
    return ReleaseOutcome(release=release, download_secret=secret_text)


def _sha256(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def _email_download_secret_on_commit(
    request: DisclosureRequest, secret_text: str, expires_at: datetime | None
) -> None:
    # The secret alone is useless: the download also needs the agency's API key.
    base_url = release_setting("ESCROW_PUBLIC_URL")
    url = f"{base_url}/api/v1/disclosure-requests/{request.pk}/package"
    body = (
        f"The disclosure package for {request.reference} (your case {request.case_reference})"
        f" is ready.\n\nFetch it once, with your agency API key, before {expires_at}:\n\n"
        f"  GET {url}\n  Authorization: Bearer <agency API key>\n"
        f"  Download-Secret: {secret_text}\n\n"
        "The package can be downloaded only once, and is deleted after that or at expiry.\n"
    )
    recipient = request.officer_email
    transaction.on_commit(
        lambda: send_mail(
            subject=f"Disclosure package ready: {request.reference}",
            message=body,
            from_email=None,
            recipient_list=[recipient],
        )
    )


def releases_stalled(*, now: datetime | None = None) -> list[str]:
    """Requests stuck in `releasing` with no package, whose last attempt is old enough.

    Only transient failures are retried (the log could not checkpoint, a worker was
    lost). Partials that no longer verify or a field that does not open mean stored
    data was altered: retrying cannot help, and an operator must look.
    """
    moment = now or timezone.now()
    retry_after = timedelta(seconds=release_setting("RELEASE_RETRY_SECONDS"))
    stalled = []
    for request in DisclosureRequest.objects.filter(
        state=workflow.RELEASING, release__isnull=True, updated_at__lte=moment - retry_after
    ).only("pk", "updated_at"):
        last_abort = (
            AuditEvent.objects.filter(
                event_type=ABORT_EVENT, object_ref=workflow.request_object_ref(request)
            )
            .order_by("-occurred_at")
            .values_list("occurred_at", "entry")
            .first()
        )
        if last_abort is None:
            stalled.append(str(request.pk))
            continue
        occurred_at, entry = last_abort
        reason = json.loads(bytes(entry))["details"].get("reason")
        if reason in RETRYABLE_ABORTS and occurred_at <= moment - retry_after:
            stalled.append(str(request.pk))
    return stalled


# --- closing ------------------------------------------------------------------------------


def requests_close_completed() -> int:
    """Close released requests once nothing about them is still owed.

    Owed means: the package not yet fetched or lapsed (it is deleted either way), the
    platforms not yet told (a non-disclosure period may still run), or, for an
    emergency, the retrospective review by two further approvers not yet complete.
    Safe to run twice: each close is a locked compare-and-swap from `released`.
    """
    candidates = DisclosureRequest.objects.filter(
        state=DisclosureRequest.State.RELEASED,
        release__package_sealed__isnull=True,
        release__platforms_notified_at__isnull=False,
    ).values_list("pk", flat=True)
    closed = 0
    for request_id in list(candidates):
        with transaction.atomic():
            request = DisclosureRequest.objects.select_for_update().get(pk=request_id)
            if request.state != DisclosureRequest.State.RELEASED:
                continue
            if request.is_emergency and request.approvals.filter(
                stage=Approval.Stage.RETROSPECTIVE
            ).count() < RETROSPECTIVE_REVIEWS_REQUIRED:
                continue
            workflow.close(
                request,
                actor=Actor.system("release-closer"),
                details={"delivered": request.release.delivered_at is not None},
            )
            closed += 1
    return closed
