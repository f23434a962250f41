"""A custodian's share file: one Shamir share under the custodian's passphrase.

The file is JSON so a custodian (or an auditor) can read everything but the share:
who it is for, the epoch and index, the full public key (so the custodian tool can run
the Feldman check offline, trusting nothing the server says), the Argon2id parameters
and the AES-256-GCM ciphertext. The AAD binds the format, label, epoch, index and the
public key's fingerprint, so a share cannot be re-labelled, moved to another index or
paired with another ceremony's key without failing authentication.

The service never stores these files; see docs/crypto.md.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from escrow.crypto import group
from escrow.crypto.encoding import b64decode, b64encode
from escrow.crypto.errors import CryptoError
from escrow.crypto.kdf import context_info
from escrow.crypto.threshold import (
    CustodianShare,
    EscrowPublicKey,
    InvalidPublicKey,
    InvalidShare,
    share_verify,
)

SHARE_FILE_FORMAT = "identity-escrow-share/1"
KDF_ALGORITHM = "argon2id"
CIPHER_ALGORITHM = "aes-256-gcm"
SALT_BYTES = 16  # RFC 9106 s3.1: 128 bits is enough for password hashing
NONCE_BYTES = 12
TAG_BYTES = 16
PASSPHRASE_MIN_CHARS = 12
# zxcvbn's score (0-4); 3 is its "safely unguessable" band (about 10^8 guesses or more),
# the level it advises behind a slow hash, and Argon2id is one.
PASSPHRASE_MIN_SCORE = 3
# An attacker holding a share file tries the words of its subject first: these, and the
# custodian label the file carries in clear.
PASSPHRASE_CONTEXT_WORDS = (
    "escrow", "identity", "custodian", "share", "passphrase", "ceremony", "key", "release",
)
LABEL_MAX_CHARS = 200
# A public key with 255 custodians is about 35 KB of JSON; anything far bigger is hostile.
MAX_FILE_BYTES = 256 * 1024

# Upper bounds stop a crafted file from making the custodian's laptop allocate
# terabytes or spin for hours before the passphrase can even be checked.
ARGON2_MAX_MEMORY_KIB = 4 * 1024 * 1024
ARGON2_MAX_ITERATIONS = 64
ARGON2_MAX_LANES = 64


class ShareFileFormatError(CryptoError):
    """A share file (or what was given to write one) is malformed or inconsistent."""


class WrongPassphrase(CryptoError):
    """The share did not decrypt: a wrong passphrase, or an altered file.

    AES-GCM cannot tell the two apart, and neither should the message.
    """


class WeakPassphrase(CryptoError):
    """The passphrase is too short or too easy to guess to protect a key share."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost: memory in KiB, passes, and parallel lanes."""

    memory_kib: int
    iterations: int
    lanes: int

    def __post_init__(self) -> None:
        if not (_is_int(self.memory_kib) and _is_int(self.iterations) and _is_int(self.lanes)):
            raise ShareFileFormatError("Argon2 parameters must be integers")
        if not 1 <= self.lanes <= ARGON2_MAX_LANES:
            raise ShareFileFormatError("Argon2 lanes out of range")
        if not 1 <= self.iterations <= ARGON2_MAX_ITERATIONS:
            raise ShareFileFormatError("Argon2 iterations out of range")
        # RFC 9106 s3.1: memory must be at least 8 KiB per lane.
        if not 8 * self.lanes <= self.memory_kib <= ARGON2_MAX_MEMORY_KIB:
            raise ShareFileFormatError("Argon2 memory out of range")


# RFC 9106 s4, second recommended option: 64 MiB, 3 passes, 4 lanes.
ARGON2_DEFAULT = Argon2Params(memory_kib=64 * 1024, iterations=3, lanes=4)


def _normalise_passphrase(passphrase: str) -> bytes:
    # NFC so that the same passphrase typed on two keyboards (precomposed or combining
    # accents) derives the same key.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive_key(*, passphrase: str, salt: bytes, params: Argon2Params) -> bytes:
    return Argon2id(
        salt=salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    ).derive(_normalise_passphrase(passphrase))


def _aad(*, label: str, epoch: int, index: int, fingerprint: bytes) -> bytes:
    return context_info(
        "share-file",
        SHARE_FILE_FORMAT,
        label,
        epoch.to_bytes(4, "big"),
        index.to_bytes(4, "big"),
        fingerprint,
    )


