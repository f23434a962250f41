"""Witnesses: C2SP tlog-cosignatures on our checkpoints are verified, kept and served."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import override_settings
from rest_framework.test import APIClient

from escrow.crypto.checkpoint import Checkpoint, checkpoint_sign
from escrow.crypto.cosignature import Cosigner, checkpoint_open_cosigned
from escrow.crypto.note import note_open, note_sign
from escrow.log.keys import log_identity
from escrow.log.models import LogCosignature
from escrow.log.services import log_sequence
from tests.log.conftest import events_bulk_create

pytestmark = pytest.mark.django_db


def witness(name: str) -> Cosigner:
    return Cosigner(name=name, private_key=Ed25519PrivateKey.generate(),
                    timestamp=int(time.time()))


def cosign(checkpoint: bytes, by: Cosigner) -> bytes:
    identity = log_identity()
    note = note_open(message=checkpoint, verifiers=[identity.verifier])
    return note_sign(text=note.text, signers=[by], signatures=note.signatures)


def test_a_configured_witness_cosignature_is_kept_and_served() -> None:
    wendy = witness("witness.example/wendy")
    events_bulk_create(20)
    log_sequence()
    http = APIClient()
    with override_settings(ESCROW_LOG_WITNESS_KEYS=[wendy.verifier.vkey]):
        checkpoint = http.get("/log/checkpoint").content
        cosigned = cosign(checkpoint, wendy)
        response = http.post("/log/cosignature", cosigned, content_type="text/plain")
        assert response.status_code == 200, response.content
        assert response.json() == {"tree_size": 20, "added": ["witness.example/wendy"]}
        # Again: nothing new.
        assert http.post("/log/cosignature", cosigned,
                         content_type="text/plain").json()["added"] == []
        served = http.get("/log/checkpoint").content
        identity = log_identity()
        opened, cosignatures = checkpoint_open_cosigned(
            message=served, verifier=identity.verifier, origin=identity.origin,
            cosigners=[wendy.verifier],
        )
        assert opened.size == 20
        assert [c.name for c in cosignatures] == ["witness.example/wendy"]
    assert LogCosignature.objects.count() == 1


def test_cosignatures_from_unknown_witnesses_or_forged_ones_are_refused() -> None:
    wendy, mallory = witness("witness.example/wendy"), witness("witness.example/mallory")
    events_bulk_create(5)
    log_sequence()
    http = APIClient()
    with override_settings(ESCROW_LOG_WITNESS_KEYS=[wendy.verifier.vkey]):
        checkpoint = http.get("/log/checkpoint").content
        unknown = http.post("/log/cosignature", cosign(checkpoint, mallory),
                            content_type="text/plain")
        assert unknown.status_code == 422
        assert unknown.json()["code"] == "cosignature_rejected"
        forged = bytearray(cosign(checkpoint, wendy))
        forged[-10] = ord("A") if forged[-10] != ord("A") else ord("B")
        assert http.post("/log/cosignature", bytes(forged),
                         content_type="text/plain").status_code == 422
        # A checkpoint this log never stored, even if made with its key.
        identity = log_identity()
        stray = checkpoint_sign(
            checkpoint=Checkpoint(origin=identity.origin, size=999, root_hash=b"\x07" * 32),
            signer=identity.signer,
        )
        unknown_checkpoint = http.post("/log/cosignature", cosign(stray, wendy),
                                       content_type="text/plain")
        assert unknown_checkpoint.status_code == 404
        assert unknown_checkpoint.json()["code"] == "checkpoint_unknown"
    assert LogCosignature.objects.count() == 0


def test_without_configured_witnesses_nothing_is_accepted() -> None:
    wendy = witness("witness.example/wendy")
    events_bulk_create(3)
    log_sequence()
    http = APIClient()
    response = http.post("/log/cosignature", cosign(http.get("/log/checkpoint").content, wendy),
                         content_type="text/plain")
    assert response.status_code == 422
