/**
 * The signing API of a daemon whose log lives in a real PostgreSQL server (started by the test): its auth store is
 * the schema `<log schema>_auth` of the same database, written by `custody token … --postgres-url-file` while the
 * daemon runs. Skipped loudly where PostgreSQL is not installed.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { cli } from '../support/cli.ts';
import { postgresSkip, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { tmpDir } from '../support/tmp.ts';
import { start } from '../provider/harness.ts';

const skip = postgresSkip();
let server: TestPostgres | undefined;
if (!skip) {
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });
}

test('a daemon on PostgreSQL: tokens made and revoked by the CLI in the shared database count at once', { skip, timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const urlFile = join(dir, 'pg.url');
  writeFileSync(urlFile, server!.url + '\n', { mode: 0o600 });
  const d = await start(t, join(dir, 'data'), { postgres: { url: server!.url, schema: 'sapi_log' } });
  const pgArgs = ['--data', join(dir, 'elsewhere'), '--postgres-url-file', urlFile, '--postgres-schema', 'sapi_log'];
  const made = await cli(['token', 'create', '--name', 'ci', '--scope', 'sign,verify', '--json', ...pgArgs], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const { id, token } = JSON.parse(made.stdout) as { id: string; token: string };
  const artifact = 'sha256:' + encodeHex(sha256('pg artifact'));
  const post = async (path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const r = await fetch(d.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const signed = await post('/v1/sign', { artifact, artifact_type: 'report' });
  assert.equal(signed.status, 202, JSON.stringify(signed.json));
  const verified = await post('/v1/verify', { artifact, signature: signed.json.signature, require_inclusion: true });
  assert.equal(verified.json.valid, true, JSON.stringify(verified.json));
  const listed = await cli(['token', 'list', '--json', ...pgArgs], { cwd: dir });
  assert.equal((JSON.parse(listed.stdout) as { tokens: Array<{ id: string }> }).tokens[0]!.id, id);
  const revoked = await cli(['token', 'revoke', id, ...pgArgs], { cwd: dir });
  assert.equal(revoked.code, 0, revoked.stderr);
  const refused = await post('/v1/verify', { artifact, signature: signed.json.signature });
  assert.equal(refused.status, 401);
  assert.equal(refused.json.code, 'ERR_AUTH_TOKEN_REVOKED');
  // The auth state is in PostgreSQL: no SQLite auth file in either data directory.
  const ready = await fetch(d.url + '/v1/ready');
  assert.equal(ready.status, 200);
  assert.equal(existsSync(join(dir, 'data', 'auth.db')), false);
  assert.equal(existsSync(join(dir, 'elsewhere', 'auth.db')), false);
});
