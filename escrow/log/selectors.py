"""Reads of the audit log: tiles, entry bundles, checkpoints, events and proofs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from escrow.crypto.merkle import leaf_hash
from escrow.crypto.tiles import (
    TILE_WIDTH,
    TileError,
    TileRef,
    consistency_proof_from_tiles,
    entry_bundle_encode,
    inclusion_proof_from_tiles,
    partial_tiles_for_size,
    tile_within_size,
    tree_hash_from_tiles,
)
from escrow.log.models import AuditEvent, LogCheckpoint, LogEntry, LogTile

HASH_SIZE = 32


class LogEventNotFound(Exception):
    """No audit event has that id."""


class LogEventNotSequenced(Exception):
    """The event is not yet in the log, or not yet under a signed checkpoint."""


class LogTreeSizeInvalid(Exception):
    """A tree size beyond the latest checkpoint, or sizes in the wrong order."""


def log_tiles_read(tiles: Sequence[TileRef]) -> list[bytes]:
    """The `read_tiles` callback of escrow.crypto.tiles, in one query.

    A tile is served from the narrowest stored version at least as wide: hashes
    inside a tile never change, so a prefix of a wider version is the narrower one.
    A missing tile comes back empty, which the crypto core reports as a TileError.
    """
    if not tiles:
        return []
    table = connection.ops.quote_name(LogTile._meta.db_table)
    index = connection.ops.quote_name("index")
    # Only quoted identifiers are formatted in; every value is a parameter.
    pick = f"(SELECT id FROM {table} WHERE level = %s AND {index} = %s AND width >= %s"  # noqa: S608
    picks = ", ".join(pick + " ORDER BY width LIMIT 1)" for _ in tiles)
    params: list[int] = []
    for tile in tiles:
        params += [tile.level, tile.index, tile.width]
    found: dict[tuple[int, int], bytes] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT level, {index}, hashes FROM {table} WHERE id IN ({picks})",  # noqa: S608
            params,
        )
        for level, index, hashes in cursor.fetchall():
            found[(level, index)] = bytes(hashes)
    return [found.get((t.level, t.index), b"")[: t.width * HASH_SIZE] for t in tiles]


def log_checkpoint_latest() -> LogCheckpoint | None:
    # On every proof and tile request: one indexed row, without the ORM's overhead.
    table = connection.ops.quote_name(LogCheckpoint._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, tree_size, root_hash, note, created_at FROM {table} "  # noqa: S608
            "ORDER BY tree_size DESC LIMIT 1"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    checkpoint_id, tree_size, root_hash, note, created_at = row
    if isinstance(created_at, str):  # SQLite hands back text
        created_at = parse_datetime(created_at)
    return LogCheckpoint(id=checkpoint_id, tree_size=tree_size, root_hash=bytes(root_hash),
                         note=note, created_at=created_at)


def log_checkpoint_for_size(*, tree_size: int) -> LogCheckpoint | None:
    return LogCheckpoint.objects.filter(tree_size=tree_size).first()


def log_checkpoint_served(checkpoint: LogCheckpoint) -> str:
    """The checkpoint as served: the log's signed note plus any witness cosignatures."""
    if not settings.ESCROW_LOG_WITNESS_KEYS:
        return checkpoint.note  # no witness configured, so none can have cosigned
    lines = [c.line.rstrip("\n") + "\n" for c in checkpoint.cosignatures.order_by("id")]
    return checkpoint.note + "".join(lines)


def log_tree_size() -> int:
    checkpoint = log_checkpoint_latest()
    return checkpoint.tree_size if checkpoint else 0


def log_hash_tile(*, tile: TileRef) -> bytes | None:
    """A hash tile's bytes if the latest checkpoint fixes all of it, else None."""
    if tile.entries or not tile_within_size(tile=tile, size=log_tree_size()):
        return None
    data = log_tiles_read([tile])[0]
    return data if len(data) == tile.width * HASH_SIZE else None


def log_entries(*, start: int, stop: int) -> list[bytes]:
    """The entries at log indexes start..stop-1, in order."""
    rows = (
        LogEntry.objects.filter(index__gte=start, index__lt=stop)
        .order_by("index")
        .values_list("event__entry", flat=True)
    )
    return [bytes(entry) for entry in rows]


def log_entry_bundle(*, tile: TileRef) -> bytes | None:
    """A C2SP tlog-tiles entry bundle if the latest checkpoint covers all of it."""
    if not tile.entries or not tile_within_size(tile=tile, size=log_tree_size()):
        return None
    start = tile.index * TILE_WIDTH
    entries = log_entries(start=start, stop=start + tile.width)
    if len(entries) != tile.width:
        return None
    return entry_bundle_encode(entries)


