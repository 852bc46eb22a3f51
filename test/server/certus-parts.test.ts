/**
 * The parts of the Certus routes on their own: the scan message byte for byte, the upload policy's rules, the
 * directory artifact store's refusals, and single use of a permission through two SQLite connections racing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createToken } from '../../src/auth/auth.ts';
import { openAuthStore } from '../../src/auth/open.ts';
import { openCertusStore } from '../../src/auth/certus-store.ts';
import { DirectoryArtifactStore } from '../../src/server/signing/artifact-store.ts';
import { PERMIT_BODY_MAX_BYTES, UPLOAD_BODY_MAX_BYTES } from '../../src/server/signing/certus.ts';
import { continueAllowed } from '../../src/server/signing/plugin.ts';
import { scanFileMessage, scanMessage } from '../../src/server/signing/scan.ts';
import { DEFAULT_UPLOAD_POLICY_TEXT, evaluateUploadPolicy, parseUploadPolicy } from '../../src/server/signing/upload-policy.ts';
import { tmpDir } from '../support/tmp.ts';

const H = 'sha256:' + 'ab'.repeat(32);

test('the scan messages, byte for byte: artifacts sorted by name, absent size and type as "-"', () => {
  const m = scanMessage({ scanId: 's1', signer: 'scanner', timestamp: '2026-01-02T03:04:05Z', artifacts: [{ name: 'z.sarif', digest: H, size: 12, type: 'sarif' }, { name: 'a.json', digest: H }] });
  assert.equal(new TextDecoder().decode(m), `custody.scan/v1\nscan s1\nsigner scanner\ntimestamp 2026-01-02T03:04:05Z\nartifact ${H} - - a.json\nartifact ${H} 12 sarif z.sarif\n`);
  assert.equal(new TextDecoder().decode(scanFileMessage({ scanId: 's1', signer: 'scanner', path: 'out/a.json', digest: H })), `custody.scan-file/v1\nscan s1\nsigner scanner\npath out/a.json\ndigest ${H}\n`);
  assert.throws(() => scanMessage({ scanId: 's', signer: 's', timestamp: 't', artifacts: [{ name: 'a', digest: H }, { name: 'a', digest: H }] }), { code: 'ERR_CERTUS_ARTIFACT_DUPLICATE' });
});

test('the upload policy: defaults, bounds, and each rule as a coded denial', () => {
  const p = parseUploadPolicy(DEFAULT_UPLOAD_POLICY_TEXT);
  assert.deepEqual([...p.tiers.keys()], ['basic', 'verified']);
  const now = Date.parse('2026-01-02T03:04:05Z');
  const base = { tier: 'basic', scanner: 'any', signedAt: now, artifacts: [{ name: 'a', size: 1, type: 'sarif' }], destinations: ['raw_s3' as const], now };
  assert.equal(evaluateUploadPolicy(p, base).maxArtifacts, 64);
  const strict = parseUploadPolicy('{"version":1,"tiers":{"gold":{"scanners":["s"],"artifact_types":["sbom"],"max_artifacts":1,"max_artifact_bytes":10,"destinations":["oci_registry"],"max_signature_age_seconds":60}}}');
  const g = { ...base, tier: 'gold', scanner: 's', artifacts: [{ name: 'a', size: 5, type: 'sbom' }], destinations: ['oci_registry' as const] };
  assert.equal(evaluateUploadPolicy(strict, g).maxArtifactBytes, 10);
  for (const [mut, code] of [
    [{ scanner: 'other' }, 'ERR_CERTUS_POLICY_DENIED'],
    [{ artifacts: [{ name: 'a', size: 5, type: 'sarif' }] }, 'ERR_CERTUS_POLICY_DENIED'],
    [{ artifacts: [{ name: 'a', size: 11, type: 'sbom' }] }, 'ERR_CERTUS_POLICY_DENIED'],
    [{ artifacts: [{ name: 'a', size: 1, type: 'sbom' }, { name: 'b', size: 1, type: 'sbom' }] }, 'ERR_CERTUS_POLICY_DENIED'],
    [{ destinations: ['raw_s3' as const] }, 'ERR_CERTUS_POLICY_DENIED'],
    [{ signedAt: now - 61_000 }, 'ERR_CERTUS_SIGNATURE_STALE'],
    [{ signedAt: now + 301_000 }, 'ERR_CERTUS_SIGNATURE_STALE'],
    [{ tier: 'basic' }, 'ERR_CERTUS_TIER_UNKNOWN'],
  ] as const) {
    assert.throws(() => evaluateUploadPolicy(strict, { ...g, ...mut }), { code }, JSON.stringify(mut));
  }
  for (const bad of ['version: 1\ntiers: {}\n', 'version: 1\npermission_ttl_seconds: 0\ntiers: {a: {scanners: ["*"]}}\n', 'version: 1\ntiers: {Bad: {scanners: ["*"]}}\n', '{"version":1,"tiers":{"a":{"scanners":["*"],"__proto__":{}}}}']) {
    assert.throws(() => parseUploadPolicy(bad), { code: 'ERR_CERTUS_POLICY' }, bad);
  }
});

test('the directory artifact store: atomic files under destination/scan/name, refusals coded ERR_CERTUS_STORE', async (t) => {
  const root = join(tmpDir(t), 'artifacts');
  const s = new DirectoryArtifactStore(root);
  await s.probe();
  const put = await s.put({ destination: 'raw_s3', scanId: 'scan-1', name: 'a.sarif', bytes: new TextEncoder().encode('x'), digest: H });
  assert.equal(put.uri, `file://${join(root, 'raw_s3', 'scan-1', 'a.sarif')}`);
  assert.deepEqual(readdirSync(join(root, 'raw_s3', 'scan-1')), ['a.sarif']);
  for (const name of ['..', 'a/b', '']) {
    await assert.rejects(s.put({ destination: 'raw_s3', scanId: 'scan-1', name, bytes: new Uint8Array(1), digest: H }), { code: 'ERR_CERTUS_STORE' });
  }
  // A file where the scan's directory should be: the write fails, coded.
  writeFileSync(join(root, 'raw_s3', 'scan-2'), 'x');
  await assert.rejects(s.put({ destination: 'raw_s3', scanId: 'scan-2', name: 'a', bytes: new Uint8Array(1), digest: H }), { code: 'ERR_CERTUS_STORE' });
  const blocked = join(tmpDir(t), 'blocked');
  writeFileSync(blocked, 'x');
  await assert.rejects(new DirectoryArtifactStore(join(blocked, 'sub')).probe(), { code: 'ERR_CERTUS_STORE' });
});

test('single use in SQLite: of many racing uses through two connections exactly one wins; expired and unknown are told apart', async (t) => {
  const dir = tmpDir(t);
  mkdirSync(dir, { recursive: true });
  const auth = await openAuthStore({ dataDir: dir });
  const a = await openCertusStore({ dataDir: dir });
  const b = await openCertusStore({ dataDir: dir });
  t.after(async () => {
    await a.close();
    await b.close();
    await auth.close();
  });
  const now = Date.now();
  await a.insertPermission({ id: 'p1', scanId: 's', tier: 'basic', digest: 'd1', callerId: 'c', issuedAt: now, expiresAt: now + 60_000, usedAt: null });
  await a.insertPermission({ id: 'p2', scanId: 's', tier: 'basic', digest: 'd2', callerId: 'c', issuedAt: now, expiresAt: now - 1, usedAt: null });
  assert.equal(await b.usePermission('p1', 'wrong digest', now), 'unknown');
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).usePermission('p1', 'd1', now)));
  assert.deepEqual(results.filter((r) => r === 'used').length, 1);
  assert.ok(results.filter((r) => r !== 'used').every((r) => r === 'replayed'));
  assert.equal((await a.getPermission('p1'))?.usedAt, now);
  assert.equal(await a.usePermission('p2', 'd2', now), 'expired');
  assert.equal(await a.usePermission('nope', 'd', now), 'unknown');
  await a.bump('uploads');
  await b.bump('uploads', 2);
  assert.deepEqual(await a.counters(), { uploads: 3 });
  await a.addEvent({ scanId: 's', kind: 'permitted', at: now, actor: 'k', result: 'pass', details: { n: 1 } });
  assert.deepEqual(await b.listEvents('s', 10), [{ scanId: 's', kind: 'permitted', at: now, actor: 'k', result: 'pass', details: { n: 1 } }]);
  assert.deepEqual(await a.signerCounts(10), { total: 0, signers: [] });
  await a.ping();
});

test('a cluster leader lets a Certus request send its body only with the route scope and under the route cap', async (t) => {
  const dir = tmpDir(t);
  const auth = await openAuthStore({ dataDir: dir });
  t.after(() => auth.close());
  const permit = await createToken(auth, { name: 'p', scopes: ['permit'], now: Date.now(), ttlMs: null });
  const upload = await createToken(auth, { name: 'u', scopes: ['upload'], now: Date.now(), ttlMs: null });
  assert.equal(await continueAllowed(auth, '/v1/execute-upload', `Bearer ${upload.token}`, 1024), true);
  assert.equal(await continueAllowed(auth, '/v1/execute-upload', `Bearer ${permit.token}`, 1024), false);
  assert.equal(await continueAllowed(auth, '/v1/execute-upload', `Bearer ${upload.token}`, UPLOAD_BODY_MAX_BYTES + 1), false);
  assert.equal(await continueAllowed(auth, '/v1/verify-and-permit-upload', `Bearer ${permit.token}`, 1024), true);
  assert.equal(await continueAllowed(auth, '/v1/verify-and-permit-upload', `Bearer ${permit.token}`, PERMIT_BODY_MAX_BYTES + 1), false);
  assert.equal(await continueAllowed(auth, '/v1/sign-artifact', `Bearer ${permit.token}`, 1024), false);
  assert.equal(await continueAllowed(auth, '/v1/verify-chain', undefined, 1024), false);
});
