"""The disclosure workflow's domain exceptions and their RFC 9457 problem types."""

from __future__ import annotations

from django_fsm import ConcurrentTransition, TransitionNotAllowed

from escrow.api.problems import problem_register
from legal_requests import selectors
from legal_requests.services import holds, intake, review


def register_disclosure_problem_types() -> None:
    problem_register(selectors.DisclosureRequestNotFound, status=404, code="not_found",
                     title="Not found")
    problem_register(selectors.LegalHoldNotFound, status=404, code="not_found",
                     title="Not found")
    problem_register(selectors.UnknownPseudonyms, status=422, code="unknown_pseudonym",
                     title="Some pseudonyms resolve to no escrowed identity")
    # Intake refusals: each is logged and counted in the transparency report.
    problem_register(intake.IntakeRefused, status=422, code="refused_at_intake",
                     title="The request was refused at intake")
    problem_register(intake.JurisdictionNotEnabled, status=422, code="jurisdiction_not_enabled",
                     title="Requests from this jurisdiction are not accepted")
    problem_register(intake.LegalBasisUnavailable, status=422, code="legal_basis_unavailable",
                     title="The legal basis is not available to this agency")
    problem_register(intake.FieldsNotAllowed, status=422, code="fields_not_allowed",
                     title="The legal basis does not allow releasing some requested fields")
    problem_register(intake.DocumentExpired, status=422, code="document_expired",
                     title="The legal document has expired or its dates are inconsistent")
    problem_register(intake.EmergencyFactsRequired, status=422, code="emergency_facts_missing",
                     title="An emergency request must state the facts of the emergency")
    problem_register(intake.DocumentTooLarge, status=413, code="document_too_large",
                     title="The legal document is too large")
    problem_register(intake.UnknownTargets, status=422, code="unknown_pseudonym",
                     title="Some pseudonyms resolve to no escrowed identity")
    problem_register(intake.AgencyInactive, status=403, code="agency_inactive",
                     title="The agency is not an active, verified account")
    # Review and decisions.
    problem_register(review.RequestStateConflict, status=409, code="state_conflict",
                     title="The request is not in a state that allows this")
    problem_register(TransitionNotAllowed, status=409, code="state_conflict",
                     title="The request is not in a state that allows this")
    problem_register(ConcurrentTransition, status=409, code="state_conflict",
                     title="The request changed meanwhile; reload and retry")
    problem_register(review.RequestExpired, status=409, code="request_expired",
                     title="The legal authority has expired")
    problem_register(review.RoleRequired, status=403, code="permission_denied",
                     title="You do not have permission to perform this action.")
    problem_register(review.SeparationOfDuties, status=403, code="separation_of_duties",
                     title="Separation of duties forbids you this action on this request")
    problem_register(review.AlreadyDecided, status=409, code="already_decided",
                     title="You have already recorded a decision on this request")
    problem_register(review.CallbackVerificationRequired, status=409,
                     code="callback_verification_required",
                     title="An emergency request needs a recorded call-back verification first")
    problem_register(review.NotAnEmergency, status=409, code="not_an_emergency",
                     title="Only emergency requests have this step")
    # Legal holds.
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
