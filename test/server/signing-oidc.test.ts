/**
 * OIDC bearer JWTs and keyless signing on a real daemon (loopback), against real OpenID providers in-process
 * (oidc-provider, client-credentials grant, RFC 9068 JWT access tokens): the OIDC auth table (unauthenticated,
 * expired, not yet valid, wrong audience, unknown issuer, forged signature, `alg: none`, HS256 with the public key,
 * unknown kid, unverified email, revoked identity), scopes configured per issuer, and the keyless flow end to end —
 * token → /v1/sign → certificate (checked by `openssl verify` against the CA served at /v1/keys/keyless-ca.pem) →
 * /v1/verify with identity and issuer constraints, exact and regexp, passing and failing; certificates of another
 * CA, expired at logging time, or never logged are refused with their codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { SignJWT, generateKeyPair, importJWK } from 'jose';
import { envelopeFromJson, formatEnvelope, signEnvelope } from '../../src/attest/dsse.ts';
import { INTOTO_PAYLOAD_TYPE, encodeStatement } from '../../src/attest/statement.ts';
import { KeylessCa } from '../../src/auth/keyless-ca.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { decodeHex, encodeHex } from '../../src/encoding/bytes.ts';
import type { JsonValue } from '../../src/encoding/json.ts';
import { openCheckpoint } from '../../src/note/checkpoint.ts';
import { parseVerifierKey } from '../../src/note/note.ts';
import type { RunningDaemon } from '../../src/server/daemon.ts';
import { CERTUS_SIGN_PREDICATE, entryIdOf } from '../../src/server/signing/entry.ts';
import { keylessEntry } from '../../src/server/signing/keyless.ts';
import { hashLeaf, verifyInclusion } from '../../src/tlog/merkle.ts';
import { cli } from '../support/cli.ts';
import { startProvider, type TestClient, type TestProvider } from '../support/oidc-provider.ts';
import { tmpDir } from '../support/tmp.ts';
import { bearer, start } from '../provider/harness.ts';

const ARTIFACT = 'sha256:' + encodeHex(sha256('keyless build output'));
const AUDIENCE = 'custody-test';
const ALICE: TestClient = { id: 'alice-laptop', secret: 'alice-secret-0123456789abcdef', claims: { email: 'alice@example.com', email_verified: true } };
const UNVERIFIED: TestClient = { id: 'mallory-laptop', secret: 'mallory-secret-0123456789abcdef', claims: { email: 'mallory@example.com', email_verified: false } };
const CI: TestClient = { id: 'https://ci.example.org/pipelines/build', secret: 'ci-secret-0123456789abcdef' };

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(d: RunningDaemon, method: string, path: string, o: { token?: string; body?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(d.url + path, { method, headers, ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

interface World {
  d: RunningDaemon;
  a: TestProvider;
  b: TestProvider;
}

/** world: provider A (email identities, sign+verify) and B (URI subjects, verify only), trusted by one daemon. */
async function world(t: TestContext): Promise<World> {
  const a = await startProvider(t, { audience: AUDIENCE, clients: [ALICE, UNVERIFIED] });
  const b = await startProvider(t, { audience: AUDIENCE, clients: [CI] });
  const d = await start(t, join(tmpDir(t), 'data'), {
    oidc: {
      issuers: [
        { issuer: a.issuer, audience: AUDIENCE, identityClaim: 'email', scopes: ['sign', 'verify'] },
        { issuer: b.issuer, audience: AUDIENCE, identityClaim: 'sub', scopes: ['verify'] },
      ],
    },
  });
  return { d, a, b };
}

/** forge signs claims with a key and header of the test's choosing (what a provider would never issue). */
async function forge(key: Parameters<SignJWT['sign']>[0], header: { alg: string; kid?: string }, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ typ: 'at+jwt', ...header }).sign(key);
}

