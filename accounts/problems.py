"""The accounts' domain exceptions and their RFC 9457 problem types."""

from __future__ import annotations

from accounts.services import CredentialRevoked, SignInFailed
from escrow.api.problems import problem_register


def register() -> None:
    problem_register(SignInFailed, status=401, code="sign_in_failed",
                     title="Username, password or one-time code is wrong")
    problem_register(CredentialRevoked, status=409, code="credential_revoked",
                     title="The credential is revoked")
