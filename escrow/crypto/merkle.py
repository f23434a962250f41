"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.

The audit log is a Merkle tree over its entries exactly as Certificate Transparency
defines it, so any off-the-shelf transparency-log client can check it:

* a leaf hashes as SHA-256(0x00 || entry) and an interior node as
  SHA-256(0x01 || left || right); the two prefixes keep a leaf from ever being
  passed off as a node (second-preimage resistance, RFC 9162 s2.1.1);
* the tree over n leaves splits at k, the largest power of two below n, so the
  left subtree is always perfect and the right one holds the remainder.

`root_from_leaf_hashes`, `inclusion_proof` and `consistency_proof` work from the
full list of leaf hashes: they are the reference against which the tile-based
versions in `escrow.crypto.tiles` are tested, and are fine for small trees.
The verifiers are the ones clients run, transcribed from RFC 9162 s2.1.3.2 and
s2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from escrow.crypto.errors import CryptoError

HASH_SIZE = 32

# RFC 9162 s2.1.1: MTH({}) = HASH(), the SHA-256 of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

# RFC 9162 s2.1.1: domain-separation prefixes for leaves and interior nodes.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class MerkleError(CryptoError):
    """A Merkle tree operation was given impossible arguments."""


class InclusionProofError(MerkleError):
    """An inclusion proof does not prove the leaf is in the tree with that root."""


class ConsistencyProofError(MerkleError):
    """A consistency proof does not prove the new tree extends the old one."""


def leaf_hash(entry: bytes) -> bytes:
    """The hash of one log entry: SHA-256(0x00 || entry), RFC 9162 s2.1.1."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right), RFC 9162 s2.1.1."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split_point(n: int) -> int:
    """RFC 9162 s2.1.1: k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 s2.1.1, given the leaf hashes of D[n].

    Pairing neighbours level by level and carrying an unpaired last node up
    unchanged builds exactly the RFC's left-balanced tree, in n - 1 hashes.
    """
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    sha256 = hashlib.sha256
    while len(level) > 1:
        paired = [
            sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root_from_concatenated_hashes(data: bytes) -> bytes:
    """MTH over leaf hashes given back to back, as a tile holds them.

    Same tree as `root_from_leaf_hashes`; hashing 64-byte slices of one buffer
    level by level avoids a Python object per hash, which makes rebuilding a
    subtree from a tile markedly faster.
    """
    if len(data) % HASH_SIZE:
        raise MerkleError(f"concatenated hashes must be a multiple of {HASH_SIZE} bytes")
    if not data:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    pair = 2 * HASH_SIZE
    while len(data) > HASH_SIZE:
        paired = len(data) - len(data) % pair
        data = (
            b"".join(
                [sha256(_NODE_PREFIX + data[i : i + pair]).digest() for i in range(0, paired, pair)]
            )
            + data[paired:]
        )
    return bytes(data)


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    # RFC 9162 s2.1.3.1: PATH(m, D[n]), bottom to top.
    n = len(hashes)
    if n == 1:
        return []
    k = _split_point(n)
    if m < k:
        return [*_path(m, hashes[:k]), root_from_leaf_hashes(hashes[k:])]
    return [*_path(m - k, hashes[k:]), root_from_leaf_hashes(hashes[:k])]


def _subproof(m: int, hashes: Sequence[bytes], whole: bool) -> list[bytes]:
    # RFC 9162 s2.1.4.1: SUBPROOF(m, D[n], b).
    n = len(hashes)
    if m == n:
        return [] if whole else [root_from_leaf_hashes(hashes)]
    k = _split_point(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], whole), root_from_leaf_hashes(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), root_from_leaf_hashes(hashes[:k])]


def inclusion_proof(*, index: int, size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path for leaf `index` in the tree of the first `size` leaf hashes."""
    if not 0 <= index < size <= len(hashes):
        raise MerkleError(f"no leaf {index} in a tree of size {size} ({len(hashes)} known)")
    return _path(index, hashes[:size])


def consistency_proof(*, old_size: int, new_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of `new_size` leaves extends the one of `old_size`.

    RFC 9162 defines the proof for 0 < old_size < new_size; between equal sizes,
    and from the empty tree, the proof is empty (every tree extends those).
    """
    if not 0 <= old_size <= new_size <= len(hashes):
        raise MerkleError(
            f"no consistency proof from size {old_size} to {new_size} ({len(hashes)} known)"
        )
    if old_size == 0:
        return []
    return _subproof(old_size, hashes[:new_size], True)


def _check_hash(value: bytes, what: str, error: type[MerkleError]) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise error(f"{what} is not a {HASH_SIZE}-byte hash")


def inclusion_verify(
    *, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` with `root`.

    Returns nothing; raises `InclusionProofError` unless the proof holds.
    """
    _check_hash(leaf_hash, "leaf hash", InclusionProofError)
    _check_hash(root, "root", InclusionProofError)
    for element in proof:
        _check_hash(element, "proof element", InclusionProofError)
    # RFC 9162 s2.1.3.2 step 1.
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is outside a tree of size {size}")
    # Steps 2 and 3.
    fn, sn = index, size - 1
    r = leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:
            raise InclusionProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise InclusionProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise InclusionProofError("inclusion proof does not lead to the root")


def consistency_verify(
    *,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`).

    Returns nothing; raises `ConsistencyProofError` unless the proof holds. Equal
    sizes need equal roots and an empty proof; the empty tree (whose root is
    `EMPTY_ROOT`) is extended by every tree, with an empty proof.
    """
    _check_hash(old_root, "old root", ConsistencyProofError)
    _check_hash(new_root, "new root", ConsistencyProofError)
    for element in proof:
        _check_hash(element, "proof element", ConsistencyProofError)
    if not 0 <= old_size <= new_size:
        raise ConsistencyProofError(f"tree size went from {old_size} to {new_size}")
    if old_size == new_size:
        if proof:
            raise ConsistencyProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ConsistencyProofError("two different roots for the same tree size")
        return
    if old_size == 0:
        if proof:
            raise ConsistencyProofError("a proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ConsistencyProofError("the empty tree's root is not the empty hash")
        return
    # RFC 9162 s2.1.4.2 step 1.
    if not proof:
        raise ConsistencyProofError("consistency proof is empty")
    path = list(proof)
    # Step 2.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Steps 3 and 4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ConsistencyProofError("consistency proof is shorter than needed")
    if fr != old_root:
        raise ConsistencyProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ConsistencyProofError("consistency proof does not lead to the new root")
