// The auditor's proof check for one event, run in the browser (tlog.js does the maths).
//
// 1. The log's verifier key from /log/verifier-key, remembered in localStorage on first
//    use: a different key on a later visit fails the check until the auditor says to
//    trust it (compare it with the key published elsewhere before doing so).
// 2. The latest checkpoint from /log/checkpoint, its Ed25519 signature verified.
// 3. The event's leaf hash from its entry, its audit path recomputed from the hash tiles
//    under /log/tile/ and checked against the checkpoint's root (RFC 9162 s2.1.3).
// 4. Consistency with an earlier signed checkpoint: the one the auditor picked, or else
//    the last one this browser verified; the proof is recomputed from the tiles too.
// The result is "Verified" or "Failed" with the reason, never the server's own claim.
import {
  VerificationError, base64Decode, base64Encode, checkpointOpen, consistencyVerify,
  inclusionVerify, leafHash, TileReader, verifierKeyParse,
} from "./tlog.js";

const KEY_STORE = "escrow.log.verifier-key";
const CHECKPOINT_STORE = "escrow.log.last-checkpoint";

async function fetchText(url) {
  const response = await fetch(url, { cache: "no-store", headers: { Accept: "text/plain" } });
  if (!response.ok) { throw new VerificationError(url + " answered " + response.status); }
  return response.text();
}

function tileFetcher(logBase) {
  return async (path) => {
    const response = await fetch(logBase + path, { headers: { Accept: "application/octet-stream" } });
    if (!response.ok) { throw new VerificationError(path + " answered " + response.status); }
    return new Uint8Array(await response.arrayBuffer());
  };
}

function show(panel, name, text, state) {
  const row = panel.querySelector("[data-check='" + name + "']");
  row.querySelector(".check-state").textContent = state;
  row.querySelector(".check-detail").textContent = text;
  row.dataset.state = state.toLowerCase();
}

function storage(key, value) {
  try {
    if (value === undefined) { return window.localStorage.getItem(key); }
    if (value === null) { window.localStorage.removeItem(key); } else { window.localStorage.setItem(key, value); }
  } catch (error) { return null; } // storage disabled: nothing is remembered
  return null;
}

async function trustedVerifier(logBase) {
  const served = (await fetchText(logBase + "verifier-key")).trim();
  const remembered = storage(KEY_STORE);
  if (remembered && remembered !== served) {
    throw new VerificationError("the log's verifier key is not the one this browser verified "
      + "with before (" + remembered + "); compare the new key with the published one");
  }
  const verifier = await verifierKeyParse(served);
  storage(KEY_STORE, served);
  return verifier;
}

async function checkConsistency(panel, data, verifier, latest, reader) {
  const earlierNote = data.earlier_checkpoint || storage(CHECKPOINT_STORE);
  if (!earlierNote) {
    show(panel, "consistency", "No earlier checkpoint to compare with yet; this one is "
      + "remembered for your next visit.", "Skipped");
    return;
  }
  const earlier = await checkpointOpen(earlierNote, verifier, data.origin);
  if (earlier.size > latest.size) {
    throw new VerificationError("the latest checkpoint (size " + latest.size + ") is smaller "
      + "than one seen before (size " + earlier.size + "): the log was rolled back");
  }
  const proof = await reader.consistencyProof(earlier.size);
  await consistencyVerify(earlier.size, latest.size, earlier.rootHash, latest.rootHash, proof);
  const source = data.earlier_checkpoint ? "you picked" : "this browser verified last";
  show(panel, "consistency", "The tree of size " + latest.size + " extends the tree of size "
    + earlier.size + " (the checkpoint " + source + "), by a proof of " + proof.length
    + " hashes computed here.", "Verified");
}

async function checkInclusion(panel, data, latest, reader) {
  const leaf = await leafHash(base64Decode(data.entry));
  const proof = await reader.inclusionProof(data.log_index);
  await inclusionVerify(data.log_index, latest.size, leaf, proof, latest.rootHash);
  panel.querySelector(".proof-hashes").textContent = proof.map(base64Encode).join("\n");
  show(panel, "inclusion", "Leaf " + data.log_index + " (hash " + base64Encode(leaf)
    + ") is in the tree of size " + latest.size + ", by an audit path of " + proof.length
    + " hashes computed here from the tiles.", "Verified");
}

async function run(panel, data) {
  const result = panel.querySelector(".proof-result");
  const step = { name: "signature" };
  try {
    const verifier = await trustedVerifier(data.log_base);
    const note = await fetchText(data.log_base + "checkpoint");
    const latest = await checkpointOpen(note, verifier, data.origin);
    show(panel, "signature", "Checkpoint of size " + latest.size + ", root "
      + base64Encode(latest.rootHash) + ", signed by " + verifier.text + ".", "Verified");
    step.name = "inclusion";
    const reader = new TileReader(latest.size, tileFetcher(data.log_base));
    // An event the sequencer has not yet placed under a signed checkpoint has no proof
    // yet: that is a wait, not a failure (the page says so and checks the rest).
    const pending = data.log_index === null || data.log_index >= latest.size;
    if (pending) {
      show(panel, "inclusion", "The event is not under a signed checkpoint yet; the sequencer "
        + "places it within seconds. Reload the page to check it.", "Pending");
    } else {
      await checkInclusion(panel, data, latest, reader);
    }
    step.name = "consistency";
    await checkConsistency(panel, data, verifier, latest, reader);
    storage(CHECKPOINT_STORE, note);
    result.textContent = pending ? "Pending: the checkpoint is verified; this event is not in it yet"
      : "Verified";
    result.dataset.state = pending ? "pending" : "verified";
  } catch (error) {
    const reason = error instanceof VerificationError ? error.message : "error: " + error;
    show(panel, step.name, reason, "Failed");
    result.textContent = "Failed: " + reason;
    result.dataset.state = "failed";
  }
}

function start() {
  const panel = document.getElementById("proof-check");
  const source = document.getElementById("proof-data");
  if (!panel || !source) { return; }
  const data = JSON.parse(source.textContent);
  panel.hidden = false;
  panel.querySelector(".proof-forget").addEventListener("click", () => {
    storage(KEY_STORE, null);
    storage(CHECKPOINT_STORE, null);
    window.location.reload();
  });
  run(panel, data);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