def _check_label(label: object) -> str:
    if (
        not isinstance(label, str)
        or not 1 <= len(label) <= LABEL_MAX_CHARS
        or not label.isprintable()
    ):
        raise ShareFileFormatError("custodian label must be 1-200 printable characters")
    return label


def passphrase_check(
    passphrase: str, *, user_inputs: Sequence[str] = (),
    context_words: Sequence[str] = PASSPHRASE_CONTEXT_WORDS,
) -> None:
    """Refuse a passphrase that is short or guessable, saying why and never echoing it.

    zxcvbn estimates the guesses an attacker needs, penalising `user_inputs` (the
    custodian's name) and `context_words`; its feedback is generic advice and does not
    quote the passphrase.
    """
    if not isinstance(passphrase, str):
        raise WeakPassphrase("the passphrase must be text")
    reasons = []
    if len(passphrase) < PASSPHRASE_MIN_CHARS:
        reasons.append(f"it has fewer than {PASSPHRASE_MIN_CHARS} characters")
    if passphrase:
        # Imported here: loading its word lists takes ~0.15 s, which every process that
        # only opens share files (the tool, the server) would otherwise pay.
        from zxcvbn import zxcvbn

        estimate = zxcvbn(passphrase, user_inputs=[*context_words, *user_inputs])
        if estimate["score"] < PASSPHRASE_MIN_SCORE:
            feedback = estimate["feedback"]
            advice = " ".join(filter(None, [feedback["warning"], *feedback["suggestions"]]))
            reasons.append(
                f"it is too easy to guess (strength {estimate['score']} of 4, "
                f"{PASSPHRASE_MIN_SCORE} of 4 needed)" + (f": {advice}" if advice else "")
            )
    if reasons:
        raise WeakPassphrase("passphrase refused: " + "; ".join(reasons))


def _label_words(label: str) -> list[str]:
    return [label, *(word for word in re.split(r"\W+", label) if len(word) >= 3)]


