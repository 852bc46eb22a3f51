/**
 * The Certus routes of the signing API (server/signing/certus) on a real daemon on a loopback port: sign-artifact and
 * verify-chain with inner signatures checked against registered scanner identities (registered by the real CLI), the
 * gatekeeper permitting only a verified scan, execute-upload refusing forged, reused, expired and mismatched
 * permissions and wrong bytes, stats, provenance, readiness, trust metadata roles, /openapi.json, and the audit log.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openCertusStore } from '../../src/auth/certus-store.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import type { RunningDaemon } from '../../src/server/daemon.ts';
import { signPermission } from '../../src/server/signing/permission.ts';
import { scanFileMessage, scanMessage } from '../../src/server/signing/scan.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { start } from '../provider/harness.ts';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(d: RunningDaemon, method: string, path: string, o: { token?: string; body?: unknown; raw?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.raw !== undefined || o.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = o.raw ?? JSON.stringify(o.body);
  }
  const r = await fetch(d.url + path, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function token(d: RunningDaemon, name: string, scope: string): Promise<string> {
  const r = await cli(['token', 'create', '--data', d.dataDir, '--name', name, '--scope', scope, '--json'], { cwd: d.dataDir });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

/** scanner registers an Ed25519 scanner identity with the real CLI (`--scope scan`). */
async function scanner(d: RunningDaemon, name: string, scope = 'scan'): Promise<PrivateKey> {
  const key = PrivateKey.generate();
  const r = await cli(['identity', 'add', name, '--key', key.publicKey.hex, '--scope', scope, '--data', d.dataDir], { cwd: d.dataDir });
  assert.equal(r.code, 0, r.stderr);
  return key;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const digestOf = (s: string | Uint8Array): string => 'sha256:' + encodeHex(sha256(s));

/** innerSignatures builds a sign-artifact `inner_signatures` as a scanner would: every file signed, then the scan. */
function innerSignatures(key: PrivateKey, signer: string, scanId: string, files: Record<string, string>, timestamp = new Date().toISOString()): Record<string, unknown> {
  const list = Object.entries(files).map(([path, content]) => ({ path, digest: digestOf(content) }));
  return {
    signer,
    timestamp,
    algorithm: 'Ed25519',
    signature: b64(key.sign(scanMessage({ scanId, signer, timestamp, artifacts: list.map((f) => ({ name: f.path, digest: f.digest })) }))),
    files: list.map((f) => ({ ...f, verified: true, signature: b64(key.sign(scanFileMessage({ scanId, signer, path: f.path, digest: f.digest }))) })),
  };
}

/** permitRequest builds a gatekeeper request with an inner signature by `key`. */
function permitRequest(key: PrivateKey, signer: string, scanId: string, files: Record<string, string>, tier = 'verified', timestamp = new Date().toISOString()): Record<string, unknown> {
  const artifacts = Object.entries(files).map(([name, content]) => ({ name, hash: digestOf(content), size: Buffer.byteLength(content), type: 'sarif' }));
  const signature = b64(key.sign(scanMessage({ scanId, signer, timestamp, artifacts: artifacts.map((a) => ({ name: a.name, digest: a.hash, size: a.size, type: a.type })) })));
  return {
    scan_id: scanId,
    tier,
    inner_signature: { signer, timestamp, signature, algorithm: 'Ed25519' },
    artifacts,
    metadata: { git_url: 'https://github.com/example/app', branch: 'main', commit: '0123456789abcdef0123', requested_by: 'ci' },
    storage_destinations: { raw_s3: true, oci_registry: true },
  };
}

function uploadRequest(permit: Record<string, unknown>, files: Record<string, string>): Record<string, unknown> {
  return {
    upload_permission_id: permit.upload_permission_id,
    scan_id: permit.scan_id,
    tier: permit.tier,
    permission: permit.permission,
    artifacts: Object.entries(files).map(([name, content]) => ({ name, hash: digestOf(content), size: Buffer.byteLength(content), type: 'sarif', content: Buffer.from(content).toString('base64') })),
  };
}

async function daemon(t: TestContext, extra: Parameters<typeof start>[2] = {}): Promise<RunningDaemon> {
  return start(t, join(tmpDir(t), 'data'), extra);
}

const FILES = { 'trivy.sarif': '{"runs":[]}\n', 'sbom.json': '{"bomFormat":"CycloneDX"}\n' };

test('sign-artifact → verify-chain: inner signatures checked for real, outer logged, every field recomputed', async (t) => {
  const d = await daemon(t);
  const key = await scanner(d, 'certus-assurance@certus.cloud');
  const tk = await token(d, 'assurance', 'sign,verify');
  const bundle = digestOf('the assessment bundle');
  const locations = { s3: { uri: 's3://raw/scan-1/bundle.tar', digest: bundle }, registry: { uri: 'oci://registry.example/scans/scan-1', digest: bundle } };
  const inner = innerSignatures(key, 'certus-assurance@certus.cloud', 'scan-1', FILES);
  const body = { artifact_locations: locations, inner_signatures: inner, assessment_metadata: { assessment_id: 'scan-1', client_id: 'acme', assessment_type: 'sast', domains: ['app'] } };
  const signed = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body });
  assert.equal(signed.status, 202, JSON.stringify(signed.body));
  assert.equal(signed.body.status, 'signed');
  assert.equal(signed.body.assessment_id, 'scan-1');
  const outer = signed.body.outer_signature as Record<string, unknown>;
  for (const f of ['signer', 'timestamp', 'signature', 'sigstore_entry_id', 'transparency_log_url']) assert.equal(typeof outer[f], 'string', f);
  assert.deepEqual(signed.body.verification_proof, { inner_signatures_verified: true, artifact_locations_valid: true, chain_of_custody: true, both_locations_identical: true });
  // The outer entry is in the transparency log with a real proof.
  const te = await call(d, 'GET', `/v1/transparency/${String(outer.sigstore_entry_id)}?include_proof=true`);
  assert.equal(te.status, 200);
  assert.equal(typeof (te.body.proof as { root_hash: string }).root_hash, 'string');

  const chain = { artifact_locations: locations, signatures: { inner, outer }, sigstore_entry_id: outer.sigstore_entry_id };
  const ok = await call(d, 'POST', '/v1/verify-chain', { token: tk, body: chain });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const v = ok.body;
  for (const f of ['chain_verified', 'inner_signature_valid', 'outer_signature_valid', 'chain_unbroken']) assert.equal(v[f], true, f);
  assert.equal(v.signer_inner, 'certus-assurance@certus.cloud');
  assert.equal(v.signer_outer, d.origin);
  assert.equal(typeof v.sigstore_timestamp, 'string');
  assert.deepEqual(v.artifact_locations, { s3_valid: true, registry_valid: true, digests_match: true, content_identical: true });
  assert.deepEqual(v.non_repudiation, { assurance_accountable: true, trust_verified: true, timestamp_authority: d.origin, provenance_chain: true });
  assert.deepEqual(v.failures, []);

  // A tampered inner signature (one file's digest changed after signing): inner invalid, chain broken.
  const tampered = structuredClone(inner) as { files: Array<{ digest: string }> };
  tampered.files[0]!.digest = digestOf('other bytes');
  const bad = await call(d, 'POST', '/v1/verify-chain', { token: tk, body: { ...chain, signatures: { inner: tampered, outer } } });
  assert.equal(bad.body.chain_verified, false);
  assert.equal(bad.body.inner_signature_valid, false);
  assert.equal(bad.body.outer_signature_valid, true);
  assert.equal(bad.body.chain_unbroken, false);
  assert.ok((bad.body.failures as Array<{ code: string }>).some((f) => f.code === 'ERR_CERTUS_INNER_SIGNATURE_INVALID'));
  // A valid inner signature by the same scanner over other files: the outer does not cover it (chain broken).
  const resigned = innerSignatures(key, 'certus-assurance@certus.cloud', 'scan-1', { 'trivy.sarif': FILES['trivy.sarif'] });
  const broken = await call(d, 'POST', '/v1/verify-chain', { token: tk, body: { ...chain, signatures: { inner: resigned, outer } } });
  assert.equal(broken.body.inner_signature_valid, true);
  assert.equal(broken.body.chain_unbroken, false);
  assert.ok((broken.body.failures as Array<{ code: string }>).some((f) => f.code === 'ERR_CERTUS_CHAIN_BROKEN'));
  // Locations whose digest differs from the signed one.
  const moved = await call(d, 'POST', '/v1/verify-chain', { token: tk, body: { ...chain, artifact_locations: { ...locations, s3: { uri: 's3://raw/x', digest: digestOf('x') } } } });
  assert.equal(moved.body.chain_verified, false);
  assert.deepEqual(moved.body.artifact_locations, { s3_valid: false, registry_valid: true, digests_match: false, content_identical: false });
  // A forged outer signature (another key signed the same statement shape).
  const forged = await call(d, 'POST', '/v1/verify-chain', {
    token: tk,
    body: { ...chain, signatures: { inner, outer: { ...outer, signature: String(outer.signature).replace(/"sig":"([A-Za-z0-9+/])/, (_m, c: string) => `"sig":"${c === 'A' ? 'B' : 'A'}`) } } },
  });
  assert.equal(forged.body.outer_signature_valid, false);
  assert.equal(forged.body.chain_verified, false);

  // sign-artifact refusals: a file signature over another file, an unregistered scanner, a signer without `scan`.
  const swapped = structuredClone(inner) as { files: Array<{ signature: string }> };
  [swapped.files[0]!.signature, swapped.files[1]!.signature] = [swapped.files[1]!.signature, swapped.files[0]!.signature];
  const other = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body: { ...body, inner_signatures: swapped } });
  assert.equal(other.status, 422);
  assert.equal(other.body.code, 'ERR_CERTUS_INNER_SIGNATURE_INVALID');
  const stranger = PrivateKey.generate();
  const unknown = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body: { ...body, inner_signatures: innerSignatures(stranger, 'stranger', 'scan-1', FILES) } });
  assert.equal(unknown.status, 403);
  assert.equal(unknown.body.code, 'ERR_CERTUS_SCANNER_UNKNOWN');
  const notScanner = await scanner(d, 'signer-only', 'sign');
  const noScope = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body: { ...body, inner_signatures: innerSignatures(notScanner, 'signer-only', 'scan-1', FILES) } });
  assert.equal(noScope.body.code, 'ERR_CERTUS_SCANNER_UNKNOWN');
  const split = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body: { ...body, artifact_locations: { ...locations, s3: { uri: 's3://raw/x', digest: digestOf('x') } } } });
  assert.equal(split.status, 422);
  assert.equal(split.body.code, 'ERR_CERTUS_DIGEST_MISMATCH');
  const badTime = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body: { ...body, inner_signatures: { ...inner, timestamp: 'yesterday' } } });
  assert.equal(badTime.status, 400);
  assert.equal(badTime.body.code, 'ERR_CERTUS_TIMESTAMP');
  const dup = innerSignatures(key, 'certus-assurance@certus.cloud', 'scan-1', FILES) as { files: unknown[] };
  dup.files.push(dup.files[0]);
  const twice = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body: { ...body, inner_signatures: dup } });
  assert.equal(twice.body.code, 'ERR_CERTUS_ARTIFACT_DUPLICATE');
  const rsa = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body: { ...body, inner_signatures: { ...inner, algorithm: 'SHA256-RSA' } } });
  assert.equal(rsa.body.code, 'ERR_CERTUS_ALGORITHM');
  // A revoked scanner's signatures stop counting at once.
  const rv = await cli(['identity', 'revoke', 'certus-assurance@certus.cloud', '--data', d.dataDir], { cwd: d.dataDir });
  assert.equal(rv.code, 0, rv.stderr);
  const revoked = await call(d, 'POST', '/v1/sign-artifact', { token: tk, body });
  assert.equal(revoked.body.code, 'ERR_CERTUS_SCANNER_REVOKED');
  const after = await call(d, 'POST', '/v1/verify-chain', { token: tk, body: chain });
  assert.equal(after.body.inner_signature_valid, false);

  // Only the accepted request was logged: one signature, whatever the refusals.
  const stats = await call(d, 'GET', '/v1/stats');
  assert.equal(stats.body.total_signatures, 1);
  const vs = stats.body.verification_stats as Record<string, number>;
  assert.equal(vs.artifacts_signed, 1);
  assert.equal(vs.chains_verified, 1);
  assert.ok(vs.chains_failed! >= 2);
  // Audit appends are serialized: once this one is durable, every event of the requests above is in the file.
  await d.audit.append('test.sync', {});
  const audit = readFileSync(join(d.dataDir, 'audit.jsonl'), 'utf8');
  assert.match(audit, /"event":"signapi.artifact_signed"/);
  assert.match(audit, /"code":"ERR_CERTUS_INNER_SIGNATURE_INVALID"/);
});

test('the gatekeeper permits only a verified scan; execute-upload refuses forged, reused, expired and mismatched permissions', async (t) => {
  const d = await daemon(t);
  const key = await scanner(d, 'certus-assurance@certus.cloud');
  const permitTk = await token(d, 'gatekeeper', 'permit');
  const uploadTk = await token(d, 'transform', 'upload');
  const req = permitRequest(key, 'certus-assurance@certus.cloud', 'scan-7', FILES);

  // Scopes: an upload token cannot permit; a permit token cannot upload; no token at all is 401.
  assert.equal((await call(d, 'POST', '/v1/verify-and-permit-upload', { body: req })).status, 401);
  const wrong = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: uploadTk, body: req });
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.code, 'ERR_AUTH_SCOPE');

  const permit = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: req });
  assert.equal(permit.status, 202, JSON.stringify(permit.body));
  const pb = permit.body;
  assert.match(String(pb.upload_permission_id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(pb.scan_id, 'scan-7');
  assert.equal(pb.tier, 'verified');
  assert.equal(pb.permitted, true);
  assert.equal(typeof pb.permission, 'string');
  const proof = pb.verification_proof as Record<string, unknown>;
  for (const f of ['chain_verified', 'inner_signature_valid', 'outer_signature_valid', 'chain_unbroken']) assert.equal(proof[f], true, f);
  assert.equal(proof.signer_inner, 'certus-assurance@certus.cloud');
  assert.deepEqual(pb.storage_config, {
    raw_s3_bucket: 'raw',
    raw_s3_prefix: 'https:--github.com-example-app/01234567',
    oci_registry: null,
    oci_repository: null,
    upload_to_s3: true,
    upload_to_oci: true,
  });

  // Denied: a tampered inner signature, an unregistered scanner, a type the tier refuses, a stale signature.
  const tampered = structuredClone(req) as { artifacts: Array<{ hash: string }> };
  tampered.artifacts[0]!.hash = digestOf('swapped report');
  const t1 = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: tampered });
  assert.equal(t1.status, 422);
  assert.equal(t1.body.permitted, false);
  assert.equal(t1.body.reason, 'invalid_signature');
  assert.equal(t1.body.code, 'ERR_CERTUS_INNER_SIGNATURE_INVALID');
  assert.equal(t1.body.upload_permission_id, null);
  const t2 = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: permitRequest(PrivateKey.generate(), 'certus-assurance@certus.cloud', 'scan-7', FILES) });
  assert.equal(t2.body.reason, 'invalid_signature');
  const t3 = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: permitRequest(PrivateKey.generate(), 'nobody', 'scan-7', FILES) });
  assert.equal(t3.status, 403);
  assert.equal(t3.body.reason, 'invalid_signer');
  const stale = await call(d, 'POST', '/v1/verify-and-permit-upload', {
    token: permitTk,
    body: permitRequest(key, 'certus-assurance@certus.cloud', 'scan-7', FILES, 'verified', new Date(Date.now() - 2 * 3600_000).toISOString()),
  });
  assert.equal(stale.body.code, 'ERR_CERTUS_SIGNATURE_STALE');
  const tier = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: permitRequest(key, 'certus-assurance@certus.cloud', 'scan-7', FILES, 'platinum') });
  assert.equal(tier.body.code, 'ERR_CERTUS_TIER_UNKNOWN');
  const basicOci = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: permitRequest(key, 'certus-assurance@certus.cloud', 'scan-7', FILES, 'basic') });
  assert.equal(basicOci.status, 403);
  assert.equal(basicOci.body.code, 'ERR_CERTUS_POLICY_DENIED');
  // Malformed input is a 400 before any check: bad digest, unknown artifact type, no artifacts.
  for (const mut of [
    (r: { artifacts: Array<Record<string, unknown>> }) => (r.artifacts[0]!.hash = 'sha256:XYZ'),
    (r: { artifacts: Array<Record<string, unknown>> }) => (r.artifacts[0]!.type = 'firmware'),
    (r: { artifacts: Array<Record<string, unknown>> }) => (r.artifacts = []),
  ]) {
    const r = structuredClone(req) as { artifacts: Array<Record<string, unknown>> };
    mut(r);
    const a = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: r });
    assert.equal(a.status, 400);
    assert.equal(a.body.code, 'ERR_SIGNAPI_REQUEST');
  }

  // execute-upload: forged (another key), wrong bytes, mismatched scan, then the real one once, then replayed.
  const files = FILES;
  const forgedEnvelope = signPermission(
    { id: String(pb.upload_permission_id), scanId: 'scan-7', tier: 'verified', scanner: 'x', artifacts: [], destinations: ['raw_s3'], issuedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString() },
    PrivateKey.generate(),
  ).envelope;
  const forged = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, body: { ...uploadRequest(pb, files), permission: forgedEnvelope } });
  assert.equal(forged.status, 403);
  assert.equal(forged.body.code, 'ERR_CERTUS_PERMISSION_INVALID');
  const wrongBytes = uploadRequest(pb, files) as { artifacts: Array<{ content: string }> };
  wrongBytes.artifacts[0]!.content = Buffer.from('{"runs":[1]}\n').toString('base64');
  const wb = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, body: wrongBytes });
  assert.equal(wb.status, 422);
  assert.equal(wb.body.code, 'ERR_CERTUS_DIGEST_MISMATCH');
  const otherScan = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, body: { ...uploadRequest(pb, files), scan_id: 'scan-8' } });
  assert.equal(otherScan.body.code, 'ERR_CERTUS_PERMISSION_MISMATCH');
  const noScope = await call(d, 'POST', '/v1/execute-upload', { token: permitTk, body: uploadRequest(pb, files) });
  assert.equal(noScope.body.code, 'ERR_AUTH_SCOPE');
  // Nothing was stored by any refusal.
  assert.equal(existsSync(join(d.dataDir, 'artifacts', 'raw_s3')), false);

  const up = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, body: uploadRequest(pb, files) });
  assert.equal(up.status, 200, JSON.stringify(up.body));
  assert.equal(up.body.status, 'uploaded');
  assert.equal((up.body.stored as unknown[]).length, 4);
  assert.equal(readFileSync(join(d.dataDir, 'artifacts', 'raw_s3', 'scan-7', 'trivy.sarif'), 'utf8'), files['trivy.sarif']);
  assert.deepEqual(readdirSync(join(d.dataDir, 'artifacts', 'oci_registry', 'scan-7')).sort(), ['sbom.json', 'trivy.sarif']);
  const replay = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, body: uploadRequest(pb, files) });
  assert.equal(replay.status, 403);
  assert.equal(replay.body.code, 'ERR_CERTUS_PERMISSION_USED');

  // Expired: a permission signed by this daemon's key whose time is over, and one past its stored expiry.
  const store = await openCertusStore({ dataDir: d.dataDir });
  t.after(() => store.close());
  const past = signPermission(
    { id: '00000000-0000-4000-8000-000000000001', scanId: 'scan-7', tier: 'verified', scanner: 'x', artifacts: [], destinations: ['raw_s3'], issuedAt: '2020-01-01T00:00:00.000Z', expiresAt: '2020-01-01T00:15:00.000Z' },
    d.identity.signer,
  );
  const expired = await call(d, 'POST', '/v1/execute-upload', {
    token: uploadTk,
    body: { ...uploadRequest(pb, files), upload_permission_id: '00000000-0000-4000-8000-000000000001', permission: past.envelope },
  });
  assert.equal(expired.status, 403);
  assert.equal(expired.body.code, 'ERR_CERTUS_PERMISSION_EXPIRED');
  // Signed by our key but never issued (no record): unknown.
  const future = { id: '00000000-0000-4000-8000-000000000002', scanId: 'scan-7', tier: 'verified', scanner: 'x', destinations: ['raw_s3'], issuedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 600_000).toISOString() };
  const arts = Object.entries(files).map(([name, c]) => ({ name, hash: digestOf(c), size: Buffer.byteLength(c), type: 'sarif' }));
  const never = signPermission({ ...future, artifacts: arts }, d.identity.signer);
  const unknown = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, body: { ...uploadRequest(pb, files), upload_permission_id: future.id, permission: never.envelope } });
  assert.equal(unknown.body.code, 'ERR_CERTUS_PERMISSION_UNKNOWN');
  // Stored, then past its expiry in the store: the conditional update refuses it as expired.
  await store.insertPermission({ id: future.id, scanId: 'scan-7', tier: 'verified', digest: never.digest, callerId: 'x', issuedAt: 0, expiresAt: 1, usedAt: null });
  const lapsed = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, body: { ...uploadRequest(pb, files), upload_permission_id: future.id, permission: never.envelope } });
  assert.equal(lapsed.body.code, 'ERR_CERTUS_PERMISSION_EXPIRED');

  // Provenance: the real records of scan-7.
  const prov = await call(d, 'GET', '/v1/provenance/scan-7');
  assert.equal(prov.status, 200);
  assert.equal(prov.body.scan_id, 'scan-7');
  assert.equal(prov.body.chain_status, 'complete');
  assert.equal(prov.body.trust_level, 'high');
  assert.deepEqual((prov.body.verification_trail as Array<{ event: string }>).map((e) => e.event), ['permitted', 'uploaded']);
  assert.match(String((prov.body.storage_locations as { s3: string }).s3), /^file:\/\/.*raw_s3\/scan-7\//);
  assert.equal(((prov.body.scans as Array<{ signed_by: string }>)[0]!).signed_by, 'certus-assurance@certus.cloud');
  const none = await call(d, 'GET', '/v1/provenance/scan-404');
  assert.equal(none.status, 404);
  assert.equal(none.body.code, 'ERR_CERTUS_SCAN_NOT_FOUND');
  const stats = await call(d, 'GET', '/v1/stats');
  assert.deepEqual(Object.keys(stats.body).sort(), ['signer_counts', 'signers', 'timestamp', 'total_signatures', 'total_transparency_entries', 'verification_stats']);
  assert.equal((stats.body.verification_stats as Record<string, number>).permits_granted, 1);
  assert.equal((stats.body.verification_stats as Record<string, number>).uploads, 1);
  assert.equal(typeof stats.body.total_transparency_entries, 'number');

  // Audit appends are serialized: once this one is durable, every event of the requests above is in the file.
  await d.audit.append('test.sync', {});
  const audit = readFileSync(join(d.dataDir, 'audit.jsonl'), 'utf8');
  for (const ev of ['signapi.permitted', 'signapi.uploaded']) assert.match(audit, new RegExp(`"event":"${ev}"`));
  for (const code of ['ERR_CERTUS_PERMISSION_USED', 'ERR_CERTUS_PERMISSION_INVALID', 'ERR_CERTUS_POLICY_DENIED']) assert.match(audit, new RegExp(`"code":"${code}"`));
  assert.ok(!audit.includes(uploadTk.slice(8)), 'no token in the audit log');
});

test('413 over the caps, readiness naming the artifact store, trust metadata roles, /openapi.json, upload policy file', async (t) => {
  const dir = tmpDir(t);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'version: 1\npermission_ttl_seconds: 60\ntiers:\n  basic:\n    scanners: [only-this-one]\n    artifact_types: [sarif]\n    destinations: [raw_s3]\n');
  const d = await start(t, join(dir, 'data'), { certus: { uploadPolicyFile: policy, uploadBodyMaxBytes: 4096 } });
  const key = await scanner(d, 'scanner-b');
  const permitTk = await token(d, 'gatekeeper', 'permit');
  const uploadTk = await token(d, 'transform', 'upload');
  const other = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, body: { ...permitRequest(key, 'scanner-b', 's1', FILES, 'basic'), storage_destinations: { raw_s3: true, oci_registry: false } } });
  assert.equal(other.body.code, 'ERR_CERTUS_POLICY_DENIED');
  assert.match(String(other.body.detail), /scanner "scanner-b" is not accepted/);

  const big = await call(d, 'POST', '/v1/execute-upload', { token: uploadTk, raw: JSON.stringify({ pad: 'x'.repeat(5000) }) });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'ERR_SIGNAPI_TOO_LARGE');
  const bigChain = await call(d, 'POST', '/v1/verify-and-permit-upload', { token: permitTk, raw: JSON.stringify({ pad: 'x'.repeat(600 * 1024) }) });
  assert.equal(bigChain.status, 413);

  const ready = await call(d, 'GET', '/v1/ready');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body.checks, { log: true, store: true, key: true, records: true, artifacts: true });
  // The artifact directory cannot be created (a file stands there): readiness names the failing check.
  rmSync(join(d.dataDir, 'artifacts'), { recursive: true, force: true });
  writeFileSync(join(d.dataDir, 'artifacts'), 'not a directory');
  const notReady = await call(d, 'GET', '/v1/ready');
  assert.equal(notReady.status, 503);
  assert.deepEqual(notReady.body.failing, ['artifacts']);

  const root = await fetch(`${d.url}/v1/keys/root.json`);
  assert.equal(root.status, 200);
  for (const role of ['targets.json', 'snapshot.json', 'timestamp.json']) {
    const r = await call(d, 'GET', `/v1/keys/${role}`);
    assert.equal(r.status, 404, role);
    assert.equal(r.body.code, 'ERR_CERTUS_UNKNOWN_ROLE');
  }

  const api = await call(d, 'GET', '/openapi.json');
  assert.equal(api.status, 200);
  assert.equal(api.body.openapi, '3.1.0');
  const paths = api.body.paths as Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { required?: string[] } }> }; security?: unknown }>>;
  for (const p of ['/v1/sign', '/v1/verify', '/v1/sign-artifact', '/v1/verify-chain', '/v1/verify-and-permit-upload', '/v1/execute-upload']) {
    assert.ok(paths[p]?.post?.requestBody, p);
    assert.ok(paths[p].post.security, p);
  }
  assert.deepEqual(paths['/v1/verify-and-permit-upload']!.post!.requestBody!.content['application/json']!.schema.required, ['scan_id', 'tier', 'inner_signature', 'artifacts']);
  assert.ok(paths['/v1/provenance/{scan_id}']?.get);
  assert.ok(paths['/v1/transparency/{entry_id}']?.get);
});

test('a bad upload policy file stops the daemon with ERR_CERTUS_POLICY', async (t) => {
  const dir = tmpDir(t);
  for (const [text, re] of [
    ['version: 1\ntiers:\n  basic:\n    scanners: ["*"]\n    max_artifacts: 100000\n', /max_artifacts/],
    ['version: 1\ntiers:\n  basic:\n    scanners: ["*"]\n    colour: red\n', /colour/],
    ['{"version": 2, "tiers": {}}', /version/],
    ['version: 1\ntiers: {basic: {scanners: ["*"]}, basic: {scanners: ["*"]}}\n', /YAML/],
  ] as const) {
    const f = join(dir, 'p.yaml');
    writeFileSync(f, text);
    await assert.rejects(start(t, join(dir, 'data'), { certus: { uploadPolicyFile: f } }), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'ERR_CERTUS_POLICY');
      assert.match(String(e.message), re);
      return true;
    });
  }
});
