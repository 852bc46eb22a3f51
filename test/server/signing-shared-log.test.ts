/**
 * Two daemons on one real PostgreSQL server (started by the test) with `postgres.shared` (`--shared-log`): they
 * share the auth state (a token revoked through one is refused by the other at once) and append to ONE log (200
 * concurrent signs split across both): no index is assigned twice, an independent auditor reading the tiles of
 * EITHER daemon sees the same log, every signed entry's inclusion proof verifies against the final checkpoint, and
 * every checkpoint either daemon handed out is a prefix of it (its root is the Merkle tree hash of the final log's
 * first `size` entries, which is what a consistency proof shows). While both run, an upload permission issued by one
 * and spent on the other is refused as used by the first, and one permission raced on both is spent exactly once.
 * A single-writer process is locked out of the shared log. Skipped loudly where PostgreSQL is not installed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { createToken, registerIdentity } from '../../src/auth/auth.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { openLogService } from '../../src/server/log/server.ts';
import { scanMessage } from '../../src/server/signing/scan.ts';
import { auditLog, httpFetch, mth, openCheckpoint, parseVkey, verifyInclusion } from '../log/independent.ts';
import { start } from '../provider/harness.ts';
import { cli } from '../support/cli.ts';
import { postgresForFile } from '../support/postgres.ts';
import { tmpDir } from '../support/tmp.ts';

const pgsql = postgresForFile();
const skip = pgsql.skip;

test('two daemons on one PostgreSQL: shared tokens, one log appended by both without a fork', { skip, timeout: 240_000 }, async (t) => {
  const dir = tmpDir(t);
  const postgres = { url: pgsql.url(), schema: 'shared_log', shared: true };
  const opts = { postgres, sample: false, signingRateLimitPerToken: 0, signingRateLimitPerIp: 0 };
  const a = await start(t, join(dir, 'a'), opts);
  // Both daemons sign checkpoints with the same log key (one log, one identity): B gets A's key file, and serves
  // the same service (signing key, trust root, admin token), so a permission either signs verifies on the other.
  mkdirSync(join(dir, 'b', 'log'), { recursive: true, mode: 0o700 });
  copyFileSync(join(dir, 'a', 'log', 'log.key'), join(dir, 'b', 'log', 'log.key'));
  const b = await start(t, join(dir, 'b'), {
    ...opts,
    keyFile: join(dir, 'a', 'keys', 'signer.pem'),
    trustFile: join(dir, 'a', 'trust', 'root.json'),
    tokenFile: join(dir, 'a', 'admin.token'),
  });
  assert.equal(b.vkey, a.vkey);
  const key = parseVkey(a.vkey);

  // A single-writer log on the same schema is locked out while the shared writers hold the lease.
  await assert.rejects(
    openLogService({ dataDir: join(dir, 'single'), origin: a.origin, postgres: { url: pgsql.url(), schema: 'shared_log' }, logger: pino({ level: 'silent' }) }),
    (e: { code?: string }) => e.code === 'ERR_LOG_LOCKED',
  );

  // Tokens live in the shared auth store: made through A's store, honoured by B.
  const { token, record: { id } } = await createToken(a.auth!, { name: 'ci', scopes: ['sign', 'verify'], now: Date.now(), ttlMs: null });
  const post = async (url: string, path: string, body: unknown, tok = token): Promise<{ status: number; json: Record<string, unknown> }> => {
    const r = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };

  // 200 signs, split across both daemons, 20 at a time on each.
  const N = 200;
  type Signed = { index: number; entryId: string; checkpoint: string; daemon: string };
  const signed: Signed[] = [];
  const worker = async (d: { url: string }, name: string, from: number): Promise<void> => {
    for (let i = from; i < N; i += 40) {
      const r = await post(d.url, '/v1/sign', { artifact: 'sha256:' + encodeHex(sha256(`shared ${i}`)), artifact_type: 'report' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      const te = r.json.transparency_entry as { index: number };
      const proof = r.json.proof as { checkpoint: string };
      signed.push({ index: te.index, entryId: String(r.json.entry_id), checkpoint: proof.checkpoint, daemon: name });
    }
  };
  const workers: Promise<void>[] = [];
  for (let k = 0; k < 20; k++) {
    workers.push(worker(a, 'a', 2 * k), worker(b, 'b', 2 * k + 1));
  }
  await Promise.all(workers);
  assert.equal(signed.length, N);
  assert.equal(new Set(signed.map((s) => s.index)).size, N, 'no log index assigned twice');
  assert.ok(signed.some((s) => s.daemon === 'a') && signed.some((s) => s.daemon === 'b'));

  // Both daemons converge on the same latest checkpoint (the idle one follows the stored state).
  const want = Math.max(...signed.map((s) => s.index)) + 1;
  const cpOf = async (d: { url: string }): Promise<string> => (await (await fetch(d.url + '/log/checkpoint')).text());
  for (;;) {
    const [ta, tb] = [openCheckpoint(await cpOf(a), key), openCheckpoint(await cpOf(b), key)];
    if (ta.size >= want && tb.size === ta.size) break;
    await new Promise((r) => setTimeout(r, 50));
  }

  // An independent auditor reads the whole log from EITHER daemon: same checkpoint, same entries and tiles.
  const fromA = await auditLog(httpFetch(a.url + '/log'), key);
  const fromB = await auditLog(httpFetch(b.url + '/log'), key);
  assert.equal(fromA.checkpoint.size, fromB.checkpoint.size);
  assert.ok(fromA.checkpoint.root.equals(fromB.checkpoint.root));
  assert.deepEqual(fromA.entries.map((e) => e.toString('hex')), fromB.entries.map((e) => e.toString('hex')));
  const final = fromA.checkpoint;
  const leaves = fromA.leaves;

  // Every checkpoint either daemon acknowledged with is a prefix of the final log (consistency).
  for (const s of signed) {
    const cp = openCheckpoint(s.checkpoint, key);
    assert.ok(cp.size > s.index && cp.size <= final.size);
    assert.ok(mth(leaves, 0, cp.size).equals(cp.root), `checkpoint ${cp.size} from daemon ${s.daemon} is a prefix of the final log`);
  }

  // Each entry's inclusion proof, from EITHER daemon's transparency lookup, verifies against the final checkpoint.
  for (const [k, s] of signed.entries()) {
    const d = k % 2 === 0 ? a : b;
    const r = await fetch(`${d.url}/v1/transparency/${s.entryId}?include_proof=true`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { proof: { leaf_index: number; tree_size: number; hashes: string[]; root_hash: string } };
    assert.equal(body.proof.leaf_index, s.index);
    assert.equal(body.proof.tree_size, final.size);
    assert.equal(body.proof.root_hash, final.root.toString('hex'));
    const ok = verifyInclusion(leaves[s.index]!, s.index, final.size, body.proof.hashes.map((h) => Buffer.from(h, 'hex')), final.root);
    assert.ok(ok, `inclusion of ${s.index} via daemon ${k % 2 === 0 ? 'a' : 'b'}`);
  }

  // A token revoked through one daemon's store is refused by the other at once.
  const artifact = 'sha256:' + encodeHex(sha256('shared 0'));
  assert.equal((await post(b.url, '/v1/verify', { artifact, signature: 'AAAA' })).status, 200);
  assert.equal(await a.auth!.revokeToken(id, Date.now()), true);
  const refused = await post(b.url, '/v1/verify', { artifact, signature: 'AAAA' });
  assert.equal(refused.status, 401);
  assert.equal(refused.json.code, 'ERR_AUTH_TOKEN_REVOKED');
  assert.equal((await post(a.url, '/v1/sign', { artifact, artifact_type: 'report' })).json.code, 'ERR_AUTH_TOKEN_REVOKED');

  // Upload permissions (Certus gatekeeper) are single-use across the running daemons: the permissions live in the
  // shared database, and spending one is one conditional UPDATE there.
  const scanner = PrivateKey.generate();
  await registerIdentity(b.auth!, { name: 'scanner', key: scanner.publicKey, scopes: ['scan'], now: Date.now() });
  const transform = (await createToken(b.auth!, { name: 'transform', scopes: ['permit', 'upload'], now: Date.now(), ttlMs: null })).token;
  const permitOn = async (d: { url: string }, scanId: string): Promise<Record<string, unknown>> => {
    const content = `{"scan":"${scanId}"}\n`;
    const art = { name: 'scan.sarif', hash: 'sha256:' + encodeHex(sha256(content)), size: Buffer.byteLength(content), type: 'sarif' };
    const timestamp = new Date().toISOString();
    const signature = Buffer.from(scanner.sign(scanMessage({ scanId, signer: 'scanner', timestamp, artifacts: [{ name: art.name, digest: art.hash, size: art.size, type: art.type }] }))).toString('base64');
    const permit = await post(d.url, '/v1/verify-and-permit-upload', { scan_id: scanId, tier: 'basic', inner_signature: { signer: 'scanner', timestamp, signature, algorithm: 'Ed25519' }, artifacts: [art], storage_destinations: { raw_s3: true, oci_registry: false } }, transform);
    assert.equal(permit.status, 202, JSON.stringify(permit.json));
    return { upload_permission_id: permit.json.upload_permission_id, scan_id: scanId, permission: permit.json.permission, artifacts: [{ ...art, content: Buffer.from(content).toString('base64') }] };
  };
  // Issued by A, spent on B, then refused by A (and by B again).
  const upload = await permitOn(a, 'shared-scan-1');
  const spent = await post(b.url, '/v1/execute-upload', upload, transform);
  assert.equal(spent.status, 200, JSON.stringify(spent.json));
  for (const d of [a, b]) {
    const again = await post(d.url, '/v1/execute-upload', upload, transform);
    assert.equal(again.status, 403, JSON.stringify(again.json));
    assert.equal(again.json.code, 'ERR_CERTUS_PERMISSION_USED');
  }
  assert.deepEqual(readdirSync(join(dir, 'b', 'artifacts', 'raw_s3', 'shared-scan-1')), ['scan.sarif']);
  assert.equal(existsSync(join(dir, 'a', 'artifacts', 'raw_s3', 'shared-scan-1')), false, 'the refused use stored nothing');
  // Issued by B, raced on both at once: exactly one use wins.
  const raced = await permitOn(b, 'shared-scan-2');
  const uses = await Promise.all([a, b, a, b].map((d) => post(d.url, '/v1/execute-upload', raced, transform)));
  assert.equal(uses.filter((u) => u.status === 200).length, 1, JSON.stringify(uses.map((u) => u.json.code ?? u.status)));
  assert.ok(uses.filter((u) => u.status !== 200).every((u) => u.status === 403 && u.json.code === 'ERR_CERTUS_PERMISSION_USED'));
});

test('--shared-log needs PostgreSQL: a usage error without --postgres-url-file', async (t) => {
  const dir = tmpDir(t);
  for (const cmd of [['serve', '--data', join(dir, 'd'), '--port', '0'], ['log', 'serve', '--data', join(dir, 'l'), '--port', '0', '--origin', 'example.test/log']]) {
    const r = await cli([...cmd, '--shared-log'], { cwd: dir, env: { CUSTODY_POSTGRES_URL: undefined } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--shared-log needs --postgres-url-file.*\[ERR_USAGE_ARGUMENT\]/);
  }
});
