/**
 * The leader's "100 Continue" decision (server/daemon checkContinue → server/signing/plugin continueAllowed) and the
 * route's authentication share one verification per request: an OIDC bearer JWT forwarded by a worker is verified
 * once, not twice, on a real `--workers 2` cluster (leader in this process, workers forked) against a real OpenID
 * provider in-process. Requests that never asked for "100 Continue" (straight to the leader's socket) still
 * authenticate in full; what the first check refused, the route refuses with the same code.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { OidcVerifier } from '../../src/auth/oidc.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { startTestCluster } from '../provider/harness.ts';
import { AuthDecisions } from '../../src/server/signing/plugin.ts';
import { startProvider, type TestClient } from '../support/oidc-provider.ts';
import { tmpDir } from '../support/tmp.ts';

const AUDIENCE = 'custody-test';
const ALICE: TestClient = { id: 'alice-laptop', secret: 'alice-secret-0123456789abcdef', claims: { email: 'alice@example.com', email_verified: true } };

interface Answer {
  status: number;
  json: Record<string, unknown>;
  worker: string | undefined;
  continued: boolean;
}

/** post sends a JSON body on a connection of its own, over TCP or a Unix socket; `expect` asks for "100 Continue" first. */
function post(where: { url: string } | { socketPath: string }, path: string, body: unknown, token: string, expect: boolean): Promise<Answer> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    let continued = false;
    const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), authorization: `Bearer ${token}`, ...(expect ? { expect: '100-continue' } : {}) };
    const req =
      'url' in where
        ? request(new URL(path, where.url), { method: 'POST', agent: false, headers })
        : request({ socketPath: where.socketPath, path, method: 'POST', agent: false, headers });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, worker: res.headers['x-custody-worker'] as string | undefined, continued }),
      );
    });
    req.on('error', reject);
    if (expect) {
      req.on('continue', () => {
        continued = true;
        req.end(text);
      });
      req.flushHeaders();
    } else req.end(text);
  });
}

test('custody serve --workers 2: an OIDC JWT forwarded with Expect: 100-continue is verified once by the leader', { timeout: 240_000 }, async (t) => {
  const provider = await startProvider(t, { audience: AUDIENCE, clients: [ALICE] });
  // Count every JWT verification of the leader (this process): the verifier's one entry point.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be called with the instance as `this`
  const verify = OidcVerifier.prototype.verify;
  let verifications = 0;
  OidcVerifier.prototype.verify = function (this: OidcVerifier, ...args: Parameters<OidcVerifier['verify']>) {
    verifications++;
    return verify.apply(this, args);
  };
  t.after(() => {
    OidcVerifier.prototype.verify = verify;
  });
  const dataDir = join(tmpDir(t), 'data');
  const c = await startTestCluster(t, dataDir, { oidc: { issuers: [{ issuer: provider.issuer, audience: AUDIENCE, identityClaim: 'email', scopes: ['sign', 'verify'] }] } });
  const token = await provider.token(ALICE);
  const artifact = 'sha256:' + encodeHex(sha256('continue once'));

  // Keyless sign through a worker (the worker forwards a JWT caller's request to the leader, asking for "100 Continue").
  verifications = 0;
  const signed = await post(c, '/v1/sign', { artifact, artifact_type: 'image' }, token, true);
  assert.equal(signed.status, 202, JSON.stringify(signed.json));
  assert.ok(signed.continued, 'the leader let the body come');
  assert.equal(verifications, 1, 'one JWT verification for the sign request');

  // N verifications through the workers, each with the client's own Expect: 100-continue, and N without.
  const n = 6;
  verifications = 0;
  const workers = new Set<string>();
  for (let i = 0; i < n; i++) {
    const a = await post(c, '/v1/verify', { artifact, signature: signed.json.signature, certificate: signed.json.certificate }, token, i % 2 === 0);
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.valid, true, JSON.stringify(a.json));
    workers.add(a.worker ?? '');
  }
  assert.deepEqual([...workers].sort(), ['1', '2'], 'both workers forwarded');
  assert.equal(verifications, n, `${verifications} JWT verifications for ${n} requests`);

  // Refused by the first check (wrong audience): no "100 Continue", and the route answers the same refusal.
  verifications = 0;
  const other = await provider.token(ALICE, 'https://other.test/');
  const refused = await post(c, '/v1/verify', { artifact, signature: signed.json.signature, certificate: signed.json.certificate }, other, true);
  assert.equal(refused.status, 401, JSON.stringify(refused.json));
  assert.equal(refused.json.code, 'ERR_OIDC_AUDIENCE');
  assert.equal(refused.continued, false);
  assert.equal(verifications, 1);

  // Straight to the leader's socket with no Expect: no "100 Continue" decision was made, the route verifies in full.
  verifications = 0;
  const direct = await post({ socketPath: join(dataDir, 'leader.sock') }, '/v1/verify', { artifact, signature: signed.json.signature, certificate: signed.json.certificate }, token, false);
  assert.equal(direct.json.valid, true, JSON.stringify(direct.json));
  assert.equal(verifications, 1);
  const directRefused = await post({ socketPath: join(dataDir, 'leader.sock') }, '/v1/verify', { artifact, signature: signed.json.signature, certificate: signed.json.certificate }, other, false);
  assert.equal(directRefused.status, 401);
  assert.equal(directRefused.json.code, 'ERR_OIDC_AUDIENCE');
  assert.equal(verifications, 2);
});

test('AuthDecisions: a decision is taken once, only for its own request and Authorization header', () => {
  const d = new AuthDecisions();
  const req = {} as Parameters<AuthDecisions['take']>[0];
  const other = {} as Parameters<AuthDecisions['take']>[0];
  const refusal = new Error('refused');
  d.remember(req, 'Bearer a', { error: refusal });
  assert.equal(d.take(other, 'Bearer a'), undefined, 'another request: nothing');
  assert.equal(d.take(req, 'Bearer b'), undefined, 'another header: nothing (and the decision is dropped)');
  assert.equal(d.take(req, 'Bearer a'), undefined, 'dropped by the mismatch');
  d.remember(req, 'Bearer a', { error: refusal });
  assert.deepEqual(d.take(req, 'Bearer a'), { error: refusal });
  assert.equal(d.take(req, 'Bearer a'), undefined, 'taken once');
  d.remember(req, undefined, { error: refusal });
  assert.deepEqual(d.take(req, undefined), { error: refusal });
});
