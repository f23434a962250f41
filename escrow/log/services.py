"""Changes to the audit log: sequencing, checkpoint signing, waiting for a checkpoint.

One sequencer at a time (a PostgreSQL advisory lock, held for one transaction)
takes committed audit events in order, gives each the next log index, extends the
Merkle tree's hash tiles and signs a C2SP tlog-checkpoint for the new size, all in
one transaction: a checkpoint never names a tree whose tiles or entries are not
stored. `event_record` is untouched by any of this: signups never wait on it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count

from escrow.crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_sign
from escrow.crypto.commitment import CommitmentMismatch, SealedDetailError
from escrow.crypto.cosignature import checkpoint_open_cosigned, cosignature_timestamp
from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import EMPTY_ROOT, inclusion_verify, leaf_hash
from escrow.crypto.note import NoteError, note_open
from escrow.crypto.tiles import MAX_ENTRY_SIZE, inclusion_proof_from_tiles, tiles_for_append
from escrow.jobs import task_enqueue_on_commit
from escrow.log.events import Actor, event_record, sealed_detail_open
from escrow.log.keys import LogKeyInvalid, log_identity
from escrow.log.leaf import LeafMalformed, leaf_parse
from escrow.log.models import AuditEvent, LogCheckpoint, LogCosignature, LogEntry, LogTile
from escrow.log.selectors import log_checkpoint_latest, log_checkpoint_served, log_tiles_read

logger = logging.getLogger("escrow.log")

# The Celery task (escrow/log/tasks.py) that runs `log_sequence`.
LOG_SEQUENCE_TASK = "escrow.log.tasks.log_sequence_task"

# One advisory lock key for the whole cluster: the first 8 bytes of a fixed label.
SEQUENCER_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"identity-escrow audit log sequencer").digest()[:8], "big", signed=True
)
_process_lock = threading.Lock()


class LogUnavailable(Exception):
    """The log could not cover the event with a signed checkpoint in time: fail closed."""


class LogIntegrityError(Exception):
    """The stored log does not match its own latest checkpoint: the sequencer stops."""


@dataclass(frozen=True)
class LogInclusion:
    """Proof that an event is leaf `log_index` of the signed tree of `tree_size`."""

    log_index: int
    checkpoint_text: str
    tree_size: int
    root_hash: bytes
    inclusion_proof: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class SequenceResult:
    appended: int
    tree_size: int
    checkpoints: int
    busy: bool = False


@dataclass(frozen=True)
class _Head:
    size: int
    root: bytes
    cursor_txid: int | None
    cursor_event_id: int
    signed: bool


@contextmanager
def _sequencer_turn() -> Iterator[bool]:
    """A transaction in which the caller is the log's only sequencer, if it got the lock.

    PostgreSQL: a transaction-scoped advisory lock, so a crashed sequencer can never
    leave it held. SQLite: writers are serialised by the database already; the
    process lock keeps two threads from both reading the same head.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK_KEY])
            row = cursor.fetchone()
            yield bool(row and row[0])
        return
    acquired = _process_lock.acquire(blocking=False)
    try:
        with transaction.atomic():
            yield acquired
    finally:
        if acquired:
            _process_lock.release()


def _head() -> _Head:
    latest = log_checkpoint_latest()
    size = latest.tree_size if latest is not None else 0
    tail = list(
        LogEntry.objects.filter(index__gte=max(size - 1, 0))
        .order_by("index")
        .values_list("index", "event_id", "event__log_txid")[:2]
    )
    expected = [size - 1] if size else []
    if [row[0] for row in tail] != expected:
        raise LogIntegrityError(
            f"log entries {[row[0] for row in tail]} disagree with checkpoint size {size}"
        )
    if not size:
        return _Head(size=0, root=EMPTY_ROOT, cursor_txid=None, cursor_event_id=0,
                     signed=latest is not None)
    assert latest is not None  # noqa: S101  (size > 0 implies a checkpoint)
    _, event_id, txid = tail[0]
    return _Head(size=size, root=bytes(latest.root_hash), cursor_txid=txid,
                 cursor_event_id=event_id, signed=True)


