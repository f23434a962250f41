"""The audit log as C2SP tlog-tiles: tile paths, entry bundles, appends and proofs.

The log's Merkle tree (RFC 6962 hashing, `escrow.crypto.merkle`) is stored only
as hash tiles, the same immutable resources a tlog-tiles client downloads:

* a tile has height 8, so a full tile holds 256 hashes (8,192 bytes);
* tile N at level L holds, for i in 0..255,
  MTH(D[(N * 256 + i) * 256**L : (N * 256 + i + 1) * 256**L]): level 0 holds
  leaf hashes, level 1 the roots of full level-0 tiles, and so on;
* the rightmost tile of each level is usually partial: for a tree of size s
  the level-L partial tile has (s >> 8L) % 256 hashes, and a width of 0 means
  there is none. A partial tile is never hashed into the level above.

Every hash of a node whose subtree is complete can be recomputed from one tile
(a node at tree height h sits in the level h // 8 tile, as the root of
2**(h % 8) consecutive hashes), so roots and proofs need O(log n) tile reads
and at most 255 hashes per tile level, whatever the log's size.

Storage stays outside: callers pass `read_tiles`, which fetches several tiles
in one call (one database query) and returns their bytes in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import EMPTY_ROOT, HASH_SIZE, node_hash, root_from_concatenated_hashes

# C2SP tlog-tiles: tiles have height 8, so a full tile is 256 hashes wide.
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
# C2SP tlog-tiles: "<L> ... MUST be a decimal ASCII integer between 0 and 63".
MAX_LEVEL = 63
# C2SP tlog-tiles: entries in a bundle carry a big-endian uint16 length.
MAX_ENTRY_SIZE = 0xFFFF
# A tree never holds more than 2**64 leaves, so no tile index reaches 2**56.
_MAX_INDEX = 1 << (64 - TILE_HEIGHT)
_MAX_PATH_LENGTH = 128

ReadTiles = Callable[[Sequence["TileRef"]], Sequence[bytes]]


class TileError(CryptoError):
    """A tile is malformed, has the wrong size, or does not exist for that tree."""


class TilePathError(TileError):
    """A tile path is not the one canonical C2SP tlog-tiles path of any tile."""


class EntryBundleError(TileError):
    """An entry bundle cannot be encoded or decoded."""


@dataclass(frozen=True)
class TileRef:
    """One tile (or, with `entries`, one entry bundle) of the log.

    `width` is the number of hashes (or entries) it holds: 256 for a full tile,
    1..255 for a partial one.
    """

    level: int
    index: int
    width: int = TILE_WIDTH
    entries: bool = False

    def __post_init__(self) -> None:
        for name in ("level", "index", "width"):
            value = getattr(self, name)
            if type(value) is not int:
                raise TileError(f"tile {name} must be an int, not {type(value).__name__}")
        if not 0 <= self.level <= MAX_LEVEL:
            raise TileError(f"tile level {self.level} is outside 0..{MAX_LEVEL}")
        if not 0 <= self.index < _MAX_INDEX:
            raise TileError(f"tile index {self.index} is out of range")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TileError(f"tile width {self.width} is outside 1..{TILE_WIDTH}")
        if self.entries and self.level != 0:
            raise TileError("entry bundles only exist at level 0")

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """The C2SP tlog-tiles path, relative to the log's URL prefix."""
        level = "entries" if self.entries else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{level}/{_index_path(self.index)}{suffix}"


def _index_path(index: int) -> str:
    # C2SP tlog-tiles: the index as zero-padded 3-digit path elements, all but the
    # last prefixed with "x" (1234067 -> x001/x234/067).
    elements = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        elements.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(elements))


def tile_path(*, level: int, index: int, width: int | None = None) -> str:
    """The path of hash tile `index` at `level`; partial if `width` is below 256."""
    return TileRef(level=level, index=index, width=TILE_WIDTH if width is None else width).path


def entries_path(*, index: int, width: int | None = None) -> str:
    """The path of entry bundle `index`; partial if `width` is below 256."""
    width = TILE_WIDTH if width is None else width
    return TileRef(level=0, index=index, width=width, entries=True).path


_TILE_PATH = re.compile(
    r"tile/(?P<level>entries|[0-9]+)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[0-9]+))?"
)


