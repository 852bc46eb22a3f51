/**
 * The signing API (/v1) of a real daemon on a loopback port, with its callers made by the real CLI commands while it
 * runs: the auth table (unauthenticated, invalid, expired, revoked, wrong scope, replayed nonce, revoked identity),
 * tokens created and revoked under a running daemon and honoured at once, sign → verify → transparency proof checked
 * by our own log client and tlog code against the log's tiles, verify refusing tampered and foreign envelopes,
 * X-Request-ID, 413, 429, readiness, the trust root, the audit log, and `signingApi: false`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { challengeMessage, createToken } from '../../src/auth/auth.ts';
import { openAuthStore } from '../../src/auth/open.ts';
import { envelopeFromJson, formatEnvelope, signEnvelope } from '../../src/attest/dsse.ts';
import { INTOTO_PAYLOAD_TYPE, encodeStatement, parseStatement } from '../../src/attest/statement.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { decodeHex, encodeHex } from '../../src/encoding/bytes.ts';
import type { JsonValue } from '../../src/encoding/json.ts';
import { LogClient } from '../../src/log/client.ts';
import { openCheckpoint } from '../../src/note/checkpoint.ts';
import { parseVerifierKey } from '../../src/note/note.ts';
import { CERTUS_SIGN_PREDICATE, signatureEntry } from '../../src/server/signing/entry.ts';
import type { RunningDaemon } from '../../src/server/daemon.ts';
import { hashLeaf, proveInclusionAsync, verifyInclusion } from '../../src/tlog/merkle.ts';
import { tileHashReader } from '../../src/tlog/tile.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { start } from '../provider/harness.ts';

const ARTIFACT = 'sha256:' + encodeHex(sha256('certus scan report'));

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(d: RunningDaemon, method: string, path: string, o: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...o.headers };
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

async function token(d: RunningDaemon, name: string, scope: string, extra: string[] = []): Promise<{ id: string; token: string }> {
  const r = await cli(['token', 'create', '--data', d.dataDir, '--name', name, '--scope', scope, '--json', ...extra], { cwd: d.dataDir });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { id: string; token: string };
}

async function daemon(t: TestContext, extra: Parameters<typeof start>[2] = {}): Promise<RunningDaemon> {
  return start(t, join(tmpDir(t), 'data'), extra);
}

test('the auth table: unauthenticated, invalid, expired, revoked, wrong scope; a token made or revoked by the CLI counts at once', async (t) => {
  const d = await daemon(t);
  const sign = { artifact: ARTIFACT, artifact_type: 'report' };
  const none = await call(d, 'POST', '/v1/sign', { body: sign });
  assert.equal(none.status, 401);
  assert.equal(none.body.code, 'ERR_AUTH_UNAUTHENTICATED');
  const junk = await call(d, 'POST', '/v1/sign', { body: sign, token: 'custody_0123456789abcdef_' + 'A'.repeat(43) });
  assert.equal(junk.status, 401);
  assert.equal(junk.body.code, 'ERR_AUTH_TOKEN_INVALID');

  // Created by the CLI while the daemon runs: accepted at the next request.
  const signer = await token(d, 'assurance', 'sign');
  const ok = await call(d, 'POST', '/v1/sign', { body: sign, token: signer.token });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));

  const verifyOnly = await token(d, 'auditor', 'verify');
  const scope = await call(d, 'POST', '/v1/sign', { body: sign, token: verifyOnly.token });
  assert.equal(scope.status, 403);
  assert.equal(scope.body.code, 'ERR_AUTH_SCOPE');

  // Expired: a token whose lifetime is over (made through the same store, with a clock in the past).
  const store = await openAuthStore({ dataDir: d.dataDir });
  t.after(() => store.close());
  const old = await createToken(store, { name: 'old', scopes: ['sign'], now: Date.now() - 120_000, ttlMs: 60_000 });
  const expired = await call(d, 'POST', '/v1/sign', { body: sign, token: old.token });
  assert.equal(expired.status, 401);
  assert.equal(expired.body.code, 'ERR_AUTH_TOKEN_EXPIRED');

  // Revoked by the CLI: refused at the very next request.
  const rv = await cli(['token', 'revoke', '--data', d.dataDir, signer.id], { cwd: d.dataDir });
  assert.equal(rv.code, 0, rv.stderr);
  const revoked = await call(d, 'POST', '/v1/sign', { body: sign, token: signer.token });
  assert.equal(revoked.status, 401);
  assert.equal(revoked.body.code, 'ERR_AUTH_TOKEN_REVOKED');

  // The audit log names refusals and signatures by token id, never with a token.
  const audit = readFileSync(join(d.dataDir, 'audit.jsonl'), 'utf8');
  assert.match(audit, /"event":"signapi.signed"/);
  assert.match(audit, /"code":"ERR_AUTH_SCOPE"/);
  assert.ok(audit.includes(signer.id));
  for (const x of [signer.token, verifyOnly.token, old.token]) assert.ok(!audit.includes(x.slice(8)), 'no token in the audit log');
});

test('challenge-response over HTTP: a registered Ed25519 identity gets a 5-minute token; replay, bad signature and revocation are refused', async (t) => {
  const d = await daemon(t);
  const key = PrivateKey.generate();
  const add = await cli(['identity', 'add', 'scanner@certus', '--key', key.publicKey.hex, '--scope', 'sign,verify', '--data', d.dataDir], { cwd: d.dataDir });
  assert.equal(add.code, 0, add.stderr);

  const unknown = await call(d, 'POST', '/v1/auth/challenge', { body: { identity: 'nobody' } });
  assert.equal(unknown.status, 401);
  assert.equal(unknown.body.code, 'ERR_AUTH_IDENTITY_UNKNOWN');

  const ch = await call(d, 'POST', '/v1/auth/challenge', { body: { identity: 'scanner@certus' } });
  assert.equal(ch.status, 200);
  assert.equal(ch.body.audience, d.origin);
  const nonce = ch.body.nonce as string;
  const signature = Buffer.from(key.sign(challengeMessage(d.origin, 'scanner@certus', nonce))).toString('base64');
  const tok = await call(d, 'POST', '/v1/auth/token', { body: { identity: 'scanner@certus', nonce, signature } });
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  assert.equal(tok.body.token_type, 'Bearer');
  assert.deepEqual(tok.body.scopes, ['sign', 'verify']);
  const lifetime = Date.parse(tok.body.expires_at as string) - Date.now();
  assert.ok(lifetime > 0 && lifetime <= 5 * 60_000);
  const bearer = tok.body.token as string;

  const replay = await call(d, 'POST', '/v1/auth/token', { body: { identity: 'scanner@certus', nonce, signature } });
  assert.equal(replay.status, 401);
  assert.equal(replay.body.code, 'ERR_AUTH_NONCE_REPLAYED');

  const ch2 = await call(d, 'POST', '/v1/auth/challenge', { body: { identity: 'scanner@certus' } });
  const wrong = Buffer.from(PrivateKey.generate().sign(challengeMessage(d.origin, 'scanner@certus', ch2.body.nonce as string))).toString('base64');
  const bad = await call(d, 'POST', '/v1/auth/token', { body: { identity: 'scanner@certus', nonce: ch2.body.nonce, signature: wrong } });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.code, 'ERR_AUTH_SIGNATURE_INVALID');

  const signed = await call(d, 'POST', '/v1/sign', { token: bearer, body: { artifact: ARTIFACT, artifact_type: 'assessment', subject: 'scan-42' } });
  assert.equal(signed.status, 202);
  const stmt = parseStatement(envelopeFromJson(signed.body.envelope as JsonValue).payload);
  assert.equal(stmt.predicate['signer'], 'scanner@certus', 'the signer is the authenticated identity');

  const revoke = await cli(['identity', 'revoke', 'scanner@certus', '--data', d.dataDir], { cwd: d.dataDir });
  assert.equal(revoke.code, 0);
  const after = await call(d, 'POST', '/v1/verify', { token: bearer, body: { artifact: ARTIFACT, signature: signed.body.signature } });
  assert.equal(after.status, 401);
  assert.equal(after.body.code, 'ERR_AUTH_TOKEN_REVOKED');
  const ch3 = await call(d, 'POST', '/v1/auth/challenge', { body: { identity: 'scanner@certus' } });
  assert.equal(ch3.status, 401);
  assert.equal(ch3.body.code, 'ERR_AUTH_IDENTITY_REVOKED');
});

test('sign → verify → transparency proof, checked by our own log client and tlog code against the served tiles', async (t) => {
  const d = await daemon(t);
  const { token: tk } = await token(d, 'assurance', 'sign,verify');
  const signed = await call(d, 'POST', '/v1/sign', {
    token: tk,
    body: { artifact: ARTIFACT, artifact_type: 'report', subject: 'reports/scan.json', predicates: { scanner: 'trivy', findings: { high: 0 } } },
  });
  assert.equal(signed.status, 202, JSON.stringify(signed.body));
  const b = signed.body;
  for (const f of ['entry_id', 'signature', 'certificate', 'transparency_entry', 'proof']) assert.ok(f in b, f);
  assert.equal(typeof b.signature, 'string');
  const te = b.transparency_entry as { uuid: string; index: number; timestamp: string };
  assert.equal(te.uuid, b.entry_id);
  assert.equal(typeof te.index, 'number');
  assert.ok(!Number.isNaN(Date.parse(te.timestamp)));

  // The statement says what was asked, signed by the daemon's key.
  const env = envelopeFromJson(JSON.parse(b.signature as string) as JsonValue);
  const stmt = parseStatement(env.payload);
  assert.equal(stmt.predicateType, CERTUS_SIGN_PREDICATE);
  assert.deepEqual(stmt.subject, [{ name: 'reports/scan.json', digest: { sha256: ARTIFACT.slice(7) } }]);
  assert.deepEqual(stmt.predicate['predicates'], { scanner: 'trivy', findings: { high: 0 } });

  // The entry id is the leaf hash of the entry recomputed from the envelope.
  const entry = signatureEntry(env, env.signatures[0]!);
  assert.equal(b.entry_id, encodeHex(hashLeaf(entry)));

  const verified = await call(d, 'POST', '/v1/verify', { token: tk, body: { artifact: ARTIFACT, signature: b.signature, identity: 'assurance', require_inclusion: true } });
  assert.equal(verified.status, 200);
  assert.equal(verified.body.valid, true, JSON.stringify(verified.body));
  assert.equal(verified.body.signer, 'assurance');
  assert.equal(verified.body.transparency_index, te.index);

  const got = await call(d, 'GET', `/v1/transparency/${b.entry_id}?include_proof=true`);
  assert.equal(got.status, 200);
  assert.equal(got.body.log_entry, new TextDecoder().decode(entry));
  const proof = got.body.proof as { tree_size: number; leaf_index: number; hashes: string[]; root_hash: string; checkpoint: string };
  assert.equal(proof.leaf_index, te.index);

  // Our verifier: the checkpoint under the log key, then RFC 6962 inclusion of the recomputed entry.
  const cp = openCheckpoint(proof.checkpoint, parseVerifierKey(d.vkey)).checkpoint;
  assert.equal(cp.size, proof.tree_size);
  assert.equal(encodeHex(cp.rootHash), proof.root_hash);
  verifyInclusion(hashLeaf(entry), proof.leaf_index, proof.tree_size, proof.hashes.map((h) => decodeHex(h, 32)), cp.rootHash);

  // Our log client: the entry as served in the log's bundles, and the same proof computed from its authenticated tiles.
  const client = new LogClient(`${d.url}/log`);
  const [served] = await client.fetchEntries(proof.leaf_index, proof.leaf_index + 1, cp.size);
  assert.deepEqual(Buffer.from(served!), Buffer.from(entry));
  const fromTiles = await proveInclusionAsync(proof.leaf_index, cp.size, tileHashReader(cp.size, cp.rootHash, client.tileReader()));
  assert.deepEqual(fromTiles.map(encodeHex), proof.hashes);

  // A tampered proof hash is refused by the same verifier.
  if (proof.hashes.length > 0) {
    const bad = proof.hashes.map((h, i) => (i === 0 ? h.replace(/^./, (c) => (c === '0' ? '1' : '0')) : h));
    assert.throws(() => verifyInclusion(hashLeaf(entry), proof.leaf_index, proof.tree_size, bad.map((h) => decodeHex(h, 32)), cp.rootHash), { code: 'ERR_TLOG_INCLUSION_INVALID' });
  }

  const list = await call(d, 'GET', '/v1/transparency?signer=assurance&limit=5&offset=0');
  assert.equal(list.body.total, 1);
  assert.equal((list.body.entries as Array<{ entry_id: string }>)[0]!.entry_id, b.entry_id);
  const other = await call(d, 'GET', '/v1/transparency?signer=nobody');
  assert.equal(other.body.total, 0);
  const missing = await call(d, 'GET', `/v1/transparency/${'0'.repeat(64)}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.code, 'ERR_SIGNAPI_NOT_FOUND');
});

test('verify answers valid:false with a code for tampered, foreign, mismatched and unlogged envelopes', async (t) => {
  const d = await daemon(t);
  const { token: tk } = await token(d, 'assurance', 'sign,verify');
  const signed = await call(d, 'POST', '/v1/sign', { token: tk, body: { artifact: ARTIFACT, artifact_type: 'sbom' } });
  const env = JSON.parse(signed.body.signature as string) as { payload: string; payloadType: string; signatures: Array<{ keyid: string; sig: string }> };

  const verify = (body: Record<string, unknown>): Promise<Answer> => call(d, 'POST', '/v1/verify', { token: tk, body: { artifact: ARTIFACT, ...body } });
  const expectInvalid = async (body: Record<string, unknown>, code: string): Promise<void> => {
    const r = await verify(body);
    assert.equal(r.status, 200);
    assert.equal(r.body.valid, false, JSON.stringify(r.body));
    assert.equal(r.body.code, code);
    assert.equal(typeof r.body.reason, 'string');
  };

  // Tampered payload: another artifact digest spliced into the signed statement.
  const payload = Buffer.from(env.payload, 'base64').toString('utf8').replace(ARTIFACT.slice(7), encodeHex(sha256('other')));
  await expectInvalid({ signature: JSON.stringify({ ...env, payload: Buffer.from(payload).toString('base64') }) }, 'ERR_DSSE_THRESHOLD_UNMET');
  // Another artifact than the one signed.
  await expectInvalid({ artifact: 'sha256:' + encodeHex(sha256('other')), signature: signed.body.signature }, 'ERR_ATTEST_SUBJECT_MISMATCH');
  // Signed by a key the trust root does not know.
  const foreign = formatEnvelope(
    signEnvelope(INTOTO_PAYLOAD_TYPE, encodeStatement({ subject: [{ name: 'x', digest: { sha256: ARTIFACT.slice(7) } }], predicateType: CERTUS_SIGN_PREDICATE, predicate: {} }), [PrivateKey.generate()]),
  );
  await expectInvalid({ signature: foreign }, 'ERR_DSSE_THRESHOLD_UNMET');
  await expectInvalid({ signature: signed.body.signature, identity: 'someone-else' }, 'ERR_SIGNAPI_IDENTITY_MISMATCH');
  // Certificate constraints cannot hold for a key-signed signature: refused, never "valid" with them ignored.
  for (const c of [{ certificate_identity: 'alice@example.com' }, { certificate_oidc_issuer_regexp: '^https://' }]) await expectInvalid({ signature: signed.body.signature, ...c }, 'ERR_KEYLESS_NO_CERTIFICATE');
  // A certificate is checked as a keyless one (server/signing/keyless): this one does not even parse.
  await expectInvalid({ signature: signed.body.signature, certificate: '-----BEGIN CERTIFICATE-----' }, 'ERR_KEYLESS_CERT_MALFORMED');
  await expectInvalid({ signature: '{"payload":' }, 'ERR_FORMAT_JSON');
  // Signed by the daemon's own key but never logged: valid signature, refused when inclusion is required.
  const unlogged = formatEnvelope(
    signEnvelope(INTOTO_PAYLOAD_TYPE, encodeStatement({ subject: [{ name: 'x', digest: { sha256: ARTIFACT.slice(7) } }], predicateType: CERTUS_SIGN_PREDICATE, predicate: {} }), [d.identity.signer]),
  );
  const plain = await verify({ signature: unlogged });
  assert.equal(plain.body.valid, true);
  assert.equal(plain.body.transparency_index, null);
  await expectInvalid({ signature: unlogged, require_inclusion: true }, 'ERR_SIGNAPI_NOT_LOGGED');
  // A given public key replaces the trust root.
  const own = await verify({ envelope: JSON.parse(signed.body.signature as string), public_key: d.identity.signer.publicKey.hex });
  assert.equal(own.body.valid, true);
});

test('X-Request-ID, body caps, schema validation, readiness, trust root', async (t) => {
  const d = await daemon(t);
  const { token: tk } = await token(d, 'assurance', 'sign,verify');
  const echoed = await call(d, 'GET', '/v1/health', { headers: { 'x-request-id': 'certus-req.42:a' } });
  assert.equal(echoed.status, 200);
  assert.equal(echoed.body.status, 'healthy');
  assert.equal(echoed.headers.get('x-request-id'), 'certus-req.42:a');
  const fresh = await call(d, 'POST', '/v1/sign', { headers: { 'x-request-id': 'bad id <script>' }, body: {} });
  assert.equal(fresh.status, 401);
  assert.match(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  const big = await call(d, 'POST', '/v1/sign', { token: tk, raw: JSON.stringify({ artifact: ARTIFACT, artifact_type: 'report', predicates: { pad: 'x'.repeat(70_000) } }) });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'ERR_SIGNAPI_TOO_LARGE');
  assert.ok(big.headers.get('x-request-id'));

  for (const body of [
    { artifact: 'sha256:ABC', artifact_type: 'report' },
    { artifact: ARTIFACT, artifact_type: 'firmware' },
    { artifact: ARTIFACT },
  ]) {
    const r = await call(d, 'POST', '/v1/sign', { token: tk, body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.code, 'ERR_SIGNAPI_REQUEST');
  }
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = { d: deep };
  const tooDeep = await call(d, 'POST', '/v1/sign', { token: tk, body: { artifact: ARTIFACT, artifact_type: 'report', predicates: deep } });
  assert.equal(tooDeep.status, 413);

  const ready = await call(d, 'GET', '/v1/ready');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body.checks, { log: true, store: true, key: true, records: true, artifacts: true });
  const root = await fetch(`${d.url}/v1/keys/root.json`);
  assert.deepEqual(Buffer.from(await root.arrayBuffer()), Buffer.from(d.identity.rootBytes));

  // The store fails: readiness names it (503), and authenticated routes refuse with ERR_AUTH_STORE.
  await d.auth!.close();
  const notReady = await call(d, 'GET', '/v1/ready');
  assert.equal(notReady.status, 503);
  assert.equal(notReady.body.code, 'ERR_SIGNAPI_NOT_READY');
  assert.deepEqual(notReady.body.failing, ['store']);
  const storeDown = await call(d, 'POST', '/v1/verify', { token: tk, body: { artifact: ARTIFACT } });
  assert.equal(storeDown.status, 503);
  assert.equal(storeDown.body.code, 'ERR_AUTH_STORE');
});

test('sign and verify are rate limited per token (429 with Retry-After)', async (t) => {
  const d = await daemon(t, { signingRateLimitPerToken: 2, signingRateLimitPerIp: 0 });
  const { token: tk } = await token(d, 'busy', 'verify');
  let limited: Answer | undefined;
  for (let i = 0; i < 50 && limited === undefined; i++) {
    const r = await call(d, 'POST', '/v1/verify', { token: tk, body: { artifact: ARTIFACT, signature: '{}' } });
    if (r.status === 429) limited = r;
    else assert.equal(r.status, 200);
  }
  assert.ok(limited, 'a burst over 2 requests per second is refused');
  assert.equal(limited.body.code, 'ERR_HTTP_RATE_LIMITED');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
});

test('signingApi: false serves no /v1 routes', async (t) => {
  const d = await daemon(t, { signingApi: false });
  const r = await call(d, 'GET', '/v1/health');
  assert.equal(r.status, 404);
  assert.equal(d.auth, undefined);
});
