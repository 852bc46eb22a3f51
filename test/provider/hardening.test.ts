/**
 * Review findings on the provider and its client, each pinned by a test: a symlinked incoming directory cannot
 * publish the daemon's keys, a FIFO cannot block a scan, a failed release never lets a sequence be reused, stale
 * incoming files do not re-release over an upload, reserved names, rate limits that count refused admin requests and
 * cover the log, coded errors for framework refusals, and a client that keeps nothing unverified (no unverified proof,
 * no stale manifest, short temp names, idle rather than total timeouts, expired pinned roots that can still rotate).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { loadPrivateKey } from '../../src/keys/key-file.ts';
import { openInside } from '../../src/server/provider/incoming.ts';
import { editRoot, formatRoot, parseRoot, signRoot } from '../../src/trust/root.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { auditLog, httpFetch, parseVkey } from '../log/independent.ts';
import { bearer, get, putIncoming, start } from './harness.ts';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

test('a file reached through a symlinked directory is refused even when the path checks passed', async (t) => {
  const dir = tmpDir(t);
  mkdirSync(join(dir, 'incoming', 'stable'), { recursive: true });
  mkdirSync(join(dir, 'keys'));
  writeFileSync(join(dir, 'keys', 'signer.pem'), '-----BEGIN PRIVATE KEY-----\n');
  // The race an attacker wins: x86_64 becomes a symlink to the keys after the listing.
  symlinkSync(join(dir, 'keys'), join(dir, 'incoming', 'stable', 'x86_64'));
  await assertRejectsCode(openInside(join(dir, 'incoming', 'stable', 'x86_64', 'signer.pem'), join(dir, 'incoming'), ['stable', 'x86_64']), 'ERR_PROVIDER_INCOMING_ESCAPE');
  mkdirSync(join(dir, 'incoming', 'stable', 'real'));
  writeFileSync(join(dir, 'incoming', 'stable', 'real', 'vmlinuz'), 'k');
  const ok = await openInside(join(dir, 'incoming', 'stable', 'real', 'vmlinuz'), join(dir, 'incoming'), ['stable', 'real']);
  await ok.fh.close();
});

test('incoming: a FIFO does not block the scan; reserved names are skipped; a symlinked arch is not published', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'));
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'kernel', 'manifest.json': '{}' });
  const mk = spawnSync('mkfifo', [join(d.incomingDir, 'stable', 'x86_64', '.version')]);
  assert.equal(mk.status, 0);
  symlinkSync(join(d.dataDir, 'keys'), join(d.incomingDir, 'stable', 'keys'));
  const r = await d.rescan();
  assert.deepEqual(r.released, []);
  const codes = r.problems.map((p) => p.code).sort();
  assert.ok(codes.includes('ERR_MANIFEST_ARTIFACT_NAME'), JSON.stringify(r.problems));
  assert.ok(codes.includes('ERR_IO_NOT_REGULAR_FILE'), JSON.stringify(r.problems));
  assert.equal(d.releases.get('stable', 'keys'), undefined);
  rmSync(join(d.incomingDir, 'stable', 'x86_64', '.version'));
  const r2 = await d.rescan();
  assert.equal(r2.released.length, 1);
  assert.deepEqual([...r2.released[0]!.manifest.manifest.artifacts.keys()], ['kernel']);
});

test('a release that fails after logging never lets a later one reuse its sequence', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'));
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'A' });
  await d.rescan();
  const current = join(d.dataDir, 'releases', 'stable', 'x86_64', 'current.json');
  rmSync(current);
  mkdirSync(current); // the next record write (rename over a directory) fails after the log append
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'B' });
  const failed = await d.rescan();
  assert.equal(failed.released.length, 0);
  assert.equal(failed.problems.length, 1);
  rmSync(current, { recursive: true });
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'C' });
  const ok = await d.rescan();
  assert.equal(ok.released.length, 1);
  // Every logged manifest entry names a distinct sequence (no equivocation), and B was logged.
  const { entries } = await auditLog(httpFetch(`${d.url}/log`), parseVkey(d.vkey));
  const manifests = entries.filter((e) => e.toString().startsWith('custody.manifest/v1\n'));
  const seqs = manifests.map((e) => /\nsequence (\d+)\n/.exec(e.toString())![1]);
  assert.equal(manifests.length, 3);
  assert.equal(new Set(seqs).size, 3, `sequences ${seqs.join(', ')}`);
});

test('stale incoming files never re-release over an uploaded release; a new set gets a new version', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'));
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'OLD KERNEL' });
  const first = (await d.rescan()).released[0]!;
  const put = await get(d, `/admin/v1/blobs/sha256/${sha256('NEW KERNEL')}`, { method: 'PUT', body: 'NEW KERNEL', headers: { 'content-type': 'application/octet-stream', ...bearer(d) } });
  assert.equal(put.status, 201);
  const rel = await get(d, '/admin/v1/releases/stable/x86_64', {
    method: 'POST',
    body: JSON.stringify({ artifacts: { kernel: { filename: 'vmlinuz', sha256: sha256('NEW KERNEL') } } }),
    headers: { 'content-type': 'application/json', ...bearer(d) },
  });
  assert.equal(rel.status, 200);
  assert.notEqual(rel.json().version, first.manifest.manifest.version, 'a new artifact set does not inherit the version');
  assert.deepEqual((await d.rescan()).released, []);
  assert.equal((await get(d, '/stable/x86_64/vmlinuz')).body.toString(), 'NEW KERNEL');
  // Reserved names are refused on upload releases too.
  const reserved = await get(d, '/admin/v1/releases/stable/x86_64', {
    method: 'POST',
    body: JSON.stringify({ artifacts: { m: { filename: 'manifest.json', sha256: sha256('NEW KERNEL') } } }),
    headers: { 'content-type': 'application/json', ...bearer(d) },
  });
  assert.equal(reserved.json().code, 'ERR_MANIFEST_ARTIFACT_NAME');
  const validity = await get(d, '/admin/v1/releases/stable/x86_64', {
    method: 'POST',
    body: JSON.stringify({ artifacts: { kernel: { filename: 'vmlinuz', sha256: sha256('NEW KERNEL') } }, validity_s: 30 }),
    headers: { 'content-type': 'application/json', ...bearer(d) },
  });
  assert.equal(validity.status, 400);
  assert.equal(validity.json().code, 'ERR_FORMAT_SCHEMA');
});

test('rate limits count refused admin requests and cover the log; framework refusals are coded; long names are served', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'), { rateLimitPerIp: 5 });
  // The limiter's window follows Date.now(): frozen, all these requests fall in one window however slow the machine.
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) {
    const r = await get(d, '/admin/v1/rescan', { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789' } });
    statuses.push(r.status);
    if (r.status === 401) assert.equal(r.headers.get('connection'), 'close');
  }
  assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
  assert.ok(statuses.slice(5).every((s) => s === 429), statuses.join(','));
  assert.equal((await get(d, '/log/checkpoint')).status, 429, 'the log read path is limited too');
  t.mock.timers.reset();

  const e = await start(t, join(tmpDir(t), 'data2'));
  const bad = await get(e, '/%zz');
  assert.equal(bad.status, 400);
  assert.equal(bad.json().code, 'ERR_USAGE_ARGUMENT');
  const huge = await get(e, '/admin/v1/releases/stable/x86_64', {
    method: 'POST',
    body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    headers: { 'content-type': 'application/json', ...bearer(e) },
  });
  assert.equal(huge.status, 413);
  assert.equal(huge.json().code, 'ERR_LIMIT_SIZE');
  const long = 'k'.repeat(200) + '.img';
  putIncoming(e, 'stable', 'x86_64', { [long]: 'long name' });
  await e.rescan();
  assert.equal((await get(e, `/stable/x86_64/${long}`)).body.toString(), 'long name');
});

async function slowServer(t: TestContext, upstream: string, path: string, mode: 'trickle' | 'stall'): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url !== path) {
      void fetch(upstream + req.url!).then(async (r) => res.writeHead(r.status).end(Buffer.from(await r.arrayBuffer())));
      return;
    }
    void fetch(upstream + req.url).then(async (r) => {
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(200, { 'content-length': String(body.length) });
      if (mode === 'stall') {
        res.write(body.subarray(0, 10)); // then nothing
        return;
      }
      let i = 0;
      const tick = setInterval(() => {
        res.write(body.subarray(i, i + 100));
        i += 100;
        if (i >= body.length) {
          clearInterval(tick);
          res.end();
        }
      }, 100);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('client: idle timeout (not total), no unverified proof, no stale manifest left, long file names', async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  const name = 'r'.repeat(250);
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: Buffer.alloc(1000, 1), [name]: 'x' });
  await d.rescan();
  const out = join(dir, 'out');
  const base = { channel: 'stable', arch: 'x86_64', trust: { fingerprint: d.identity.fingerprint }, outputDir: out, now: () => new Date() };

  // No --require-log: the proof is not verified, so it is not written.
  const r = await fetchRelease({ ...base, providers: [d.url] });
  assert.equal(r.files.length, 2);
  assert.ok(existsSync(join(out, name)));
  assert.ok(!existsSync(join(out, 'manifest.json.tlog-proof')));
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), []);

  // A trickle of 100 bytes every 100 ms takes ~1 s in total, over the 600 ms timeout, yet never idles that long;
  // its 1,000 bytes/s are over the throughput floor asked for (hostile-net.test.ts: a trickle under it).
  const blob = `/blobs/sha256/${sha256(Buffer.alloc(1000, 1))}`;
  const trickle = await slowServer(t, d.url, blob, 'trickle');
  await fetchRelease({ ...base, providers: [trickle], timeoutMs: 600, minBytesPerSecond: 500, artifacts: ['kernel'] });
  // A stalled body fails after the idle timeout, the old manifest is gone, nothing half-downloaded remains.
  const stall = await slowServer(t, d.url, blob, 'stall');
  await assertRejectsCode(fetchRelease({ ...base, providers: [stall], timeoutMs: 500, artifacts: ['kernel'] }), 'ERR_IO_NETWORK');
  assert.ok(!existsSync(join(out, 'manifest.json')), 'a failed fetch leaves no manifest claiming the directory');
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), []);
});

test('an expired pinned root still accepts its signed successor; alone it is refused', async (t) => {
  const dir = tmpDir(t);
  const data = join(dir, 'data');
  let now = Date.now();
  const d = await start(t, data, { now: () => new Date(now) });
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'k' });
  await d.rescan();
  const v1Text = readFileSync(join(data, 'trust', 'root.json'), 'utf8');
  writeFileSync(join(dir, 'pinned.json'), v1Text);
  await d.close();

  // A year and a day later the device wakes up; the operator published root v2 meanwhile.
  now += 366 * 86_400_000;
  const rootKey = await loadPrivateKey(join(data, 'keys', 'root.pem'));
  const v2 = signRoot(editRoot(parseRoot(v1Text), (s) => (s.expires = new Date(now + 365 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'))), rootKey);
  writeFileSync(join(data, 'trust', '2.root.json'), formatRoot(v2));
  writeFileSync(join(data, 'trust', 'root.json'), formatRoot(v2));
  const d2 = await start(t, data, { now: () => new Date(now) });
  const args = ['fetch', d2.url, '--channel', 'stable', '--arch', 'x86_64', '--trust', 'pinned.json', '--output', 'boot', '--json'];
  const ok = await cli(args, { cwd: dir, now: new Date(now) });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { root_updated: boolean }).root_updated, true);
  assert.equal(parseRoot(readFileSync(join(dir, 'pinned.json'))).version, 2, 'the pinned file now holds v2');

  writeFileSync(join(dir, 'pinned.json'), v1Text);
  rmSync(join(data, 'trust', '2.root.json'));
  const refused = await cli(args, { cwd: dir, now: new Date(now) });
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /ERR_TRUST_EXPIRED/);
});

test('incoming problems each have their own code: channel name, version file, not a regular file', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'));
  putIncoming(d, 'Bad Channel', 'x86_64', { vmlinuz: 'k' });
  putIncoming(d, 'stable', 'BAD ARCH', { vmlinuz: 'k' });
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'k', '.version': '\n' });
  mkdirSync(join(d.incomingDir, 'stable', 'x86_64', 'subdir'));
  const r = await d.rescan();
  const codes = r.problems.map((p) => p.code).sort();
  assert.deepEqual(codes, ['ERR_IO_NOT_REGULAR_FILE', 'ERR_PROVIDER_CHANNEL_NAME', 'ERR_PROVIDER_CHANNEL_NAME', 'ERR_PROVIDER_VERSION_INVALID'], JSON.stringify(r.problems));
});
