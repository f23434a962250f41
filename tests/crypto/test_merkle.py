"""RFC 6962 / RFC 9162 Merkle hashing: known answers, proof round trips, tampering."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import (
    EMPTY_ROOT,
    ConsistencyProofError,
    InclusionProofError,
    MerkleError,
    consistency_proof,
    consistency_verify,
    inclusion_proof,
    inclusion_verify,
    leaf_hash,
    node_hash,
    root_from_concatenated_hashes,
    root_from_leaf_hashes,
)

# The eight-leaf test tree of the Certificate Transparency reference implementation
# (merkle_tree_test.cc), reused by Trillian and transparency-dev/merkle: the leaf
# data, then the root after each of the first 1..8 leaves.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
CT_LEAF_HASHES = [leaf_hash(d) for d in CT_LEAVES]

# Audit paths of the same tree (transparency-dev/merkle proof/verify_test.go, whose
# leaf numbers are 1-based; these indexes are 0-based).
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def mth(hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 s2.1.1 MTH, transcribed literally: the oracle for the fast version."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"entry %d" % i) for i in range(n)]


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def assert_rejected(
    verify: Callable[..., None],
    error: type[Exception],
    description: str,
    kwargs: dict[str, object],
) -> None:
    try:
        verify(**kwargs)
    except error:
        return
    pytest.fail(f"accepted: {description}")


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaf_hashes([]) == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    # A node's two children, concatenated, never hash to the node as a leaf would.
    assert leaf_hash(b"a" * 32 + b"b" * 32) != node_hash(b"a" * 32, b"b" * 32)


def test_errors_derive_from_crypto_error() -> None:
    assert issubclass(InclusionProofError, MerkleError)
    assert issubclass(ConsistencyProofError, MerkleError)
    assert issubclass(MerkleError, CryptoError)


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_certificate_transparency_vectors(size: int) -> None:
    assert root_from_leaf_hashes(CT_LEAF_HASHES[:size]) == CT_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_vectors(index: int, size: int, path: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in path]
    assert inclusion_proof(index=index, size=size, hashes=CT_LEAF_HASHES) == expected
    inclusion_verify(
        index=index,
        size=size,
        leaf_hash=CT_LEAF_HASHES[index],
        proof=expected,
        root=CT_ROOTS[size - 1],
    )


@pytest.mark.parametrize(("old_size", "new_size", "path"), CT_CONSISTENCY)
def test_consistency_proofs_match_vectors(old_size: int, new_size: int, path: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in path]
    got = consistency_proof(old_size=old_size, new_size=new_size, hashes=CT_LEAF_HASHES)
    assert got == expected
    consistency_verify(
        old_size=old_size,
        new_size=new_size,
        old_root=CT_ROOTS[old_size - 1],
        new_root=CT_ROOTS[new_size - 1],
        proof=expected,
    )


def inclusion_probes(
    index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes
) -> list[tuple[str, dict[str, object]]]:
    """Mutations of a good inclusion proof that must all be rejected."""
    good: dict[str, object] = {
        "index": index,
        "size": size,
        "leaf_hash": leaf,
        "proof": proof,
        "root": root,
    }
    probes: list[tuple[str, dict[str, object]]] = [
        ("index - 1", {**good, "index": index - 1}),
        ("index + 1", {**good, "index": index + 1}),
        ("index ^ 2", {**good, "index": index ^ 2}),
        ("size * 2", {**good, "size": size * 2}),
        ("size // 2", {**good, "size": size // 2}),
        ("wrong leaf", {**good, "leaf_hash": SOME_HASH}),
        ("empty root", {**good, "root": EMPTY_ROOT}),
        ("other root", {**good, "root": SOME_HASH}),
        ("trailing root", {**good, "proof": [*proof, root]}),
        ("preceding root", {**good, "proof": [root, *proof]}),
        ("short leaf", {**good, "leaf_hash": leaf[:31]}),
        ("short root", {**good, "root": root[:31]}),
    ]
    if proof:
        probes.append(("removed last", {**good, "proof": proof[:-1]}))
        probes.append(("removed first", {**good, "proof": proof[1:]}))
        probes.append(("truncated element", {**good, "proof": [proof[0][:31], *proof[1:]]}))
    if len(proof) > 1:
        probes.append(("inserted", {**good, "proof": [proof[0], SOME_HASH, *proof[1:]]}))
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = flip(wrong[i], 3)
        probes.append((f"proof[{i}] bit 3", {**good, "proof": wrong}))
    return probes


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_verify_rejects_tampering_with_vectors(
    index: int, size: int, path: list[str]
) -> None:
    proof = [bytes.fromhex(h) for h in path]
    probes = inclusion_probes(index, size, CT_LEAF_HASHES[index], proof, CT_ROOTS[size - 1])
    for description, kwargs in probes:
        assert_rejected(inclusion_verify, InclusionProofError, description, kwargs)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1), (-1, 1)])
def test_inclusion_verify_rejects_impossible_positions(index: int, size: int) -> None:
    for leaf, root in ((SOME_HASH, EMPTY_ROOT), (EMPTY_ROOT, SOME_HASH), (SOME_HASH, b"")):
        with pytest.raises(InclusionProofError):
            inclusion_verify(index=index, size=size, leaf_hash=leaf, proof=[], root=root)


def test_single_leaf_tree_root_is_the_leaf_hash() -> None:
    leaf = leaf_hash(b"data")
    inclusion_verify(index=0, size=1, leaf_hash=leaf, proof=[], root=leaf)
    with pytest.raises(InclusionProofError):
        inclusion_verify(index=0, size=1, leaf_hash=leaf, proof=[], root=EMPTY_ROOT)


def consistency_probes(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> list[tuple[str, dict[str, object]]]:
    """Mutations of a good, non-empty consistency proof that must all be rejected."""
    good: dict[str, object] = {
        "old_size": old_size,
        "new_size": new_size,
        "old_root": old_root,
        "new_root": new_root,
        "proof": proof,
    }
    probes: list[tuple[str, dict[str, object]]] = [
        ("old_size - 1", {**good, "old_size": old_size - 1}),
        ("old_size + 1", {**good, "old_size": old_size + 1}),
        ("old_size ^ 2", {**good, "old_size": old_size ^ 2}),
        ("new_size * 2", {**good, "new_size": new_size * 2}),
        ("new_size // 2", {**good, "new_size": new_size // 2}),
        ("wrong old root", {**good, "old_root": SOME_HASH}),
        ("wrong new root", {**good, "new_root": SOME_HASH}),
        ("swapped roots", {**good, "old_root": new_root, "new_root": old_root}),
        ("empty proof", {**good, "proof": []}),
        ("trailing old root", {**good, "proof": [*proof, old_root]}),
        ("trailing new root", {**good, "proof": [*proof, new_root]}),
        ("preceding old root", {**good, "proof": [old_root, *proof]}),
        ("preceding new root", {**good, "proof": [new_root, *proof]}),
        ("preceding proof[0]", {**good, "proof": [proof[0], *proof]}),
        ("truncated", {**good, "proof": proof[:-1]}),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = flip(wrong[i], 4)
        probes.append((f"proof[{i}] bit 4", {**good, "proof": wrong}))
    return probes


@pytest.mark.parametrize(("old_size", "new_size", "path"), CT_CONSISTENCY[1:])
def test_consistency_verify_rejects_tampering_with_vectors(
    old_size: int, new_size: int, path: list[str]
) -> None:
    proof = [bytes.fromhex(h) for h in path]
    probes = consistency_probes(
        old_size, new_size, CT_ROOTS[old_size - 1], CT_ROOTS[new_size - 1], proof
    )
    for description, kwargs in probes:
        assert_rejected(consistency_verify, ConsistencyProofError, description, kwargs)


ROOT_A, ROOT_B = leaf_hash(b"a"), leaf_hash(b"b")


@pytest.mark.parametrize(
    ("old_size", "new_size", "old_root", "new_root", "proof", "ok"),
    [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (0, 1, EMPTY_ROOT, ROOT_B, [], True),
        (1, 1, ROOT_A, ROOT_A, [], True),
        (0, 0, ROOT_A, ROOT_B, [], False),
        (1, 1, ROOT_A, ROOT_B, [], False),
        (0, 1, ROOT_A, ROOT_B, [], False),  # the empty tree has one root only
        (1, 0, ROOT_A, ROOT_B, [], False),  # time travel
        (2, 1, ROOT_A, ROOT_B, [], False),
        (1, 2, ROOT_A, ROOT_B, [], False),  # a real extension needs a proof
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, ROOT_B, [EMPTY_ROOT], False),
        (1, 1, ROOT_A, ROOT_A, [EMPTY_ROOT], False),
        (-1, 1, ROOT_A, ROOT_B, [], False),
    ],
)
def test_consistency_verify_edge_cases(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes], ok: bool
) -> None:
    kwargs = {
        "old_size": old_size,
        "new_size": new_size,
        "old_root": old_root,
        "new_root": new_root,
        "proof": proof,
    }
    if ok:
        consistency_verify(**kwargs)  # type: ignore[arg-type]
    else:
        with pytest.raises(ConsistencyProofError):
            consistency_verify(**kwargs)  # type: ignore[arg-type]


def test_root_matches_the_literal_rfc_definition() -> None:
    hashes = leaves(140)
    for n in range(141):
        expected = mth(hashes[:n])
        assert root_from_leaf_hashes(hashes[:n]) == expected, n
        assert root_from_concatenated_hashes(b"".join(hashes[:n])) == expected, n


@pytest.mark.parametrize("length", [1, 31, 33, 65])
def test_concatenated_hashes_must_be_whole_hashes(length: int) -> None:
    with pytest.raises(MerkleError):
        root_from_concatenated_hashes(b"x" * length)


@pytest.mark.parametrize(("index", "size", "known"), [(0, 0, 0), (3, 3, 3), (-1, 3, 3), (0, 4, 3)])
def test_inclusion_proof_refuses_leaves_outside_the_tree(index: int, size: int, known: int) -> None:
    with pytest.raises(MerkleError):
        inclusion_proof(index=index, size=size, hashes=leaves(known))


@pytest.mark.parametrize(("old_size", "new_size", "known"), [(2, 1, 3), (-1, 2, 3), (1, 4, 3)])
def test_consistency_proof_refuses_impossible_sizes(
    old_size: int, new_size: int, known: int
) -> None:
    with pytest.raises(MerkleError):
        consistency_proof(old_size=old_size, new_size=new_size, hashes=leaves(known))


SWEEP_LEAVES = leaves(300)


def assert_inclusion_holds_and_tamper_fails(index: int, size: int, bit: int) -> None:
    """The proof verifies; one flipped bit in the proof, leaf or root is caught."""
    root = root_from_leaf_hashes(SWEEP_LEAVES[:size])
    leaf = SWEEP_LEAVES[index]
    proof = inclusion_proof(index=index, size=size, hashes=SWEEP_LEAVES)
    inclusion_verify(index=index, size=size, leaf_hash=leaf, proof=proof, root=root)
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = flip(wrong[i], bit)
        with pytest.raises(InclusionProofError):
            inclusion_verify(index=index, size=size, leaf_hash=leaf, proof=wrong, root=root)
    with pytest.raises(InclusionProofError):
        inclusion_verify(index=index, size=size, leaf_hash=flip(leaf, bit), proof=proof, root=root)
    with pytest.raises(InclusionProofError):
        inclusion_verify(index=index, size=size, leaf_hash=leaf, proof=proof, root=flip(root, bit))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_inclusion_round_trip_and_tampering_sampled(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=300), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    assert_inclusion_holds_and_tamper_fails(index, size, bit)


@pytest.mark.slow
def test_every_inclusion_proof_up_to_300_verifies_and_any_bit_flip_fails() -> None:
    for size in range(1, 301):
        root = root_from_leaf_hashes(SWEEP_LEAVES[:size])
        for index in range(size):
            leaf = SWEEP_LEAVES[index]
            proof = inclusion_proof(index=index, size=size, hashes=SWEEP_LEAVES)
            inclusion_verify(index=index, size=size, leaf_hash=leaf, proof=proof, root=root)
            # A different bit for every (index, size, element) covers all 256 positions.
            for i in range(len(proof)):
                bit = (index * 31 + size * 7 + i * 13) % 256
                wrong = list(proof)
                wrong[i] = flip(wrong[i], bit)
                with pytest.raises(InclusionProofError):
                    inclusion_verify(index=index, size=size, leaf_hash=leaf, proof=wrong, root=root)
            bit = (index + size) % 256
            with pytest.raises(InclusionProofError):
                inclusion_verify(
                    index=index, size=size, leaf_hash=flip(leaf, bit), proof=proof, root=root
                )
            with pytest.raises(InclusionProofError):
                inclusion_verify(
                    index=index, size=size, leaf_hash=leaf, proof=proof, root=flip(root, bit)
                )


def test_every_consistency_proof_up_to_130_verifies_and_tampering_fails() -> None:
    hashes = SWEEP_LEAVES[:130]
    roots = [root_from_leaf_hashes(hashes[:n]) for n in range(131)]
    for new_size in range(131):
        for old_size in range(new_size + 1):
            proof = consistency_proof(old_size=old_size, new_size=new_size, hashes=hashes)
            consistency_verify(
                old_size=old_size,
                new_size=new_size,
                old_root=roots[old_size],
                new_root=roots[new_size],
                proof=proof,
            )
            if old_size in (0, new_size):
                assert proof == []
                continue
            for i in range(len(proof)):
                wrong = list(proof)
                wrong[i] = flip(wrong[i], (old_size * 7 + new_size + i) % 256)
                with pytest.raises(ConsistencyProofError):
                    consistency_verify(
                        old_size=old_size,
                        new_size=new_size,
                        old_root=roots[old_size],
                        new_root=roots[new_size],
                        proof=wrong,
                    )
            with pytest.raises(ConsistencyProofError):
                consistency_verify(
                    old_size=old_size,
                    new_size=new_size,
                    old_root=flip(roots[old_size], new_size % 256),
                    new_root=roots[new_size],
                    proof=proof,
                )
            with pytest.raises(ConsistencyProofError):
                consistency_verify(
                    old_size=old_size,
                    new_size=new_size,
                    old_root=roots[old_size],
                    new_root=flip(roots[new_size], old_size % 256),
                    proof=proof,
                )


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_consistency_tampering_probes_sampled(data: st.DataObject) -> None:
    new_size = data.draw(st.integers(min_value=2, max_value=300), label="new_size")
    old_size = data.draw(st.integers(min_value=1, max_value=new_size - 1), label="old_size")
    old_root = root_from_leaf_hashes(SWEEP_LEAVES[:old_size])
    new_root = root_from_leaf_hashes(SWEEP_LEAVES[:new_size])
    proof = consistency_proof(old_size=old_size, new_size=new_size, hashes=SWEEP_LEAVES)
    consistency_verify(
        old_size=old_size, new_size=new_size, old_root=old_root, new_root=new_root, proof=proof
    )
    for description, kwargs in consistency_probes(old_size, new_size, old_root, new_root, proof):
        assert_rejected(consistency_verify, ConsistencyProofError, description, kwargs)
