/**
 * `custody fetch` against honest and hostile providers: a loopback "mirror" in front of the real daemon rewrites
 * answers (tampered bytes, endless bodies, another channel's manifest, an old manifest, a swapped root, no proof).
 * The client must take only what verifies, fall back to the next provider for artifacts, and leave nothing
 * unverified in the output directory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fetchRelease, type FetchReleaseOptions } from '../../src/client/provider-client.ts';
import { loadState } from '../../src/manifest/state.ts';
import { parseManifest } from '../../src/manifest/manifest.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { putIncoming, start } from './harness.ts';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const KERNEL = Buffer.alloc(200_000, 3);
const INITRD = Buffer.from('initrd\n');

type Override = (req: IncomingMessage, res: ServerResponse) => boolean;

/** mirror proxies to `upstream` unless an override answers. */
async function mirror(t: TestContext, upstream: string, override: Override): Promise<string> {
  const server = createServer((req, res) => {
    if (override(req, res)) return;
    void fetch(upstream + req.url!, { headers: req.headers.range ? { range: req.headers.range } : {} }).then(async (r) => {
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function setup(t: TestContext) {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: KERNEL, 'initrd.img': INITRD });
  putIncoming(d, 'testing', 'x86_64', { vmlinuz: Buffer.from('testing kernel') });
  await d.rescan();
  const base = (over: Partial<FetchReleaseOptions> = {}): FetchReleaseOptions => ({
    providers: [d.url],
    channel: 'stable',
    arch: 'x86_64',
    trust: { fingerprint: d.identity.fingerprint },
    requireLog: d.vkey,
    outputDir: join(dir, 'out'),
    now: () => new Date(),
    ...over,
  });
  return { dir, d, base, out: join(dir, 'out') };
}

test('fetch from an honest provider: manifest, proof and artifacts verified and written', async (t) => {
  const { d, base, out } = await setup(t);
  const r = await fetchRelease(base());
  assert.equal(r.manifest.manifest.channel, 'stable');
  assert.equal(r.logIndex, d.releases.get('stable', 'x86_64')!.index);
  assert.deepEqual(readdirSync(out).sort(), ['initrd.img', 'manifest.json', 'manifest.json.tlog-proof', 'vmlinuz']);
  assert.ok(readFileSync(join(out, 'vmlinuz')).equals(KERNEL));
  const only = await fetchRelease(base({ outputDir: join(out, 'only'), artifacts: ['initramfs'] }));
  assert.deepEqual(only.files.map((f) => f.filename), ['initrd.img']);
  await assertRejectsCode(fetchRelease(base({ outputDir: join(out, 'x'), artifacts: ['firmware'] })), 'ERR_ARTIFACT_NOT_IN_MANIFEST');
});

test('a tampered artifact is refused and nothing unverified is left; another provider supplies the real bytes', async (t) => {
  const { d, base, out } = await setup(t);
  const evil = await mirror(t, d.url, (req, res) => {
    if (req.url === `/blobs/sha256/${sha256(KERNEL)}` || req.url === '/stable/x86_64/vmlinuz') {
      const bad = Buffer.from(KERNEL);
      bad[1000] = bad[1000]! ^ 1;
      res.writeHead(200).end(bad);
      return true;
    }
    return false;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [evil] })), 'ERR_ARTIFACT_HASH_MISMATCH');
  assert.ok(!readdirSync(out).some((f) => f === 'vmlinuz' || f.endsWith('.part')), `left: ${readdirSync(out).join(', ')}`);

  const events: string[] = [];
  const r = await fetchRelease(base({ providers: [evil, d.url], onEvent: (e) => e.code && events.push(e.code) }));
  assert.equal(r.files.find((f) => f.filename === 'vmlinuz')!.provider, d.url + '/');
  assert.ok(events.includes('ERR_ARTIFACT_HASH_MISMATCH'));
  assert.ok(readFileSync(join(out, 'vmlinuz')).equals(KERNEL));
});

test('an endless or short artifact body is cut off at the signed size', async (t) => {
  const { d, base } = await setup(t);
  const endless = await mirror(t, d.url, (req, res) => {
    if (!req.url!.includes(sha256(KERNEL)) && !req.url!.endsWith('/vmlinuz')) return false;
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024);
    let sent = 0;
    const pump = (): void => {
      while (sent < 50 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
      if (sent < 50 * 1024 * 1024) res.once('drain', pump);
      else res.end();
    };
    pump();
    res.on('close', () => (sent = Infinity));
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [endless] })), 'ERR_ARTIFACT_SIZE_MISMATCH');
  const short = await mirror(t, d.url, (req, res) => {
    if (!req.url!.includes(sha256(KERNEL)) && !req.url!.endsWith('/vmlinuz')) return false;
    res.writeHead(200).end(KERNEL.subarray(0, 1000));
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [short] })), 'ERR_ARTIFACT_SIZE_MISMATCH');
});

