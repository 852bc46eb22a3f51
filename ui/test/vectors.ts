/**
 * ui/test/vectors — runs in Chromium (test/ui/crypto-vectors.test.ts bundles it): the dashboard's Ed25519, Merkle,
 * note/checkpoint and canonical-JSON code against the vectors the Node code is tested with (Wycheproof
 * ed25519_test.json, transparency-dev/merkle inclusion and consistency) and against documents the Node code signed.
 * Returns every mismatch (an empty list is a pass) and how many cases ran.
 */
import { ed25519Verify, fromBase64, fromHex } from '../src/bytes.ts';
import { canonicalJcs, canonicalTuf, type JsonValue } from '../src/canonical.ts';
import { verifyConsistency, verifyInclusion } from '../src/merkle.ts';
import { openCheckpoint, parseProofFile, parseVerifierKey, parseWitnessKey } from '../src/note.ts';
import { manifestSignedBytes, parseRoot, verifyRelease } from '../src/verify.ts';

interface Wycheproof {
  testGroups: Array<{ publicKey: { pk: string }; tests: Array<{ tcId: number; msg: string; sig: string; result: string }> }>;
}
interface Inclusion {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  wantErr: boolean;
}
interface Consistency {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  wantErr: boolean;
}
/** NodeSigned are documents the Node code produced, with what the Node code says about them. */
export interface NodeSigned {
  jcs: Array<{ value: JsonValue; text: string }>;
  tuf: Array<{ value: JsonValue; text: string }>;
  logKey: string;
  checkpoints: Array<{ note: string; ok: boolean; size?: number; witnessKey?: string; cosigned?: 'verified' | 'invalid' | 'unpinned' }>;
  release: { channel: string; arch: string; rootText: string; manifestText: string; proofText: string; fingerprint: string; now: string; signedBytes: string };
}

function b64(s: string): Uint8Array {
  // The merkle vectors use base64 with padding; an empty proof is null.
  return fromBase64(s);
}

/** runVectors returns the mismatches and counts. */
export async function runVectors(w: Wycheproof, inclusion: Inclusion[], consistency: Consistency[], node: NodeSigned): Promise<{ wrong: string[]; counts: Record<string, number> }> {
  const wrong: string[] = [];
  const counts: Record<string, number> = { ed25519: 0, inclusion: 0, consistency: 0, jcs: 0, tuf: 0, checkpoints: 0 };
  for (const g of w.testGroups) {
    const pk = fromHex(g.publicKey.pk);
    for (const t of g.tests) {
      counts.ed25519!++;
      let sig: Uint8Array;
      try {
        sig = fromHex(t.sig);
      } catch {
        sig = new Uint8Array(1);
      }
      const ok = await ed25519Verify(pk, sig, fromHex(t.msg));
      if (ok !== (t.result === 'valid')) wrong.push(`wycheproof tcId ${t.tcId}: expected ${t.result}, got ${ok ? 'valid' : 'invalid'}`);
    }
  }
  for (const v of inclusion) {
    counts.inclusion!++;
    const ok = await verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64), b64(v.root));
    if (ok === v.wantErr) wrong.push(`inclusion ${v.leafIdx}/${v.treeSize}: expected ${v.wantErr ? 'error' : 'ok'}`);
  }
  for (const v of consistency) {
    counts.consistency!++;
    const ok = await verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2));
    if (ok === v.wantErr) wrong.push(`consistency ${v.size1}→${v.size2}: expected ${v.wantErr ? 'error' : 'ok'}`);
  }
  for (const c of node.jcs) {
    counts.jcs!++;
    if (canonicalJcs(c.value) !== c.text) wrong.push(`jcs: ${c.text}`);
  }
  for (const c of node.tuf) {
    counts.tuf!++;
    if (canonicalTuf(c.value) !== c.text) wrong.push(`tuf: ${c.text}`);
  }
  const logKey = await parseVerifierKey(node.logKey);
  for (const c of node.checkpoints) {
    counts.checkpoints!++;
    try {
      const witnesses = c.witnessKey === undefined ? [] : [await parseWitnessKey(c.witnessKey)];
      const cp = await openCheckpoint(c.note, logKey, witnesses);
      if (!c.ok) wrong.push(`checkpoint opened but should not: ${JSON.stringify(c.note.slice(0, 60))}`);
      if (c.size !== undefined && cp.size !== c.size) wrong.push(`checkpoint size ${cp.size}, expected ${c.size}`);
      const v = cp.cosignatures[0]?.verified;
      const verdict = v === undefined ? 'unpinned' : v ? 'verified' : 'invalid';
      if (c.cosigned !== undefined && verdict !== c.cosigned) wrong.push(`cosignature verdict ${verdict}, expected ${c.cosigned}`);
    } catch (e) {
      if (c.ok) wrong.push(`checkpoint refused: ${String(e)}`);
    }
  }
  // A release the Node code signed and logged: same signed bytes, and it verifies; tampered copies fail by name.
  const r = node.release;
  const doc = JSON.parse(r.manifestText) as { [k: string]: JsonValue };
  const mine = new TextDecoder().decode(manifestSignedBytes(doc));
  if (mine !== r.signedBytes) wrong.push(`manifest signed bytes differ: ${mine.slice(0, 80)}`);
  await parseRoot(r.rootText, new Date(r.now)).catch((e: unknown) => wrong.push(`root refused: ${String(e)}`));
  const base = { channel: r.channel, arch: r.arch, rootText: r.rootText, manifestText: r.manifestText, proofText: r.proofText, pinnedFingerprint: r.fingerprint, logKey, now: new Date(r.now) };
  const good = await verifyRelease(base);
  if (!good.ok) wrong.push(`release refused: ${JSON.stringify(good.checks)}`);
  const cases: Array<[string, Partial<typeof base>, string]> = [
    ['other fingerprint', { pinnedFingerprint: 'sha256:' + '0'.repeat(64) }, 'root'],
    ['tampered manifest', { manifestText: r.manifestText.replace(`"arch": "${r.arch}"`, `"arch": "${r.arch}", "x": 1`) }, 'signatures'],
    ['other channel', { channel: 'other' }, 'target'],
    ['after expiry', { now: new Date(Date.parse(String(doc.expires_at)) + 1000) }, 'expiry'],
    ['tampered checkpoint', { proofText: r.proofText.replace(/\n\n([^\n]+)\n(\d+)\n/, (_s, o: string, n: string) => `\n\n${o}\n${Number(n) + 1}\n`) }, 'checkpoint'],
    ['other index', { proofText: r.proofText.replace(/\nindex (\d+)\n/, (_s, i: string) => `\nindex ${Number(i) + 1}\n`) }, 'inclusion'],
  ];
  for (const [what, change, check] of cases) {
    const v = await verifyRelease({ ...base, ...change });
    const failed = v.checks.find((c) => !c.ok)?.name;
    if (v.ok || failed !== check) wrong.push(`${what}: expected to fail at ${check}, got ${v.ok ? 'verified' : failed}`);
  }
  if (parseProofFile(r.proofText).proof.length === 0 && good.checkpoint !== undefined && good.checkpoint.size > 1) wrong.push('proof without hashes');
  return { wrong, counts };
}