function aliceClaims(a: TestProvider, o: { iat?: number; exp?: number; nbf?: number; aud?: string } = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: a.issuer, sub: ALICE.id, aud: o.aud ?? AUDIENCE, email: 'alice@example.com', email_verified: true, iat: o.iat ?? now, exp: o.exp ?? now + 300, ...(o.nbf === undefined ? {} : { nbf: o.nbf }) };
}

const SIGN = { artifact: ARTIFACT, artifact_type: 'image', subject: 'app.tar' };

test('the OIDC auth table: every refusal is a 401/403 with its code; a valid token signs', async (t) => {
  const { d, a, b } = await world(t);
  const refused = async (token: string | undefined, code: string, status = 401): Promise<void> => {
    const r = await call(d, 'POST', '/v1/sign', { body: SIGN, ...(token === undefined ? {} : { token }) });
    assert.equal(r.status, status, `${code}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, code);
  };
  const key = await importJWK(a.privateJwk, 'ES256');
  const now = Math.floor(Date.now() / 1000);

  await refused(undefined, 'ERR_AUTH_UNAUTHENTICATED');
  // A real token from the provider: accepted, and the caller signs keyless.
  const good = await a.token(ALICE);
  const ok = await call(d, 'POST', '/v1/sign', { token: good, body: SIGN });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.match(String(ok.body.certificate), /^-----BEGIN CERTIFICATE-----\n/);

  // Signed by the issuer's own key but past exp (beyond the 60 s skew), or not yet valid: refused.
  await refused(await forge(key, { alg: 'ES256', kid: a.privateJwk.kid! }, aliceClaims(a, { iat: now - 3600, exp: now - 120 })), 'ERR_OIDC_EXPIRED');
  await refused(await forge(key, { alg: 'ES256', kid: a.privateJwk.kid! }, aliceClaims(a, { nbf: now + 600 })), 'ERR_OIDC_NOT_YET_VALID');
  // 20 seconds past exp is inside the 60-second tolerance.
  const skewed = await call(d, 'POST', '/v1/sign', { token: await forge(key, { alg: 'ES256', kid: a.privateJwk.kid! }, aliceClaims(a, { iat: now - 300, exp: now - 20 })), body: SIGN });
  assert.equal(skewed.status, 202, JSON.stringify(skewed.body));

  // The provider's token for another resource server: wrong audience.
  await refused(await a.token(ALICE, 'https://other.test/'), 'ERR_OIDC_AUDIENCE');
  // A real provider this daemon does not trust.
  const c = await startProvider(t, { audience: AUDIENCE, clients: [ALICE] });
  await refused(await c.token(ALICE), 'ERR_OIDC_ISSUER_UNKNOWN');
  // Claiming issuer A, signed by C's key under A's kid: the signature does not verify.
  const cKey = await importJWK(c.privateJwk, 'ES256');
  await refused(await forge(cKey, { alg: 'ES256', kid: a.privateJwk.kid! }, aliceClaims(a)), 'ERR_OIDC_SIGNATURE_INVALID');
  // A kid the issuer never published (the JWKS is refetched at most once per cooldown; still unknown).
  const { privateKey: rogue } = await generateKeyPair('ES256');
  await refused(await forge(rogue, { alg: 'ES256', kid: 'rogue-kid' }, aliceClaims(a)), 'ERR_OIDC_KEY_UNKNOWN');

  // alg none: the provider's real token with its header replaced and the signature dropped.
  const [, payload] = good.split('.');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`;
  await refused(none, 'ERR_OIDC_ALGORITHM');
  // HS256 keyed with the issuer's public key (the algorithm-confusion attack): refused by the allow-list.
  const publicJwk = { kty: a.privateJwk.kty, crv: a.privateJwk.crv, x: a.privateJwk.x, y: a.privateJwk.y };
  const hs = await forge(new TextEncoder().encode(JSON.stringify(publicJwk)), { alg: 'HS256', kid: a.privateJwk.kid! }, aliceClaims(a));
  await refused(hs, 'ERR_OIDC_ALGORITHM');
  await refused('eyJub3QiOiJqc29uIn0.@@@.x', 'ERR_AUTH_TOKEN_INVALID');
  await refused(`${Buffer.from('{"alg":').toString('base64url')}.${payload}.c2ln`, 'ERR_OIDC_TOKEN_MALFORMED');

  // An email the issuer did not verify is no identity.
  await refused(await a.token(UNVERIFIED), 'ERR_OIDC_CLAIMS');
  // Issuer B's callers have the verify scope only (scopes are configured per issuer, never read from the token).
  const ci = await b.token(CI);
  await refused(ci, 'ERR_AUTH_SCOPE', 403);
  const ciVerify = await call(d, 'POST', '/v1/verify', { token: ci, body: { artifact: ARTIFACT, signature: ok.body.signature, certificate: ok.body.certificate } });
  assert.equal(ciVerify.status, 200);
  assert.equal(ciVerify.body.valid, true, JSON.stringify(ciVerify.body));

  // Revoked by the CLI while the daemon runs: the next request is refused.
  const rv = await cli(['identity', 'revoke', '--oidc', 'alice@example.com', '--data', d.dataDir, '--json'], { cwd: d.dataDir });
  assert.equal(rv.code, 0, rv.stderr);
  assert.deepEqual(JSON.parse(rv.stdout), { ok: true, name: 'alice@example.com', revoked: true, oidc: true });
  await refused(good, 'ERR_AUTH_IDENTITY_REVOKED');
});

test('a daemon without --oidc-issuer refuses every JWT as a token it did not issue', async (t) => {
  const a = await startProvider(t, { audience: AUDIENCE, clients: [ALICE] });
  const d = await start(t, join(tmpDir(t), 'data'));
  const r = await call(d, 'POST', '/v1/sign', { token: await a.token(ALICE), body: SIGN });
  assert.equal(r.status, 401);
  assert.equal(r.body.code, 'ERR_AUTH_TOKEN_INVALID');
  assert.equal((await call(d, 'GET', '/v1/keys/keyless-ca.pem')).body.code, 'ERR_SIGNAPI_NOT_FOUND');
});

test('keyless end to end: OIDC login → /v1/sign → certificate (openssl verify) → /v1/verify with identity and issuer constraints', async (t) => {
  const { d, a, b } = await world(t);
  const token = await a.token(ALICE);
  const signed = await call(d, 'POST', '/v1/sign', { token, body: SIGN });
  assert.equal(signed.status, 202, JSON.stringify(signed.body));
  const certificate = signed.body.certificate as string;
  const signature = signed.body.signature as string;

  // The CA certificate is served; openssl accepts the chain.
  const caAnswer = await fetch(`${d.url}/v1/keys/keyless-ca.pem`);
  assert.equal(caAnswer.status, 200);
  const caPem = await caAnswer.text();
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'ca.pem'), caPem);
  writeFileSync(join(dir, 'leaf.pem'), certificate);
  const openssl = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
  if (openssl.error !== undefined) {
    t.diagnostic('SKIPPED openssl verify: openssl is not installed');
    console.error('SKIP: openssl not installed, the certificate chain is not checked by openssl');
  } else {
    assert.equal(openssl.status, 0, openssl.stderr);
    assert.match(openssl.stdout, /leaf\.pem: OK/);
    const text = spawnSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' }).stdout;
    assert.match(text, /email:alice@example\.com/);
    assert.match(text, /1\.3\.6\.1\.4\.1\.57264\.1\.8/);
    assert.match(text, /1\.3\.6\.1\.4\.1\.57264\.1\.1/);
    assert.match(text, /Code Signing/);
    const days = spawnSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-startdate', '-enddate'], { encoding: 'utf8' }).stdout;
    const [nb, na] = days.trim().split('\n').map((l) => Date.parse(l.split('=')[1]!));
    assert.equal(na! - nb!, 10 * 60_000, 'the certificate lives 10 minutes');
  }

  // The log entry binds the certificate: recomputed from envelope + certificate, it is the entry id, and the proof
  // verifies against the signed checkpoint.
  const env = envelopeFromJson(signed.body.envelope as JsonValue);
  const der = new Uint8Array(Buffer.from(certificate.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));
  const entry = keylessEntry(env, env.signatures[0]!, der);
  assert.equal(signed.body.entry_id, entryIdOf(entry));
  const proof = signed.body.proof as { tree_size: number; leaf_index: number; hashes: string[]; checkpoint: string };
  const cp = openCheckpoint(proof.checkpoint, parseVerifierKey(d.vkey)).checkpoint;
  verifyInclusion(hashLeaf(entry), proof.leaf_index, cp.size, proof.hashes.map((h) => decodeHex(h)), cp.rootHash);
  const listed = await call(d, 'GET', `/v1/transparency/${signed.body.entry_id}`);
  assert.equal(listed.body.certificate, certificate);
  assert.match(String(listed.body.log_entry), /^custody\.dsse-keyless\/v1\n/);
  assert.equal(listed.body.signer, 'alice@example.com');

  // Verification, by a verifier of issuer B (verify scope), with constraints.
  const verifier = await b.token(CI);
  const verify = (extra: Record<string, unknown>): Promise<Answer> =>
    call(d, 'POST', '/v1/verify', { token: verifier, body: { artifact: ARTIFACT, signature, certificate, ...extra } });
  const pass = await verify({ certificate_identity: 'alice@example.com', certificate_oidc_issuer: a.issuer, require_inclusion: true });
  assert.equal(pass.status, 200);
  assert.equal(pass.body.valid, true, JSON.stringify(pass.body));
  assert.equal(pass.body.signer, 'alice@example.com');
  assert.deepEqual(pass.body.certificate_chain, [certificate, caPem]);
  const info = pass.body.certificate as Record<string, string>;
  assert.equal(info.oidc_issuer, a.issuer);
  const [nbAt, loggedAt, naAt] = [info.not_before!, info.logged_at!, info.not_after!].map((s) => Date.parse(s));
  assert.ok(nbAt! <= loggedAt! && loggedAt! <= naAt!);
  assert.equal((pass.body.proof as { leaf_index: number }).leaf_index, proof.leaf_index);
  const regexp = await verify({ certificate_identity_regexp: '^alice@example\\.com$', certificate_oidc_issuer_regexp: '^http://127\\.0\\.0\\.1:[0-9]+$' });
  assert.equal(regexp.body.valid, true, JSON.stringify(regexp.body));
  // Certus's own "identity" field means the exact certificate identity.
  assert.equal((await verify({ identity: 'alice@example.com' })).body.valid, true);

  const fails: Array<[Record<string, unknown>, string]> = [
    [{ certificate_identity: 'bob@example.com' }, 'ERR_KEYLESS_IDENTITY_MISMATCH'],
    [{ identity: 'bob@example.com' }, 'ERR_KEYLESS_IDENTITY_MISMATCH'],
    [{ certificate_identity_regexp: '^bob@' }, 'ERR_KEYLESS_IDENTITY_MISMATCH'],
    [{ certificate_oidc_issuer: b.issuer }, 'ERR_KEYLESS_ISSUER_MISMATCH'],
    [{ certificate_oidc_issuer_regexp: '^https://' }, 'ERR_KEYLESS_ISSUER_MISMATCH'],
    [{ certificate_identity_regexp: '^(a)\\1$' }, 'ERR_KEYLESS_REGEXP'],
    [{ certificate: 'not a certificate' }, 'ERR_KEYLESS_CERT_MALFORMED'],
    [{ artifact: 'sha256:' + '0'.repeat(64) }, 'ERR_ATTEST_SUBJECT_MISMATCH'],
  ];
  for (const [extra, code] of fails) {
    const r = await verify(extra);
    assert.equal(r.status, 200);
    assert.equal(r.body.valid, false, `${code}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, code, JSON.stringify(extra));
  }
  // The envelope's payload changed under the certificate: the certificate's key did not sign it.
  const tampered = formatEnvelope({ ...env, payload: encodeStatement({ subject: [{ name: 'x', digest: { sha256: ARTIFACT.slice(7) } }], predicateType: CERTUS_SIGN_PREDICATE, predicate: { signer: 'alice@example.com' } }) });
  const t1 = await verify({ signature: tampered });
  assert.equal(t1.body.code, 'ERR_DSSE_THRESHOLD_UNMET', JSON.stringify(t1.body));
});

test('keyless refusals: a certificate of another CA, one expired when its signature was logged, a signature never logged', async (t) => {
  const { d, a } = await world(t);
  const verifyToken = await a.token(ALICE);
  const statement = encodeStatement({ subject: [{ name: 'app.tar', digest: { sha256: ARTIFACT.slice(7) } }], predicateType: CERTUS_SIGN_PREDICATE, predicate: { signer: 'alice@example.com' } });
  const verify = (signature: string, certificate: string): Promise<Answer> =>
    call(d, 'POST', '/v1/verify', { token: verifyToken, body: { artifact: ARTIFACT, signature, certificate, certificate_identity: 'alice@example.com' } });

  // Another CA (same subject name, its own key) certifies alice: not ours.
  const { ca: foreign } = await KeylessCa.loadOrCreate(tmpDir(t), new Date());
  const k1 = PrivateKey.generate();
  const c1 = await foreign.issue({ publicKey: k1.publicKey, identity: 'alice@example.com', identityKind: 'email', issuer: a.issuer, now: new Date() });
  const r1 = await verify(formatEnvelope(signEnvelope(INTOTO_PAYLOAD_TYPE, statement, [k1])), c1.pem);
  assert.equal(r1.body.valid, false);
  assert.equal(r1.body.code, 'ERR_KEYLESS_CERT_UNTRUSTED', JSON.stringify(r1.body));

  // Our CA, a certificate that expired an hour before its signature was logged (the log's time counts, not now).
  const { ca: ours } = await KeylessCa.loadOrCreate(d.dataDir, new Date());
  const k2 = PrivateKey.generate();
  const c2 = await ours.issue({ publicKey: k2.publicKey, identity: 'alice@example.com', identityKind: 'email', issuer: a.issuer, now: new Date(Date.now() - 3_600_000) });
  const env2 = signEnvelope(INTOTO_PAYLOAD_TYPE, statement, [k2]);
  // Not logged at all: no signing time to judge the certificate by.
  const notLogged = await verify(formatEnvelope(env2), c2.pem);
  assert.equal(notLogged.body.code, 'ERR_SIGNAPI_NOT_LOGGED', JSON.stringify(notLogged.body));
  // Logged now (through the log's write path and the store, as a daemon that skipped the check would have).
  const entry = keylessEntry(env2, env2.signatures[0]!, c2.der);
  const added = await fetch(`${d.url}/log/add`, { method: 'POST', headers: { ...bearer(d), 'content-type': 'application/octet-stream' }, body: entry });
  assert.equal(added.status, 200);
  const { index } = (await added.json()) as { index: number };
  await d.auth!.insertCertificate(entryIdOf(entry), c2.pem);
  await d.auth!.insertSignature({ entryId: entryIdOf(entry), logIndex: index, signer: 'alice@example.com', callerId: 'test', artifact: ARTIFACT, artifactType: 'image', createdAt: Date.now(), envelope: formatEnvelope(env2) });
  const expired = await verify(formatEnvelope(env2), c2.pem);
  assert.equal(expired.body.valid, false);
  assert.equal(expired.body.code, 'ERR_KEYLESS_CERT_EXPIRED', JSON.stringify(expired.body));
});
