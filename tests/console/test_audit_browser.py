"""The auditors' in-browser proof check and the public transparency page, in headless
Chromium; and the proof code itself (static/console/audit/tlog.js) run in the browser
against known answers from the Python reference (escrow/crypto/merkle.py, note.py).

With SCREENSHOT_DIR set, the pages are saved there (docs/console/ for the docs).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.cache import cache

from escrow.crypto.checkpoint import Checkpoint, checkpoint_sign
from escrow.crypto.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
)
from escrow.crypto.note import Signer
from escrow.crypto.tiles import tile_path, tile_path_parse, tiles_for_append
from escrow.log.models import AuditEvent
from escrow.log.services import log_sequence
from legal_requests.services import review
from tests import factories
from tests.accessibility import axe_violations
from tests.console.conftest import Story
from tests.console.test_browser import _shot, _sign_in, _watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True,
                                                          serialized_rollback=True)]

TLOG = "/static/console/audit/tlog.js"


def _result(page: Any) -> str:
    page.wait_for_selector(".proof-result:not([data-state=running])", timeout=20_000)
    return str(page.inner_text(".proof-result"))


def _flip_first_byte(route: Any) -> None:
    response = route.fetch()
    body = bytearray(response.body())
    body[0] ^= 0x01
    route.fulfill(response=response, body=bytes(body))


def test_the_proof_check_passes_on_the_log_and_fails_when_tampered(
        live_server: Any, browser_page: Any, story: Story) -> None:
    page, base = browser_page, live_server.url
    problems = _watch(page)
    log_sequence()
    _sign_in(page, base, story.dave)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Event log").click()
    page.wait_for_selector("table.events")
    _shot(page, "console-audit-log")
    problems += axe_violations(page)

    received = AuditEvent.objects.get(event_type="disclosure.received")
    page.get_by_role("link", name=f"Verify event {received.pk} in the log").click()
    assert _result(page) == "Verified"
    assert "Skipped" in page.inner_text("[data-check=consistency]")  # nothing seen before

    # dave's own sign-in is not in the log yet: a wait, not a failure.
    signed_in = AuditEvent.objects.filter(event_type="staff.signed_in").latest("pk")
    page.goto(f"{base}/console/audit/events/{signed_in.pk}/")
    assert _result(page).startswith("Pending: the checkpoint is verified")

    # The log grows; the browser proves the new checkpoint extends the one it remembered.
    review.disclosure_reject(disclosure=story.disclosure, approver=story.bob,
                             reason="Outside the order's scope.")
    log_sequence()
    page.reload()
    assert _result(page) == "Verified"
    consistency = page.inner_text("[data-check=consistency]")
    assert "Verified" in consistency
    assert "extends the tree of size" in consistency
    _shot(page, "console-audit-proof")
    problems += axe_violations(page)
    assert problems == []

    # A hash tile altered on its way: the recomputed path no longer meets the signed root.
    page.route("**/log/tile/0/**", _flip_first_byte)
    page.reload()
    assert _result(page).startswith("Failed: the inclusion proof does not lead to the signed root")
    assert "Failed" in page.inner_text("[data-check=inclusion]")
    page.unroute("**/log/tile/0/**")

    # A checkpoint whose signature does not match its text.
    def forged(route: Any) -> None:
        response = route.fetch()
        lines = response.text().split("\n")
        lines[1] = str(int(lines[1]) + 1)
        route.fulfill(response=response, body="\n".join(lines))

    page.route("**/log/checkpoint", forged)
    page.reload()
    assert "signature on the checkpoint does not verify" in _result(page)


def test_the_public_transparency_page_draws_its_charts(
        live_server: Any, browser_page: Any, story: Story) -> None:
    cache.clear()  # a report cached by an earlier test would hide this one's requests
    emergency = factories.disclosure_request(
        agency=story.agency, targets=list(story.disclosure.targets.all()),
        legal_basis="GB-EAW:emergency", fields=("given_name",),
        emergency_facts="A threat to life reported an hour ago.")
    emergency = review.disclosure_review_start(disclosure=emergency, reviewer=story.alice)
    emergency = review.disclosure_callback_verify(disclosure=emergency, staff=story.alice,
                                                  method="phone")
    review.disclosure_approve(disclosure=emergency, approver=story.bob, reason="Threat to life.")
    review.disclosure_reject(disclosure=story.disclosure, approver=story.carol,
                             reason="Outside the order's scope.")
    log_sequence()
    page, base = browser_page, live_server.url
    problems = _watch(page)
    page.goto(f"{base}/console/sign-in")
    page.get_by_role("link", name="transparency report").click()
    page.wait_for_url(f"{base}/transparency/")
    drawn = page.wait_for_function(
        "() => ['chart-months', 'chart-bases', 'chart-emergency', 'chart-decision']"
        ".every(id => window.Chart && Chart.getChart(document.getElementById(id)))")
    assert drawn
    assert page.locator("canvas").count() == 4
    assert "Emergency share" in page.inner_text(".counts")
    _shot(page, "transparency")
    problems += axe_violations(page)
    page.get_by_role("link", name="the log's key and latest checkpoint").click()
    page.wait_for_selector("#verifier-key")
    problems += axe_violations(page)
    assert problems == []


# --- the proof code against the Python reference -------------------------------------

# Three tile levels: 256 * 256 leaves fill a level-2 hash, and 301 more are partial.
SIZE = 65_837
SIZES = [1, 2, 3, 7, 255, 256, 257, 511, 65_536, SIZE]
INCLUSIONS = [(0, 1), (2, 3), (5, 257), (256, 257), (70, 65_536), (1000, SIZE), (SIZE - 1, SIZE)]
CONSISTENCIES = [(1, 2), (3, 7), (4, 7), (256, 257), (255, SIZE), (4, 65_536), (65_536, SIZE)]

CHECK_TREE = """async ({tlog, sizes, inclusions, consistencies}) => {
  const t = await import(tlog);
  const b64 = t.base64Encode;
  const fetchTile = async (path) => {
    const r = await fetch('/synthetic-log/' + path);
    return new Uint8Array(await r.arrayBuffer());
  };
  const roots = {}, paths = [], proofs = [];
  for (const size of sizes) {
    roots[size] = b64(await new t.TileReader(size, fetchTile).treeHash(0, size));
  }
  for (const [index, size] of inclusions) {
    paths.push((await new t.TileReader(size, fetchTile).inclusionProof(index)).map(b64));
  }
  for (const [m, n] of consistencies) {
    proofs.push((await new t.TileReader(n, fetchTile).consistencyProof(m)).map(b64));
  }
  return {roots, paths, proofs};
}"""

VERIFY = """async ({tlog, index, size, leaf, proof, root, m, oldRoot, cproof}) => {
  const t = await import(tlog);
  const d = (xs) => xs.map(t.base64Decode);
  const [leafHash, newRoot, earlierRoot] = d([leaf, root, oldRoot]);
  const outcome = async (f) => { try { await f(); return 'ok'; } catch (e) {
    return (e instanceof t.VerificationError ? '' : 'unexpected ') + e.message; } };
  const including = (path) => () => t.inclusionVerify(index, size, leafHash, path, newRoot);
  const extending = (path) => () => t.consistencyVerify(m, size, earlierRoot, newRoot, path);
  const bad = d(proof); bad[1] = bad[0];
  const cbad = d(cproof); cbad[0] = cbad[1];
  return [
    await outcome(including(d(proof))),
    await outcome(including(bad)),
    await outcome(including(d(proof).slice(1))),
    await outcome(extending(d(cproof))),
    await outcome(extending(cbad)),
  ];
}"""

NOTES = """async ({tlog, vkey, note, forged, origin, indexes}) => {
  const t = await import(tlog);
  const v = await t.verifierKeyParse(vkey);
  const c = await t.checkpointOpen(note, v, origin);
  const outcome = async (f) => { try { await f(); return 'ok'; } catch (e) { return e.message; } };
  return {
    size: c.size, root: t.base64Encode(c.rootHash),
    forged: await outcome(() => t.checkpointOpen(forged, v, origin)),
    otherOrigin: await outcome(() => t.checkpointOpen(note, v, 'another.example/log')),
    badKeyId: await outcome(() => t.verifierKeyParse(
      vkey.replace(/\\+([0-9a-f]{8})\\+/, '+00000000+'))),
    paths: indexes.map((i) => t.tilePath(0, i, 256)),
  };
}"""


@pytest.fixture(scope="module")
def synthetic_log() -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(SIZE)]
    written, _ = tiles_for_append(old_size=0, new_leaf_hashes=hashes,
                                  read_tiles=lambda tiles: [b""] * len(tiles))
    return hashes, {(tile.level, tile.index): data for tile, data in written}


def _serve_tiles(page: Any, tiles: dict[tuple[int, int], bytes]) -> None:
    def handle(route: Any) -> None:
        path = route.request.url.split("/synthetic-log/", 1)[1]
        tile = tile_path_parse(path)
        # A narrower width of a tile is a prefix of the wider one (C2SP tlog-tiles).
        route.fulfill(status=200, content_type="application/octet-stream",
                      body=tiles[(tile.level, tile.index)][: tile.width * 32])

    page.route("**/synthetic-log/**", handle)


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def test_the_browser_computes_the_python_reference_answers(
        live_server: Any, browser_page: Any, synthetic_log: Any) -> None:
    hashes, tiles = synthetic_log
    page = browser_page
    _serve_tiles(page, tiles)
    page.goto(f"{live_server.url}/transparency/log")
    got = page.evaluate(CHECK_TREE, {"tlog": TLOG, "sizes": SIZES, "inclusions": INCLUSIONS,
                                     "consistencies": CONSISTENCIES})
    assert got["roots"] == {str(s): _b64([root_from_leaf_hashes(hashes[:s])])[0] for s in SIZES}
    assert got["paths"] == [_b64(inclusion_proof(index=i, size=s, hashes=hashes))
                            for i, s in INCLUSIONS]
    assert got["proofs"] == [_b64(consistency_proof(old_size=m, new_size=n, hashes=hashes))
                             for m, n in CONSISTENCIES]


def test_the_browser_verifies_python_proofs_and_refuses_altered_ones(
        live_server: Any, browser_page: Any, synthetic_log: Any) -> None:
    hashes, _ = synthetic_log
    page = browser_page
    page.goto(f"{live_server.url}/transparency/log")
    index, size, m = 1000, SIZE, 300
    outcomes = page.evaluate(VERIFY, {
        "tlog": TLOG, "index": index, "size": size, "leaf": _b64([hashes[index]])[0],
        "proof": _b64(inclusion_proof(index=index, size=size, hashes=hashes)),
        "root": _b64([root_from_leaf_hashes(hashes)])[0], "m": m,
        "oldRoot": _b64([root_from_leaf_hashes(hashes[:m])])[0],
        "cproof": _b64(consistency_proof(old_size=m, new_size=size, hashes=hashes)),
    })
    assert outcomes == [
        "ok",
        "the inclusion proof does not lead to the signed root",
        "the inclusion proof is shorter than the tree is deep",
        "ok",
        "the consistency proof does not lead to the earlier root",
    ]


def test_the_browser_opens_signed_checkpoints_as_python_signs_them(
        live_server: Any, browser_page: Any) -> None:
    # A key whose base64 holds a "+", the separator of the verifier key's parts: the demo's
    # key once did, and the page refused it.
    signer = Signer(name="example.test/log", private_key=Ed25519PrivateKey.generate())
    while "+" not in signer.verifier.vkey.split("+", 2)[2]:
        signer = Signer(name="example.test/log", private_key=Ed25519PrivateKey.generate())
    root = leaf_hash(b"the root")
    note = checkpoint_sign(checkpoint=Checkpoint(origin="example.test/log", size=42,
                                                 root_hash=root), signer=signer).decode()
    forged = note.replace("\n42\n", "\n43\n", 1)
    page = browser_page
    page.goto(f"{live_server.url}/transparency/log")
    got = page.evaluate(NOTES, {"tlog": TLOG, "vkey": signer.verifier.vkey, "note": note,
                                "forged": forged, "origin": "example.test/log",
                                "indexes": [0, 7, 1000, 1234067]})
    assert got["size"] == 42
    assert got["root"] == base64.b64encode(root).decode()
    assert got["forged"] == "the log's Ed25519 signature on the checkpoint does not verify"
    assert got["otherOrigin"] == "the checkpoint is of another log: example.test/log"
    assert got["badKeyId"] == "the verifier key's id does not match its key"
    assert got["paths"] == [tile_path(level=0, index=i) for i in (0, 7, 1000, 1234067)]
