"""Benchmark of the tiled audit log: appends, tree hashes and proofs read from tiles.

Run from the repository root:  python bench/merkle_bench.py [--leaves N] [--batch B]

Builds a log of N leaves (default 1,000,000) into an in-memory dict of tiles with
`tiles_for_append`, B leaves per call, then times root, inclusion-proof and
consistency-proof generation from the tiles at the final size.

The machine is shared and noisy, so each figure is printed next to a baseline
measured in the same run, with the ratio between them:

* appends: one raw SHA-256 of a 65-byte node input per leaf, which is the
  hashing an append cannot avoid (closing full level-0 tiles);
* proofs: the raw SHA-256 calls the proof needed (counted in a separate pass)
  plus the dict lookups of the tiles it read, i.e. the cost of the same work
  with no Python bookkeeping around it.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from escrow.crypto import merkle
from escrow.crypto.merkle import (
    consistency_verify,
    inclusion_verify,
    leaf_hash,
)
from escrow.crypto.tiles import (
    TileRef,
    consistency_proof_from_tiles,
    inclusion_proof_from_tiles,
    tiles_for_append,
    tree_hash_from_tiles,
)

GOAL_INCLUSION_MS = 1.0


class MemoryTiles:
    def __init__(self) -> None:
        self.tiles: dict[TileRef, bytes] = {}
        self.calls = 0
        self.tiles_read = 0

    def read_tiles(self, refs: Sequence[TileRef]) -> list[bytes]:
        self.calls += 1
        self.tiles_read += len(refs)
        return [self.tiles[ref] for ref in refs]


@contextmanager
def counting_sha256() -> Iterator[list[int]]:
    """Count SHA-256 calls made through escrow.crypto.merkle (all tile hashing is)."""
    count = [0]
    real = hashlib.sha256

    def sha256(data: bytes = b"") -> object:
        count[0] += 1
        return real(data)

    # The module looks hashlib.sha256 up at call time, so a stand-in sees every call.
    setattr(merkle, "hashlib", SimpleNamespace(sha256=sha256))  # noqa: B010
    try:
        yield count
    finally:
        setattr(merkle, "hashlib", hashlib)  # noqa: B010


def raw_node_hashes(n: int) -> float:
    """Seconds for n bare SHA-256 calls on a 65-byte node input."""
    left, right, sha256 = b"l" * 32, b"r" * 32, hashlib.sha256
    start = time.perf_counter()
    for _ in range(n):
        sha256(b"\x01" + left + right).digest()
    return time.perf_counter() - start


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report_latency(
    name: str, op: list[float], base: list[float], hashes: float, tiles: float
) -> None:
    p50, p99 = percentile(op, 0.5), percentile(op, 0.99)
    # Ratios per sample pair, so a burst of load from elsewhere hits both sides alike.
    ratio = statistics.median(o / b for o, b in zip(op, base, strict=True))
    print(
        f"{name:<20} p50 {p50 * 1e3:6.3f} ms  p99 {p99 * 1e3:6.3f} ms  "
        f"{hashes:4.0f} sha256 and {tiles:3.1f} tiles/call in 1 read  "
        f"baseline p50 {statistics.median(base) * 1e3:6.3f} ms  ratio {ratio:4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n = args.leaves

    print(f"python {platform.python_version()} on {platform.machine()}, {n:,} leaves")
    start = time.perf_counter()
    leaf_hashes = [leaf_hash(b"audit event %d" % i) for i in range(n)]
    leaf_seconds = time.perf_counter() - start

    store = MemoryTiles()
    size = 0
    root = merkle.EMPTY_ROOT
    batch_seconds, batch_baselines = [], []
    for start_index in range(0, n, args.batch):
        batch = leaf_hashes[start_index : start_index + args.batch]
        started = time.perf_counter()
        written, root = tiles_for_append(
            old_size=size, new_leaf_hashes=batch, read_tiles=store.read_tiles
        )
        store.tiles.update(written)
        batch_seconds.append(time.perf_counter() - started)
        batch_baselines.append(raw_node_hashes(len(batch)))
        size += len(batch)
    append_seconds = sum(batch_seconds)
    ratio = statistics.median(o / b for o, b in zip(batch_seconds, batch_baselines, strict=True))
    print(f"{'leaf hashing':<20} {n / leaf_seconds:10,.0f} leaves/s (by the caller, not below)")
    print(
        f"{'tiles_for_append':<20} {n / append_seconds:10,.0f} leaves/s, "
        f"{args.batch:,}-leaf batch p50 {statistics.median(batch_seconds) * 1e3:.1f} ms; "
        f"baseline (1 raw node sha256 per leaf) {n / sum(batch_baselines):,.0f}/s; "
        f"ratio {ratio:.2f}"
    )
    print(
        f"{'':<20} {len(store.tiles):,} tiles stored; per batch "
        f"{store.tiles_read / len(batch_seconds):.1f} tiles read in "
        f"{store.calls / len(batch_seconds):.1f} read call"
    )
    if tree_hash_from_tiles(size=n, read_tiles=store.read_tiles) != root:
        raise SystemExit("tree hash from tiles disagrees with the append")

    def measure(name: str, make: Callable[[], Callable[[], object]], samples: int) -> None:
        op, base = [], []
        hash_total = tile_total = 0
        real_read = store.read_tiles
        for _ in range(samples):
            call = make()
            # Untimed pass: which tiles the call reads and how many hashes it makes.
            seen: list[TileRef] = []

            def recording(refs: Sequence[TileRef], seen: list[TileRef] = seen) -> list[bytes]:
                seen.extend(refs)
                return real_read(refs)

            store.read_tiles = recording  # type: ignore[method-assign]
            with counting_sha256() as count:
                call()
            store.read_tiles = real_read  # type: ignore[method-assign]
            hash_total += count[0]
            tile_total += len(seen)
            started = time.perf_counter()
            call()
            op.append(time.perf_counter() - started)
            # Baseline: the same hashes and tile lookups with nothing around them.
            started = time.perf_counter()
            for ref in seen:
                store.tiles[ref]
            base.append(time.perf_counter() - started + raw_node_hashes(count[0]))
            if hasattr(call, "verify"):
                call.verify()
        report_latency(name, op, base, hash_total / samples, tile_total / samples)

    def tree_hash_call() -> Callable[[], object]:
        return lambda: tree_hash_from_tiles(size=n, read_tiles=store.read_tiles)

    class InclusionCall:
        def __init__(self) -> None:
            self.index = rng.randrange(n)

        def __call__(self) -> list[bytes]:
            return inclusion_proof_from_tiles(index=self.index, size=n, read_tiles=store.read_tiles)

        def verify(self) -> None:
            inclusion_verify(
                index=self.index,
                size=n,
                leaf_hash=leaf_hashes[self.index],
                proof=self(),
                root=root,
            )

    old_roots: dict[int, bytes] = {}

    class ConsistencyCall:
        def __init__(self) -> None:
            self.old_size = rng.randrange(1, n)
            if len(old_roots) < 20:
                old_roots[self.old_size] = tree_hash_from_tiles(
                    size=self.old_size, read_tiles=store.read_tiles, tiles_size=n
                )

        def __call__(self) -> list[bytes]:
            return consistency_proof_from_tiles(
                old_size=self.old_size, new_size=n, read_tiles=store.read_tiles
            )

        def verify(self) -> None:
            if self.old_size in old_roots:
                consistency_verify(
                    old_size=self.old_size,
                    new_size=n,
                    old_root=old_roots[self.old_size],
                    new_root=root,
                    proof=self(),
                )

    print(f"from tiles at size {n:,} ({args.samples:,} samples each):")
    measure("tree hash", tree_hash_call, min(args.samples, 200))
    measure("inclusion proof", InclusionCall, args.samples)
    measure("consistency proof", ConsistencyCall, args.samples)
    print(f"goal: inclusion proof p50 under {GOAL_INCLUSION_MS} ms from tiles")


if __name__ == "__main__":
    main()
