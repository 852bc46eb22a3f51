/**
 * TUF root.json: parsing, self-signed pinning, the N → N+1 chain, expiry, rollback, and the Phase guide's key
 * rotation procedure end to end (dual-signing during the transition, old-key-only manifests refused after it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../src/encoding/json.ts';
import { signManifest } from '../../src/manifest/sign.ts';
import { verifyManifest } from '../../src/manifest/verify.ts';
import { canonicalizeTuf } from '../../src/encoding/canonical.ts';
import {
  MANIFEST_SIGNER_ROLE,
  editRoot,
  formatRoot,
  parseRoot,
  rootSignedBytes,
  signRoot,
  updateRoot,
  updateRootChain,
  verifyPinnedRoot,
} from '../../src/trust/root.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { isTrustError } from '../../src/errors.ts';
import { assertCode } from '../support/assert.ts';
import { NOW, key, manifestOf, rootOf, trusted } from '../support/fixtures.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';

const [r1, r2, r3, r4] = ['r1', 'r2', 'r3', 'r4'].map(key) as [ReturnType<typeof key>, ReturnType<typeof key>, ReturnType<typeof key>, ReturnType<typeof key>];

test('root.json is TUF-shaped, round-trips byte for byte, and its signatures cover TUF canonical JSON', () => {
  const doc = rootOf([r1, r2, r3], 2, [r1, r2]);
  const text = formatRoot(doc);
  const parsed = parseRoot(text);
  assert.equal(formatRoot(parsed), text);
  const signed = parsed.signed;
  assert.equal(signed._type, 'root');
  assert.equal(signed.spec_version, '1.0.31');
  assert.equal(signed.consistent_snapshot, true);
  assert.deepEqual(Object.keys(signed.roles as JsonObject).sort(), ['root', 'snapshot', 'targets', 'timestamp']);
  const k = (signed.keys as JsonObject)[tufKeyId(r1.publicKey)] as JsonObject;
  assert.deepEqual(k, { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: r1.publicKey.hex } });
  assert.deepEqual(rootSignedBytes(parsed), canonicalizeTuf(signed));
  assert.equal(MANIFEST_SIGNER_ROLE, 'targets');
  assert.equal(verifyPinnedRoot(parsed, { now: NOW }).version, 1);
});

test('a pinned root needs a threshold of its own root keys, and must be unexpired', () => {
  assertCode(() => verifyPinnedRoot(rootOf([r1, r2, r3], 2, [r1]), { now: NOW }), 'ERR_TRUST_THRESHOLD_UNMET');
  assertCode(() => verifyPinnedRoot(rootOf([r1, r2, r3], 2, [r1, r1]), { now: NOW }), 'ERR_TRUST_THRESHOLD_UNMET');
  assertCode(() => verifyPinnedRoot(rootOf([r1, r2, r3], 2, [r1, r4]), { now: NOW }), 'ERR_TRUST_THRESHOLD_UNMET');
  assertCode(() => verifyPinnedRoot(rootOf([r1], 1, [r1], { expires: new Date('2026-01-01T00:00:00Z') }), { now: NOW }), 'ERR_TRUST_EXPIRED');
  // Any edit of the signed part after signing breaks it.
  const doc = rootOf([r1, r2], 1, [r1]);
  const tampered = parseRoot(formatRoot(doc).replace('"threshold": 1', '"threshold": 2'));
  assertCode(() => verifyPinnedRoot(tampered, { now: NOW }), 'ERR_TRUST_THRESHOLD_UNMET');
});

test('malformed roots give coded errors', () => {
  const good = JSON.parse(formatRoot(rootOf([r1], 1))) as { signed: JsonObject; signatures: unknown[] };
  const variants: Array<[string, (d: { signed: JsonObject; signatures: unknown[] }) => void, string]> = [
    ['wrong _type', (d) => (d.signed._type = 'targets'), 'ERR_TRUST_SCHEMA'],
    ['missing role', (d) => delete (d.signed.roles as JsonObject).timestamp, 'ERR_TRUST_ROLE'],
    ['role names unknown key', (d) => ((d.signed.roles as JsonObject).root as JsonObject).keyids = ['00'.repeat(16)], 'ERR_TRUST_ROLE'],
    ['rsa key', (d) => (Object.values(d.signed.keys as JsonObject)[0] as JsonObject).keytype = 'rsa', 'ERR_KEY_UNSUPPORTED'],
    ['short key', (d) => ((Object.values(d.signed.keys as JsonObject)[0] as JsonObject).keyval as JsonObject).public = 'abcd', 'ERR_FORMAT_HEX'],
    ['zero threshold', (d) => ((d.signed.roles as JsonObject).root as JsonObject).threshold = 0, 'ERR_TRUST_SCHEMA'],
    ['version 0', (d) => (d.signed.version = 0), 'ERR_TRUST_SCHEMA'],
    ['bad expires', (d) => (d.signed.expires = 'tomorrow'), 'ERR_FORMAT_SCHEMA'],
    ['spec 2.0', (d) => (d.signed.spec_version = '2.0.0'), 'ERR_TRUST_SCHEMA'],
  ];
  for (const [name, mutate, code] of variants) {
    const d = structuredClone(good);
    mutate(d);
    assertCode(() => parseRoot(JSON.stringify(d)), code as never);
    void name;
  }
  assertCode(() => parseRoot('{"signed":{},"signed":{}}'), 'ERR_FORMAT_JSON_DUPLICATE_KEY');
});

type RootJson = { signed: JsonObject & { keys: Record<string, JsonObject>; roles: Record<string, { keyids: string[] }> }; signatures: Array<{ keyid: string; sig: string }> };

/** renameKeyId relabels key `from` as `to` everywhere (keys, roles, signatures), so only the id itself is wrong. */
function renameKeyId(d: RootJson, from: string, to: string): void {
  d.signed.keys[to] = d.signed.keys[from]!;
  delete d.signed.keys[from];
  for (const r of Object.values(d.signed.roles)) r.keyids = r.keyids.map((k) => (k === from ? to : k));
  for (const sg of d.signatures) if (sg.keyid === from) sg.keyid = to;
}

