"""The vault's domain exceptions and their RFC 9457 problem types."""

from __future__ import annotations

from escrow.api.problems import problem_register
from escrow.crypto.pseudonym import InvalidPseudonym
from escrow.vault.selectors import (
    EnrolmentNotFound,
    EscrowKeyUnattested,
    LegalHoldNotFound,
    NoActiveEscrowKey,
    UnknownPseudonyms,
)
from escrow.vault.services import holds
from escrow.vault.services.enrolment import (
    EnrolmentStateConflict,
    EnrolmentUnderLegalHold,
    IdempotencyKeyReused,
)


def register() -> None:
    problem_register(InvalidPseudonym, status=400, code="invalid_pseudonym",
                     title="The pseudonym is malformed or its check character is wrong")
    problem_register(EnrolmentNotFound, status=404, code="not_found", title="Not found")
    problem_register(NoActiveEscrowKey, status=503, code="escrow_key_missing",
                     title="The service has no active escrow key")
    problem_register(EscrowKeyUnattested, status=503, code="escrow_key_unattested",
                     title="The active escrow key is not the one the audit log names")
    problem_register(IdempotencyKeyReused, status=409, code="idempotency_key_reused",
                     title="The Idempotency-Key was used with a different request")
    problem_register(EnrolmentStateConflict, status=409, code="state_conflict",
                     title="The enrolment is not in a state that allows this")
    problem_register(EnrolmentUnderLegalHold, status=409, code="legal_hold",
                     title="A legal hold prevents erasure")
    problem_register(UnknownPseudonyms, status=422, code="unknown_pseudonym",
                     title="Some pseudonyms resolve to no escrowed identity")
    # Legal holds.
    problem_register(LegalHoldNotFound, status=404, code="not_found", title="Not found")
    problem_register(holds.HoldJurisdictionNotEnabled, status=422,
                     code="jurisdiction_not_enabled",
                     title="Requests from this jurisdiction are not accepted")
    problem_register(holds.HoldAlreadyActive, status=409, code="legal_hold_exists",
                     title="An active hold of yours already covers some pseudonyms")
    problem_register(holds.HoldNotActive, status=409, code="legal_hold_not_active",
                     title="The hold has lapsed or was lifted")
    problem_register(holds.HoldAlreadyExtended, status=409, code="legal_hold_already_extended",
                     title="A hold can be extended once only")
    problem_register(holds.HoldRoleRequired, status=403, code="permission_denied",
                     title="You do not have permission to perform this action.")
