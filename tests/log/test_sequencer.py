"""Sequencing: indexes, tiles, roots and proofs agree with the from-scratch Merkle tree."""

from __future__ import annotations

from typing import Any

import pytest

from escrow.crypto import merkle
from escrow.crypto.checkpoint import checkpoint_open
from escrow.crypto.tiles import (
    TileRef,
    consistency_proof_from_tiles,
    inclusion_proof_from_tiles,
    tiles_for_size,
    tree_hash_from_tiles,
)
from escrow.log.events import Actor, event_record
from escrow.log.keys import log_identity
from escrow.log.models import AuditEvent, LogCheckpoint, LogEntry, LogTile
from escrow.log.selectors import log_checkpoint_latest, log_tiles_read
from escrow.log.services import log_sequence
from tests.log.conftest import events_bulk_create

pytestmark = pytest.mark.django_db


def all_leaf_hashes() -> list[bytes]:
    entries = LogEntry.objects.order_by("index").values_list("event__entry", flat=True)
    return [merkle.leaf_hash(bytes(e)) for e in entries]


def open_latest() -> Any:
    identity = log_identity()
    checkpoint = log_checkpoint_latest()
    assert checkpoint is not None
    return checkpoint_open(message=checkpoint.note.encode(), verifier=identity.verifier,
                           origin=identity.origin)


def assert_tree_matches_reference(size: int, hashes: list[bytes], *, probes: int = 6) -> None:
    """Root, every tile, and sampled proofs at `size` equal the reference computation."""
    reference_root = merkle.root_from_leaf_hashes(hashes[:size])
    assert tree_hash_from_tiles(size=size, read_tiles=log_tiles_read) == reference_root
    for tile in tiles_for_size(size=size):
        stored = log_tiles_read([tile])[0]
        lo = (tile.index * 256) << (8 * tile.level)
        span = 1 << (8 * tile.level)
        expected = b"".join(
            merkle.root_from_leaf_hashes(hashes[lo + i * span : lo + (i + 1) * span])
            for i in range(tile.width)
        )
        assert stored == expected, tile.path
    if size == 0:
        return
    step = max(1, size // probes)
    for index in sorted({0, size - 1, size // 2, *range(0, size, step)}):
        proof = inclusion_proof_from_tiles(index=index, size=size, read_tiles=log_tiles_read)
        assert proof == merkle.inclusion_proof(index=index, size=size, hashes=hashes)
        merkle.inclusion_verify(index=index, size=size, leaf_hash=hashes[index], proof=proof,
                                root=reference_root)


def test_events_get_consecutive_indexes_and_a_signed_checkpoint() -> None:
    events = [
        event_record(event_type="test.event", actor=Actor.system(), details={"n": n})
        for n in range(5)
    ]
    result = log_sequence()
    assert (result.appended, result.tree_size) == (5, 5)
    indexes = dict(LogEntry.objects.values_list("event_id", "index"))
    assert [indexes[e.pk] for e in events] == [0, 1, 2, 3, 4]
    checkpoint = open_latest()
    assert checkpoint.size == 5
    assert checkpoint.root_hash == merkle.root_from_leaf_hashes(
        [merkle.leaf_hash(bytes(e.entry)) for e in events]
    )
    # Nothing new: no new checkpoint, no new rows.
    assert log_sequence().appended == 0
    assert LogCheckpoint.objects.count() == 1


def test_the_empty_log_has_a_signed_checkpoint_of_size_zero() -> None:
    assert not AuditEvent.objects.exists()
    assert log_sequence().tree_size == 0
    checkpoint = open_latest()
    assert (checkpoint.size, checkpoint.root_hash) == (0, merkle.EMPTY_ROOT)


def test_batches_grow_tiles_that_match_the_reference_at_every_size() -> None:
    sizes = [1, 2, 3, 255, 256, 257, 300, 511, 512, 513, 767, 768, 1024, 1025]
    previous = 0
    for size in sizes:
        events_bulk_create(size - previous, start=previous)
        assert log_sequence(batch_size=size - previous).tree_size == size
        hashes = all_leaf_hashes()
        assert_tree_matches_reference(size, hashes)
        assert open_latest().root_hash == merkle.root_from_leaf_hashes(hashes)
        previous = size
    # Every earlier checkpoint is a prefix of the latest (consistency across time).
    hashes = all_leaf_hashes()
    for old in sizes:
        proof = consistency_proof_from_tiles(old_size=old, new_size=sizes[-1],
                                             read_tiles=log_tiles_read)
        assert proof == merkle.consistency_proof(old_size=old, new_size=sizes[-1], hashes=hashes)
        merkle.consistency_verify(
            old_size=old, new_size=sizes[-1], proof=proof,
            old_root=bytes(LogCheckpoint.objects.get(tree_size=old).root_hash),
            new_root=merkle.root_from_leaf_hashes(hashes),
        )


def test_one_event_at_a_time_keeps_each_partial_tile_version() -> None:
    for n in range(260):
        events_bulk_create(1, start=n)
        log_sequence()
    hashes = all_leaf_hashes()
    assert len(hashes) == 260
    assert_tree_matches_reference(260, hashes)
    # Earlier sizes are still provable from the stored tiles (prefix of a wider tile).
    for size in (1, 17, 255, 256, 257):
        assert tree_hash_from_tiles(size=size, read_tiles=log_tiles_read) == (
            merkle.root_from_leaf_hashes(hashes[:size])
        )
    assert LogTile.objects.filter(level=0, index=0, width=256).count() == 1


def test_a_batch_limit_splits_the_work_but_not_the_order() -> None:
    ids = events_bulk_create(1000)
    result = log_sequence(batch_size=300)
    assert (result.appended, result.tree_size, result.checkpoints) == (1000, 1000, 4)
    order = list(LogEntry.objects.order_by("index").values_list("event_id", flat=True))
    assert order == ids


@pytest.mark.slow
def test_tiles_and_proofs_at_multiples_of_65536_and_one_past() -> None:
    sizes = [65_535, 65_536, 65_537, 65_536 + 256, 65_536 + 257]
    previous = 0
    for size in sizes:
        events_bulk_create(size - previous, start=previous)
        log_sequence(batch_size=size - previous)
        previous = size
    hashes = all_leaf_hashes()
    for size in sizes:
        reference = merkle.root_from_leaf_hashes(hashes[:size])
        assert bytes(LogCheckpoint.objects.get(tree_size=size).root_hash) == reference
        assert tree_hash_from_tiles(size=size, read_tiles=log_tiles_read) == reference
        for index in (0, 255, 256, 65_535, size - 1):
            if index < size:
                proof = inclusion_proof_from_tiles(index=index, size=size,
                                                   read_tiles=log_tiles_read)
                merkle.inclusion_verify(index=index, size=size, leaf_hash=hashes[index],
                                        proof=proof, root=reference)
    assert_tree_matches_reference(sizes[-1], hashes, probes=3)
    # The level-2 tile exists once the tree passes 65,536 leaves.
    assert log_tiles_read([TileRef(level=2, index=0, width=1)])[0] == (
        merkle.root_from_leaf_hashes(hashes[:65_536])
    )
    for old in sizes:
        proof = consistency_proof_from_tiles(old_size=old, new_size=sizes[-1],
                                             read_tiles=log_tiles_read)
        merkle.consistency_verify(
            old_size=old, new_size=sizes[-1], proof=proof,
            old_root=merkle.root_from_leaf_hashes(hashes[:old]),
            new_root=merkle.root_from_leaf_hashes(hashes),
        )