test('a root whose key id is not the TUF key id of its key is refused with ERR_TRUST_KEYID_MISMATCH (TUF §4.3)', () => {
  const good = JSON.parse(formatRoot(rootOf([r1, r2], 1))) as RootJson;
  const id1 = tufKeyId(r1.publicKey);
  const refused = (d: RootJson, want: string): void => {
    let caught: unknown;
    try {
      parseRoot(JSON.stringify(d));
    } catch (e) {
      caught = e;
    }
    assert.ok(isTrustError(caught), 'refused with a coded error');
    assert.equal(caught.code, 'ERR_TRUST_KEYID_MISMATCH');
    assert.equal(caught.name, 'FormatError');
    assert.equal(caught.exitCode, 1);
    assert.deepEqual(caught.details, { keyid: want, expected: id1 }, 'the details name the id found and the id recomputed from the key');
  };
  // One hex digit of the id altered (roles and signatures follow it, so nothing else is inconsistent).
  const altered = structuredClone(good);
  const wrong = id1.slice(0, -1) + (id1.endsWith('0') ? '1' : '0');
  renameKeyId(altered, id1, wrong);
  refused(altered, wrong);
  // The old Custody id (hex SHA-256(raw)[0:32]): a root written before TUF key ids is refused the same way.
  const legacy = structuredClone(good);
  const legacyId = Buffer.from(sha256(r1.publicKey.raw).subarray(0, 16)).toString('hex');
  renameKeyId(legacy, id1, legacyId);
  refused(legacy, legacyId);
  // Two keys' ids swapped: every id is well-formed and listed, but names the other key.
  const swapped = structuredClone(good);
  const id2 = tufKeyId(r2.publicKey);
  const k1 = swapped.signed.keys[id1]!;
  swapped.signed.keys[id1] = swapped.signed.keys[id2]!;
  swapped.signed.keys[id2] = k1;
  assertCode(() => parseRoot(JSON.stringify(swapped)), 'ERR_TRUST_KEYID_MISMATCH');
  // Extension fields beside the key do not enter the id (only keytype, keyval.public, scheme do).
  const extended = structuredClone(good);
  extended.signed.keys[id1]!['x-custody-not-before'] = '2026-01-01T00:00:00Z';
  assert.equal(parseRoot(JSON.stringify(extended)).keys.get(id1)!.key.hex, r1.publicKey.hex);
  // Revocations name TUF key ids; the old 32-hex form is refused.
  const revoked = structuredClone(good);
  revoked.signed['x-custody-revoked'] = [legacyId];
  assertCode(() => parseRoot(JSON.stringify(revoked)), 'ERR_TRUST_SCHEMA');
  revoked.signed['x-custody-revoked'] = [tufKeyId(r3.publicKey)];
  assert.deepEqual([...parseRoot(JSON.stringify(revoked)).revoked], [tufKeyId(r3.publicKey)]);
});

test('root updates: N+1 signed by a threshold of the old AND the new root role (TUF §5.3)', () => {
  const v1 = trusted(rootOf([r1, r2], 2));
  // v2 replaces the root keys with r3, r4.
  const unsigned = editRoot(v1, (s) => {
    const roles = s.roles as JsonObject;
    for (const r of ['root', 'targets', 'snapshot', 'timestamp']) (roles[r] as JsonObject).keyids = [tufKeyId(r3.publicKey), tufKeyId(r4.publicKey)];
    const keys = s.keys as JsonObject;
    for (const k of [r3, r4]) keys[tufKeyId(k.publicKey)] = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: k.publicKey.hex } };
  });
  assert.equal(unsigned.version, 2);
  assert.equal(unsigned.signatures.length, 0);
  assert.equal(unsigned.keys.size, 2, 'unused keys are dropped');
  const onlyNew = signRoot(signRoot(unsigned, r3), r4);
  assertCode(() => updateRoot(v1, onlyNew, NOW), 'ERR_TRUST_THRESHOLD_UNMET');
  const onlyOld = signRoot(signRoot(unsigned, r1), r2);
  assertCode(() => updateRoot(v1, onlyOld, NOW), 'ERR_TRUST_THRESHOLD_UNMET');
  const both = signRoot(signRoot(onlyOld, r3), r4);
  const v2 = updateRoot(v1, both, NOW);
  assert.equal(v2.version, 2);
  // Rollback and skipping versions are refused.
  assertCode(() => updateRoot(v2, both, NOW), 'ERR_TRUST_ROLLBACK');
  const v4 = signRoot(signRoot(editRoot(both, () => undefined), r3), r4);
  const v4skip = signRoot(signRoot(editRoot(v4, () => undefined), r3), r4);
  assertCode(() => updateRoot(v2, v4skip, NOW), 'ERR_TRUST_VERSION');
  // An expired final root is refused; expired intermediates are fine.
  const expiredNext = signRoot(signRoot(editRoot(both, (s) => (s.expires = '2026-01-01T00:00:00Z')), r3), r4);
  assertCode(() => updateRootChain(v2, [expiredNext], NOW), 'ERR_TRUST_EXPIRED');
});

