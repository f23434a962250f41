// A transparency-log client in the browser: C2SP signed-note (Ed25519), C2SP
// tlog-checkpoint, C2SP tlog-tiles, and RFC 6962 / RFC 9162 Merkle proofs over SHA-256.
//
// Every hash and signature is computed here with WebCrypto, from what the log's public
// /log/ endpoints serve, so that a page using this module does not repeat the server's
// word: it recomputes each proof from the tiles and checks it against a checkpoint whose
// signature it has verified itself. Every failure throws a VerificationError saying why.

export class VerificationError extends Error {}

const HASH_SIZE = 32;
const TILE_HEIGHT = 8;
const TILE_WIDTH = 1 << TILE_HEIGHT;
const SIGNATURE_TYPE_ED25519 = 0x01;
const encoder = new TextEncoder();

function fail(reason) { throw new VerificationError(reason); }

export function base64Decode(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) { fail("not base64: " + text); }
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

export function base64Encode(bytes) {
  return btoa(String.fromCharCode.apply(null, Array.from(bytes)));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

export function bytesEqual(a, b) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// RFC 9162 s2.1.1: leaves and interior nodes hash with distinct prefixes.
export function leafHash(entry) { return sha256(concat(new Uint8Array([0]), entry)); }
export function nodeHash(left, right) { return sha256(concat(new Uint8Array([1]), left, right)); }

// --- C2SP signed-note and tlog-checkpoint ------------------------------------------

// A verifier key is <name>+<hex key id>+base64(0x01 || Ed25519 public key), where the
// key id is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key).
export async function verifierKeyParse(vkey) {
  // The name holds no "+", but the base64 key may: split at the first two only.
  const text = vkey.trim();
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  const [name, idHex, keyText] = second < 0 ? ["", "", ""]
    : [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!name || !/^[0-9a-f]{8}$/.test(idHex) || !keyText) {
    fail("the verifier key is not name+keyid+base64");
  }
  const typed = base64Decode(keyText);
  if (typed.length !== 33 || typed[0] !== SIGNATURE_TYPE_ED25519) {
    fail("the verifier key is not an Ed25519 key");
  }
  const digest = await sha256(concat(encoder.encode(name + "\n"), typed));
  const keyId = Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  if (keyId !== idHex) { fail("the verifier key's id does not match its key"); }
  const publicKey = await crypto.subtle.importKey(
    "raw", typed.slice(1), { name: "Ed25519" }, false, ["verify"]);
  return { name, keyId: digest.slice(0, 4), publicKey, text: vkey.trim() };
}

// Returns the note's text once the verifier's Ed25519 signature on it checks out.
// Signatures by other keys (witness cosignatures) are left aside; a bad signature by
// the verifier's key rejects the whole note, as C2SP signed-note requires.
export async function noteOpen(note, verifier) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) { fail("the checkpoint is not a signed note"); }
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  let verified = false;
  for (const line of lines) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match) { fail("a signature line of the note is malformed"); }
    const blob = base64Decode(match[2]);
    if (blob.length < 5) { fail("a signature of the note is too short"); }
    if (match[1] !== verifier.name || !bytesEqual(blob.slice(0, 4), verifier.keyId)) {
      continue;
    }
    const good = blob.length === 68 && await crypto.subtle.verify(
      { name: "Ed25519" }, verifier.publicKey, blob.slice(4), encoder.encode(text));
    if (!good) { fail("the log's Ed25519 signature on the checkpoint does not verify"); }
    verified = true;
  }
  if (!verified) { fail("the checkpoint carries no signature by the log's key"); }
  return text;
}

export function checkpointParse(text) {
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3 || !/^(0|[1-9][0-9]{0,15})$/.test(lines[1])) {
    fail("the signed text is not a checkpoint");
  }
  const size = Number(lines[1]);
  if (!Number.isSafeInteger(size)) { fail("the tree size is too large for this page"); }
  const rootHash = base64Decode(lines[2]);
  if (rootHash.length !== HASH_SIZE) { fail("the checkpoint's root hash is not 32 bytes"); }
  return { origin: lines[0], size, rootHash };
}

export async function checkpointOpen(note, verifier, origin) {
  const checkpoint = checkpointParse(await noteOpen(note, verifier));
  if (checkpoint.origin !== origin) { fail("the checkpoint is of another log: " + checkpoint.origin); }
  return checkpoint;
}

// --- C2SP tlog-tiles ---------------------------------------------------------------

export function tilePath(level, index, width) {
  // Index as 3-digit groups, all but the last prefixed with "x": 1234067 -> x001/x234/067.
  const groups = [String(index % 1000).padStart(3, "0")];
  for (let rest = Math.floor(index / 1000); rest > 0; rest = Math.floor(rest / 1000)) {
    groups.unshift("x" + String(rest % 1000).padStart(3, "0"));
  }
  const suffix = width < TILE_WIDTH ? ".p/" + width : "";
  return "tile/" + level + "/" + groups.join("/") + suffix;
}