# Which committed events the sequencer may take (PostgreSQL). Events are taken in
# (inserting transaction id, event id) order; `log_txid` is always a top-level
# transaction id. The reading statement's snapshot names the transactions still
# running; events are taken only below the oldest of them that could still insert
# events here, so none can later turn up behind the cursor. A transaction of a
# backend connected to another database of the cluster cannot; nor can a
# subtransaction (its top-level transaction is older and judged instead); nor one
# that rolled back. One that committed after the snapshot was taken is waited for:
# the next snapshot sees its events. Anything that cannot be placed counts as a
# blocker (a delay, never a skip). The caller's own open transaction may be taken
# too (a test, or a caller sequencing its own events) when nothing that could still
# insert events here is older than it.
_CANDIDATES_SQL = """
SELECT e.id, e.log_txid, e.entry, pg_current_snapshot()::text,
       pg_current_xact_id_if_assigned()::text::bigint
FROM {table} e
WHERE (e.log_txid, e.id) > (%s, %s)
  AND (e.log_txid < pg_snapshot_xmax(pg_current_snapshot())::text::bigint
       OR e.log_txid = pg_current_xact_id_if_assigned()::text::bigint)
ORDER BY e.log_txid, e.id
LIMIT %s
"""
# Top-level transactions now running (and prepared ones), and whether each belongs
# to this database. Read after the snapshot, before the statuses below.
_TOP_LEVEL_SQL = """
SELECT backend_xid::text::bigint, datname IS NOT DISTINCT FROM current_database()
FROM pg_stat_activity WHERE backend_xid IS NOT NULL
UNION ALL
SELECT transaction::text::bigint, database = current_database() FROM pg_prepared_xacts
"""
_STATUS_SQL = "SELECT g, pg_xact_status(g::text::xid8) FROM unnest(%s::bigint[]) AS g"
_XID_LOW = 1 << 32
_OWN_RANGE_LIMIT = 10_000
_SNAPSHOT_ATTEMPTS = 5


def _blocking(cursor: Any, xids: list[int]) -> tuple[set[int], bool]:
    """Which of these (64-bit) ids could still add events here, and whether any of them
    only committed after the snapshot (a fresh snapshot would then see further)."""
    if not xids:
        return set(), False
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(_TOP_LEVEL_SQL)
    top_level = {xid % _XID_LOW: ours for xid, ours in cursor.fetchall()}
    cursor.execute(_STATUS_SQL, [xids])
    status = dict(cursor.fetchall())
    blockers: set[int] = set()
    late_commit = False
    for xid in xids:
        ours = top_level.get(xid % _XID_LOW)
        if ours is not None:
            if ours:
                blockers.add(xid)
        elif status.get(xid) == "aborted":
            continue
        elif status.get(xid) == "in progress":
            continue  # not a running top-level transaction: a subtransaction
        else:
            # Committed since the snapshot (or unknown): its events, if any, are not
            # in this snapshot.
            blockers.add(xid)
            late_commit = True
    return blockers, late_commit


def _committed_prefix(
    cursor: Any, rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[int, bytes]], bool]:
    """The leading rows no transaction can overtake any more, and whether a fresh
    snapshot would take more."""
    snapshot, own = rows[0][3], rows[0][4]
    _, xmax_text, xip_text = snapshot.split(":")
    xmax = int(xmax_text)
    running = [x for x in (int(t) for t in xip_text.split(",") if t) if x != own]
    # Ids handed out after the snapshot's horizon but before our own.
    between = list(range(xmax, own)) if own is not None and own - xmax <= _OWN_RANGE_LIMIT else []
    blockers, late = _blocking(cursor, running + between)
    lowest = min(blockers) if blockers else None
    below = xmax if lowest is None else lowest
    own_ok = (
        own is not None
        and own - xmax <= _OWN_RANGE_LIMIT
        and (lowest is None or own < lowest)
    )
    taken = []
    for event_id, txid, entry, _, _ in rows:
        if not (txid < below or (own_ok and txid == own)):
            break
        taken.append((event_id, bytes(entry)))
    return taken, late and len(taken) < len(rows)