def audit_event_list(
    *,
    event_type: str | None = None,
    object_ref: str | None = None,
    actor_kind: str | None = None,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
    sequenced: bool | None = None,
    after_id: int | None = None,
) -> QuerySet[AuditEvent]:
    """Events oldest first, with their log entry joined (log index or none yet)."""
    events = AuditEvent.objects.select_related("log_entry").order_by("id")
    if event_type:
        events = events.filter(event_type=event_type)
    if object_ref:
        events = events.filter(object_ref=object_ref)
    if actor_kind:
        events = events.filter(actor_kind=actor_kind)
    if occurred_after is not None:
        events = events.filter(occurred_at__gte=occurred_after)
    if occurred_before is not None:
        events = events.filter(occurred_at__lt=occurred_before)
    if sequenced is not None:
        events = events.filter(log_entry__isnull=not sequenced)
    if after_id is not None:
        events = events.filter(id__gt=after_id)
    return events


def audit_event_get(*, event_id: int) -> AuditEvent:
    event = AuditEvent.objects.select_related("log_entry").filter(id=event_id).first()
    if event is None:
        raise LogEventNotFound(f"no audit event {event_id}")
    return event


def audit_event_log_index(event: AuditEvent) -> int | None:
    try:
        return int(event.log_entry.index)
    except LogEntry.DoesNotExist:
        return None


@dataclass(frozen=True)
class InclusionProof:
    log_index: int
    tree_size: int
    leaf_hash: bytes
    root_hash: bytes
    proof: list[bytes]
    checkpoint: str


def log_inclusion_proof(*, event: AuditEvent, tree_size: int | None = None) -> InclusionProof:
    """The audit path of the event's leaf up to a signed checkpoint (the latest by default)."""
    index = audit_event_log_index(event)
    if index is None:
        raise LogEventNotSequenced(f"event {event.pk} is not in the log yet")
    if tree_size is None:
        checkpoint = log_checkpoint_latest()
    else:
        checkpoint = log_checkpoint_for_size(tree_size=tree_size)
    if checkpoint is None:
        raise LogTreeSizeInvalid(f"no signed checkpoint for tree size {tree_size}")
    if checkpoint.tree_size <= index:
        raise LogEventNotSequenced(
            f"event {event.pk} is at index {index}, beyond checkpoint {checkpoint.tree_size}"
        )
    proof = inclusion_proof_from_tiles(
        index=index, size=checkpoint.tree_size, read_tiles=log_tiles_read
    )
    return InclusionProof(
        log_index=index,
        tree_size=checkpoint.tree_size,
        leaf_hash=leaf_hash(bytes(event.entry)),
        root_hash=bytes(checkpoint.root_hash),
        proof=proof,
        checkpoint=log_checkpoint_served(checkpoint),
    )


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]


class _PrefetchingReader:
    """A `read_tiles` that fetches `extra` tiles along with the first request, so a
    proof and the tree hashes around it cost one query between them."""

    def __init__(self, extra: Sequence[TileRef]) -> None:
        self._extra = list(extra)
        self._cache: dict[TileRef, bytes] = {}

    def __call__(self, tiles: Sequence[TileRef]) -> list[bytes]:
        missing = [t for t in tiles if t not in self._cache]
        if missing:
            wanted = list(dict.fromkeys([*missing, *self._extra]))
            self._extra = []
            self._cache.update(zip(wanted, log_tiles_read(wanted), strict=True))
        return [self._cache[t] for t in tiles]


def log_consistency_proof(*, old_size: int, new_size: int | None = None) -> ConsistencyProof:
    """Proof that the tree of `new_size` (the latest checkpoint by default) extends `old_size`."""
    latest = log_checkpoint_latest()
    latest_size = latest.tree_size if latest is not None else 0
    new_size = latest_size if new_size is None else new_size
    if not 0 <= old_size <= new_size <= latest_size:
        raise LogTreeSizeInvalid(
            f"need 0 <= old_size <= new_size <= {latest_size}, got {old_size} and {new_size}"
        )
    # The roots' tiles are the partial tiles of each size; fetch them with the proof's.
    reader = _PrefetchingReader(
        [*partial_tiles_for_size(size=old_size), *partial_tiles_for_size(size=new_size)]
    )
    try:
        proof = consistency_proof_from_tiles(
            old_size=old_size, new_size=new_size, read_tiles=reader
        )
        old_root = tree_hash_from_tiles(size=old_size, read_tiles=reader)
        if latest is not None and new_size == latest_size:
            new_root = bytes(latest.root_hash)
        else:
            new_root = tree_hash_from_tiles(size=new_size, read_tiles=reader)
    except TileError as exc:
        raise LogTreeSizeInvalid(str(exc)) from None
    return ConsistencyProof(
        old_size=old_size, new_size=new_size, old_root=old_root, new_root=new_root, proof=proof
    )