// Reads complete-subtree hashes of the tree of `size` from its hash tiles, fetching
// each tile once. `fetchTile(path)` resolves to the tile's bytes.
export class TileReader {
  constructor(size, fetchTile) {
    this.size = size;
    this.fetchTile = fetchTile;
    this.tiles = new Map();
  }

  async tile(level, index) {
    // The level-L tiles hold floor(size / 256^L) hashes; the last tile may be partial.
    const count = Math.floor(this.size / TILE_WIDTH ** level);
    const width = Math.min(TILE_WIDTH, count - index * TILE_WIDTH);
    const path = tilePath(level, index, width);
    if (!this.tiles.has(path)) {
      this.tiles.set(path, this.fetchTile(path).then((data) => {
        if (data.length !== width * HASH_SIZE) { fail("tile " + path + " has the wrong size"); }
        return data;
      }));
    }
    return this.tiles.get(path);
  }

  // The hash of the complete subtree of height h holding leaves [n * 2^h, (n + 1) * 2^h):
  // the root of 2^(h mod 8) consecutive hashes of a level floor(h / 8) tile.
  async node(height, n) {
    const level = Math.floor(height / TILE_HEIGHT);
    const span = 2 ** (height % TILE_HEIGHT);
    const first = n * span;
    const data = await this.tile(level, Math.floor(first / TILE_WIDTH));
    const start = first % TILE_WIDTH;
    let row = [];
    for (let i = start; i < start + span; i++) {
      row.push(data.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
    }
    while (row.length > 1) {
      const next = [];
      for (let i = 0; i < row.length; i += 2) { next.push(await nodeHash(row[i], row[i + 1])); }
      row = next;
    }
    return row[0];
  }

  // RFC 9162 s2.1.1: MTH(D[lo:hi]) for a range the tree's recursion produces.
  async treeHash(lo, hi) {
    const n = hi - lo;
    if (n === 0) { return sha256(new Uint8Array(0)); }
    if ((n & (n - 1)) === 0 && lo % n === 0) { return this.node(Math.log2(n), lo / n); }
    const k = splitPoint(n);
    return nodeHash(await this.treeHash(lo, lo + k), await this.treeHash(lo + k, hi));
  }

  // RFC 9162 s2.1.3.1: PATH(m, D[lo:hi]), bottom to top.
  async inclusionProof(m, lo = 0, hi = this.size) {
    const n = hi - lo;
    if (n <= 1) { return []; }
    const k = splitPoint(n);
    if (m < k) { return [...await this.inclusionProof(m, lo, lo + k), await this.treeHash(lo + k, hi)]; }
    return [...await this.inclusionProof(m - k, lo + k, hi), await this.treeHash(lo, lo + k)];
  }

  // RFC 9162 s2.1.4.1: SUBPROOF(m, D[lo:hi], whole).
  async consistencyProof(m, lo = 0, hi = this.size, whole = true) {
    const n = hi - lo;
    if (m === 0) { return []; }
    if (m === n) { return whole ? [] : [await this.treeHash(lo, hi)]; }
    const k = splitPoint(n);
    if (m <= k) {
      return [...await this.consistencyProof(m, lo, lo + k, whole), await this.treeHash(lo + k, hi)];
    }
    return [...await this.consistencyProof(m - k, lo + k, hi, false), await this.treeHash(lo, lo + k)];
  }
}

function splitPoint(n) {
  // RFC 9162 s2.1.1: the largest power of two smaller than n.
  let k = 1;
  while (k * 2 < n) { k *= 2; }
  return k;
}

// --- RFC 9162 proof verification ---------------------------------------------------
// Sizes stay below 2^53, so halving with Math.floor is exact where the RFC shifts.

const odd = (x) => x % 2 === 1;
const half = (x) => Math.floor(x / 2);

// RFC 9162 s2.1.3.2: resolves if `leaf` is leaf `index` of the tree (`size`, `root`).
export async function inclusionVerify(index, size, leaf, proof, root) {
  if (!(index >= 0 && index < size)) { fail("the leaf index is outside the tree"); }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) { fail("the inclusion proof is longer than the tree is deep"); }
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) { fail("the inclusion proof is shorter than the tree is deep"); }
  if (!bytesEqual(r, root)) { fail("the inclusion proof does not lead to the signed root"); }
}

// RFC 9162 s2.1.4.2: resolves if the tree (newSize, newRoot) extends (oldSize, oldRoot).
export async function consistencyVerify(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize > newSize) { fail("the newer checkpoint has a smaller tree"); }
  if (oldSize === newSize) {
    if (proof.length || !bytesEqual(oldRoot, newRoot)) { fail("two roots for one tree size"); }
    return;
  }
  if (oldSize === 0) { return; }
  if (!proof.length) { fail("the consistency proof is empty"); }
  const path = (oldSize & (oldSize - 1)) === 0 ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (odd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) { fail("the consistency proof is longer than needed"); }
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) { fail("the consistency proof is shorter than needed"); }
  if (!bytesEqual(fr, oldRoot)) { fail("the consistency proof does not lead to the earlier root"); }
  if (!bytesEqual(sr, newRoot)) { fail("the consistency proof does not lead to the latest root"); }
}
