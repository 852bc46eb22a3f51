/**
 * Single use of an upload permission across daemons on one real PostgreSQL server (started by the test): a permission
 * issued and spent on one daemon is refused by another daemon of the same service (same signing key, trust root and
 * log key; the log's single-writer lease lets one daemon hold it at a time, so they run one after the other), and
 * uses racing through separate connection pools — what two daemons are to the database — are decided by the one
 * conditional UPDATE: exactly one wins. Skipped loudly where PostgreSQL is not installed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openCertusStore } from '../../src/auth/certus-store.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import type { RunningDaemon } from '../../src/server/daemon.ts';
import { scanMessage } from '../../src/server/signing/scan.ts';
import { cli } from '../support/cli.ts';
import { postgresForFile } from '../support/postgres.ts';
import { tmpDir } from '../support/tmp.ts';
import { start } from '../provider/harness.ts';

const pgsql = postgresForFile();
const skip = pgsql.skip;
if (skip) console.log(skip);

async function post(d: RunningDaemon, path: string, token: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(d.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

test('two daemons on one PostgreSQL: a permission used on one is refused on the other', { skip, timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const pg = { url: pgsql.url(), schema: 'certus_log' };
  const a = await start(t, join(dir, 'a'), { postgres: pg });
  const urlFile = pgsql.urlFile(dir);
  const pgArgs = ['--data', join(dir, 'cli'), '--postgres-url-file', urlFile, '--postgres-schema', 'certus_log'];
  const key = PrivateKey.generate();
  const add = await cli(['identity', 'add', 'scanner', '--key', key.publicKey.hex, '--scope', 'scan', ...pgArgs], { cwd: dir });
  assert.equal(add.code, 0, add.stderr);
  const made = await cli(['token', 'create', '--name', 'transform', '--scope', 'permit,upload', '--json', ...pgArgs], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const tk = (JSON.parse(made.stdout) as { token: string }).token;

  const content = '{"runs":[]}\n';
  const art = { name: 'scan.sarif', hash: 'sha256:' + encodeHex(sha256(content)), size: Buffer.byteLength(content), type: 'sarif' };
  const timestamp = new Date().toISOString();
  const signature = Buffer.from(key.sign(scanMessage({ scanId: 'pg-scan', signer: 'scanner', timestamp, artifacts: [{ name: art.name, digest: art.hash, size: art.size, type: art.type }] }))).toString('base64');
  const permit = await post(a, '/v1/verify-and-permit-upload', tk, {
    scan_id: 'pg-scan',
    tier: 'basic',
    inner_signature: { signer: 'scanner', timestamp, signature, algorithm: 'Ed25519' },
    artifacts: [art],
    storage_destinations: { raw_s3: true, oci_registry: false },
  });
  assert.equal(permit.status, 202, JSON.stringify(permit.json));
  const upload = {
    upload_permission_id: permit.json.upload_permission_id,
    scan_id: 'pg-scan',
    permission: permit.json.permission,
    artifacts: [{ ...art, content: Buffer.from(content).toString('base64') }],
  };
  const first = await post(a, '/v1/execute-upload', tk, upload);
  assert.equal(first.status, 200, JSON.stringify(first.json));
  await a.close();
  // The second daemon: same service, another data directory, the same database.
  mkdirSync(join(dir, 'b', 'log'), { recursive: true, mode: 0o700 });
  copyFileSync(join(dir, 'a', 'log', 'log.key'), join(dir, 'b', 'log', 'log.key'));
  const b = await start(t, join(dir, 'b'), {
    postgres: pg,
    keyFile: join(dir, 'a', 'keys', 'signer.pem'),
    trustFile: join(dir, 'a', 'trust', 'root.json'),
    tokenFile: join(dir, 'a', 'admin.token'),
  });
  const again = await post(b, '/v1/execute-upload', tk, upload);
  assert.equal(again.status, 403, JSON.stringify(again.json));
  assert.equal(again.json.code, 'ERR_CERTUS_PERMISSION_USED');
  // The bytes were stored once, by the first daemon; nothing by the refused request.
  assert.deepEqual(readdirSync(join(dir, 'a', 'artifacts', 'raw_s3', 'pg-scan')), ['scan.sarif']);
  assert.equal(existsSync(join(dir, 'b', 'artifacts', 'raw_s3')), false);
  // Provenance is shared: either daemon answers the permit and the upload.
  const prov = (await (await fetch(`${b.url}/v1/provenance/pg-scan`)).json()) as { verification_trail: Array<{ event: string }> };
  assert.deepEqual(prov.verification_trail.map((e) => e.event), ['permitted', 'uploaded']);
});

test('racing uses of one permission through two PostgreSQL pools: exactly one wins, the rest are replays', { skip, timeout: 120_000 }, async (t) => {
  const one = await openCertusStore({ dataDir: tmpDir(t), postgres: { url: pgsql.url(), schema: 'certus_race' } });
  const two = await openCertusStore({ dataDir: tmpDir(t), postgres: { url: pgsql.url(), schema: 'certus_race' } });
  t.after(async () => {
    await one.close();
    await two.close();
  });
  const now = Date.now();
  await one.insertPermission({ id: 'race', scanId: 's', tier: 'basic', digest: 'd', callerId: 'c', issuedAt: now, expiresAt: now + 60_000, usedAt: null });
  await one.insertPermission({ id: 'old', scanId: 's', tier: 'basic', digest: 'd', callerId: 'c', issuedAt: now, expiresAt: now - 1, usedAt: null });
  const results = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? one : two).usePermission('race', 'd', now)));
  assert.equal(results.filter((r) => r === 'used').length, 1);
  assert.ok(results.filter((r) => r !== 'used').every((r) => r === 'replayed'));
  assert.equal(await two.usePermission('old', 'd', now), 'expired');
  assert.equal(await two.usePermission('race', 'other', now), 'unknown');
  await one.addEvent({ scanId: 's', kind: 'permitted', at: now, actor: 'k', result: 'pass', details: {} });
  assert.equal((await two.listEvents('s', 5)).length, 1);
  await one.bump('uploads');
  await two.bump('uploads');
  assert.deepEqual(await two.counters(), { uploads: 2 });
  assert.deepEqual(await one.signerCounts(5), { total: 0, signers: [] });
  assert.equal((await two.getPermission('race'))?.usedAt, now);
  await one.ping();
});