def tile_path_parse(path: str) -> TileRef:
    """The tile a path names; `TilePathError` unless it is that tile's canonical path.

    Canonical means exactly what `TileRef.path` renders: no leading zeros in the
    level or width, no "x000" elements before the first significant group, a
    `.p/` suffix only with a width of 1..255, ASCII digits only.
    """
    if not isinstance(path, str) or len(path) > _MAX_PATH_LENGTH:
        raise TilePathError("not a tile path")
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        raise TilePathError(f"not a tile path: {path!r}")
    entries = match["level"] == "entries"
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = TILE_WIDTH if match["width"] is None else int(match["width"])
    if match["width"] is not None and not 1 <= width < TILE_WIDTH:
        raise TilePathError(f"partial tile width must be 1..255: {path!r}")
    try:
        tile = TileRef(
            level=0 if entries else int(match["level"]),
            index=index,
            width=width,
            entries=entries,
        )
    except TileError as exc:
        raise TilePathError(f"{exc}: {path!r}") from None
    if tile.path != path:
        raise TilePathError(f"non-canonical tile path: {path!r}")
    return tile


def entry_bundle_encode(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    if len(entries) > TILE_WIDTH:
        raise EntryBundleError(f"a bundle holds at most {TILE_WIDTH} entries")
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise EntryBundleError(f"entry of {len(entry)} bytes exceeds {MAX_ENTRY_SIZE}")
        # C2SP tlog-tiles: "sequences of big-endian uint16 length-prefixed log entries".
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def entry_bundle_decode(data: bytes) -> list[bytes]:
    """The entries of a bundle; `EntryBundleError` if it is truncated or too long."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == TILE_WIDTH:
            raise EntryBundleError(f"bundle holds more than {TILE_WIDTH} entries")
        if offset + 2 > len(data):
            raise EntryBundleError("bundle ends inside an entry length")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise EntryBundleError("bundle ends inside an entry")
        entries.append(bytes(data[offset : offset + length]))
        offset += length
    return entries


def _level_count(size: int, level: int) -> int:
    """How many hashes level `level` tiles hold in total for a tree of `size`."""
    return size >> (TILE_HEIGHT * level)


def tiles_for_size(*, size: int, entries: bool = False) -> Iterator[TileRef]:
    """Every tile that exists for a tree of `size`: full tiles, then the partial one,
    level by level (or, with `entries`, every entry bundle). O(size / 256) tiles."""
    _check_size(size)
    level = 0
    while count := _level_count(size, level):
        for index in range(count // TILE_WIDTH):
            yield TileRef(level=level, index=index, entries=entries)
        if count % TILE_WIDTH:
            yield TileRef(
                level=level, index=count // TILE_WIDTH, width=count % TILE_WIDTH, entries=entries
            )
        if entries:
            return
        level += 1


def partial_tiles_for_size(*, size: int) -> list[TileRef]:
    """The partial hash tile of each level for a tree of `size` (lowest level first)."""
    _check_size(size)
    tiles = []
    level = 0
    while count := _level_count(size, level):
        if count % TILE_WIDTH:
            tiles.append(TileRef(level=level, index=count // TILE_WIDTH, width=count % TILE_WIDTH))
        level += 1
    return tiles


def tile_within_size(*, tile: TileRef, size: int) -> bool:
    """Whether every hash (or entry) of `tile` is fixed by a tree of `size`.

    A server serves a tile only if this holds for its latest checkpoint: full tiles
    inside the tree, and partial tiles of this or any earlier size.
    """
    _check_size(size)
    return tile.index * TILE_WIDTH + tile.width <= _level_count(size, tile.level)


def _check_size(size: int) -> None:
    if type(size) is not int or not 0 <= size < 1 << 64:
        raise TileError(f"tree size {size!r} is out of range")


def _split_hashes(data: bytes) -> list[bytes]:
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _read(read_tiles: ReadTiles, tiles: Sequence[TileRef]) -> dict[TileRef, bytes]:
    """Fetch `tiles` in one `read_tiles` call, checking every tile's length."""
    if not tiles:
        return {}
    data = read_tiles(tiles)
    if len(data) != len(tiles):
        raise TileError(f"asked for {len(tiles)} tiles, got {len(data)}")
    out = {}
    for tile, raw in zip(tiles, data, strict=True):
        if raw is None or len(raw) != tile.width * HASH_SIZE:
            got = "nothing" if raw is None else f"{len(raw)} bytes"
            raise TileError(f"tile {tile.path} should be {tile.width * HASH_SIZE} bytes, got {got}")
        out[tile] = bytes(raw)
    return out


def _perfect_chunk_roots(hashes: Sequence[bytes]) -> list[bytes]:
    """Roots of the perfect subtrees the hashes of a partial tile split into, left first.

    Width w splits by its binary digits (w = 13: 8 + 4 + 1); these are the
    tree's complete subtrees that end at the tree's right edge.
    """
    roots = []
    start = 0
    remaining = len(hashes)
    while remaining:
        chunk = 1 << (remaining.bit_length() - 1)
        roots.append(root_from_concatenated_hashes(b"".join(hashes[start : start + chunk])))
        start += chunk
        remaining -= chunk
    return roots


def _fold(subtree_roots: Sequence[bytes]) -> bytes:
    """MTH of adjacent subtrees of decreasing power-of-two sizes: each splits at its
    first subtree (RFC 9162 s2.1.1), so the hash folds from the right."""
    if not subtree_roots:
        return EMPTY_ROOT
    acc = subtree_roots[-1]
    for left in reversed(subtree_roots[:-1]):
        acc = node_hash(left, acc)
    return acc


def _root_from_partials(partials: dict[int, list[bytes]]) -> bytes:
    """The tree hash from the partial tile of every level (the highest level's
    subtrees are leftmost)."""
    roots: list[bytes] = []
    for level in sorted(partials, reverse=True):
        roots.extend(_perfect_chunk_roots(partials[level]))
    return _fold(roots)


def tiles_for_append(
    *,
    old_size: int,
    new_leaf_hashes: Sequence[bytes],
    read_tiles: ReadTiles,
    old_root: bytes | None = None,
) -> tuple[list[tuple[TileRef, bytes]], bytes]:
    """Append leaf hashes to the tree of `old_size`: the tiles to store, and the new root.

    Returns every tile that is new or grown for the tree of
    `old_size + len(new_leaf_hashes)`: the tiles that became full, at every level,
    and the partial tile of each level whose width changed. Partial tiles of the
    old size are superseded, not changed (tiles are immutable once served).

    Only the old partial tile of each level is read, in one `read_tiles` call.
    Hashing is one node hash per leaf (to close full level-0 tiles), 1/256 of
    that for level 1 and so on, plus at most 255 hashes per level for the root.
    With `old_root`, the tiles read are first checked against it, so a damaged
    store is never extended (`TileError`).
    """
    _check_size(old_size)
    for leaf in new_leaf_hashes:
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise TileError(f"a leaf hash must be {HASH_SIZE} bytes")
    new_size = old_size + len(new_leaf_hashes)
    _check_size(new_size)
    old_tiles = _read(read_tiles, partial_tiles_for_size(size=old_size))
    old_partials = {tile.level: _split_hashes(data) for tile, data in old_tiles.items()}
    if old_root is not None and _root_from_partials(old_partials) != old_root:
        raise TileError(f"stored tiles do not match the root of the tree of size {old_size}")

    written: list[tuple[TileRef, bytes]] = []
    new_partials: dict[int, list[bytes]] = {}
    incoming = list(new_leaf_hashes)
    level = 0
    while _level_count(new_size, level):
        old_count = _level_count(old_size, level)
        new_count = _level_count(new_size, level)
        if old_count == new_count:
            # Nothing reached this level, so nothing reaches the ones above it.
            new_partials.update({lv: h for lv, h in old_partials.items() if lv >= level})
            break
        row = old_partials.get(level, []) + incoming
        first = old_count // TILE_WIDTH
        full = new_count // TILE_WIDTH - first
        incoming = []
        for i in range(full):
            data = b"".join(row[i * TILE_WIDTH : (i + 1) * TILE_WIDTH])
            written.append((TileRef(level=level, index=first + i), data))
            # C2SP tlog-tiles: a level L+1 hash is the MTH of a full level L tile.
            incoming.append(root_from_concatenated_hashes(data))
        rest = row[full * TILE_WIDTH :]
        if rest:
            tile = TileRef(level=level, index=first + full, width=len(rest))
            written.append((tile, b"".join(rest)))
            new_partials[level] = rest
        level += 1
    return written, _root_from_partials(new_partials)


# Hashes of complete subtrees are named by (height, index): node (h, n) is the
# MTH of leaves [n * 2**h, (n + 1) * 2**h).
_Node = tuple[int, int]


def _perfect_cover(lo: int, hi: int) -> list[_Node]:
    """The complete subtrees whose right fold is MTH(D[lo:hi]), for a range that
    starts at a multiple of its own size rounded up to a power of two, as every
    range in the RFC 9162 proof recursions does."""
    nodes = []
    while lo < hi:
        height = (hi - lo).bit_length() - 1
        nodes.append((height, lo >> height))
        lo += 1 << height
    return nodes


def _tile_slot(node: _Node, size: int) -> tuple[TileRef, int, int]:
    """The tile of the tree of `size` holding `node`, and the hash range within it."""
    height, index = node
    level, height_in_tile = divmod(height, TILE_HEIGHT)
    first = index << height_in_tile
    tile_index, offset = divmod(first, TILE_WIDTH)
    width = min(TILE_WIDTH, _level_count(size, level) - tile_index * TILE_WIDTH)
    count = 1 << height_in_tile
    if offset + count > width:
        raise TileError(f"subtree {node} is not complete in a tree of size {size}")
    return TileRef(level=level, index=tile_index, width=width), offset, offset + count


def _range_hashes(
    *, size: int, ranges: Sequence[tuple[int, int]], read_tiles: ReadTiles
) -> list[bytes]:
    """MTH(D[lo:hi]) for each range of the tree of `size`, from one tile read."""
    covers = [_perfect_cover(lo, hi) for lo, hi in ranges]
    slots = {node: _tile_slot(node, size) for cover in covers for node in cover}
    tiles = list(dict.fromkeys(tile for tile, _, _ in slots.values()))
    data = _read(read_tiles, tiles)
    node_hashes = {}
    for node, (tile, start, end) in slots.items():
        node_hashes[node] = root_from_concatenated_hashes(
            data[tile][start * HASH_SIZE : end * HASH_SIZE]
        )
    return [_fold([node_hashes[node] for node in cover]) for cover in covers]


def _split_point(n: int) -> int:
    # RFC 9162 s2.1.1: the largest power of two smaller than n.
    return 1 << ((n - 1).bit_length() - 1)


def _tiles_size(size: int, tiles_size: int | None) -> int:
    """The tree size whose tiles are read: `size`'s own, or those of any later size
    (tiles of complete subtrees never change, so a later tree's tiles hold every
    hash of an earlier one and old partial tiles need not be kept)."""
    if tiles_size is None:
        return size
    _check_size(tiles_size)
    if tiles_size < size:
        raise TileError(f"tiles of size {tiles_size} cannot serve a tree of size {size}")
    return tiles_size


def tree_hash_from_tiles(
    *, size: int, read_tiles: ReadTiles, tiles_size: int | None = None
) -> bytes:
    """The root hash of the tree of `size`, from one read of the tiles of
    `tiles_size` (by default `size`; any later size works)."""
    _check_size(size)
    tiles_size = _tiles_size(size, tiles_size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes(size=tiles_size, ranges=[(0, size)], read_tiles=read_tiles)[0]


def inclusion_proof_from_tiles(
    *, index: int, size: int, read_tiles: ReadTiles, tiles_size: int | None = None
) -> list[bytes]:
    """The RFC 9162 s2.1.3.1 audit path of leaf `index` in the tree of `size`, from
    one read of the tiles of `tiles_size` (by default `size`)."""
    _check_size(size)
    tiles_size = _tiles_size(size, tiles_size)
    if type(index) is not int or not 0 <= index < size:
        raise TileError(f"no leaf {index} in a tree of size {size}")
    # PATH(m, D[lo:hi]) descends to the half holding m; each step adds the MTH of
    # the other half, and the path lists them bottom to top.
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split_point(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return _range_hashes(size=tiles_size, ranges=ranges, read_tiles=read_tiles)


def consistency_proof_from_tiles(
    *, old_size: int, new_size: int, read_tiles: ReadTiles, tiles_size: int | None = None
) -> list[bytes]:
    """The RFC 9162 s2.1.4.1 proof that the tree of `new_size` extends `old_size`,
    from one read of the tiles of `tiles_size` (by default `new_size`), so the old
    size's partial tiles need not be kept. Empty between equal sizes and from the
    empty tree.
    """
    _check_size(old_size)
    _check_size(new_size)
    tiles_size = _tiles_size(new_size, tiles_size)
    if old_size > new_size:
        raise TileError(f"no consistency proof from size {old_size} down to {new_size}")
    if old_size in (0, new_size):
        return []
    # SUBPROOF(m, D[lo:hi], b), iteratively: m is old_size - lo, and `whole` is b.
    ranges = []
    lo, hi = 0, new_size
    whole = True
    while old_size != hi:
        mid = lo + _split_point(hi - lo)
        if old_size <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return _range_hashes(size=tiles_size, ranges=ranges, read_tiles=read_tiles)
