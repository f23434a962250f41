"""C2SP signed-note with Ed25519: keys, signing and opening notes.

A note is UTF-8 text ending in a newline, a blank line, then one signature line
per key: an em dash (U+2014), a space, the key name, a space, and
base64(key ID || signature). Keys travel as strings:

* verifier key: ``<name>+<hex key ID>+base64(0x01 || 32-byte public key)``
* signer key:   ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || 32-byte seed)``

where the key ID is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key). These are the formats of Go's
golang.org/x/mod/sumdb/note, so its tools check our checkpoints unchanged.

Opening follows the spec and Go's `note.Open`: signatures from unknown keys are
kept aside as unverified, a known key's bad signature rejects the whole note,
and a note with no good signature from a known key is rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from escrow.crypto.encoding import b64decode_canonical, b64encode
from escrow.crypto.errors import CryptoError

# C2SP signed-note: signature type identifier byte for Ed25519 signatures.
SIGNATURE_TYPE_ED25519 = 0x01
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
# C2SP signed-note: verifiers "MUST accept at least up to 16 signatures"; Go's
# note.Open stops at 100, and so do we.
MAX_SIGNATURES = 100

_SIGNATURE_PREFIX = "\u2014 "  # C2SP signed-note: em dash, space.
_SIGNER_KEY_PREFIX = "PRIVATE+KEY+"


class NoteError(CryptoError):
    """A signed note or a note key could not be used."""


class NoteKeyError(NoteError):
    """A signer or verifier key string is malformed or inconsistent."""


class AmbiguousVerifierError(NoteKeyError):
    """Two configured verifiers share a key name and key ID."""


class NoteFormatError(NoteError):
    """A note or its text does not follow the signed-note format."""


class NoteSignatureError(NoteError):
    """A signature by a known key does not verify: the note is rejected whole."""


class UnknownVerifierError(NoteError):
    """No signature on the note is a good one from a known key.

    `note` is the note as parsed, every signature unverified, for diagnostics
    only: its text must not be trusted.
    """

    def __init__(self, message: str, *, note: Note) -> None:
        super().__init__(message)
        self.note = note


def key_name_is_valid(name: str) -> bool:
    """C2SP signed-note: key names are non-empty, with no Unicode spaces or plus.

    Control characters are refused too: no note may contain them.
    """
    if not isinstance(name, str) or not name or "+" in name:
        return False
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def key_id(*, name: str, key: bytes) -> int:
    """C2SP signed-note: SHA-256(key name || 0x0A || type byte || public key)[:4],
    as a big-endian uint32; `key` is the type byte followed by the public key."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()
    return int.from_bytes(digest[:4], "big")


def _parse_key_id(text: str) -> int | None:
    # C2SP signed-note: "fixed length lowercase Base 16".
    if len(text) != 8 or any(ch not in "0123456789abcdef" for ch in text):
        return None
    return int(text, 16)


class NoteVerifier(Protocol):
    """What `note_open` needs from a verifier; `Verifier` is the Ed25519 one."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


class NoteSigner(Protocol):
    """What `note_sign` needs from a signer; `Signer` is the Ed25519 one."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, message: bytes) -> bytes: ...


