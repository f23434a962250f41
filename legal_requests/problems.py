"""The disclosure workflow's and the release's domain exceptions, as RFC 9457 problem types."""

from __future__ import annotations

from django_fsm import ConcurrentTransition, TransitionNotAllowed

from escrow.api.problems import problem_register
from legal_requests import selectors
from legal_requests.services import intake, review
from legal_requests.services.release import (
    challenge,
    delivery,
    items,
    partials,
    preconditions,
    reissue,
)


def register() -> None:
    problem_register(selectors.DisclosureRequestNotFound, status=404, code="not_found",
                     title="Not found")
    _register_intake()
    _register_review()
    _register_release()


def _register_intake() -> None:
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
    problem_register(intake.DocumentTypeMismatch, status=422, code="document_type_mismatch",
                     title="The legal document is not of the type it is declared as")
    problem_register(intake.UnknownTargets, status=422, code="unknown_pseudonym",
                     title="Some pseudonyms resolve to no escrowed identity")
    problem_register(intake.AgencyInactive, status=403, code="agency_inactive",
                     title="The agency is not an active, verified account")


def _register_review() -> None:
    problem_register(review.RequestStateConflict, status=409, code="state_conflict",
                     title="The request is not in a state that allows this")
    problem_register(TransitionNotAllowed, status=409, code="state_conflict",
                     title="The request is not in a state that allows this")
    problem_register(ConcurrentTransition, status=409, code="state_conflict",
                     title="The request changed meanwhile; reload and retry")
    # Also what the release answers once the authority has lapsed.
    problem_register(review.RequestExpired, status=409, code="request_expired",
                     title="The legal authority has expired")
    problem_register(review.RoleRequired, status=403, code="permission_denied",
                     title="You do not have permission to perform this action.")
    problem_register(review.ReviewSeparationOfDuties, status=403, code="separation_of_duties",
                     title="Separation of duties forbids you this action on this request")
    problem_register(review.AlreadyDecided, status=409, code="already_decided",
                     title="You have already recorded a decision on this request")
    problem_register(review.CallbackVerificationRequired, status=409,
                     code="callback_verification_required",
                     title="An emergency request needs a recorded call-back verification first")
    problem_register(review.NotAnEmergency, status=409, code="not_an_emergency",
                     title="Only emergency requests have this step")


def _register_release() -> None:
    problem_register(preconditions.NotAShareHolder, status=403, code="not_a_share_holder",
                     title="Only holders of a share of an epoch the request needs take part")
    problem_register(preconditions.ReleaseSeparationOfDuties, status=403,
                     code="separation_of_duties",
                     title="Whoever filed, reviewed or decided a request cannot also release it")
    problem_register(preconditions.ReleaseNotOpen, status=409, code="release_not_open",
                     title="The request is not open for release")
    problem_register(partials.ReleaseUnderWay, status=409, code="release_under_way",
                     title="Enough partials are in; the release is being prepared")
    problem_register(preconditions.ApprovalNotCheckpointed, status=503,
                     code="approval_not_checkpointed",
                     title="The approval is not yet in a signed log checkpoint")
    problem_register(items.ReleaseEpochMissing, status=409, code="epoch_missing",
                     title="A target was sealed under an escrow key epoch that is not registered")
    problem_register(challenge.EpochNotNeeded, status=404, code="epoch_not_needed",
                     title="The request needs no answer under this escrow key epoch")
    problem_register(partials.PartialMalformed, status=400, code="partial_malformed",
                     title="The partial decryption is malformed")
    problem_register(partials.PartialRejected, status=422, code="partial_rejected",
                     title="The partial decryption failed verification")
    problem_register(partials.ResponseAlreadyGiven, status=409, code="already_answered",
                     title="Your share has already answered this request")
    problem_register(delivery.PackageNotAvailable, status=404, code="package_not_available",
                     title="No package is waiting: not released, or already fetched")
    problem_register(delivery.PackageDownloadExpired, status=410, code="package_expired",
                     title="The single-use download has expired")
    problem_register(delivery.PackageSecretInvalid, status=403, code="download_secret_invalid",
                     title="The download secret is missing or wrong")
    problem_register(reissue.ReissueRoleRequired, status=403, code="permission_denied",
                     title="You do not have permission to perform this action.")
    problem_register(reissue.ReissueSeparationOfDuties, status=403, code="separation_of_duties",
                     title="A custodian of this release cannot also reissue its secret")
    problem_register(reissue.DownloadSecretNotReissuable, status=409,
                     code="download_secret_not_reissuable",
                     title="The package is sealed to the agency's key; there is no secret")
