"""HKDF-SHA256 (RFC 5869) with explicit, length-prefixed context labels."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DOMAIN_PREFIX = b"identity-escrow/v1/"


def hkdf_sha256(*, ikm: bytes, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 HKDF with SHA-256; a thin wrapper so known-answer tests cover our call."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def context_info(label: str, *parts: bytes | str) -> bytes:
    """An unambiguous HKDF `info`: domain, label and each part length-prefixed.

    Length prefixes stop two different part lists from encoding to the same bytes
    (("ab", "c") versus ("a", "bc")), which would let one context stand in for another.
    """
    out = bytearray(DOMAIN_PREFIX)
    out += label.encode("ascii")
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else part
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)
