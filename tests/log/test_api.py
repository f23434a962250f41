"""The public tlog-tiles read API and the auditor API, as clients see them."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from escrow.audit.api import CACHE_IMMUTABLE
from escrow.crypto import merkle
from escrow.crypto.checkpoint import checkpoint_open
from escrow.crypto.note import verifier_parse
from escrow.crypto.tiles import (
    TILE_WIDTH,
    entry_bundle_decode,
    inclusion_proof_from_tiles,
    tiles_for_size,
    tree_hash_from_tiles,
)
from escrow.log.events import Actor, event_record
from escrow.log.keys import log_identity
from escrow.log.models import AuditEvent, LogEntry
from escrow.log.services import log_sequence
from tests.log.conftest import events_bulk_create

pytestmark = pytest.mark.django_db


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def client_verifies_log(http: APIClient) -> tuple[int, bytes]:
    """What a tlog client does with nothing but the URLs and the verifier key."""
    vkey = http.get("/log/verifier-key").content.decode().strip()
    verifier = verifier_parse(vkey)
    note = http.get("/log/checkpoint").content
    checkpoint = checkpoint_open(message=note, verifier=verifier, origin=verifier.name)
    size = checkpoint.size

    def fetch(tiles: Any) -> list[bytes]:
        out = []
        for tile in tiles:
            response = http.get(f"/log/{tile.path}")
            assert response.status_code == 200, tile.path
            out.append(response.content)
        return out

    assert tree_hash_from_tiles(size=size, read_tiles=fetch) == checkpoint.root_hash
    leaves: list[bytes] = []
    for bundle in tiles_for_size(size=size, entries=True):
        entries = entry_bundle_decode(http.get(f"/log/{bundle.path}").content)
        assert len(entries) == bundle.width
        leaves += [merkle.leaf_hash(e) for e in entries]
    assert merkle.root_from_leaf_hashes(leaves) == checkpoint.root_hash
    return size, checkpoint.root_hash


def test_an_anonymous_client_verifies_the_whole_log_from_http() -> None:
    events_bulk_create(700)
    log_sequence(batch_size=300)
    size, _ = client_verifies_log(APIClient())
    assert size == 700


def test_caching_headers_and_content_types() -> None:
    events_bulk_create(300)
    log_sequence()
    http = APIClient()
    checkpoint = http.get("/log/checkpoint")
    assert checkpoint["Content-Type"].startswith("text/plain")
    assert checkpoint["Cache-Control"] == "no-cache"
    full = http.get("/log/tile/0/000")
    assert full.status_code == 200
    assert len(full.content) == 256 * 32
    assert full["Cache-Control"] == CACHE_IMMUTABLE
    partial = http.get("/log/tile/0/001.p/44")
    assert partial.status_code == 200
    assert len(partial.content) == 44 * 32
    assert "immutable" not in partial["Cache-Control"]
    # Any narrower width of a partial tile is served too (a client on an older checkpoint).
    assert http.get("/log/tile/0/001.p/3").content == partial.content[: 3 * 32]
    bundle = http.get("/log/tile/entries/000")
    assert bundle["Cache-Control"] == CACHE_IMMUTABLE
    assert len(entry_bundle_decode(bundle.content)) == TILE_WIDTH
    assert http.get("/log/tile/1/000.p/1").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/002",  # beyond the tree
        "tile/0/001.p/45",  # wider than the tree
        "tile/0/001.p/256",  # a full tile spelled as partial
        "tile/0/1",  # not zero-padded
        "tile/00/000",  # leading zero in the level
        "tile/entries/001.p/45",
        "tile/entries/x000/001",
    ],
)
def test_tiles_that_do_not_exist_or_are_misspelled_are_404(path: str) -> None:
    events_bulk_create(300)
    log_sequence()
    response = APIClient().get(f"/log/{path}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_no_checkpoint_yet_is_404() -> None:
    assert APIClient().get("/log/checkpoint").status_code == 404


def test_entry_bundles_can_be_kept_to_auditors(dave: APIClient, alice: APIClient) -> None:
    events_bulk_create(10)
    log_sequence()
    with override_settings(ESCROW_LOG_ENTRIES_AUDITORS_ONLY=True):
        assert APIClient().get("/log/tile/entries/000.p/10").status_code == 401
        assert alice.get("/log/tile/entries/000.p/12").status_code == 403
        # The sign-ins are events too; the auditor reads the bundle of the current size.
        size = LogEntry.objects.count()
        log_sequence()
        size = LogEntry.objects.count()
        assert dave.get(f"/log/tile/entries/000.p/{size}").status_code == 200
        # Checkpoint and hash tiles stay public.
        assert APIClient().get("/log/checkpoint").status_code == 200
        assert APIClient().get(f"/log/tile/0/000.p/{size}").status_code == 200


def test_the_verifier_key_matches_the_signing_key() -> None:
    body = APIClient().get("/log/verifier-key").content.decode().strip()
    assert body == log_identity().verifier.vkey


# --- auditors ------------------------------------------------------------------------


def test_auditor_lists_events_with_their_log_index(dave: APIClient) -> None:
    first = event_record(event_type="test.alpha", actor=Actor.system(), object_ref="thing:1")
    event_record(event_type="test.beta", actor=Actor.system(), object_ref="thing:2")
    log_sequence()
    third = event_record(event_type="test.alpha", actor=Actor.system(), object_ref="thing:3")
    response = dave.get("/api/v1/audit/events", {"event_type": "test.alpha"})
    assert response.status_code == 200, response.content
    rows = response.json()["events"]
    assert [r["id"] for r in rows] == [first.pk, third.pk]
    assert rows[0]["log_index"] == LogEntry.objects.get(event=first).index
    assert rows[1]["log_index"] is None
    assert rows[0]["leaf_hash"] == base64.b64encode(merkle.leaf_hash(bytes(first.entry))).decode()
    unsequenced = dave.get("/api/v1/audit/events", {"sequenced": "false"}).json()["events"]
    assert third.pk in [r["id"] for r in unsequenced]
    page = dave.get("/api/v1/audit/events", {"limit": 1}).json()
    assert len(page["events"]) == 1
    assert page["next_after"] == page["events"][0]["id"]
    assert dave.get(f"/api/v1/audit/events/{first.pk}").json()["event_type"] == "test.alpha"


def test_only_auditors_use_the_auditor_api(alice: APIClient, platform_a: Any) -> None:
    assert APIClient().get("/api/v1/audit/events").status_code == 401
    assert alice.get("/api/v1/audit/events").status_code == 403
    assert platform_a.client.get("/api/v1/audit/events").status_code in (401, 403)


def test_auditor_opens_a_sealed_detail_and_the_opening_is_logged(dave: APIClient) -> None:
    event = event_record(event_type="test.sealed", actor=Actor.system(),
                         sealed={"username": "mallory"})
    assert b"mallory" not in bytes(event.entry)
    response = dave.post(f"/api/v1/audit/events/{event.pk}/sealed-detail",
                         {"reason": "quarterly review of failed sign-ins"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["detail"] == {"username": "mallory"}
    opened = AuditEvent.objects.get(event_type="audit.sealed_detail_opened")
    assert opened.object_ref == f"audit_event:{event.pk}"
    assert b"quarterly" not in bytes(opened.entry)  # the reason is sealed too
    plain = event_record(event_type="test.plain", actor=Actor.system())
    missing = dave.post(f"/api/v1/audit/events/{plain.pk}/sealed-detail",
                        {"reason": "looking for nothing"}, format="json")
    assert missing.status_code == 404
    assert missing.json()["code"] == "no_sealed_detail"


def test_inclusion_and_consistency_proofs_verify(dave: APIClient) -> None:
    events_bulk_create(300)
    log_sequence()
    old = dave.get("/log/checkpoint")
    old_size = LogEntry.objects.count()
    target = event_record(event_type="test.target", actor=Actor.system())
    events_bulk_create(200, start=300)
    pending = dave.get(f"/api/v1/audit/events/{target.pk}/inclusion-proof")
    assert pending.status_code == 409
    assert pending.json()["code"] == "not_sequenced"
    log_sequence()
    body = dave.get(f"/api/v1/audit/events/{target.pk}/inclusion-proof").json()
    merkle.inclusion_verify(
        index=body["log_index"], size=body["tree_size"], leaf_hash=b64(body["leaf_hash"]),
        proof=[b64(p) for p in body["inclusion_proof"]], root=b64(body["root_hash"]),
    )
    identity = log_identity()
    checkpoint = checkpoint_open(message=body["checkpoint"].encode(),
                                 verifier=identity.verifier, origin=identity.origin)
    assert checkpoint.root_hash == b64(body["root_hash"])
    # Consistency across time: the earlier checkpoint's tree is a prefix of today's.
    old_checkpoint = checkpoint_open(message=old.content, verifier=identity.verifier,
                                     origin=identity.origin)
    assert old_checkpoint.size == old_size
    proof = dave.get("/api/v1/audit/consistency-proof", {"old_size": old_size}).json()
    merkle.consistency_verify(
        old_size=old_size, new_size=proof["new_size"], old_root=old_checkpoint.root_hash,
        new_root=checkpoint.root_hash, proof=[b64(p) for p in proof["consistency_proof"]],
    )
    bad = dave.get("/api/v1/audit/consistency-proof", {"old_size": 10**9})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_tree_size"


def test_auditor_export_verifies_offline(dave: APIClient, tmp_path: Any) -> None:
    events_bulk_create(600)
    log_sequence(batch_size=250)
    response = dave.get("/api/v1/audit/export")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-tar"
    export = tmp_path / "export.tar"
    export.write_bytes(b"".join(response.streaming_content))
    out = io.StringIO()
    call_command("audit_verify", export=export, stdout=out)
    assert "audit log OK" in out.getvalue()
    assert AuditEvent.objects.filter(event_type="audit.log_exported").count() == 1


def test_inclusion_from_tiles_matches_reference_for_every_index() -> None:
    events_bulk_create(520)
    log_sequence(batch_size=97)
    entries = LogEntry.objects.order_by("index").values_list("event__entry", flat=True)
    hashes = [merkle.leaf_hash(bytes(e)) for e in entries]
    from escrow.log.selectors import log_tiles_read

    for index in range(0, 520, 7):
        assert inclusion_proof_from_tiles(index=index, size=520, read_tiles=log_tiles_read) == (
            merkle.inclusion_proof(index=index, size=520, hashes=hashes)
        )