def ed25519_verifier_init(verifier: Any, *, signature_type: int) -> None:
    """Validate a frozen verifier's name and public key; set its key_id and parsed key.

    Shared by note verifiers and witness cosignature verifiers, which differ only in
    the signature type byte that the key ID hashes (C2SP signed-note).
    """
    if not key_name_is_valid(verifier.name):
        raise NoteKeyError(f"invalid key name {verifier.name!r}")
    public_key = verifier.public_key
    if not isinstance(public_key, bytes) or len(public_key) != ED25519_KEY_SIZE:
        raise NoteKeyError("an Ed25519 public key is 32 bytes")
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise NoteKeyError("not an Ed25519 public key") from None
    typed = bytes([signature_type]) + public_key
    object.__setattr__(verifier, "key_id", key_id(name=verifier.name, key=typed))
    object.__setattr__(verifier, "_key", key)


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 note verifier: a key name and a 32-byte public key."""

    name: str
    public_key: bytes
    key_id: int = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ed25519_verifier_init(self, signature_type=SIGNATURE_TYPE_ED25519)

    @property
    def vkey(self) -> str:
        """The verifier key string, safe to publish."""
        return verifier_key_encode(name=self.name, public_key=self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """An Ed25519 note signer. Holds the private key: never log or serialise it."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)
    public_key: bytes = field(init=False)
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        if not key_name_is_valid(self.name):
            raise NoteKeyError(f"invalid key name {self.name!r}")
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise NoteKeyError("a note signer needs an Ed25519 private key")
        public_key = self.private_key.public_key().public_bytes_raw()
        typed = bytes([SIGNATURE_TYPE_ED25519]) + public_key
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "key_id", key_id(name=self.name, key=typed))

    @property
    def verifier(self) -> Verifier:
        return Verifier(name=self.name, public_key=self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def verifier_key_encode(*, name: str, public_key: bytes) -> str:
    """``name+keyid+base64(0x01 || public key)`` for an Ed25519 public key."""
    if not key_name_is_valid(name):
        raise NoteKeyError(f"invalid key name {name!r}")
    if len(public_key) != ED25519_KEY_SIZE:
        raise NoteKeyError("an Ed25519 public key is 32 bytes")
    typed = bytes([SIGNATURE_TYPE_ED25519]) + public_key
    return f"{name}+{key_id(name=name, key=typed):08x}+{b64encode(typed)}"


def signer_key_generate(*, name: str) -> tuple[str, str]:
    """A fresh Ed25519 key for `name`: (signer key, verifier key) strings.

    The signer key is a secret; only the verifier key may be published.
    """
    if not key_name_is_valid(name):
        raise NoteKeyError(f"invalid key name {name!r}")
    private_key = Ed25519PrivateKey.generate()
    seed = private_key.private_bytes_raw()
    public_key = private_key.public_key().public_bytes_raw()
    typed_public = bytes([SIGNATURE_TYPE_ED25519]) + public_key
    keyid = key_id(name=name, key=typed_public)
    typed_seed = bytes([SIGNATURE_TYPE_ED25519]) + seed
    skey = f"{_SIGNER_KEY_PREFIX}{name}+{keyid:08x}+{b64encode(typed_seed)}"
    return skey, verifier_key_encode(name=name, public_key=public_key)


def _split_key(text: str) -> tuple[str, int, bytes]:
    """name, key ID and typed key bytes of ``name+keyid+base64``; base64 may hold '+'."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteKeyError("a key is name+keyid+base64")
    name, keyid_text, key_text = parts
    keyid = _parse_key_id(keyid_text)
    key = b64decode_canonical(key_text)
    if not key_name_is_valid(name) or keyid is None or not key:
        raise NoteKeyError("malformed key")
    return name, keyid, key


def verifier_key_decode(vkey: str) -> tuple[str, int, bytes]:
    """Name, key ID and key (signature type byte, then key material) of any
    verifier key string, whatever its signature type; `NoteKeyError` if it is
    malformed or its key ID does not match its name and key."""
    if not isinstance(vkey, str):
        raise NoteKeyError("a verifier key is a string")
    name, keyid, key = _split_key(vkey)
    if key_id(name=name, key=key) != keyid:
        raise NoteKeyError("verifier key ID does not match its name and key")
    return name, keyid, key


def verifier_parse(vkey: str) -> Verifier:
    """The verifier for an Ed25519 verifier key string; `NoteKeyError` if it is
    malformed, of another signature type, or its key ID does not match."""
    name, _, key = verifier_key_decode(vkey)
    if key[0] != SIGNATURE_TYPE_ED25519:
        raise NoteKeyError(f"unsupported signature type 0x{key[0]:02x}")
    if len(key) != 1 + ED25519_KEY_SIZE:
        raise NoteKeyError("an Ed25519 verifier key holds 32 bytes")
    return Verifier(name=name, public_key=key[1:])


def signer_parse(skey: str) -> Signer:
    """The signer for a signer key string, checked against its key ID."""
    if not isinstance(skey, str) or not skey.startswith(_SIGNER_KEY_PREFIX):
        raise NoteKeyError("a signer key starts with PRIVATE+KEY+")
    name, keyid, key = _split_key(skey[len(_SIGNER_KEY_PREFIX) :])
    if key[0] != SIGNATURE_TYPE_ED25519:
        raise NoteKeyError(f"unsupported signature type 0x{key[0]:02x}")
    if len(key) != 1 + ED25519_KEY_SIZE:
        raise NoteKeyError("an Ed25519 signer key holds a 32-byte seed")
    signer = Signer(name=name, private_key=Ed25519PrivateKey.from_private_bytes(key[1:]))
    # The key ID names the public key, so it can only be checked after deriving it.
    if signer.key_id != keyid:
        raise NoteKeyError("signer key ID does not match its name and key")
    return signer


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    @property
    def line(self) -> str:
        encoded = b64encode(self.key_id.to_bytes(4, "big") + self.signature)
        return f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures verified by known keys, and the
    signatures by keys the caller does not know (kept, never trusted)."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified_signatures: tuple[NoteSignature, ...] = ()


def _check_note_characters(text: str) -> bytes:
    # C2SP signed-note: valid UTF-8 with no ASCII control characters but newline.
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteFormatError("note is not valid UTF-8") from None
    if any(b < 0x20 and b != 0x0A for b in raw):
        raise NoteFormatError("note contains a control character")
    return raw


def note_sign(
    *,
    text: str,
    signers: Sequence[NoteSigner],
    signatures: Sequence[NoteSignature] = (),
) -> bytes:
    """The signed note: `text`, a blank line, then one signature line per signer.

    `signatures` already on the note (say, the log's, when a witness cosigns) are
    kept first, except those by a key that signs again here.
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteFormatError("note text must end with a newline")
    raw_text = _check_note_characters(text)
    fresh = []
    for signer in signers:
        if not key_name_is_valid(signer.name):
            raise NoteKeyError(f"invalid signer name {signer.name!r}")
        fresh.append(NoteSignature(signer.name, signer.key_id, signer.sign(raw_text)))
    replaced = {(s.name, s.key_id) for s in fresh}
    kept = []
    for existing in signatures:
        if not key_name_is_valid(existing.name):
            raise NoteFormatError(f"invalid signature name {existing.name!r}")
        if (existing.name, existing.key_id) not in replaced:
            kept.append(existing)
    lines = "".join(s.line for s in [*kept, *fresh])
    return (text + "\n" + lines).encode("utf-8")


def note_open(*, message: bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse a signed note and check its signatures against `verifiers`.

    Raises `NoteFormatError` if it is not a well-formed note,
    `NoteSignatureError` if a known key's signature fails,
    `AmbiguousVerifierError` if two verifiers match one signature line, and
    `UnknownVerifierError` if no known key signed it.
    """
    try:
        decoded = message.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        raise NoteFormatError("note is not valid UTF-8") from None
    _check_note_characters(decoded)
    # C2SP signed-note: "the text is separated from the signatures by the last
    # empty line in the note".
    split = message.rfind(b"\n\n")
    if split < 0:
        raise NoteFormatError("note has no signature block")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith(b"\n"):
        raise NoteFormatError("note must end with a signature line and a newline")

    by_key: dict[tuple[str, int], list[NoteVerifier]] = {}
    for verifier in verifiers:
        by_key.setdefault((verifier.name, verifier.key_id), []).append(verifier)

    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen_verified: set[tuple[str, int]] = set()
    seen_unverified: set[str] = set()
    lines = block.decode("utf-8").split("\n")[:-1]
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"note has more than {MAX_SIGNATURES} signatures")
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise NoteFormatError("signature line does not start with an em dash")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        # Only canonical base64, so that one signature has one spelling and a
        # signed note cannot be altered without the change showing.
        raw = b64decode_canonical(encoded)
        if raw is None or not key_name_is_valid(name) or len(raw) < 5:
            raise NoteFormatError("malformed signature line")
        signature = NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])
        candidates = by_key.get((name, signature.key_id), [])
        if not candidates:
            # C2SP signed-note: "Verifiers MUST ignore signatures from unknown keys".
            if line not in seen_unverified:
                seen_unverified.add(line)
                unverified.append(signature)
            continue
        if len(candidates) > 1:
            raise AmbiguousVerifierError(f"ambiguous key {name}+{signature.key_id:08x}")
        if (name, signature.key_id) in seen_verified:
            continue
        seen_verified.add((name, signature.key_id))
        if not candidates[0].verify(text, signature.signature):
            # C2SP signed-note: a failed signature from a known key rejects the note.
            raise NoteSignatureError(f"invalid signature for key {name}+{signature.key_id:08x}")
        verified.append(signature)

    note = Note(
        text=text.decode("utf-8"),
        signatures=tuple(verified),
        unverified_signatures=tuple(unverified),
    )
    if not verified:
        raise UnknownVerifierError("note has no verifiable signatures", note=note)
    return note
