/**
 * The signing API through `custody serve --workers 2` (a real process tree): workers forward /v1 to the leader, which
 * owns the log and the store; a token made and revoked by the CLI counts at once; refusals decided before the body
 * (401, 413) come back through the worker intact.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { serveChild } from '../provider/harness.ts';

test('custody serve --workers 2: /v1 sign and verify through the workers; CLI token create and revoke seen at once', { timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const s = await serveChild(t, dir, ['--data', 'data', '--workers', '2', '--no-sample']);
  assert.equal(s.info.workers.length, 2);
  const data = join(dir, 'data');
  const made = await cli(['token', 'create', '--data', data, '--name', 'ci', '--scope', 'sign,verify', '--json'], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const { id, token } = JSON.parse(made.stdout) as { id: string; token: string };
  const artifact = 'sha256:' + encodeHex(sha256('image layer'));
  const post = async (path: string, body: string, auth?: string): Promise<{ status: number; json: Record<string, unknown>; rid: string | null }> => {
    const r = await fetch(s.info.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'cluster-1', ...(auth === undefined ? {} : { authorization: `Bearer ${auth}` }) },
      body,
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown>, rid: r.headers.get('x-request-id') };
  };

  const signed = await post('/v1/sign', JSON.stringify({ artifact, artifact_type: 'image', subject: 'registry.example/app:1' }), token);
  assert.equal(signed.status, 202, JSON.stringify(signed.json));
  assert.equal(signed.rid, 'cluster-1');
  const verified = await post('/v1/verify', JSON.stringify({ artifact, signature: signed.json.signature, require_inclusion: true }), token);
  assert.equal(verified.json.valid, true, JSON.stringify(verified.json));

  const anon = await post('/v1/sign', JSON.stringify({ artifact, artifact_type: 'image' }));
  assert.equal(anon.status, 401);
  assert.equal(anon.json.code, 'ERR_AUTH_UNAUTHENTICATED');
  const viewer = await cli(['token', 'create', '--data', data, '--name', 'viewer', '--scope', 'verify', '--json'], { cwd: dir });
  const scoped = await post('/v1/sign', JSON.stringify({ artifact, artifact_type: 'image' }), (JSON.parse(viewer.stdout) as { token: string }).token);
  assert.equal(scoped.status, 403);
  assert.equal(scoped.json.code, 'ERR_AUTH_SCOPE');
  const big = await post('/v1/sign', JSON.stringify({ artifact, artifact_type: 'image', predicates: { pad: 'x'.repeat(80_000) } }), token);
  assert.equal(big.status, 413);

  const revoked = await cli(['token', 'revoke', '--data', data, id], { cwd: dir });
  assert.equal(revoked.code, 0, revoked.stderr);
  const after = await post('/v1/verify', JSON.stringify({ artifact, signature: signed.json.signature }), token);
  assert.equal(after.status, 401);
  assert.equal(after.json.code, 'ERR_AUTH_TOKEN_REVOKED');
});
