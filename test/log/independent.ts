/**
 * An independent C2SP client for the end-to-end tests: it knows only the verifier key text and the specs
 * (c2sp.org/signed-note, tlog-checkpoint, tlog-tiles; RFC 6962 / RFC 9162), and uses none of Custody's tlog or note
 * code — only node:crypto — so a bug shared by our writer and our reader cannot hide.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

export interface IndependentKey {
  name: string;
  keyId: Buffer;
  publicKey: Buffer;
}

/** parseVkey parses `<name>+<hex key id>+<base64(0x01 || 32-byte key)>` and checks the key id. */
export function parseVkey(vkey: string): IndependentKey {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey);
  if (!m) throw new Error(`bad vkey ${vkey}`);
  const raw = Buffer.from(m[3]!, 'base64');
  if (raw.length !== 33 || raw[0] !== 0x01) throw new Error('vkey is not an Ed25519 key');
  // signed-note: key ID = SHA-256(name || 0x0A || 0x01 || key)[:4]
  const keyId = sha256(Buffer.from(m[1]!), Buffer.of(0x0a), raw).subarray(0, 4);
  if (keyId.toString('hex') !== m[2]) throw new Error('vkey id mismatch');
  return { name: m[1]!, keyId, publicKey: raw.subarray(1) };
}

export interface IndependentCheckpoint {
  origin: string;
  size: number;
  root: Buffer;
}

/** openCheckpoint verifies the log's signature on a checkpoint note and parses its body. */
export function openCheckpoint(text: string, key: IndependentKey): IndependentCheckpoint {
  const split = text.lastIndexOf('\n\n');
  if (split < 0 || !text.endsWith('\n')) throw new Error('not a signed note');
  const body = text.slice(0, split + 1);
  const sigLines = text.slice(split + 2, -1).split('\n');
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key.publicKey]);
  const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  let ok = false;
  for (const line of sigLines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new Error(`bad signature line ${line}`);
    const sig = Buffer.from(m[2]!, 'base64');
    if (m[1] !== key.name || !sig.subarray(0, 4).equals(key.keyId)) continue;
    if (!verify(null, Buffer.from(body), pub, sig.subarray(4))) throw new Error('bad checkpoint signature');
    ok = true;
  }
  if (!ok) throw new Error('checkpoint not signed by the key');
  const [origin, size, root] = body.split('\n');
  if (!/^(0|[1-9][0-9]*)$/.test(size!)) throw new Error('bad size');
  return { origin: origin!, size: Number(size), root: Buffer.from(root!, 'base64') };
}

/** tilePath renders c2sp tlog-tiles paths: index 1234067 → x001/x234/067. */
export function tilePath(level: number | 'entries', n: number, width?: number): string {
  let s = String(n).padStart(3, '0');
  const parts: string[] = [];
  while (s.length > 3) {
    parts.unshift(s.slice(-3));
    s = s.slice(0, -3);
  }
  parts.unshift(s.padStart(3, '0'));
  const idx = parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join('/');
  return `tile/${level}/${idx}${width !== undefined && width < 256 ? `.p/${width}` : ''}`;
}

const leafHash = (e: Uint8Array): Buffer => sha256(Buffer.of(0), e);
const nodeHash = (l: Uint8Array, r: Uint8Array): Buffer => sha256(Buffer.of(1), l, r);

/**
 * mth is RFC 6962 §2.1 MTH over leaf hashes. `memo` caches complete (power-of-two, aligned) subtrees, which are
 * exactly the left halves of every split, so many prefix roots of the same leaves cost O(log n) each.
 */
export function mth(leaves: readonly Buffer[], lo = 0, hi = leaves.length, memo?: Map<string, Buffer>): Buffer {
  if (hi - lo === 0) return sha256();
  if (hi - lo === 1) return leaves[lo]!;
  const key = `${lo}:${hi}`;
  const hit = memo?.get(key);
  if (hit) return hit;
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  const h = nodeHash(mth(leaves, lo, lo + k, memo), mth(leaves, lo + k, hi, memo));
  if (memo && k * 2 === hi - lo) memo.set(key, h);
  return h;
}

/** verifyInclusion is RFC 9162 §2.1.3.2. */
export function verifyInclusion(leaf: Buffer, index: number, size: number, proof: Buffer[], root: Buffer): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else r = nodeHash(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** parseBundle splits an entry bundle (big-endian uint16 length-prefixed entries). */
export function parseBundle(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 2 > b.length) throw new Error('truncated bundle');
    const n = b.readUInt16BE(off);
    if (off + 2 + n > b.length) throw new Error('truncated entry');
    out.push(b.subarray(off + 2, off + 2 + n));
    off += 2 + n;
  }
  return out;
}

export type Fetch = (path: string) => Promise<{ status: number; body: Buffer; headers: Record<string, string> }>;

/** httpFetch fetches `<prefix>/<path>` with node's fetch. */
export function httpFetch(prefix: string): Fetch {
  return async (path) => {
    const r = await fetch(`${prefix.replace(/\/$/, '')}/${path}`);
    const headers: Record<string, string> = {};
    r.headers.forEach((v, k) => (headers[k] = v));
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()), headers };
  };
}

/**
 * auditLog fetches the checkpoint, verifies it, downloads every entry bundle and every level-0/1/2 tile of the tree,
 * checks that the tiles hold exactly the hashes recomputed from the entries, and that the root matches.
 * Returns the checkpoint and all entries.
 */
export async function auditLog(get: Fetch, key: IndependentKey): Promise<{ checkpoint: IndependentCheckpoint; text: string; entries: Buffer[]; leaves: Buffer[] }> {
  const cpRes = await get('checkpoint');
  if (cpRes.status !== 200) throw new Error(`checkpoint: HTTP ${cpRes.status}`);
  const text = cpRes.body.toString('utf8');
  const checkpoint = openCheckpoint(text, key);
  const size = checkpoint.size;
  const entries: Buffer[] = [];
  for (let n = 0; n * 256 < size; n++) {
    const w = Math.min(256, size - n * 256);
    const r = await get(tilePath('entries', n, w));
    if (r.status !== 200) throw new Error(`${tilePath('entries', n, w)}: HTTP ${r.status}`);
    const got = parseBundle(r.body);
    if (got.length !== w) throw new Error(`bundle ${n}: expected ${w} entries, got ${got.length}`);
    entries.push(...got);
  }
  const leaves = entries.map(leafHash);
  // Tiles: level L holds MTH of subtrees of 256^L leaves; check levels while they have hashes.
  let levelHashes = leaves;
  for (let L = 0; levelHashes.length > 0; L++) {
    for (let n = 0; n * 256 < levelHashes.length; n++) {
      const w = Math.min(256, levelHashes.length - n * 256);
      const r = await get(tilePath(L, n, w));
      if (r.status !== 200) throw new Error(`${tilePath(L, n, w)}: HTTP ${r.status}`);
      const want = Buffer.concat(levelHashes.slice(n * 256, n * 256 + w));
      if (!r.body.equals(want)) throw new Error(`${tilePath(L, n, w)} differs from the recomputed hashes`);
    }
    const next: Buffer[] = [];
    for (let n = 0; (n + 1) * 256 <= levelHashes.length; n++) next.push(mth(levelHashes, n * 256, (n + 1) * 256));
    levelHashes = next;
  }
  if (!mth(leaves).equals(checkpoint.root)) throw new Error('the root rebuilt from the entry bundles differs from the checkpoint');
  return { checkpoint, text, entries, leaves };
}
