/**
 * The signing API of a daemon whose log lives in a real PostgreSQL server (started by the test): its auth store is
 * the schema `<log schema>_auth` of the same database, written by `custody token … --postgres-url-file` while the
 * daemon runs; with `--workers 2` the workers verify from their own pool on that schema. Skipped loudly where
 * PostgreSQL is not installed.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { cli } from '../support/cli.ts';
import { postgresForFile } from '../support/postgres.ts';
import { tmpDir } from '../support/tmp.ts';
import { serveChild, start } from '../provider/harness.ts';

const pgsql = postgresForFile();
const skip = pgsql.skip;

test('a daemon on PostgreSQL: tokens made and revoked by the CLI in the shared database count at once', { skip, timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const urlFile = pgsql.urlFile(dir);
  const d = await start(t, join(dir, 'data'), { postgres: { url: pgsql.url(), schema: 'sapi_log' } });
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

test('custody serve --workers 2 on PostgreSQL: the workers verify from their own pool; a CLI revocation counts at once', { skip, timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const urlFile = pgsql.urlFile(dir);
  const pgArgs = ['--postgres-url-file', urlFile, '--postgres-schema', 'sapi_workers'];
  const s = await serveChild(t, dir, ['--data', 'data', '--workers', '2', '--no-sample', '--signing-rate-limit-per-token', '0', ...pgArgs]);
  const made = await cli(['token', 'create', '--data', join(dir, 'cli'), '--name', 'ci', '--scope', 'sign,verify', '--json', ...pgArgs], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const { id, token } = JSON.parse(made.stdout) as { id: string; token: string };
  const artifact = 'sha256:' + encodeHex(sha256('pg workers'));
  const post = async (path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown>; worker: string | null }> => {
    // A fresh connection each time (the cluster hands connections to the workers in turn).
    const r = await fetch(s.info.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown>, worker: r.headers.get('x-custody-worker') };
  };
  const signed = await post('/v1/sign', { artifact, artifact_type: 'report' });
  assert.equal(signed.status, 202, JSON.stringify(signed.json));
  const workers = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const v = await post('/v1/verify', { artifact, signature: signed.json.signature });
    assert.equal(v.json.valid, true, JSON.stringify(v.json));
    assert.equal(v.json.entry_id, signed.json.entry_id);
    workers.add(v.worker ?? '');
  }
  assert.ok(workers.size >= 1 && [...workers].every((w) => /^[12]$/.test(w)));
  const revoked = await cli(['token', 'revoke', id, '--data', join(dir, 'cli'), ...pgArgs], { cwd: dir });
  assert.equal(revoked.code, 0, revoked.stderr);
  for (let i = 0; i < 2; i++) {
    const refused = await post('/v1/verify', { artifact, signature: signed.json.signature });
    assert.equal(refused.status, 401);
    assert.equal(refused.json.code, 'ERR_AUTH_TOKEN_REVOKED');
  }
  // Answered by the workers themselves: their refusals are in the leader's audit log with the worker's index.
  let events: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 100 && events.length < 2; i++) {
    events = readFileSync(join(dir, 'data', 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.code === 'ERR_AUTH_TOKEN_REVOKED' && typeof e.worker === 'number');
    if (events.length < 2) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(events.length, 2);
  assert.equal(existsSync(join(dir, 'data', 'auth.db')), false, 'no worker opened a SQLite store');
});
