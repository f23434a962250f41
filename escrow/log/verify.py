"""Recompute the whole log from its entries and compare it with what is stored.

Used by `manage.py audit_verify`, against the database or an export file. Every
leaf hash, every stored hash tile (each version of each partial tile too) and
every signed checkpoint is derived again from the entries alone; the report names
the first log index where anything differs, so a changed, deleted, reordered or
inserted entry points at itself. Read from the database, each event's copied columns
(type, time, actor, object, commitment) are also compared with its entry, and a copy
that differs is reported at its entry's index: the entry is what the checkpoints
sign, and published figures are read from it, never from the copies.

No Django here: sources hand over plain tuples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from escrow.crypto.checkpoint import CheckpointError, checkpoint_open
from escrow.crypto.merkle import HASH_SIZE, root_from_leaf_hashes
from escrow.crypto.note import NoteError, NoteVerifier
from escrow.crypto.tiles import TILE_HEIGHT, TILE_WIDTH, TileError, TileRef, tree_hash_from_tiles
from escrow.log.leaf import CopiedColumns, leaf_columns_differ

_LEAF_PREFIX = b"\x00"  # RFC 9162 s2.1.1
# Problems listed one by one for columns that differ from their entries; beyond, a count.
_COPIES_REPORTED = 100


class LogSource(Protocol):
    """What the verifier reads. Each iterable is consumed once, in the order given."""

    def entries(self) -> Iterable[tuple[int, bytes]]:
        """(log index, entry bytes), by increasing index."""
        ...

    def tiles(self) -> Iterable[tuple[int, int, int, bytes]]:
        """Every stored hash tile: (level, index, width, hashes)."""
        ...

    def checkpoints(self) -> Iterable[tuple[int, str]]:
        """Every stored signed checkpoint: (tree size it is filed under, signed note)."""
        ...


@runtime_checkable
class ColumnSource(Protocol):
    """A source that also holds each entry's copied columns (the database; not an export)."""

    def entries_with_columns(self) -> Iterable[tuple[int, bytes, CopiedColumns | None]]:
        """(log index, entry bytes, the event row's copies of its fields), by increasing
        index; None where the source itself found the copies' text in the entry."""
        ...


@dataclass(frozen=True)
class VerifyProblem:
    """Something differs at log index `index`; if `end` is set, it differs somewhere in
    `index..end-1` (a hash over many leaves), and a problem found at an exact index
    inside that range is the better answer."""

    index: int
    what: str
    end: int | None = None


@dataclass
class VerifyReport:
    entries: int = 0
    tiles: int = 0
    checkpoints: int = 0
    latest_size: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> VerifyProblem | None:
        exact = [p.index for p in self.problems if p.end is None]
        candidates = [
            p for p in self.problems
            if p.end is None or not any(p.index <= i < p.end for i in exact)
        ]
        return min(candidates, key=lambda p: p.index) if candidates else None


