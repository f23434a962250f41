"""C2SP tlog-checkpoint bodies, and checkpoints signed and opened as notes."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    CheckpointError,
    CheckpointFormatError,
    CheckpointOriginError,
    checkpoint_format,
    checkpoint_open,
    checkpoint_parse,
    checkpoint_sign,
)
from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import inclusion_verify, leaf_hash
from escrow.crypto.note import (
    NoteSignatureError,
    UnknownVerifierError,
    note_sign,
    signer_key_generate,
    signer_parse,
    verifier_parse,
)
from escrow.crypto.tiles import TileRef, inclusion_proof_from_tiles, tiles_for_append

# C2SP tlog-checkpoint, the example at the top of the spec.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_SIGNED = (
    SPEC_CHECKPOINT + "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
ORIGIN = "escrow.example/audit-log"
ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def log_key() -> tuple[str, str]:
    return signer_key_generate(name=ORIGIN)


def test_errors_derive_from_crypto_error() -> None:
    assert issubclass(CheckpointFormatError, CheckpointError)
    assert issubclass(CheckpointOriginError, CheckpointError)
    assert issubclass(CheckpointError, CryptoError)


def test_spec_example_parses_and_formats_back() -> None:
    checkpoint = checkpoint_parse(SPEC_CHECKPOINT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20_852_163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint_format(checkpoint) == SPEC_CHECKPOINT


def test_spec_example_is_not_trusted_without_the_log_key(log_key: tuple[str, str]) -> None:
    with pytest.raises(UnknownVerifierError) as caught:
        checkpoint_open(
            message=SPEC_SIGNED.encode(),
            verifier=verifier_parse(log_key[1]),
            origin="example.com/behind-the-sofa",
        )
    assert caught.value.note.text == SPEC_CHECKPOINT


def test_format_is_three_lines_and_extensions() -> None:
    checkpoint = Checkpoint(origin=ORIGIN, size=0, root_hash=ROOT, extensions=("ext one", "two"))
    text = checkpoint_format(checkpoint)
    assert text == f"{ORIGIN}\n0\n{base64.b64encode(ROOT).decode()}\next one\ntwo\n"
    assert checkpoint_parse(text) == checkpoint


B64_ROOT = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"{ORIGIN}\n1\n{B64_ROOT}",  # no final newline
        f"{ORIGIN}\n1\n",
        f"{ORIGIN}\n{B64_ROOT}\n",
        f"\n1\n{B64_ROOT}\n",  # empty origin
        f"{ORIGIN}\n01\n{B64_ROOT}\n",  # leading zero
        f"{ORIGIN}\n00\n{B64_ROOT}\n",
        f"{ORIGIN}\n+1\n{B64_ROOT}\n",
        f"{ORIGIN}\n-1\n{B64_ROOT}\n",
        f"{ORIGIN}\n 1\n{B64_ROOT}\n",
        f"{ORIGIN}\n1_000\n{B64_ROOT}\n",
        f"{ORIGIN}\n\u0661\n{B64_ROOT}\n",  # a non-ASCII digit
        f"{ORIGIN}\n{MAX_TREE_SIZE + 1}\n{B64_ROOT}\n",
        f"{ORIGIN}\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"{ORIGIN}\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",
        f"{ORIGIN}\n1\n{B64_ROOT[:-1]}\n",
        f"{ORIGIN}\n1\n{B64_ROOT[:-2]}9=\n",  # non-canonical trailing bits
        f"{ORIGIN}\n1\n{B64_ROOT}\n\n",  # empty extension line
        f"{ORIGIN}\n1\n{B64_ROOT}\next\n\n",
        f"{ORIGIN}\r\n1\n{B64_ROOT}\n",
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(CheckpointFormatError):
        checkpoint_parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": "", "size": 1, "root_hash": ROOT},
        {"origin": "a\nb", "size": 1, "root_hash": ROOT},
        {"origin": ORIGIN, "size": -1, "root_hash": ROOT},
        {"origin": ORIGIN, "size": MAX_TREE_SIZE + 1, "root_hash": ROOT},
        {"origin": ORIGIN, "size": True, "root_hash": ROOT},
        {"origin": ORIGIN, "size": 1, "root_hash": ROOT[:16]},
        {"origin": ORIGIN, "size": 1, "root_hash": ROOT, "extensions": ("",)},
        {"origin": ORIGIN, "size": 1, "root_hash": ROOT, "extensions": ("a\nb",)},
        {"origin": ORIGIN, "size": 1, "root_hash": ROOT, "extensions": ["list"]},
    ],
)
def test_impossible_checkpoints_cannot_be_built(kwargs: dict[str, object]) -> None:
    with pytest.raises(CheckpointFormatError):
        Checkpoint(**kwargs)  # type: ignore[arg-type]


line = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=40)


@given(
    origin=line,
    size=st.integers(min_value=0, max_value=MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line, max_size=3),
)
def test_format_parse_round_trip(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint(origin=origin, size=size, root_hash=root, extensions=tuple(extensions))
    assert checkpoint_parse(checkpoint_format(checkpoint)) == checkpoint


def test_sign_and_open(log_key: tuple[str, str]) -> None:
    skey, vkey = log_key
    checkpoint = Checkpoint(origin=ORIGIN, size=42, root_hash=ROOT)
    message = checkpoint_sign(checkpoint=checkpoint, signer=signer_parse(skey))
    assert message.startswith((checkpoint_format(checkpoint) + "\n\u2014 ").encode())
    opened = checkpoint_open(message=message, verifier=verifier_parse(vkey), origin=ORIGIN)
    assert opened == checkpoint


def test_another_logs_checkpoint_is_rejected(log_key: tuple[str, str]) -> None:
    skey, vkey = log_key
    message = checkpoint_sign(
        checkpoint=Checkpoint(origin="other.example/log", size=1, root_hash=ROOT),
        signer=signer_parse(skey),
    )
    with pytest.raises(CheckpointOriginError):
        checkpoint_open(message=message, verifier=verifier_parse(vkey), origin=ORIGIN)


def test_a_checkpoint_signed_by_another_key_is_rejected(log_key: tuple[str, str]) -> None:
    other_skey, _ = signer_key_generate(name=ORIGIN)
    message = checkpoint_sign(
        checkpoint=Checkpoint(origin=ORIGIN, size=1, root_hash=ROOT),
        signer=signer_parse(other_skey),
    )
    with pytest.raises(UnknownVerifierError):
        checkpoint_open(message=message, verifier=verifier_parse(log_key[1]), origin=ORIGIN)


def test_a_changed_size_breaks_the_signature(log_key: tuple[str, str]) -> None:
    skey, vkey = log_key
    message = checkpoint_sign(
        checkpoint=Checkpoint(origin=ORIGIN, size=41, root_hash=ROOT), signer=signer_parse(skey)
    )
    forged = message.replace(b"\n41\n", b"\n42\n", 1)
    with pytest.raises(NoteSignatureError):
        checkpoint_open(message=forged, verifier=verifier_parse(vkey), origin=ORIGIN)


def test_signed_non_checkpoint_text_is_rejected(log_key: tuple[str, str]) -> None:
    skey, vkey = log_key
    message = note_sign(text="just a note\n", signers=[signer_parse(skey)])
    with pytest.raises(CheckpointFormatError):
        checkpoint_open(message=message, verifier=verifier_parse(vkey), origin=ORIGIN)


def test_an_entry_is_proven_against_a_signed_checkpoint(log_key: tuple[str, str]) -> None:
    """The whole chain a client walks: checkpoint signature, then inclusion proof."""
    skey, vkey = log_key
    store: dict[TileRef, bytes] = {}

    def read_tiles(refs: Sequence[TileRef]) -> list[bytes]:
        return [store[ref] for ref in refs]

    entries = [b"audit event %d" % i for i in range(1000)]
    written, root = tiles_for_append(
        old_size=0, new_leaf_hashes=[leaf_hash(e) for e in entries], read_tiles=read_tiles
    )
    store.update(written)
    message = checkpoint_sign(
        checkpoint=Checkpoint(origin=ORIGIN, size=1000, root_hash=root), signer=signer_parse(skey)
    )

    checkpoint = checkpoint_open(message=message, verifier=verifier_parse(vkey), origin=ORIGIN)
    proof = inclusion_proof_from_tiles(index=617, size=checkpoint.size, read_tiles=read_tiles)
    inclusion_verify(
        index=617,
        size=checkpoint.size,
        leaf_hash=leaf_hash(entries[617]),
        proof=proof,
        root=checkpoint.root_hash,
    )
