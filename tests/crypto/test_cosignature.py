"""C2SP tlog-cosignature (Ed25519 cosignature/v1): witness lines on checkpoints."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from escrow.crypto.checkpoint import (
    Checkpoint,
    CheckpointOriginError,
    checkpoint_format,
    checkpoint_sign,
)
from escrow.crypto.cosignature import (
    MAX_TIMESTAMP,
    CosignatureError,
    CosignatureVerifier,
    Cosigner,
    checkpoint_open_cosigned,
    cosignature_timestamp,
    cosigned_message,
    cosigner_key_encode,
    cosigner_verifier_parse,
)
from escrow.crypto.note import (
    NoteKeyError,
    NoteSignature,
    NoteSignatureError,
    UnknownVerifierError,
    key_id,
    note_open,
    note_sign,
    signer_key_generate,
    signer_parse,
    verifier_parse,
)

ORIGIN = "escrow.example/audit-log"
CHECKPOINT = Checkpoint(origin=ORIGIN, size=20_852_163, root_hash=bytes(range(32)))
WITNESS_LINE_B64 = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oy"
    "in1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


@pytest.fixture(scope="module")
def log() -> tuple[str, str]:
    return signer_key_generate(name=ORIGIN)


def witness(name: str = "witness.example/w1", timestamp: int = 1_679_315_147) -> Cosigner:
    return Cosigner(name=name, private_key=Ed25519PrivateKey.generate(), timestamp=timestamp)


def test_spec_example_line_frames_a_timestamped_signature() -> None:
    # C2SP tlog-cosignature example: key ID, then big-endian timestamp 1679315147
    # (the "time 1679315147" of the spec's signed-message example), then 64 bytes.
    raw = base64.b64decode(WITNESS_LINE_B64)
    line = NoteSignature("witness.example.com/w1", int.from_bytes(raw[:4], "big"), raw[4:])
    assert line.key_id == 0x8D66CF3F
    assert cosignature_timestamp(line) == 1_679_315_147


def test_signed_message_is_the_spec_layout() -> None:
    body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosigned_message(text=body, timestamp=1_679_315_147) == (
        b"cosignature/v1\ntime 1679315147\n" + body
    )
    with pytest.raises(CosignatureError):
        cosigned_message(text=body, timestamp=MAX_TIMESTAMP + 1)


def test_a_cosignature_is_ed25519_over_the_cosigned_message(log: tuple[str, str]) -> None:
    w = witness()
    message = checkpoint_sign(checkpoint=CHECKPOINT, signer=signer_parse(log[0]))
    opened = note_open(message=message, verifiers=[verifier_parse(log[1])])
    cosigned = note_sign(text=opened.text, signers=[w], signatures=opened.signatures)
    line = note_open(message=cosigned, verifiers=[w.verifier]).signatures[0]
    assert line.signature[:8] == (1_679_315_147).to_bytes(8, "big")
    # Checked with the primitive directly, not through our verifier.
    w.private_key.public_key().verify(
        line.signature[8:],
        b"cosignature/v1\ntime 1679315147\n" + checkpoint_format(CHECKPOINT).encode(),
    )


def test_cosigned_checkpoint_opens_with_its_witnesses(log: tuple[str, str]) -> None:
    w1, w2, stranger = witness(), witness("witness.example/w2", 1_700_000_000), witness("x/y")
    message = checkpoint_sign(checkpoint=CHECKPOINT, signer=signer_parse(log[0]))
    opened = note_open(message=message, verifiers=[verifier_parse(log[1])])
    message = note_sign(text=opened.text, signers=[w1, w2, stranger], signatures=opened.signatures)

    checkpoint, cosignatures = checkpoint_open_cosigned(
        message=message,
        verifier=verifier_parse(log[1]),
        origin=ORIGIN,
        cosigners=[w1.verifier, w2.verifier],
    )
    assert checkpoint == CHECKPOINT
    assert [(c.name, c.timestamp) for c in cosignatures] == [
        ("witness.example/w1", 1_679_315_147),
        ("witness.example/w2", 1_700_000_000),
    ]


def test_witness_signatures_alone_are_not_enough(log: tuple[str, str]) -> None:
    w = witness()
    message = note_sign(text=checkpoint_format(CHECKPOINT), signers=[w])
    with pytest.raises(UnknownVerifierError):
        checkpoint_open_cosigned(
            message=message, verifier=verifier_parse(log[1]), origin=ORIGIN, cosigners=[w.verifier]
        )


def test_a_forged_timestamp_fails(log: tuple[str, str]) -> None:
    w = witness()
    message = note_sign(
        text=checkpoint_format(CHECKPOINT), signers=[signer_parse(log[0]), w]
    ).decode()
    sig_line = message.rstrip("\n").split("\n")[-1]
    raw = bytearray(base64.b64decode(sig_line.rsplit(" ", 1)[1]))
    raw[11] ^= 1  # last byte of the timestamp
    forged = message.replace(sig_line.rsplit(" ", 1)[1], base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteSignatureError):
        checkpoint_open_cosigned(
            message=forged.encode(),
            verifier=verifier_parse(log[1]),
            origin=ORIGIN,
            cosigners=[w.verifier],
        )


def test_other_origin_is_rejected(log: tuple[str, str]) -> None:
    message = checkpoint_sign(checkpoint=CHECKPOINT, signer=signer_parse(log[0]))
    with pytest.raises(CheckpointOriginError):
        checkpoint_open_cosigned(
            message=message, verifier=verifier_parse(log[1]), origin="other", cosigners=[]
        )


def test_cosigner_keys_round_trip_and_are_typed() -> None:
    w = witness()
    vkey = w.verifier.vkey
    assert cosigner_verifier_parse(vkey) == w.verifier
    assert cosigner_verifier_parse(vkey).key_id == w.key_id
    assert vkey == cosigner_key_encode(name=w.name, public_key=w.verifier.public_key)
    # A cosigner key is not a note signing key, and vice versa: the type byte differs.
    with pytest.raises(NoteKeyError):
        verifier_parse(vkey)
    _, log_vkey = signer_key_generate(name=ORIGIN)
    with pytest.raises(NoteKeyError):
        cosigner_verifier_parse(log_vkey)


def test_one_key_as_note_signer_and_cosigner_has_two_key_ids() -> None:
    # C2SP signed-note: reusing a key across signature types MUST use distinct key IDs.
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key().public_bytes_raw()
    cosigner = Cosigner(name="w", private_key=private_key, timestamp=0)
    assert CosignatureVerifier(name="w", public_key=public_key).key_id == cosigner.key_id
    assert cosigner.key_id == key_id(name="w", key=b"\x04" + public_key)
    assert cosigner.key_id != key_id(name="w", key=b"\x01" + public_key)


@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1])
def test_timestamps_out_of_range_are_refused(timestamp: int) -> None:
    with pytest.raises(CosignatureError):
        witness(timestamp=timestamp)


def test_verifier_rejects_malformed_signatures() -> None:
    w = witness()
    text = checkpoint_format(CHECKPOINT).encode()
    good = w.sign(text)
    assert w.verifier.verify(text, good)
    assert not w.verifier.verify(text, good[:-1])
    assert not w.verifier.verify(text, b"\xff" * 8 + good[8:])  # timestamp above 2**63 - 1
    assert not w.verifier.verify(text + b"x", good)
