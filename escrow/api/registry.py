"""Every domain exception the API can raise, mapped to its problem type in one place."""

from __future__ import annotations

from accounts.services import CredentialRevoked, SignInFailed
from escrow.api.problems import problem_register
from escrow.crypto.pseudonym import InvalidPseudonym
from escrow.log.export import ExportInvalid
from escrow.log.selectors import LogEventNotFound, LogEventNotSequenced, LogTreeSizeInvalid
from escrow.log.services import (
    CosignatureRejected,
    CosignedCheckpointUnknown,
    LogUnavailable,
    NoSealedDetail,
    SealedDetailUnverifiable,
)
from escrow.selectors import EnrolmentNotFound, NoActiveEscrowKey
from escrow.services.enrolment import (
    EnrolmentStateConflict,
    EnrolmentUnderLegalHold,
    IdempotencyKeyReused,
)
from legal_requests.api.problems import register_disclosure_problem_types
from legal_requests.api.release_problems import register_release_problem_types


def register_problem_types() -> None:
    problem_register(InvalidPseudonym, status=400, code="invalid_pseudonym",
                     title="The pseudonym is malformed or its check character is wrong")
    problem_register(EnrolmentNotFound, status=404, code="not_found", title="Not found")
    problem_register(NoActiveEscrowKey, status=503, code="escrow_key_missing",
                     title="The service has no active escrow key")
    problem_register(IdempotencyKeyReused, status=409, code="idempotency_key_reused",
                     title="The Idempotency-Key was used with a different request")
    problem_register(EnrolmentStateConflict, status=409, code="state_conflict",
                     title="The enrolment is not in a state that allows this")
    problem_register(EnrolmentUnderLegalHold, status=409, code="legal_hold",
                     title="A legal hold prevents erasure")
    problem_register(SignInFailed, status=401, code="sign_in_failed",
                     title="Username, password or one-time code is wrong")
    problem_register(CredentialRevoked, status=409, code="credential_revoked",
                     title="The credential is revoked")
    _register_log_problems()
    register_disclosure_problem_types()
    register_release_problem_types()


def _register_log_problems() -> None:
    problem_register(LogEventNotFound, status=404, code="not_found", title="Not found")
    problem_register(LogEventNotSequenced, status=409, code="not_sequenced",
                     title="The event is not yet under a signed checkpoint; retry shortly")
    problem_register(LogTreeSizeInvalid, status=400, code="invalid_tree_size",
                     title="No signed tree of that size, or sizes in the wrong order")
    problem_register(ExportInvalid, status=404, code="no_checkpoint",
                     title="No signed checkpoint of that size to export")
    problem_register(NoSealedDetail, status=404, code="no_sealed_detail",
                     title="The event has no sealed detail")
    problem_register(SealedDetailUnverifiable, status=409, code="sealed_detail_mismatch",
                     title="The sealed detail does not match the logged commitment")
    problem_register(LogUnavailable, status=503, code="log_unavailable",
                     title="The audit log cannot vouch for the event; nothing was done")
    problem_register(CosignatureRejected, status=422, code="cosignature_rejected",
                     title="Not a checkpoint of this log cosigned by a configured witness")
    problem_register(CosignedCheckpointUnknown, status=404, code="checkpoint_unknown",
                     title="This log signed no such checkpoint")