test("the Phase guide's key rotation procedure, end to end", () => {
  const oldKey = key('old-signing');
  const newKey = key('new-signing');
  const art = { kernel: { filename: 'vmlinuz', data: new Uint8Array([1, 2, 3]) } };
  // v1: root keys r1,r2 (2-of-2), manifests signed by the old key.
  const v1doc = rootOf([r1, r2], 2, [r1, r2], { roles: { targets: { keys: [oldKey], threshold: 1 } } });
  const v1 = trusted(v1doc);
  // 1–2. New key generated; v2 authorizes old and new during the transition.
  const addKey = (s: JsonObject): void => {
    ((s.roles as JsonObject).targets as JsonObject).keyids = [tufKeyId(oldKey.publicKey), tufKeyId(newKey.publicKey)];
    (s.keys as JsonObject)[tufKeyId(newKey.publicKey)] = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: newKey.publicKey.hex } };
  };
  const v2doc = signRoot(signRoot(editRoot(v1doc, addKey), r1), r2);
  const v2 = updateRoot(v1, v2doc, NOW);
  // Dual-signed manifests verify for clients that trust either root.
  const dual = signManifest(signManifest(manifestOf(art, 10), oldKey, { now: NOW }), newKey, { now: NOW });
  assert.deepEqual(verifyManifest(dual, v1, { now: NOW }).signers, [tufKeyId(oldKey.publicKey)]);
  assert.deepEqual(verifyManifest(dual, v2, { now: NOW }).signers, [tufKeyId(oldKey.publicKey), tufKeyId(newKey.publicKey)]);
  const newOnly = signManifest(manifestOf(art, 11), newKey, { now: NOW });
  assert.deepEqual(verifyManifest(newOnly, v2, { now: NOW }).signers, [tufKeyId(newKey.publicKey)]);
  assertCode(() => verifyManifest(newOnly, v1, { now: NOW }), 'ERR_MANIFEST_THRESHOLD_UNMET');
  // 4–5. After the transition: v3 revokes the old key.
  const v3doc = signRoot(
    signRoot(
      editRoot(v2doc, (s) => {
        ((s.roles as JsonObject).targets as JsonObject).keyids = [tufKeyId(newKey.publicKey)];
        s['x-custody-revoked'] = [tufKeyId(oldKey.publicKey)];
      }),
      r1,
    ),
    r2,
  );
  const v3 = updateRootChain(v1, [v2doc, v3doc], NOW);
  assert.equal(v3.version, 3);
  const oldOnly = signManifest(manifestOf(art, 12), oldKey, { now: NOW });
  assertCode(() => verifyManifest(oldOnly, v3, { now: NOW }), 'ERR_MANIFEST_THRESHOLD_UNMET');
  assert.deepEqual(verifyManifest(newOnly, v3, { now: NOW }).signers, [tufKeyId(newKey.publicKey)]);
  // Relabelling the revoked key under a fresh id in a later root is refused outright: ids are recomputed (TUF §4.3).
  const relabel = (id: string) => (s: JsonObject): void => {
    ((s.roles as JsonObject).targets as JsonObject).keyids = [tufKeyId(newKey.publicKey), id];
    (s.keys as JsonObject)[id] = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: oldKey.publicKey.hex } };
  };
  assertCode(() => editRoot(v3doc, relabel('ab'.repeat(32))), 'ERR_TRUST_KEYID_MISMATCH');
  // Listed again under its true id, the revoked key still does not count, whatever id a manifest gives it.
  const v4 = updateRoot(v3, signRoot(signRoot(editRoot(v3doc, relabel(tufKeyId(oldKey.publicKey))), r1), r2), NOW);
  assertCode(() => verifyManifest(oldOnly, v4, { now: NOW }), 'ERR_MANIFEST_THRESHOLD_UNMET');
  const relabelled = { ...oldOnly, signatures: oldOnly.signatures.map((s) => ({ ...s, key_id: 'ab'.repeat(32) })) };
  assertCode(() => verifyManifest(relabelled, v4, { now: NOW }), 'ERR_MANIFEST_THRESHOLD_UNMET');
});
