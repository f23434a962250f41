"""The release's domain exceptions and their RFC 9457 problem types."""

from __future__ import annotations

from escrow.api.problems import problem_register
from legal_requests.services import package, release


def register_release_problem_types() -> None:
    r = release
    problem_register(r.ReleaseRequestNotFound, status=404, code="not_found", title="Not found")
    problem_register(r.NotAShareHolder, status=403, code="not_a_share_holder",
                     title="Only holders of a share of the active escrow key take part")
    problem_register(r.SeparationOfDuties, status=403, code="separation_of_duties",
                     title="Whoever filed, reviewed or decided a request cannot also release it")
    problem_register(r.ReleaseNotOpen, status=409, code="release_not_open",
                     title="The request is not open for release")
    problem_register(r.ReleaseUnderWay, status=409, code="release_under_way",
                     title="Enough partials are in; the release is being prepared")
    problem_register(r.RequestExpired, status=409, code="request_expired",
                     title="The legal authority has expired")
    problem_register(r.ApprovalNotCheckpointed, status=503, code="approval_not_checkpointed",
                     title="The approval is not yet in a signed log checkpoint")
    problem_register(r.ReleaseEpochMismatch, status=409, code="epoch_mismatch",
                     title="A target was sealed under another escrow key epoch")
    problem_register(r.PartialMalformed, status=400, code="partial_malformed",
                     title="The partial decryption is malformed")
    problem_register(r.PartialRejected, status=422, code="partial_rejected",
                     title="The partial decryption failed verification")
    problem_register(r.ResponseAlreadyGiven, status=409, code="already_answered",
                     title="Your share has already answered this request")
    problem_register(package.PackageNotAvailable, status=404, code="package_not_available",
                     title="No package is waiting: not released, or already fetched")
    problem_register(package.PackageDownloadExpired, status=410, code="package_expired",
                     title="The single-use download has expired")
    problem_register(package.PackageSecretInvalid, status=403, code="download_secret_invalid",
                     title="The download secret is missing or wrong")
