"""Base64 as every wire format here spells it: standard alphabet, padded (RFC 4648 s4).

One helper for the whole project, so that no module accepts a sloppier spelling than
another: decoding refuses characters outside the alphabet, and `b64decode_canonical`
also refuses the non-canonical spellings (non-zero padding bits) that would let two
texts name the same bytes, which matters wherever a text is signed or compared.
"""

from __future__ import annotations

import base64
import binascii


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def b64decode(text: str) -> bytes | None:
    """The bytes of strict base64 `text`, or None where it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def b64decode_canonical(text: str) -> bytes | None:
    """As `b64decode`, but only the one canonical spelling of the bytes is accepted."""
    raw = b64decode(text)
    return raw if raw is not None and b64encode(raw) == text else None