def _leaf_hashes(source: LogSource, report: VerifyReport) -> list[bytes]:
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    items: Iterable[tuple[int, bytes, CopiedColumns | None]]
    if isinstance(source, ColumnSource):
        items = source.entries_with_columns()
    else:
        items = ((index, entry, None) for index, entry in source.entries())
    copies_differ: list[int] = []
    for expected, (index, entry, columns) in enumerate(items):
        if index != expected:
            what = "missing" if index > expected else "duplicated or out of order"
            report.problems.append(VerifyProblem(expected, f"log entry {expected} is {what}"))
            break
        leaves.append(sha256(_LEAF_PREFIX + entry).digest())
        if columns is not None and (differ := leaf_columns_differ(entry, columns)):
            copies_differ.append(index)
            if len(copies_differ) <= _COPIES_REPORTED:
                report.problems.append(
                    VerifyProblem(
                        index,
                        f"log entry {index}: the event's copied {', '.join(differ)} "
                        "differ from the logged entry",
                    )
                )
    if len(copies_differ) > _COPIES_REPORTED:
        report.problems.append(
            VerifyProblem(copies_differ[0], f"{len(copies_differ)} events in all have copied "
                                            "columns that differ from their entries")
        )
    report.entries = len(leaves)
    return leaves


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level's hashes as tlog-tiles stores them: level L+1 holds the root of each
    full level-L tile (C2SP tlog-tiles), recomputed from the leaves."""
    levels = [leaves]
    while len(levels[-1]) >= TILE_WIDTH:
        below = levels[-1]
        levels.append(
            [
                root_from_leaf_hashes(below[i : i + TILE_WIDTH])
                for i in range(0, len(below) - TILE_WIDTH + 1, TILE_WIDTH)
            ]
        )
    return levels


def _check_tiles(
    source: LogSource, levels: list[list[bytes]], report: VerifyReport
) -> set[tuple[int, int, int]]:
    size = len(levels[0])
    stored: set[tuple[int, int, int]] = set()
    for level, index, width, data in source.tiles():
        report.tiles += 1
        stored.add((level, index, width))
        start = index * TILE_WIDTH
        row = levels[level] if level < len(levels) else []
        expected = b"".join(row[start : start + width])
        if data == expected and len(expected) == width * HASH_SIZE:
            continue
        for offset in range(width):
            position = start + offset
            if position >= len(row):
                report.problems.append(
                    VerifyProblem(size, f"tile {level}/{index} covers entries from {size} on, "
                                        "which are missing")
                )
                break
            if data[offset * HASH_SIZE : (offset + 1) * HASH_SIZE] != row[position]:
                report.problems.append(
                    VerifyProblem(
                        position << (TILE_HEIGHT * level),
                        f"tile {level}/{index} width {width}: hash {offset} differs from the "
                        "one recomputed from the entries",
                        end=(position + 1) << (TILE_HEIGHT * level) if level else None,
                    )
                )
                break
        else:
            report.problems.append(
                VerifyProblem(start << (TILE_HEIGHT * level),
                              f"tile {level}/{index} has {len(data)} bytes for width {width}")
            )
    return stored


def _memory_tiles(levels: list[list[bytes]]) -> object:
    def read(tiles: Sequence[TileRef]) -> list[bytes]:
        out = []
        for tile in tiles:
            row = levels[tile.level] if tile.level < len(levels) else []
            start = tile.index * TILE_WIDTH
            out.append(b"".join(row[start : start + tile.width]))
        return out

    return read


def _check_checkpoints(
    source: LogSource,
    levels: list[list[bytes]],
    verifier: NoteVerifier,
    origin: str,
    report: VerifyReport,
) -> int:
    size = len(levels[0])
    read = _memory_tiles(levels)
    vouched = 0  # size of the last checkpoint that matched the entries
    latest = -1
    for filed_size, note in sorted(source.checkpoints(), key=lambda c: c[0]):
        report.checkpoints += 1
        try:
            checkpoint = checkpoint_open(message=note.encode("utf-8"), verifier=verifier,
                                         origin=origin)
        except (NoteError, CheckpointError) as exc:
            report.problems.append(
                VerifyProblem(vouched, f"checkpoint {filed_size}: not a valid signed checkpoint "
                                       f"of this log ({type(exc).__name__})")
            )
            continue
        if checkpoint.size != filed_size:
            report.problems.append(
                VerifyProblem(min(vouched, checkpoint.size),
                              f"checkpoint filed under size {filed_size} says {checkpoint.size}")
            )
            continue
        if checkpoint.size <= latest:
            report.problems.append(
                VerifyProblem(checkpoint.size, f"two checkpoints for size {checkpoint.size}")
            )
            continue
        latest = checkpoint.size
        if checkpoint.size > size:
            report.problems.append(
                VerifyProblem(size, f"checkpoint {checkpoint.size} covers entries from {size} on, "
                                    "which are missing")
            )
            continue
        try:
            root = tree_hash_from_tiles(size=checkpoint.size, read_tiles=read)  # type: ignore[arg-type]
        except TileError as exc:
            report.problems.append(VerifyProblem(vouched, f"checkpoint {checkpoint.size}: {exc}"))
            continue
        if root != checkpoint.root_hash:
            report.problems.append(
                VerifyProblem(
                    vouched,
                    f"checkpoint {checkpoint.size}: signed root differs from the entries' root; "
                    f"the difference lies in {vouched}..{checkpoint.size - 1}",
                    end=checkpoint.size,
                )
            )
            continue
        vouched = checkpoint.size
    if latest < 0:
        report.problems.append(VerifyProblem(0, "no signed checkpoint"))
    elif latest < size:
        report.problems.append(
            VerifyProblem(latest, f"entries {latest}..{size - 1} are under no signed checkpoint")
        )
    report.latest_size = max(latest, 0)
    return max(latest, 0)


def _check_tiles_present(
    stored: set[tuple[int, int, int]], latest_size: int, report: VerifyReport
) -> None:
    level = 0
    while count := latest_size >> (TILE_HEIGHT * level):
        full = count // TILE_WIDTH
        widths = [(i, TILE_WIDTH) for i in range(full)]
        if count % TILE_WIDTH:
            widths.append((full, count % TILE_WIDTH))
        for index, width in widths:
            if not any((level, index, w) in stored for w in range(width, TILE_WIDTH + 1)):
                report.problems.append(
                    VerifyProblem(
                        (index * TILE_WIDTH) << (TILE_HEIGHT * level),
                        f"tile {level}/{index} (width {width}) is not stored",
                    )
                )
                break
        level += 1


def log_verify(*, source: LogSource, verifier: NoteVerifier, origin: str) -> VerifyReport:
    """Recompute leaves, tiles and checkpoint roots from the entries; report differences."""
    report = VerifyReport()
    leaves = _leaf_hashes(source, report)
    levels = _levels(leaves)
    stored = _check_tiles(source, levels, report)
    latest = _check_checkpoints(source, levels, verifier, origin, report)
    _check_tiles_present(stored, min(latest, len(leaves)), report)
    return report