def share_file_seal(
    *,
    share: CustodianShare,
    public_key: EscrowPublicKey,
    custodian_label: str,
    passphrase: str,
    kdf_params: Argon2Params = ARGON2_DEFAULT,
) -> bytes:
    """The JSON bytes of a share file for one custodian."""
    _check_label(custodian_label)
    passphrase_check(passphrase, user_inputs=_label_words(custodian_label))
    # Never hand a custodian a file that will fail their own check later.
    share_verify(share=share, public_key=public_key)
    fingerprint = public_key.fingerprint()
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    key = _derive_key(passphrase=passphrase, salt=salt, params=kdf_params)
    aad = _aad(label=custodian_label, epoch=share.epoch, index=share.index, fingerprint=fingerprint)
    ciphertext = AESGCM(key).encrypt(nonce, share.scalar, aad)
    document = {
        "format": SHARE_FILE_FORMAT,
        "custodian_label": custodian_label,
        "epoch": share.epoch,
        "index": share.index,
        "public_key": public_key.to_dict(),
        "public_key_fingerprint": fingerprint.hex(),
        "kdf": {
            "algorithm": KDF_ALGORITHM,
            "memory_kib": kdf_params.memory_kib,
            "iterations": kdf_params.iterations,
            "lanes": kdf_params.lanes,
            "salt": b64encode(salt),
        },
        "cipher": {
            "algorithm": CIPHER_ALGORITHM,
            "nonce": b64encode(nonce),
            "ciphertext": b64encode(ciphertext),
        },
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers that pick different duplicates would read two different files.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ShareFileFormatError("duplicate key in share file")
        result[key] = value
    return result


def _object(value: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise ShareFileFormatError(f"unexpected fields in {what}")
    return value


def _b64_field(value: object, length: int | None, what: str) -> bytes:
    if not isinstance(value, str):
        raise ShareFileFormatError(f"{what} must be base64 text")
    raw = b64decode(value)
    if raw is None:
        raise ShareFileFormatError(f"{what} is not valid base64")
    if length is not None and len(raw) != length:
        raise ShareFileFormatError(f"{what} has the wrong length")
    return raw


@dataclass(frozen=True)
class ShareFileHeader:
    """What a share file says of itself in the clear: checked for consistency, but
    authenticated only when the passphrase opens the file (share_file_open)."""

    label: str
    epoch: int
    index: int
    public_key: EscrowPublicKey
    fingerprint: bytes
    document: dict[str, Any]


def share_file_header(data: bytes) -> ShareFileHeader:
    """The file's format, label, epoch, index and public key, without the passphrase."""
    if not isinstance(data, bytes) or len(data) > MAX_FILE_BYTES:
        raise ShareFileFormatError("share file is too large")
    try:
        document = json.loads(data, object_pairs_hook=_reject_duplicate_keys)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ShareFileFormatError("share file is not JSON") from exc
    document = _object(
        document,
        {
            "format",
            "custodian_label",
            "epoch",
            "index",
            "public_key",
            "public_key_fingerprint",
            "kdf",
            "cipher",
        },
        "share file",
    )
    if document["format"] != SHARE_FILE_FORMAT:
        raise ShareFileFormatError("unknown share file format")
    label = _check_label(document["custodian_label"])
    epoch, index = document["epoch"], document["index"]
    if not _is_int(epoch) or not _is_int(index):
        raise ShareFileFormatError("epoch and index must be integers")
    try:
        public_key = EscrowPublicKey.from_dict(document["public_key"])
    except InvalidPublicKey as exc:
        raise ShareFileFormatError("share file carries an invalid public key") from exc
    if epoch != public_key.epoch or not 1 <= index <= public_key.custodians:
        raise ShareFileFormatError("epoch or index does not fit the public key")
    fingerprint = public_key.fingerprint()
    if document["public_key_fingerprint"] != fingerprint.hex():
        raise ShareFileFormatError("public key fingerprint does not match the public key")
    return ShareFileHeader(label=label, epoch=epoch, index=index, public_key=public_key,
                           fingerprint=fingerprint, document=document)


def share_file_open(*, data: bytes, passphrase: str) -> tuple[CustodianShare, EscrowPublicKey]:
    """Decrypt a share file and run the Feldman check against the key it carries."""
    header = share_file_header(data)
    document, label, epoch, index = header.document, header.label, header.epoch, header.index
    public_key, fingerprint = header.public_key, header.fingerprint

    kdf = _object(
        document["kdf"], {"algorithm", "memory_kib", "iterations", "lanes", "salt"}, "kdf"
    )
    if kdf["algorithm"] != KDF_ALGORITHM:
        raise ShareFileFormatError("unsupported key derivation")
    params = Argon2Params(
        memory_kib=kdf["memory_kib"], iterations=kdf["iterations"], lanes=kdf["lanes"]
    )
    salt = _b64_field(kdf["salt"], SALT_BYTES, "salt")
    cipher = _object(document["cipher"], {"algorithm", "nonce", "ciphertext"}, "cipher")
    if cipher["algorithm"] != CIPHER_ALGORITHM:
        raise ShareFileFormatError("unsupported cipher")
    nonce = _b64_field(cipher["nonce"], NONCE_BYTES, "nonce")
    ciphertext = _b64_field(cipher["ciphertext"], group.SCALAR_BYTES + TAG_BYTES, "ciphertext")

    key = _derive_key(passphrase=passphrase, salt=salt, params=params)
    aad = _aad(label=label, epoch=epoch, index=index, fingerprint=fingerprint)
    try:
        scalar = AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise WrongPassphrase("wrong passphrase, or the share file was altered") from exc
    try:
        share = CustodianShare(epoch=epoch, index=index, scalar=scalar)
    except InvalidShare as exc:
        raise ShareFileFormatError("decrypted share is not a valid scalar") from exc
    share_verify(share=share, public_key=public_key)
    return share, public_key


def share_file_reseal(
    *, data: bytes, passphrase: str, new_passphrase: str,
    kdf_params: Argon2Params = ARGON2_DEFAULT,
) -> bytes:
    """The same share, label and public key under a new passphrase (fresh salt and nonce)."""
    share, public_key = share_file_open(data=data, passphrase=passphrase)
    label = json.loads(data)["custodian_label"]  # checked by share_file_open
    return share_file_seal(
        share=share, public_key=public_key, custodian_label=label,
        passphrase=new_passphrase, kdf_params=kdf_params,
    )
