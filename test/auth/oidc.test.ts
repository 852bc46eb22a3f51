/**
 * auth/oidc against a loopback issuer whose discovery document and JWKS the test controls: key rotation (an unknown
 * kid refetches the JWKS, rate-limited), a failed refresh keeping the old keys, bounded and checked documents
 * (issuer mismatch, oversized JWKS, HTTP errors), symmetric keys ignored, configuration refusals, and the claim
 * rules (email_verified, subjects as URIs).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { OidcVerifier, checkIssuerUrl, decodeJwtParts, identityOf, isJwtShaped, type OidcVerifierOptions } from '../../src/auth/oidc.ts';
import { assertRejectsCode } from '../support/assert.ts';

interface Issuer {
  issuer: string;
  /** jwks is what the JWKS endpoint serves (mutable). */
  jwks: { keys: JWK[] };
  discovery: Record<string, unknown>;
  status: number;
  fetches: number;
  sign(claims: Record<string, unknown>, kid: string): Promise<string>;
  addKey(kid: string): Promise<void>;
}

async function issuer(t: TestContext): Promise<Issuer> {
  const keys = new Map<string, Parameters<SignJWT['sign']>[0]>();
  const state = { jwks: { keys: [] as JWK[] }, discovery: {} as Record<string, unknown>, status: 200, fetches: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state.discovery));
    if (req.url === '/jwks') {
      state.fetches++;
      return res.writeHead(state.status, { 'content-type': 'application/json' }).end(JSON.stringify(state.jwks));
    }
    return res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.discovery = { issuer: url, jwks_uri: `${url}/jwks` };
  const it: Issuer = {
    issuer: url,
    get jwks() {
      return state.jwks;
    },
    set jwks(v) {
      state.jwks = v;
    },
    get discovery() {
      return state.discovery;
    },
    set discovery(v) {
      state.discovery = v;
    },
    get status() {
      return state.status;
    },
    set status(v) {
      state.status = v;
    },
    get fetches() {
      return state.fetches;
    },
    async addKey(kid) {
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      keys.set(kid, privateKey);
      state.jwks.keys.push({ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' });
    },
    sign(claims, kid) {
      return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid }).sign(keys.get(kid)!);
    },
  };
  return it;
}

/** fetchesOf reads the JWKS fetch counter (a function, so assertions do not narrow it to a literal). */
const fetchesOf = (i: Issuer): number => i.fetches;

const claims = (iss: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
  const now = Math.floor(Date.now() / 1000);
  return { iss, sub: 'https://ci.example.org/job/7', aud: 'custody', iat: now, exp: now + 300, ...extra };
};

function verifier(i: Issuer, extra: Partial<OidcVerifierOptions> = {}): OidcVerifier {
  return new OidcVerifier({ issuers: [{ issuer: i.issuer, audience: 'custody', identityClaim: 'sub', scopes: ['verify'] }], ...extra });
}

test('rotation: an unknown kid refetches the JWKS once per cooldown; a failed refresh keeps the old keys', async (t) => {
  const i = await issuer(t);
  await i.addKey('k1');
  const v = verifier(i, { jwksRefreshCooldownMs: 0 });
  const id = await v.verify(await i.sign(claims(i.issuer), 'k1'), new Date());
  assert.deepEqual([id.identity, id.identityKind, id.scopes, id.issuer], ['https://ci.example.org/job/7', 'uri', ['verify'], i.issuer]);
  assert.match(id.callerId, /^oidc-[0-9a-f]{16}$/);
  assert.equal(i.fetches, 1);
  // The issuer rotates to k2: the first token under k2 triggers one refetch and is accepted.
  await i.addKey('k2');
  await v.verify(await i.sign(claims(i.issuer), 'k2'), new Date());
  assert.equal(i.fetches, 2);
  await v.verify(await i.sign(claims(i.issuer), 'k1'), new Date());
  assert.equal(i.fetches, 2, 'known kids need no fetch');

  // With a cooldown, made-up kids cannot make the daemon fetch in a loop.
  const slow = verifier(i, { jwksRefreshCooldownMs: 3_600_000 });
  await slow.verify(await i.sign(claims(i.issuer), 'k1'), new Date());
  const before = fetchesOf(i);
  await i.addKey('k3');
  for (let n = 0; n < 3; n++) await assertRejectsCode(slow.verify(await i.sign(claims(i.issuer), 'k3'), new Date()), 'ERR_OIDC_KEY_UNKNOWN');
  assert.equal(i.fetches, before);

  // A JWKS that stops answering: the next refresh fails, the keys already known keep working.
  i.status = 500;
  const later = new Date(Date.now() + 11 * 60_000);
  await v.verify(await i.sign(claims(i.issuer, { exp: Math.floor(later.getTime() / 1000) + 300 }), 'k1'), later);
  assert.equal(fetchesOf(i), before + 1, 'the stale JWKS was refetched (and failed)');
  // A fresh verifier has nothing to fall back on.
  await assertRejectsCode(verifier(i).verify(await i.sign(claims(i.issuer), 'k1'), new Date()), 'ERR_OIDC_PROVIDER');
});