test('hostile manifests: another channel, an unlogged one, a swapped root, a replayed old one', async (t) => {
  const { dir, d, base } = await setup(t);
  const testing = Buffer.from(d.releases.get('testing', 'x86_64')!.manifestText);
  const other = await mirror(t, d.url, (req, res) => {
    if (req.url !== '/stable/x86_64/manifest.json') return false;
    res.writeHead(200, { 'content-type': 'application/json' }).end(testing);
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [other] })), 'ERR_MANIFEST_WRONG_TARGET');

  const noProof = await mirror(t, d.url, (req, res) => {
    if (!req.url!.endsWith('.tlog-proof')) return false;
    res.writeHead(404).end();
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [noProof] })), 'ERR_MANIFEST_LOG_PROOF_MISSING');
  const wrongLogKey = (await import('../../src/note/note.ts')).formatVerifierKey(
    d.origin,
    (await import('../../src/crypto/index.ts')).PrivateKey.generate().publicKey,
  );
  await assertRejectsCode(fetchRelease(base({ requireLog: wrongLogKey })), 'ERR_NOTE_UNKNOWN_KEY');

  const otherRoot = await mirror(t, d.url, (req, res) => {
    if (req.url !== '/trust/root.json') return false;
    res.writeHead(200).end(readFileSync(join(d.dataDir, 'trust', 'root.json'), 'utf8').replace('"version": 1', '"version": 1 '));
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [otherRoot] })), 'ERR_PROVIDER_ROOT_FINGERPRINT');

  // Replay: the client has seen a newer release; a mirror still serving the old manifest is refused.
  const old = Buffer.from(d.releases.get('stable', 'x86_64')!.manifestText);
  const oldProof = Buffer.from(d.releases.get('stable', 'x86_64')!.proofText);
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: Buffer.concat([KERNEL, Buffer.from('2')]) });
  await new Promise((r) => setTimeout(r, 1100)); // a later second: a new sequence
  await d.rescan();
  const statePath = join(dir, 'state.json');
  const r = await cli(['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--require-log', d.vkey, '--state', statePath, '--output', join(dir, 'new')], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const stale = await mirror(t, d.url, (req, res) => {
    if (req.url === '/stable/x86_64/manifest.json') res.writeHead(200).end(old);
    else if (req.url === '/stable/x86_64/manifest.json.tlog-proof') res.writeHead(200).end(oldProof);
    else return false;
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [stale], state: await loadState(statePath) })), 'ERR_MANIFEST_ROLLBACK');
  // Without any state, a stale mirror listed first still loses to the newer release of another provider.
  const fresh = await fetchRelease(base({ providers: [stale, d.url], outputDir: join(dir, 'fresh') }));
  assert.equal(fresh.manifestProvider, d.url + '/');
  assert.ok(fresh.manifest.manifest.sequence > parseManifest(old).sequence);
  // With both providers, the stale one is skipped and the current one is used.
  const both = await fetchRelease(base({ providers: [stale, d.url], state: await loadState(statePath), outputDir: join(dir, 'both') }));
  assert.equal(both.manifestProvider, d.url + '/');
});

test('custody fetch CLI: --trust pins a root file, refusals print code and hint, exit codes', async (t) => {
  const { dir, d } = await setup(t);
  writeFileSync(join(dir, 'root.json'), readFileSync(join(d.dataDir, 'trust', 'root.json')));
  const args = ['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--trust', 'root.json', '--require-log', d.vkey, '--output', 'boot'];
  const ok = await cli([...args, '--json'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  const j = JSON.parse(ok.stdout) as Record<string, unknown>;
  assert.equal(j.ok, true);
  assert.equal(j.root_updated, false);
  assert.equal((j.files as unknown[]).length, 2);

  const bad = await cli(['fetch', d.url, '--channel', 'nightly', '--arch', 'x86_64', '--trust', 'root.json', '--output', 'boot'], { cwd: dir });
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /custody: error: .*no release of nightly\/x86_64 \[ERR_PROVIDER_NOT_FOUND\]/);
  assert.match(bad.stderr, /custody: hint: /);
  const usage = await cli(['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--output', 'boot'], { cwd: dir });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /ERR_USAGE_ARGUMENT/);
});
