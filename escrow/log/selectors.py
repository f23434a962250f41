"""Reads of the audit log: tiles, entry bundles, checkpoints, events and proofs."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.utils import timezone
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
from escrow.log.db import EntryContains
from escrow.log.leaf import (
    CopiedColumns,
    Leaf,
    LeafMalformed,
    canonical_json,
    leaf_columns_differ,
    leaf_parse,
)
from escrow.log.models import AuditEvent, LogCheckpoint, LogEntry, LogTile

HASH_SIZE = 32
logger = logging.getLogger(__name__)


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
    pick = f"(SELECT id FROM {table} WHERE level = %s AND {index} = %s AND width >= %s"  # noqa: S608  # nosec B608
    picks = ", ".join(pick + " ORDER BY width LIMIT 1)" for _ in tiles)
    params: list[int] = []
    for tile in tiles:
        params += [tile.level, tile.index, tile.width]
    found: dict[tuple[int, int], bytes] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT level, {index}, hashes FROM {table} WHERE id IN ({picks})",  # noqa: S608  # nosec B608
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
            f"SELECT id, tree_size, root_hash, note, created_at FROM {table} "  # noqa: S608  # nosec B608
            "ORDER BY tree_size DESC LIMIT 1"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    checkpoint_id, tree_size, root_hash, note, created_at = row
    if isinstance(created_at, str):  # SQLite hands back text
        created_at = parse_datetime(created_at)
    if created_at is not None and timezone.is_naive(created_at):  # SQLite: UTC, no offset
        created_at = timezone.make_aware(created_at, UTC)
    return LogCheckpoint(id=checkpoint_id, tree_size=tree_size, root_hash=bytes(root_hash),
                         note=note, created_at=created_at)


@dataclass(frozen=True)
class LogBacklog:
    """Committed events the sequencer has not yet appended (metrics, docs/operations.md)."""

    entries: int
    oldest_at: datetime | None


def log_backlog() -> LogBacklog:
    """Events not yet in the log. Only events after the log's last one in sequencing
    order (log_txid, id) are examined, through that index, so the count stays cheap."""
    last = (LogEntry.objects.order_by("-index")
            .values_list("event_id", "event__log_txid").first())
    waiting = AuditEvent.objects.filter(log_entry__isnull=True)
    if last is not None:
        event_id, txid = last
        waiting = waiting.filter(
            Q(id__gt=event_id) if txid is None
            else Q(log_txid__gt=txid) | Q(log_txid=txid, id__gt=event_id)
        )
    found = waiting.aggregate(entries=Count("id"), oldest_at=Min("occurred_at"))
    return LogBacklog(entries=found["entries"], oldest_at=found["oldest_at"])


def audit_event_counts(*, event_types: Sequence[str]) -> dict[str, int]:
    """How many events of each type the log holds (it only grows, so these only rise)."""
    rows = (AuditEvent.objects.filter(event_type__in=event_types)
            .values_list("event_type").annotate(n=Count("id")))
    found = dict(rows)
    return {event_type: found.get(event_type, 0) for event_type in event_types}


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


@dataclass(frozen=True)
class LoggedEvent:
    """An audit event as its log entry tells it: every field read from the hashed leaf."""

    id: int
    log_index: int | None
    entry: bytes
    leaf: Leaf


def _logged(event_id: int, log_index: int | None, entry: bytes) -> LoggedEvent | None:
    try:
        return LoggedEvent(id=event_id, log_index=log_index, entry=entry, leaf=leaf_parse(entry))
    except LeafMalformed as exc:
        logger.error("audit event %s: its entry is not a well-formed leaf (%s)", event_id, exc)
        return None


def log_events_matching(*, needles: Sequence[bytes]) -> Iterator[LoggedEvent]:
    """Sequenced events under the latest signed checkpoint whose entry contains any of
    `needles`, in log order, read from their entries.

    This is what published figures are computed from: the same bytes the checkpoints
    sign, `manage.py audit_verify` checks and an export carries, so anyone holding
    the log can recompute them. The copied columns play no part.
    """
    size = log_tree_size()
    if size == 0 or not needles:
        return
    matches = Q()
    for position in range(len(needles)):
        matches |= Q(**{f"has_{position}": 1})
    rows = (
        LogEntry.objects.filter(index__lt=size)
        .alias(**{f"has_{i}": EntryContains(n, entry="event__entry")
                  for i, n in enumerate(needles)})
        .filter(matches)
        .order_by("index")
        .values_list("index", "event_id", "event__entry")
        .iterator(chunk_size=2000)
    )
    for index, event_id, entry in rows:
        if (event := _logged(event_id, index, bytes(entry))) is not None:
            yield event


def leaf_needle(key: str, value: str) -> bytes:
    """The canonical JSON text `"key":"value"` that a leaf with that field contains."""
    return canonical_json({key: value})[1:-1]


# Rows an auditor's page may scan before it hands back a cursor with what it found.
AUDIT_PAGE_SCAN = 20_000
_AUDIT_PAGE_CHUNK = 1000


@dataclass(frozen=True)
class AuditEventPage:
    events: list[LoggedEvent]
    next_after: int | None  # None: nothing further matches


def _leaf_matches(
    leaf: Leaf,
    *,
    event_type: str | None,
    object_ref: str | None,
    actor_kind: str | None,
    occurred_after: datetime | None,
    occurred_before: datetime | None,
) -> bool:
    if event_type and leaf.event_type != event_type:
        return False
    if object_ref and leaf.object_ref != object_ref:
        return False
    if actor_kind and leaf.actor_kind != actor_kind:
        return False
    if occurred_after is not None and leaf.occurred_at < occurred_after:
        return False
    return not (occurred_before is not None and leaf.occurred_at >= occurred_before)


def audit_event_page(
    *,
    limit: int,
    event_type: str | None = None,
    object_ref: str | None = None,
    actor_kind: str | None = None,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
    sequenced: bool | None = None,
    after_id: int | None = None,
) -> AuditEventPage:
    """Events oldest first, filtered and described by what their entries say.

    The copied columns are neither filtered on nor shown: a row whose columns were
    rewritten appears (or not) exactly as its entry says. Each page scans at most
    AUDIT_PAGE_SCAN rows, so a page can hold fewer than `limit` events while
    `next_after` still points further on.
    """
    events = AuditEvent.objects.order_by("id")
    needles = [
        leaf_needle(key, value)
        for key, value in (("type", event_type), ("object", object_ref), ("kind", actor_kind))
        if value
    ]
    if needles:
        events = events.alias(
            **{f"has_{i}": EntryContains(n) for i, n in enumerate(needles)}
        ).filter(**{f"has_{i}": 1 for i in range(len(needles))})
    if sequenced is not None:
        events = events.filter(log_entry__isnull=not sequenced)
    found: list[LoggedEvent] = []
    cursor = after_id or 0
    scanned = 0
    while scanned < AUDIT_PAGE_SCAN:
        rows = list(
            events.filter(id__gt=cursor).values_list(
                "id", "log_entry__index", "entry", "event_type", "occurred_at", "actor_kind",
                "actor_ref", "actor_role", "object_ref", "commitment",
            )[:_AUDIT_PAGE_CHUNK]
        )
        for event_id, log_index, entry, *copies in rows:
            cursor = event_id
            scanned += 1
            event = _logged(event_id, log_index, bytes(entry))
            if event is None:
                continue
            _copies_check(event, *copies)
            if _leaf_matches(event.leaf, event_type=event_type, object_ref=object_ref,
                             actor_kind=actor_kind, occurred_after=occurred_after,
                             occurred_before=occurred_before):
                found.append(event)
                if len(found) > limit:
                    return AuditEventPage(events=found[:limit], next_after=found[limit - 1].id)
        if len(rows) < _AUDIT_PAGE_CHUNK:
            return AuditEventPage(events=found, next_after=None)
    return AuditEventPage(events=found, next_after=cursor)


def _copies_check(event: LoggedEvent, *copies: Any) -> None:
    """Say so in the service log when a row's copies differ from its entry (audit_verify
    reports the same at the entry's index)."""
    event_type, occurred_at, kind, ref, role, obj, commitment = copies
    differ = leaf_columns_differ(event.entry, CopiedColumns(
        event_type=event_type, occurred_at=occurred_at, actor_kind=kind, actor_ref=ref,
        actor_role=role, object_ref=obj,
        commitment=bytes(commitment) if commitment is not None else None,
    ))
    if differ:
        logger.error("audit event %s: copied %s differ from its log entry; shown from the entry",
                     event.id, ", ".join(differ))


def audit_event_logged(*, event_id: int) -> LoggedEvent:
    """One event as its entry tells it."""
    row = (
        AuditEvent.objects.filter(id=event_id)
        .values_list("id", "log_entry__index", "entry")
        .first()
    )
    event = _logged(row[0], row[1], bytes(row[2])) if row is not None else None
    if event is None:
        raise LogEventNotFound(f"no audit event {event_id} with a well-formed entry")
    return event


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


def audit_event_type_suggestions() -> list[str]:
    """The event types seen so far, to suggest in a filter (a convenience only: filtering
    itself reads each entry, never the copied column this list comes from)."""
    return list(AuditEvent.objects.order_by("event_type").values_list("event_type", flat=True)
                .distinct()[:500])
