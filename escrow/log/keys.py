"""The log's identity from settings: origin, signing key, verifier key, witnesses."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from escrow.crypto.cosignature import CosignatureVerifier, cosigner_verifier_parse
from escrow.crypto.note import Signer, Verifier, signer_parse


class LogKeyInvalid(Exception):
    """The configured log signing key or a witness key cannot be parsed."""


@dataclass(frozen=True)
class LogIdentity:
    origin: str
    signer: Signer
    verifier: Verifier
    # C2SP tlog-cosignature (cosignature/v1) keys of the witnesses the log accepts.
    witnesses: tuple[CosignatureVerifier, ...]

    @property
    def verifier_key(self) -> str:
        return self.verifier.vkey


@lru_cache(maxsize=4)
def _identity(origin: str, signer_key: str, witness_keys: tuple[str, ...]) -> LogIdentity:
    try:
        signer = signer_parse(signer_key)
    except Exception as exc:  # any parse failure: never echo the secret itself
        raise LogKeyInvalid(f"ESCROW_LOG_SIGNING_KEY is not a signer key: {exc}") from None
    witnesses = []
    for vkey in witness_keys:
        try:
            witnesses.append(cosigner_verifier_parse(vkey))
        except Exception as exc:
            raise LogKeyInvalid(f"ESCROW_LOG_WITNESS_KEYS holds a bad key: {exc}") from None
    return LogIdentity(
        origin=origin, signer=signer, verifier=signer.verifier, witnesses=tuple(witnesses)
    )


def log_identity() -> LogIdentity:
    """The log's keys as configured now (parsed once per distinct configuration)."""
    return _identity(
        settings.ESCROW_LOG_ORIGIN,
        settings.ESCROW_LOG_SIGNING_KEY,
        tuple(settings.ESCROW_LOG_WITNESS_KEYS),
    )