test('discovery and JWKS are checked: issuer mismatch, oversized or keyless sets, symmetric keys ignored', async (t) => {
  const i = await issuer(t);
  await i.addKey('k1');
  const token = await i.sign(claims(i.issuer), 'k1');
  i.discovery = { issuer: 'https://elsewhere.example', jwks_uri: `${i.issuer}/jwks` };
  await assertRejectsCode(verifier(i).verify(token, new Date()), 'ERR_OIDC_PROVIDER');
  i.discovery = { issuer: i.issuer, jwks_uri: 'http://203.0.113.7/jwks' };
  await assertRejectsCode(verifier(i).verify(token, new Date()), 'ERR_OIDC_PROVIDER');
  i.discovery = { issuer: i.issuer, jwks_uri: `${i.issuer}/jwks` };
  const real = i.jwks;
  i.jwks = { keys: Array.from({ length: 101 }, () => real.keys[0]!) };
  await assertRejectsCode(verifier(i).verify(token, new Date()), 'ERR_OIDC_PROVIDER');
  // An "oct" key under the token's kid is dropped: HS256 with it never verifies.
  i.jwks = { keys: [{ kty: 'oct', k: Buffer.from('shared-secret-shared-secret-0123').toString('base64url'), kid: 'k1' }] };
  const hs = await new SignJWT(claims(i.issuer)).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(Buffer.from('shared-secret-shared-secret-0123'));
  await assertRejectsCode(verifier(i).verify(hs, new Date()), 'ERR_OIDC_ALGORITHM');
  await assertRejectsCode(verifier(i).verify(token, new Date()), 'ERR_OIDC_KEY_UNKNOWN');
  i.jwks = real;
  await verifier(i).verify(token, new Date());
});

test('claims: email needs email_verified; a subject that is not a URI is a bare subject; the clock tolerance is at most 60 s', async (t) => {
  const i = await issuer(t);
  await i.addKey('k1');
  const v = new OidcVerifier({ issuers: [{ issuer: i.issuer, audience: 'custody', identityClaim: 'email', scopes: ['sign'] }], clockToleranceSec: 0 });
  const id = await v.verify(await i.sign(claims(i.issuer, { email: 'dev@example.org', email_verified: true }), 'k1'), new Date());
  assert.deepEqual([id.identity, id.identityKind], ['dev@example.org', 'email']);
  await assertRejectsCode(v.verify(await i.sign(claims(i.issuer, { email: 'dev@example.org' }), 'k1'), new Date()), 'ERR_OIDC_CLAIMS');
  await assertRejectsCode(v.verify(await i.sign(claims(i.issuer, { email: 'not-an-address', email_verified: true }), 'k1'), new Date()), 'ERR_OIDC_CLAIMS');
  // With tolerance 0, one second past exp is expired.
  const now = Math.floor(Date.now() / 1000);
  await assertRejectsCode(v.verify(await i.sign(claims(i.issuer, { email: 'dev@example.org', email_verified: true, exp: now - 1 }), 'k1'), new Date()), 'ERR_OIDC_EXPIRED');
  await assertRejectsCode(v.verify(await i.sign(claims(i.issuer, { email: 'dev@example.org', email_verified: true, aud: ['a', 'b'] }), 'k1'), new Date()), 'ERR_OIDC_AUDIENCE');
  await assertRejectsCode(v.verify(await i.sign(claims(i.issuer, { email: 'dev@example.org', email_verified: true, exp: undefined }), 'k1'), new Date()), 'ERR_OIDC_CLAIMS');
  assert.deepEqual(identityOf({ sub: 'build-bot' }, 'sub'), { identity: 'build-bot', kind: 'subject' });
  assert.deepEqual(identityOf({ sub: 'spiffe://example.org/ns/ci' }, 'sub'), { identity: 'spiffe://example.org/ns/ci', kind: 'uri' });
  assert.throws(() => identityOf({ sub: 'with space' }, 'sub'), { code: 'ERR_OIDC_CLAIMS' });
});

test('configuration and shape refusals', () => {
  assert.throws(() => checkIssuerUrl('http://idp.example.com', '--oidc-issuer'), { code: 'ERR_CONFIG_INVALID' });
  assert.throws(() => checkIssuerUrl('https://user:pw@idp.example.com', '--oidc-issuer'), { code: 'ERR_CONFIG_INVALID' });
  assert.equal(checkIssuerUrl('http://127.0.0.1:5556/dex', 'x').pathname, '/dex');
  const one = { issuer: 'https://idp.example.com', audience: 'custody', identityClaim: 'email' as const, scopes: ['sign' as const] };
  assert.throws(() => new OidcVerifier({ issuers: [one], clockToleranceSec: 61 }), { code: 'ERR_CONFIG_INVALID' });
  assert.throws(() => new OidcVerifier({ issuers: [one, one] }), { code: 'ERR_CONFIG_INVALID' });
  assert.throws(() => new OidcVerifier({ issuers: [] }), { code: 'ERR_CONFIG_INVALID' });
  assert.equal(isJwtShaped('a.b.c'), true);
  assert.equal(isJwtShaped('custody_0123_abc'), false);
  assert.equal(isJwtShaped('a.b.' + 'c'.repeat(16 * 1024)), false);
  for (const bad of ['a.b.c', `${Buffer.from('[]').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.x`, `${Buffer.from('{"alg":"EdDSA","__proto__":{}}').toString('base64url')}.e30.x`]) {
    assert.throws(() => decodeJwtParts(bad), { code: 'ERR_OIDC_TOKEN_MALFORMED' });
  }
  assert.deepEqual(decodeJwtParts(`${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from('{"exp":1.5}').toString('base64url')}.`).claims, { exp: 1.5 });
});
