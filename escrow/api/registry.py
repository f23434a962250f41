"""Every domain exception the API can raise, mapped to its problem type in one place."""

from __future__ import annotations

from accounts.services import CredentialRevoked, SignInFailed
from escrow.api.problems import problem_register
from escrow.crypto.pseudonym import InvalidPseudonym
from escrow.selectors import EnrolmentNotFound, NoActiveEscrowKey
from escrow.services.enrolment import (
    EnrolmentStateConflict,
    EnrolmentUnderLegalHold,
    IdempotencyKeyReused,
)
from legal_requests.api.problems import register_disclosure_problem_types


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
    register_disclosure_problem_types()
