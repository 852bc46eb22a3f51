/**
 * `custody token create|list|revoke` and `custody identity add|list|revoke`: transcripts (stdout, stderr, exit code),
 * the token printed once and usable against the store, and refusals that change nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { authenticate } from '../../src/auth/auth.ts';
import { openAuthStore } from '../../src/auth/open.ts';
import { PrivateKey } from '../../src/crypto/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const NOW = new Date('2026-12-01T10:00:00Z');

test('custody token create --json prints the token once; list shows it without the secret; revoke refuses it', async (t) => {
  const dir = tmpDir(t);
  mkdirSync(join(dir, 'd'), { mode: 0o700 });
  const created = await cli(['token', 'create', '--data', 'd', '--name', 'ci', '--scope', 'sign,verify', '--expires', '30d', '--json'], { cwd: dir, now: NOW });
  assert.equal(created.code, 0, created.stderr);
  const j = JSON.parse(created.stdout) as { ok: boolean; id: string; name: string; scopes: string[]; token: string; expires_at: string };
  assert.deepEqual(Object.keys(j).sort(), ['expires_at', 'id', 'name', 'ok', 'scopes', 'token']);
  assert.equal(j.name, 'ci');
  assert.deepEqual(j.scopes, ['sign', 'verify']);
  assert.equal(j.expires_at, '2026-12-31T10:00:00.000Z');
  assert.ok(j.token.startsWith(`custody_${j.id}_`));

  const listed = await cli(['token', 'list', '--data', 'd'], { cwd: dir, now: NOW });
  assert.equal(listed.code, 0);
  assert.equal(listed.stdout, `${j.id}  active   sign,verify           ci  expires 2026-12-31T10:00:00.000Z\n`);
  assert.ok(!listed.stdout.includes(j.token));

  const store = await openAuthStore({ dataDir: join(dir, 'd') });
  t.after(() => store.close());
  assert.equal((await authenticate(store, `Bearer ${j.token}`, NOW.getTime())).name, 'ci');

  const revoked = await cli(['token', 'revoke', '--data', 'd', j.id], { cwd: dir, now: NOW });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, `revoked token ${j.id}\n`);
  await assertRejectsCode(authenticate(store, `Bearer ${j.token}`, NOW.getTime()), 'ERR_AUTH_TOKEN_REVOKED');
  const listedJson = await cli(['token', 'list', '--data', 'd', '--json'], { cwd: dir, now: NOW });
  assert.equal((JSON.parse(listedJson.stdout) as { tokens: Array<{ status: string }> }).tokens[0]!.status, 'revoked');

  const unknown = await cli(['token', 'revoke', '--data', 'd', '0123456789abcdef'], { cwd: dir, now: NOW });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /\[ERR_AUTH_NOT_FOUND\]/);
  const badScope = await cli(['token', 'create', '--data', 'd', '--name', 'x', '--scope', 'sign,root'], { cwd: dir, now: NOW });
  assert.equal(badScope.code, 2);
  assert.match(badScope.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  const never = await cli(['token', 'create', '--data', 'd', '--name', 'forever', '--scope', 'verify', '--expires', 'never', '--json'], { cwd: dir, now: NOW });
  assert.equal((JSON.parse(never.stdout) as { expires_at: unknown }).expires_at, null);
});

test('custody identity add / list / revoke', async (t) => {
  const dir = tmpDir(t);
  mkdirSync(join(dir, 'd'), { mode: 0o700 });
  const key = PrivateKey.generate();
  writeFileSync(join(dir, 'scanner.pub'), key.publicKey.toPem());
  const added = await cli(['identity', 'add', 'scanner', '--key', 'scanner.pub', '--scope', 'sign', '--data', 'd', '--json'], { cwd: dir, now: NOW });
  assert.equal(added.code, 0, added.stderr);
  assert.equal((JSON.parse(added.stdout) as { public_key: string }).public_key, key.publicKey.hex);
  const again = await cli(['identity', 'add', 'scanner', '--key', key.publicKey.hex, '--scope', 'sign', '--data', 'd'], { cwd: dir, now: NOW });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /\[ERR_AUTH_IDENTITY_EXISTS\]/);
  const listed = await cli(['identity', 'list', '--data', 'd'], { cwd: dir, now: NOW });
  assert.equal(listed.stdout, `scanner  active   sign                  ${key.publicKey.hex}\n`);
  const revoked = await cli(['identity', 'revoke', 'scanner', '--data', 'd'], { cwd: dir, now: NOW });
  assert.equal(revoked.code, 0);
  assert.equal(revoked.stdout, 'revoked identity scanner and its tokens\n');
  const gone = await cli(['identity', 'revoke', 'nobody', '--data', 'd'], { cwd: dir, now: NOW });
  assert.match(gone.stderr, /\[ERR_AUTH_NOT_FOUND\]/);
  const privateKey = await cli(['identity', 'add', 'x', '--key', 'scanner.pem', '--scope', 'sign', '--data', 'd'], { cwd: dir, now: NOW });
  assert.notEqual(privateKey.code, 0);
});
