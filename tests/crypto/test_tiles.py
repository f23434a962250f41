"""C2SP tlog-tiles: paths, entry bundles, and a log stored only as hash tiles.

The store in these tests is a dict of tiles; every root and proof computed from
it must equal the ones computed from the full list of leaves (merkle.py).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    consistency_verify,
    inclusion_proof,
    inclusion_verify,
    leaf_hash,
    root_from_leaf_hashes,
)
from escrow.crypto.tiles import (
    MAX_ENTRY_SIZE,
    EntryBundleError,
    TileError,
    TilePathError,
    TileRef,
    consistency_proof_from_tiles,
    entries_path,
    entry_bundle_decode,
    entry_bundle_encode,
    inclusion_proof_from_tiles,
    partial_tiles_for_size,
    tile_path,
    tile_path_parse,
    tile_within_size,
    tiles_for_append,
    tiles_for_size,
    tree_hash_from_tiles,
)


class MemoryLog:
    """A log whose only storage is a dict of tiles, counting how it is read."""

    def __init__(self) -> None:
        self.tiles: dict[TileRef, bytes] = {}
        self.size = 0
        self.root = EMPTY_ROOT
        self.read_calls = 0
        self.tiles_read = 0

    def read_tiles(self, refs: Sequence[TileRef]) -> list[bytes]:
        self.read_calls += 1
        self.tiles_read += len(refs)
        return [self.tiles[ref] for ref in refs]

    def append(self, leaf_hashes: Sequence[bytes]) -> list[tuple[TileRef, bytes]]:
        written, root = tiles_for_append(
            old_size=self.size,
            new_leaf_hashes=leaf_hashes,
            read_tiles=self.read_tiles,
            old_root=self.root,
        )
        for tile, data in written:
            # Tiles are immutable: a tile once written never changes.
            assert self.tiles.setdefault(tile, data) == data
        self.size += len(leaf_hashes)
        self.root = root
        return written

    def reset_counters(self) -> None:
        self.read_calls = self.tiles_read = 0


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"audit event %d" % i) for i in range(n)]


def expected_tile(tile: TileRef, leaf_hashes: Sequence[bytes]) -> bytes:
    """C2SP tlog-tiles, literally: hash i of tile N at level L is
    MTH(D[(N * 256 + i) * 256**L : (N * 256 + i + 1) * 256**L])."""
    span = 256**tile.level
    return b"".join(
        root_from_leaf_hashes(
            leaf_hashes[(tile.index * 256 + i) * span : (tile.index * 256 + i + 1) * span]
        )
        for i in range(tile.width)
    )


# --- paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (TileRef(level=0, index=0), "tile/0/000"),
        (TileRef(level=0, index=1234, width=5), "tile/0/x001/234.p/5"),
        (TileRef(level=4, index=1234067, width=1), "tile/4/x001/x234/067.p/1"),
        (TileRef(level=1, index=1000), "tile/1/x001/000"),
        (TileRef(level=63, index=1_000_000), "tile/63/x001/x000/000"),
        (TileRef(level=0, index=999, width=255), "tile/0/999.p/255"),
        (TileRef(level=0, index=7, entries=True), "tile/entries/007"),
        (
            TileRef(level=0, index=1234067, width=112, entries=True),
            "tile/entries/x001/x234/067.p/112",
        ),
    ],
)
def test_tile_paths_are_the_c2sp_paths(tile: TileRef, path: str) -> None:
    assert tile.path == path
    assert tile_path_parse(path) == tile
    if tile.entries:
        width = tile.width if tile.is_partial else None
        assert entries_path(index=tile.index, width=width) == path
    else:
        assert tile_path(level=tile.level, index=tile.index, width=tile.width) == path


def test_full_width_renders_without_suffix() -> None:
    assert tile_path(level=2, index=3) == tile_path(level=2, index=3, width=256) == "tile/2/003"
    assert entries_path(index=3, width=256) == "tile/entries/003"


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",  # index not three digits
        "tile/0/0001",
        "tile/0/x000/005",  # leading zero group
        "tile/0/x001",  # last element must not carry the x
        "tile/0/001/234",  # non-last element must carry the x
        "tile/0/x1000/000",
        "tile/0/X001/000",
        "tile/00/000",  # leading zeros in the level
        "tile/01/000",
        "tile/64/000",  # level above 63
        "tile/-1/000",
        "tile/data/000",  # Go's sumdb name for entries, not C2SP's
        "tile/8/0/000",  # Go's sumdb paths carry the tile height
        "tile/0/000.p/0",  # width 0 is no tile
        "tile/0/000.p/256",  # a full tile is never .p
        "tile/0/000.p/300",
        "tile/0/000.p/05",  # leading zero in the width
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000/",
        "/tile/0/000",
        "tile/0/000\n",
        " tile/0/000",
        "tile/0/+00",
        "tile/0/\u0660\u0660\u0660",  # non-ASCII digits
        "tile/0/000.p/\u0665",
        "tile/entries/000.p/256",
        "tile/entries/x000/000",
        "tile/0/" + "x999/" * 40 + "999",  # absurdly long
        "",
        "tile",
    ],
)
def test_non_canonical_tile_paths_are_rejected(path: str) -> None:
    with pytest.raises(TilePathError):
        tile_path_parse(path)


@given(
    level=st.integers(min_value=0, max_value=63),
    index=st.integers(min_value=0, max_value=2**56 - 1),
    width=st.integers(min_value=1, max_value=256),
    entries=st.booleans(),
)
def test_every_tile_path_round_trips(level: int, index: int, width: int, entries: bool) -> None:
    tile = TileRef(level=0 if entries else level, index=index, width=width, entries=entries)
    assert tile_path_parse(tile.path) == tile


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level": 0, "index": 0, "width": 0},
        {"level": 0, "index": 0, "width": 257},
        {"level": 64, "index": 0},
        {"level": -1, "index": 0},
        {"level": 0, "index": -1},
        {"level": 0, "index": 2**56},
        {"level": 1, "index": 0, "entries": True},
        {"level": True, "index": 0},
    ],
)
def test_impossible_tiles_cannot_be_named(kwargs: dict[str, int]) -> None:
    with pytest.raises(TileError):
        TileRef(**kwargs)  # type: ignore[arg-type]


def test_tile_errors_derive_from_crypto_error() -> None:
    assert issubclass(TilePathError, TileError)
    assert issubclass(EntryBundleError, TileError)
    assert issubclass(TileError, CryptoError)


# --- entry bundles ---------------------------------------------------------


def test_entry_bundle_is_uint16_length_prefixed() -> None:
    assert entry_bundle_encode([b"", b"ab", b"\x00" * 256]) == (
        b"\x00\x00" + b"\x00\x02ab" + b"\x01\x00" + b"\x00" * 256
    )
    assert entry_bundle_decode(b"\x00\x00\x00\x02ab") == [b"", b"ab"]
    assert entry_bundle_decode(b"") == []


def test_entry_bundle_limits() -> None:
    assert entry_bundle_decode(entry_bundle_encode([b"x" * MAX_ENTRY_SIZE])) == [
        b"x" * MAX_ENTRY_SIZE
    ]
    with pytest.raises(EntryBundleError):
        entry_bundle_encode([b"x" * (MAX_ENTRY_SIZE + 1)])
    with pytest.raises(EntryBundleError):
        entry_bundle_encode([b""] * 257)
    with pytest.raises(EntryBundleError):
        entry_bundle_decode(b"\x00\x00" * 257)


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x05abc", b"\x00\x01a\x00", b"\xff\xff"])
def test_truncated_entry_bundles_are_rejected(data: bytes) -> None:
    with pytest.raises(EntryBundleError):
        entry_bundle_decode(data)


@given(st.lists(st.binary(max_size=300), max_size=256))
def test_entry_bundles_round_trip(entries: list[bytes]) -> None:
    assert entry_bundle_decode(entry_bundle_encode(entries)) == entries


# --- which tiles exist -------------------------------------------------------


def test_tiles_for_size_follows_the_spec_example() -> None:
    # C2SP tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0
    # tiles, one partial level 0 tile of width 112, one full level 1 tile, one partial
    # level 1 tile of width 17, and one partial level 2 tile of width 1."
    tiles = list(tiles_for_size(size=70_000))
    assert tiles[:273] == [TileRef(level=0, index=i) for i in range(273)]
    assert tiles[273:] == [
        TileRef(level=0, index=273, width=112),
        TileRef(level=1, index=0),
        TileRef(level=1, index=1, width=17),
        TileRef(level=2, index=0, width=1),
    ]
    assert partial_tiles_for_size(size=70_000) == [
        TileRef(level=0, index=273, width=112),
        TileRef(level=1, index=1, width=17),
        TileRef(level=2, index=0, width=1),
    ]
    bundles = list(tiles_for_size(size=70_000, entries=True))
    assert len(bundles) == 274
    assert bundles[-1] == TileRef(level=0, index=273, width=112, entries=True)


def test_tree_of_256_is_one_full_tile_and_a_level_1_tile_of_width_1() -> None:
    # C2SP tlog-tiles: "a tree of size 256 will be represented by a full level 0 tile
    # and a partial level 1 tile of width 1."
    assert list(tiles_for_size(size=256)) == [
        TileRef(level=0, index=0),
        TileRef(level=1, index=0, width=1),
    ]
    assert list(tiles_for_size(size=0)) == []


def test_tile_within_size() -> None:
    assert tile_within_size(tile=TileRef(level=0, index=0), size=256)
    assert not tile_within_size(tile=TileRef(level=0, index=0), size=255)
    assert tile_within_size(tile=TileRef(level=0, index=0, width=200), size=255)
    assert tile_within_size(tile=TileRef(level=0, index=1, width=1), size=257)
    assert not tile_within_size(tile=TileRef(level=0, index=1, width=2), size=257)
    assert tile_within_size(tile=TileRef(level=1, index=0, width=1), size=256)
    assert not tile_within_size(tile=TileRef(level=1, index=0, width=2), size=511)
    assert not tile_within_size(tile=TileRef(level=2, index=0, width=1), size=65535)
    assert tile_within_size(tile=TileRef(level=0, index=255, entries=True), size=65536)


# --- appending ---------------------------------------------------------------


def test_one_leaf_at_a_time_matches_the_spec_definition_of_every_tile() -> None:
    hashes = leaves(600)
    log = MemoryLog()
    for size in range(1, 601):
        written = log.append(hashes[size - 1 : size])
        assert log.root == root_from_leaf_hashes(hashes[:size])
        # Exactly the tiles new or grown at this size were written.
        old = set(tiles_for_size(size=size - 1))
        assert {tile for tile, _ in written} == set(tiles_for_size(size=size)) - old
        for tile, data in written:
            assert data == expected_tile(tile, hashes), tile


@settings(max_examples=40, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=2000),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_appending_in_any_batches_gives_the_same_tiles_as_one_append(
    total: int, cuts: list[int]
) -> None:
    hashes = leaves(total)
    one = MemoryLog()
    one.append(hashes)
    batched = MemoryLog()
    bounds = sorted({c for c in cuts if c < total} | {0, total})
    for start, end in itertools.pairwise(bounds):
        batched.append(hashes[start:end])
        assert batched.root == root_from_leaf_hashes(hashes[:end])
    assert batched.root == one.root == root_from_leaf_hashes(hashes)
    for tile in tiles_for_size(size=total):
        assert batched.tiles[tile] == one.tiles[tile] == expected_tile(tile, hashes)
    # Every partial tile written along the way is right for the size it was written at.
    for tile, data in batched.tiles.items():
        assert data == expected_tile(tile, hashes)


def test_append_reads_only_the_old_partial_tiles_in_one_call() -> None:
    log = MemoryLog()
    log.append(leaves(70_000))
    log.reset_counters()
    log.append(leaves(10))
    assert log.read_calls == 1
    assert log.tiles_read == 3  # the level 0, 1 and 2 partial tiles of size 70,000


def test_empty_append_writes_nothing_and_returns_the_current_root() -> None:
    log = MemoryLog()
    log.append(leaves(300))
    written, root = tiles_for_append(old_size=300, new_leaf_hashes=[], read_tiles=log.read_tiles)
    assert written == []
    assert root == root_from_leaf_hashes(leaves(300))
    written, root = tiles_for_append(old_size=0, new_leaf_hashes=[], read_tiles=log.read_tiles)
    assert (written, root) == ([], EMPTY_ROOT)


def test_append_refuses_to_extend_tiles_that_do_not_match_the_old_root() -> None:
    log = MemoryLog()
    log.append(leaves(300))
    with pytest.raises(TileError):
        tiles_for_append(
            old_size=300,
            new_leaf_hashes=leaves(1),
            read_tiles=log.read_tiles,
            old_root=EMPTY_ROOT,
        )
    partial = TileRef(level=0, index=1, width=44)
    log.tiles[partial] = bytes(32) + log.tiles[partial][32:]
    with pytest.raises(TileError):
        log.append(leaves(1))


@pytest.mark.parametrize("bad", [b"", b"x" * 31, b"x" * 33, "x" * 32])
def test_append_rejects_malformed_leaf_hashes(bad: bytes) -> None:
    with pytest.raises(TileError):
        tiles_for_append(old_size=0, new_leaf_hashes=[bad], read_tiles=MemoryLog().read_tiles)


def test_a_batch_of_10000_leaves_appends_well_under_a_second() -> None:
    log = MemoryLog()
    log.append(leaves(123_456 % 70_000))
    batch = leaves(10_000)
    started = time.perf_counter()
    log.append(batch)
    assert time.perf_counter() - started < 1.0


# --- reading roots and proofs from tiles -----------------------------------

BIG_SIZES = [65_535, 65_536, 65_537]
SIZES = [
    *range(1, 20),
    31,
    32,
    33,
    255,
    256,
    257,
    300,
    511,
    512,
    513,
    1000,
    4096,
    65_280,
    *BIG_SIZES,
]


@pytest.fixture(scope="module")
def big_log() -> tuple[MemoryLog, list[bytes]]:
    """65,537 leaves appended in random batches that stop at every size in SIZES."""
    hashes = leaves(max(SIZES))
    rng = random.Random(20_240_601)
    stops = set(SIZES) | {rng.randrange(1, len(hashes)) for _ in range(40)}
    log = MemoryLog()
    for stop in sorted(stops):
        log.append(hashes[log.size : stop])
    return log, hashes


def test_big_log_tiles_equal_one_big_append(big_log: tuple[MemoryLog, list[bytes]]) -> None:
    log, hashes = big_log
    one = MemoryLog()
    one.append(hashes)
    assert one.root == log.root == root_from_leaf_hashes(hashes)
    for tile in tiles_for_size(size=len(hashes)):
        assert log.tiles[tile] == one.tiles[tile]
    level_2 = TileRef(level=2, index=0, width=1)
    assert log.tiles[level_2] == expected_tile(level_2, hashes)


@pytest.mark.parametrize("size", SIZES)
def test_tree_hash_from_tiles(big_log: tuple[MemoryLog, list[bytes]], size: int) -> None:
    log, hashes = big_log
    log.reset_counters()
    assert tree_hash_from_tiles(size=size, read_tiles=log.read_tiles) == root_from_leaf_hashes(
        hashes[:size]
    )
    assert log.read_calls == 1
    assert log.tiles_read <= 3


def test_tree_hash_of_the_empty_tree_reads_nothing() -> None:
    log = MemoryLog()
    assert tree_hash_from_tiles(size=0, read_tiles=log.read_tiles) == EMPTY_ROOT
    assert log.read_calls == 0


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_from_tiles(big_log: tuple[MemoryLog, list[bytes]], size: int) -> None:
    log, hashes = big_log
    root = root_from_leaf_hashes(hashes[:size])
    rng = random.Random(size)
    indexes = {0, size - 1, size // 2, *(rng.randrange(size) for _ in range(20))}
    checked_against_reference = 0
    for index in sorted(indexes):
        log.reset_counters()
        proof = inclusion_proof_from_tiles(index=index, size=size, read_tiles=log.read_tiles)
        assert log.read_calls == (1 if size > 1 else 0)
        assert log.tiles_read <= 5
        inclusion_verify(index=index, size=size, leaf_hash=hashes[index], proof=proof, root=root)
        # The reference rehashes the whole tree: compare a few proofs on big trees.
        if size < 2000 or checked_against_reference < 3:
            assert proof == inclusion_proof(index=index, size=size, hashes=hashes)
            checked_against_reference += 1


def test_consistency_proofs_from_tiles(big_log: tuple[MemoryLog, list[bytes]]) -> None:
    log, hashes = big_log
    roots = {size: root_from_leaf_hashes(hashes[:size]) for size in SIZES}
    roots[0] = EMPTY_ROOT
    for new_size in SIZES:
        for old_size in [0, *SIZES]:
            if old_size > new_size:
                continue
            log.reset_counters()
            proof = consistency_proof_from_tiles(
                old_size=old_size, new_size=new_size, read_tiles=log.read_tiles
            )
            assert log.read_calls <= 1
            assert log.tiles_read <= 6
            consistency_verify(
                old_size=old_size,
                new_size=new_size,
                old_root=roots[old_size],
                new_root=roots[new_size],
                proof=proof,
            )
            if new_size < 2000 or old_size in (1, 255, 65_535):
                expected = consistency_proof(old_size=old_size, new_size=new_size, hashes=hashes)
                assert proof == expected, (old_size, new_size)


def test_every_small_proof_from_tiles_equals_the_reference() -> None:
    hashes = leaves(70)
    log = MemoryLog()
    for _ in hashes:
        log.append(hashes[log.size : log.size + 1])
    for size in range(1, 71):
        for index in range(size):
            assert inclusion_proof_from_tiles(
                index=index, size=size, read_tiles=log.read_tiles
            ) == inclusion_proof(index=index, size=size, hashes=hashes)
        for old_size in range(size + 1):
            assert consistency_proof_from_tiles(
                old_size=old_size, new_size=size, read_tiles=log.read_tiles
            ) == consistency_proof(old_size=old_size, new_size=size, hashes=hashes)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 5), (6, 5)])
def test_inclusion_proof_from_tiles_rejects_leaves_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(TileError):
        inclusion_proof_from_tiles(index=index, size=size, read_tiles=MemoryLog().read_tiles)


def test_consistency_proof_from_tiles_rejects_shrinking() -> None:
    with pytest.raises(TileError):
        consistency_proof_from_tiles(old_size=5, new_size=4, read_tiles=MemoryLog().read_tiles)


def test_tiles_of_the_wrong_length_are_rejected(big_log: tuple[MemoryLog, list[bytes]]) -> None:
    log, _ = big_log

    def truncating(refs: Sequence[TileRef]) -> list[bytes]:
        return [data[:-1] for data in log.read_tiles(refs)]

    def missing(refs: Sequence[TileRef]) -> list[bytes | None]:
        return [None for _ in refs]

    def too_few(refs: Sequence[TileRef]) -> list[bytes]:
        return log.read_tiles(refs)[:-1]

    for reader in (truncating, missing, too_few):
        with pytest.raises(TileError):
            tree_hash_from_tiles(size=1000, read_tiles=reader)  # type: ignore[arg-type]
        with pytest.raises(TileError):
            inclusion_proof_from_tiles(index=3, size=1000, read_tiles=reader)  # type: ignore[arg-type]
        with pytest.raises(TileError):
            tiles_for_append(old_size=1000, new_leaf_hashes=leaves(1), read_tiles=reader)  # type: ignore[arg-type]


def test_proofs_from_tiles_never_read_past_the_tree(big_log: tuple[MemoryLog, list[bytes]]) -> None:
    log, _ = big_log
    seen: list[TileRef] = []

    def recording(refs: Sequence[TileRef]) -> list[bytes]:
        seen.extend(refs)
        return log.read_tiles(refs)

    for size in (1, 255, 256, 257, 65_536):
        seen.clear()
        tree_hash_from_tiles(size=size, read_tiles=recording)
        inclusion_proof_from_tiles(index=size - 1, size=size, read_tiles=recording)
        consistency_proof_from_tiles(old_size=1, new_size=size, read_tiles=recording)
        assert seen
        assert all(tile in set(tiles_for_size(size=size)) for tile in seen), size


def test_any_earlier_tree_is_served_by_the_latest_tiles(
    big_log: tuple[MemoryLog, list[bytes]],
) -> None:
    """Old partial tiles may be dropped: the latest tiles hold every earlier tree."""
    log, hashes = big_log
    latest = len(hashes)
    latest_tiles = set(tiles_for_size(size=latest))
    seen: list[TileRef] = []

    def latest_only(refs: Sequence[TileRef]) -> list[bytes]:
        seen.extend(refs)
        return log.read_tiles(refs)

    rng = random.Random(7)
    for size in [1, 2, 3, 255, 256, 257, *(rng.randrange(1, latest) for _ in range(12))]:
        root = root_from_leaf_hashes(hashes[:size])
        assert tree_hash_from_tiles(size=size, read_tiles=latest_only, tiles_size=latest) == root
        index = rng.randrange(size)
        proof = inclusion_proof_from_tiles(
            index=index, size=size, read_tiles=latest_only, tiles_size=latest
        )
        inclusion_verify(index=index, size=size, leaf_hash=hashes[index], proof=proof, root=root)
        old_size = rng.randrange(1, size + 1)
        proof = consistency_proof_from_tiles(
            old_size=old_size, new_size=size, read_tiles=latest_only, tiles_size=latest
        )
        consistency_verify(
            old_size=old_size,
            new_size=size,
            old_root=root_from_leaf_hashes(hashes[:old_size]),
            new_root=root,
            proof=proof,
        )
    assert set(seen) <= latest_tiles


def test_tiles_of_an_earlier_tree_cannot_serve_a_later_one() -> None:
    read = MemoryLog().read_tiles
    with pytest.raises(TileError):
        tree_hash_from_tiles(size=10, read_tiles=read, tiles_size=9)
    with pytest.raises(TileError):
        inclusion_proof_from_tiles(index=0, size=10, read_tiles=read, tiles_size=9)
    with pytest.raises(TileError):
        consistency_proof_from_tiles(old_size=1, new_size=10, read_tiles=read, tiles_size=9)