def _next_events(head: _Head, limit: int) -> list[tuple[int, bytes]]:
    """Committed events after the head, in log order, at most `limit`."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            # SQLite serialises writers: event ids commit in increasing order.
            cursor.execute(
                f"SELECT id, entry FROM {table} WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608  # nosec B608
                [head.cursor_event_id, limit],
            )
            return [(event_id, bytes(entry)) for event_id, entry in cursor.fetchall()]
        taken: list[tuple[int, bytes]] = []
        for attempt in range(_SNAPSHOT_ATTEMPTS):
            cursor.execute(
                _CANDIDATES_SQL.format(table=table),
                [-1 if head.cursor_txid is None else head.cursor_txid, head.cursor_event_id,
                 limit],
            )
            rows = cursor.fetchall()
            if not rows:
                return []
            taken, retry = _committed_prefix(cursor, rows)
            if not retry:
                break
            time.sleep(0.002 * (attempt + 1))
        return taken


def log_checkpoint_sign(*, tree_size: int, root_hash: bytes) -> LogCheckpoint:
    """Sign and store the checkpoint for a tree the caller has just stored."""
    identity = log_identity()
    note = checkpoint_sign(
        checkpoint=Checkpoint(origin=identity.origin, size=tree_size, root_hash=root_hash),
        signer=identity.signer,
    )
    return LogCheckpoint.objects.create(
        tree_size=tree_size, root_hash=root_hash, note=note.decode("utf-8")
    )


def _sequence_batch(limit: int) -> tuple[int, int, bool]:
    """Append up to `limit` events and sign the new size: (appended, size, signed)."""
    head = _head()
    events = _next_events(head, limit)
    if not events:
        if not head.signed:
            # The empty log still gets a checkpoint, so clients have a tree to start from.
            log_checkpoint_sign(tree_size=0, root_hash=EMPTY_ROOT)
            return 0, 0, True
        return 0, head.size, False
    for event_id, entry in events:
        if len(entry) > MAX_ENTRY_SIZE:
            # C2SP tlog-tiles bundles cannot carry it; stopping is safer than skipping.
            raise LogIntegrityError(f"event {event_id} has an entry over {MAX_ENTRY_SIZE} bytes")
    tiles, root = tiles_for_append(
        old_size=head.size,
        new_leaf_hashes=[leaf_hash(entry) for _, entry in events],
        read_tiles=log_tiles_read,
        old_root=head.root,
    )
    LogEntry.objects.bulk_create(
        [LogEntry(index=head.size + i, event_id=event) for i, (event, _) in enumerate(events)],
        batch_size=5000,
    )
    LogTile.objects.bulk_create(
        [LogTile(level=t.level, index=t.index, width=t.width, hashes=data) for t, data in tiles],
        batch_size=500,
    )
    size = head.size + len(events)
    log_checkpoint_sign(tree_size=size, root_hash=root)
    return len(events), size, True


def log_sequence(
    *, batch_size: int | None = None, max_batches: int | None = None
) -> SequenceResult:
    """Sequence every committed event not yet in the log, one signed batch at a time.

    Returns at once with `busy=True` if another sequencer holds the lock: it will
    take these events too. Safe to run any number of times, from any process.
    """
    limit = batch_size or settings.ESCROW_LOG_BATCH_SIZE
    appended = checkpoints = batches = 0
    size = 0
    while max_batches is None or batches < max_batches:
        with _sequencer_turn() as acquired:
            if not acquired:
                return SequenceResult(appended, size, checkpoints, busy=True)
            count, size, signed = _sequence_batch(limit)
        batches += 1
        appended += count
        checkpoints += int(signed)
        if count < limit:
            break
    if appended:
        logger.info("log sequenced %d entries; tree size %d", appended, size)
    return SequenceResult(appended, size, checkpoints)


def log_sequencer_nudge() -> None:
    """Ask the sequencer to run soon, after the current transaction commits."""
    task_enqueue_on_commit(LOG_SEQUENCE_TASK)


def _most_witnessed_covering(index: int) -> LogCheckpoint | None:
    """The checkpoint covering `index` with the most witness cosignatures (newest first).

    The latest checkpoint is rarely cosigned yet on a busy log; a custodian's tool that
    requires a witness quorum must be shown one that is.
    """
    if not settings.ESCROW_LOG_WITNESS_KEYS:
        return None
    best = (
        LogCosignature.objects.filter(checkpoint__tree_size__gt=index)
        .values("checkpoint")
        .annotate(cosigners=Count("id"))
        .order_by("-cosigners", "-checkpoint__tree_size")
        .first()
    )
    return None if best is None else LogCheckpoint.objects.get(pk=best["checkpoint"])


def _covered(event_id: int) -> LogInclusion | None:
    row = (
        LogEntry.objects.filter(event_id=event_id)
        .values_list("index", "event__entry")
        .first()
    )
    if row is None:
        return None
    index, entry = row
    checkpoint = log_checkpoint_latest()
    if checkpoint is None or checkpoint.tree_size <= index:
        return None
    checkpoint = _most_witnessed_covering(index) or checkpoint
    root = bytes(checkpoint.root_hash)
    proof = inclusion_proof_from_tiles(
        index=index, size=checkpoint.tree_size, read_tiles=log_tiles_read
    )
    # Check before vouching: a damaged store must not yield a proof that fails later.
    inclusion_verify(
        index=index, size=checkpoint.tree_size, leaf_hash=leaf_hash(bytes(entry)),
        proof=proof, root=root,
    )
    return LogInclusion(
        log_index=index,
        checkpoint_text=log_checkpoint_served(checkpoint),
        tree_size=checkpoint.tree_size,
        root_hash=root,
        inclusion_proof=proof,
    )


def log_wait_for_checkpoint(*, event_id: int, timeout: float) -> LogInclusion:
    """The event's inclusion in a signed checkpoint, once there is one; fail closed.

    Runs a sequencing pass itself whenever no other sequencer holds the lock, so it
    does not depend on the beat schedule or on a worker being up. Call it after the
    transaction that recorded the event has committed: inside that transaction, the
    event (and the log rows sequencing it) commit or roll back with the caller.
    Raises `LogUnavailable` if the event is not covered within `timeout` seconds or
    the log cannot vouch for it.
    """
    deadline = time.monotonic() + max(timeout, 0.0)
    pause = 0.01
    while True:
        try:
            inclusion = _covered(event_id)
            if inclusion is not None:
                return inclusion
            log_sequence()
            inclusion = _covered(event_id)
            if inclusion is not None:
                return inclusion
        except (CryptoError, LogIntegrityError, LogKeyInvalid, DatabaseError) as exc:
            logger.error("log cannot cover event %s: %s", event_id, type(exc).__name__)
            raise LogUnavailable(f"the audit log cannot vouch for event {event_id}") from exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LogUnavailable(
                f"event {event_id} is not under a signed checkpoint after {timeout:g} s"
            )
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.25)


# --- auditors ------------------------------------------------------------------------


class NoSealedDetail(Exception):
    """The event has no sealed detail to open."""


class SealedDetailUnverifiable(Exception):
    """The sealed detail does not open, or does not match the logged commitment."""


def audit_event_open_sealed(*, event: AuditEvent, auditor: Actor, reason: str) -> dict[str, Any]:
    """Open an event's sealed detail for an auditor, logging the opening first.

    The reason may name people, so it is itself sealed in the new event.
    """
    if event.commitment is None or event.sealed_detail is None:
        raise NoSealedDetail(f"event {event.pk} has no sealed detail")
    with transaction.atomic():
        event_record(
            event_type="audit.sealed_detail_opened",
            actor=auditor,
            object_ref=f"audit_event:{event.pk}",
            details={"event_id": event.pk},
            sealed={"reason": reason},
        )
    try:
        logged = leaf_parse(bytes(event.entry)).sealed
    except LeafMalformed:
        logged = None
    if logged != bytes(event.commitment).hex():
        # The commitment column is a copy; what the log signed is the entry's `sealed`.
        # A sealed detail moved in from another row opens against its own copied
        # commitment, so it must be held to the logged one.
        logger.error("sealed detail of event %s is not the one its log entry commits to",
                     event.pk)
        raise SealedDetailUnverifiable(
            f"the sealed detail of event {event.pk} does not match its log entry's commitment"
        )
    try:
        opened = sealed_detail_open(event)
    except (CommitmentMismatch, SealedDetailError) as exc:
        logger.error("sealed detail of event %s does not verify", event.pk)
        raise SealedDetailUnverifiable(
            f"the sealed detail of event {event.pk} does not match its commitment"
        ) from exc
    assert opened is not None  # noqa: S101  (both columns checked above)
    return {
        "event_id": event.pk,
        "commitment": bytes(event.commitment).hex(),
        "salt": opened["salt"],
        "detail": opened["detail"],
    }


def audit_log_exported(*, auditor: Actor, tree_size: int | None) -> None:
    """Record that an auditor took an export of the log."""
    with transaction.atomic():
        event_record(
            event_type="audit.log_exported",
            actor=auditor,
            object_ref="audit_log",
            details={"tree_size": tree_size},
        )


# --- witnesses ------------------------------------------------------------------------


class CosignatureRejected(Exception):
    """Not a checkpoint of this log cosigned by a configured witness."""


class CosignedCheckpointUnknown(Exception):
    """The cosigned checkpoint is not one this log signed."""


def log_cosignatures_add(*, cosigned_checkpoint: bytes) -> list[LogCosignature]:
    """Keep the configured witnesses' C2SP tlog-cosignatures on one of our checkpoints.

    The note must carry the log's own signature over a checkpoint the log stored,
    and at least one good cosignature from a witness in ESCROW_LOG_WITNESS_KEYS; a
    bad signature from any known key rejects it whole. Returns the new cosignatures
    (a witness cosigning the same checkpoint again adds nothing).
    """
    identity = log_identity()
    if not identity.witnesses:
        raise CosignatureRejected("this log accepts no witness (ESCROW_LOG_WITNESS_KEYS)")
    try:
        checkpoint, cosignatures = checkpoint_open_cosigned(
            message=cosigned_checkpoint, verifier=identity.verifier, origin=identity.origin,
            cosigners=identity.witnesses,
        )
        note = note_open(message=cosigned_checkpoint,
                         verifiers=[identity.verifier, *identity.witnesses])
    except (NoteError, CheckpointError) as exc:
        raise CosignatureRejected(f"not a cosigned checkpoint of this log: {exc}") from None
    if not cosignatures:
        raise CosignatureRejected("no cosignature from a configured witness")
    stored = LogCheckpoint.objects.filter(tree_size=checkpoint.size).first()
    if stored is None or bytes(stored.root_hash) != checkpoint.root_hash:
        raise CosignedCheckpointUnknown(f"this log signed no such checkpoint of size "
                                        f"{checkpoint.size}")
    witness_keys = {(w.name, w.key_id) for w in identity.witnesses}
    added = []
    with transaction.atomic():
        for signature in note.signatures:
            if (signature.name, signature.key_id) not in witness_keys:
                continue
            cosignature, created = LogCosignature.objects.get_or_create(
                checkpoint=stored, witness_name=signature.name, key_id=signature.key_id,
                defaults={"line": signature.line,
                          "cosigned_at": cosignature_timestamp(signature)},
            )
            if created:
                added.append(cosignature)
    return added
