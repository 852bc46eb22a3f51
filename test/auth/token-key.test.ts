/**
 * test/auth/token-key — API token digests keyed by the secret store's `daemon.token-hmac-key` (src/auth/token-key):
 * with the key, the database alone neither verifies a token nor mints one (a row holding the SHA-256 of a token of
 * the attacker's choosing is refused); and end to end, `custody serve --secrets` makes the key on first start,
 * `custody token create --secrets` issues tokens the daemon accepts, and tokens issued without the key are refused.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { authenticate, createToken } from '../../src/auth/auth.ts';
import { openSqliteAuthStore } from '../../src/auth/store-sqlite.ts';
import { newTokenKeyText, parseTokenKeyText, withTokenKey } from '../../src/auth/token-key.ts';
import { hmacSha256, sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { openSecretStore } from '../../src/secrets/open.ts';
import { DAEMON_SECRET_NAMES } from '../../src/server/daemon-secrets.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { start, startTestCluster } from '../provider/harness.ts';

test('keyed token digests: HMAC-SHA-256 under the key; the database alone verifies and mints nothing', async (t) => {
  const raw = await openSqliteAuthStore(join(tmpDir(t), 'auth.db'));
  t.after(() => raw.close());
  const key = parseTokenKeyText(newTokenKeyText());
  const keyed = withTokenKey(raw, key);
  const now = Date.now();
  const { token, record } = await createToken(keyed, { name: 'ci', scopes: ['sign'], now, ttlMs: null });
  const p = await authenticate(keyed, `Bearer ${token}`, now);
  assert.equal(p.tokenId, record.id);
  // The row holds HMAC-SHA-256(key, token), not SHA-256(token).
  const row = await raw.findToken(record.id);
  assert.deepEqual(new Uint8Array(row!.digest), hmacSha256(key, token));
  assert.notDeepEqual(new Uint8Array(row!.digest), sha256(token));
  // The database without the key does not verify the token.
  await assertRejectsCode(authenticate(raw, `Bearer ${token}`, now), 'ERR_AUTH_TOKEN_INVALID');
  // Another key does not either.
  await assertRejectsCode(authenticate(withTokenKey(raw, parseTokenKeyText(newTokenKeyText())), `Bearer ${token}`, now), 'ERR_AUTH_TOKEN_INVALID');
  // Write access to the database mints nothing: a forged row with the SHA-256 of a chosen token is refused.
  const forged = `custody_${'ab'.repeat(8)}_${'A'.repeat(43)}`;
  await raw.insertToken({ id: 'ab'.repeat(8), name: 'forged', scopes: ['admin'], kind: 'api', identity: null, createdAt: now, expiresAt: null, revokedAt: null, digest: sha256(forged) });
  await assertRejectsCode(authenticate(keyed, `Bearer ${forged}`, now), 'ERR_AUTH_TOKEN_INVALID');
  assert.equal((await authenticate(raw, `Bearer ${forged}`, now)).name, 'forged', 'the same row would pass an unkeyed store');
  // Every other method is the store's own.
  assert.equal(keyed.where, raw.where);
  assert.equal((await keyed.listTokens()).length, 2);
  assertCode(() => parseTokenKeyText('too-short'), 'ERR_CONFIG_INVALID');
});

test('serve --secrets keys the API token digests; token create --secrets issues tokens it accepts; others are refused', async (t) => {
  const base = tmpDir(t);
  const dataDir = join(base, 'data');
  const storeDir = join(base, 'store');
  const env = { CUSTODY_PASSPHRASE: 'keyring passphrase' };
  const ring = { env };
  // Before the daemon made the key, token create --secrets refuses (it never makes the key itself).
  const early = await cli(['token', 'create', '--data', dataDir, '--secrets', storeDir, '--name', 'x', '--scope', 'sign'], { cwd: base, env });
  assert.notEqual(early.code, 0);
  const d = await start(t, dataDir, { secrets: { dir: storeDir }, passphrase: ring, sample: false });
  assert.equal((await cli(['token', 'create', '--data', dataDir, '--secrets', storeDir, '--name', 'x', '--scope', 'sign'], { cwd: base, env: {} })).code, 2, 'no passphrase: a config error');
  const keyedTok = await cli(['token', 'create', '--data', dataDir, '--secrets', storeDir, '--name', 'keyed', '--scope', 'sign', '--json'], { cwd: base, env });
  assert.equal(keyedTok.code, 0, keyedTok.stderr);
  const plainTok = await cli(['token', 'create', '--data', dataDir, '--name', 'plain', '--scope', 'sign', '--json'], { cwd: base, env });
  assert.equal(plainTok.code, 0, plainTok.stderr);
  const sign = (token: string) =>
    fetch(`${d.url}/v1/sign`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ artifact: 'sha256:' + encodeHex(sha256('report')), artifact_type: 'report' }),
    });
  const ok = await sign((JSON.parse(keyedTok.stdout) as { token: string }).token);
  assert.equal(ok.status, 202, await ok.clone().text());
  const refused = await sign((JSON.parse(plainTok.stdout) as { token: string }).token);
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { code: string }).code, 'ERR_AUTH_TOKEN_INVALID', 'a token made without the key does not verify under it');
  await d.close();
  const { store } = await openSecretStore({ dir: storeDir, passphrase: ring });
  t.after(() => store.keyring.close());
  assert.ok(await store.has(DAEMON_SECRET_NAMES.tokenKey), 'the key lives in the secret store');
  assert.equal(parseTokenKeyText(Buffer.from(await store.get(DAEMON_SECRET_NAMES.tokenKey)).toString('utf8')).length, 32);
});

test('serve --secrets --workers 2: the workers answer /v1/verify with keyed digests too (a keyed token passes, a plain SHA-256 row does not)', { timeout: 180_000 }, async (t) => {
  const base = tmpDir(t);
  const dataDir = join(base, 'data');
  const storeDir = join(base, 'store');
  const env = { CUSTODY_PASSPHRASE: 'keyring passphrase' };
  const c = await startTestCluster(t, dataDir, { secrets: { dir: storeDir }, passphrase: { env } });
  const made = await cli(['token', 'create', '--data', dataDir, '--secrets', storeDir, '--name', 'keyed', '--scope', 'sign,verify', '--json'], { cwd: base, env });
  assert.equal(made.code, 0, made.stderr);
  const keyed = (JSON.parse(made.stdout) as { token: string }).token;
  // A row holding the plain SHA-256 of a chosen token: what write access to the database alone could make.
  const forged = `custody_${'cd'.repeat(8)}_${'B'.repeat(43)}`;
  const raw = await openSqliteAuthStore(join(dataDir, 'auth.db'));
  await raw.insertToken({ id: 'cd'.repeat(8), name: 'forged', scopes: ['verify'], kind: 'api', identity: null, createdAt: Date.now(), expiresAt: null, revokedAt: null, digest: sha256(forged) });
  await raw.close();
  // POST /v1/verify is answered by the workers; a new connection each time, so both of them answer.
  const verify = (token: string): Promise<{ status: number; code: unknown; worker: string | undefined }> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ artifact: 'sha256:' + encodeHex(sha256('x')), signature: { payload: '', payloadType: 'x', signatures: [] } });
      const req = request(`${c.url}/v1/verify`, { method: 'POST', agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { code?: unknown }).code, worker: res.headers['x-custody-worker'] as string | undefined }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const workers = new Set<string>();
  // Three requests a round, so the keyed and the forged token each meet both workers (connections go round-robin).
  for (let i = 0; i < 6; i++) {
    for (const ok of [await verify(keyed), await verify(keyed)]) {
      assert.notEqual(ok.status, 401, `a keyed token is accepted (worker ${String(ok.worker)}: ${String(ok.code)})`);
      workers.add(ok.worker ?? '');
    }
    const bad = await verify(forged);
    assert.equal(bad.status, 401);
    assert.equal(bad.code, 'ERR_AUTH_TOKEN_INVALID', 'a plain SHA-256 row does not verify under the key');
  }
  assert.deepEqual([...workers].sort(), ['1', '2'], 'both workers accepted the keyed token');
});
