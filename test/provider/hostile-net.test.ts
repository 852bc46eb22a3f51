/**
 * `custody fetch` against providers that misbehave on the wire: stalls after the headers (with a forced garbage
 * collection mid-stall, which on Node 20 used to cut the link from an abort signal to undici's body stream), a
 * stalled provider next to a good one (dropped, never asked again), a provider trickling bytes under the throughput floor, definitive answers not retried, 5xx retried,
 * and the whole-fetch deadline. Requests are counted; nothing asserts on wall time (each test has a generous
 * `timeout` so a regression fails instead of hanging).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fetchRelease, RETRIES, type FetchReleaseOptions } from '../../src/client/provider-client.ts';
import { isTrustError } from '../../src/errors.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { proxy, putIncoming, start } from './harness.ts';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

/** STALL_MS is short for a test, yet long enough that a loaded machine does not look stalled. */
const STALL_MS = 2_500;

async function setup(t: TestContext) {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: Buffer.alloc(300_000, 7), 'initrd.img': Buffer.from('initrd\n') });
  await d.rescan();
  const base = (over: Partial<FetchReleaseOptions>): FetchReleaseOptions => ({
    providers: [d.url],
    channel: 'stable',
    arch: 'x86_64',
    trust: { fingerprint: d.identity.fingerprint },
    outputDir: join(dir, 'out'),
    now: () => new Date(),
    ...over,
  });
  return { dir, d, base, out: join(dir, 'out') };
}

/** gcWhile forces garbage collections every 50 ms until p settles. */
async function gcWhile<T>(p: Promise<T>): Promise<T> {
  const tick = setInterval(gc, 50);
  try {
    return await p;
  } finally {
    clearInterval(tick);
  }
}

function timeoutKind(e: unknown): unknown {
  return isTrustError(e) ? e.details?.timeout : undefined;
}

test('a provider stalling after its headers (manifest, or mid-artifact) is abandoned at the stall timeout despite forced GCs', { timeout: 60_000 }, async (t) => {
  const { d, base, out } = await setup(t);
  // Headers announcing a body, then nothing, for the manifest.
  const manifestStall = await proxy(t, d.url, (req, res) => {
    if (!req.url!.endsWith('/manifest.json')) return false;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4000' });
    res.write('{"signed":');
    return true;
  });
  const e1 = await gcWhile(fetchRelease(base({ providers: [manifestStall.url], timeoutMs: STALL_MS }))).catch((e: unknown) => e);
  assert.ok(isTrustError(e1) && e1.code === 'ERR_IO_NETWORK', String(e1));
  assert.equal(timeoutKind(e1), 'stall');

  // Half an artifact, then nothing.
  const blobStall = await proxy(t, d.url, (req, res) => {
    if (!req.url!.includes('/blobs/')) return false;
    res.writeHead(200, { 'content-length': '300000' });
    res.write(Buffer.alloc(150_000, 7));
    return true;
  });
  const e2 = await gcWhile(fetchRelease(base({ providers: [blobStall.url], timeoutMs: STALL_MS, artifacts: ['kernel'] }))).catch((e: unknown) => e);
  assert.ok(isTrustError(e2) && e2.code === 'ERR_IO_NETWORK', String(e2));
  assert.equal(timeoutKind(e2), 'stall');
  assert.match(e2.message, /\/blobs\/sha256\//);
  assert.ok(!existsSync(join(out, 'manifest.json')));
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.') || f.endsWith('.part')), []);
});

test('a stalled provider next to a good one is dropped after one stall and never asked again', { timeout: 60_000 }, async (t) => {
  const { d, base, out } = await setup(t);
  const stalled = await proxy(t, d.url, (req, res) => {
    if (!req.url!.includes('/blobs/')) return false;
    res.writeHead(200);
    res.flushHeaders();
    return true;
  });
  const good = await proxy(t, d.url, () => false);
  const events: string[] = [];
  const onEvent: FetchReleaseOptions['onEvent'] = (e) => e.code !== undefined && events.push(`${e.provider} ${e.code} ${e.message ?? ''}`);
  const r = await gcWhile(fetchRelease(base({ providers: [stalled.url, good.url], timeoutMs: STALL_MS, onEvent })));
  assert.equal(events.length, 1, events.join('\n'));
  assert.match(events[0]!, /ERR_IO_NETWORK .*stalled/);
  assert.deepEqual(r.files.map((f) => f.provider).sort(), [good.url + '/', good.url + '/']);
  // The manifest came from the stalled provider (listed first), but only one artifact request ever reached it:
  // `/blobs/sha256/<h>` (the signed download_url) and `blobs/sha256/<h>` are one URL, and after the stall the
  // provider is dropped for the second artifact.
  assert.equal(stalled.seen.filter((p) => p.includes('/blobs/')).length, 1, stalled.seen.join(' '));
  assert.equal(stalled.seen.at(-1)!.includes('/blobs/'), true);
  assert.equal(good.seen.filter((p) => p.includes('/blobs/')).length, 2);
  assert.ok(existsSync(join(out, 'vmlinuz')) && existsSync(join(out, 'initrd.img')));
});

test('a provider trickling bytes (never silent for a stall timeout) is dropped under the throughput floor; the next one serves', { timeout: 90_000 }, async (t) => {
  const { d, base, out } = await setup(t);
  const ticks = new Set<NodeJS.Timeout>();
  t.after(() => ticks.forEach((x) => clearInterval(x)));
  /** trickler answers the paths `which` picks with headers, then one byte every tenth of the stall timeout. */
  const trickler = (which: (url: string) => boolean) =>
    proxy(t, d.url, (req, res) => {
      if (!which(req.url!)) return false;
      res.writeHead(200); // no length announced: the body goes on as long as the trickle
      const tick = setInterval(() => res.write('{'), STALL_MS / 10);
      ticks.add(tick);
      res.on('close', () => clearInterval(tick));
      return true;
    });
  const good = await proxy(t, d.url, () => false);
  const floor = 1000; // bytes per second: the trickle is 4 a second
  for (const which of [(u: string) => u.endsWith('/manifest.json'), (u: string) => u.includes('/blobs/')]) {
    const slow = await trickler(which);
    const events: string[] = [];
    const onEvent: FetchReleaseOptions['onEvent'] = (e) => e.code !== undefined && events.push(`${e.provider} ${e.code} ${e.message ?? ''}`);
    const r = await fetchRelease(base({ providers: [slow.url, good.url], timeoutMs: STALL_MS, minBytesPerSecond: floor, artifacts: ['kernel'], onEvent }));
    assert.equal(events.length, 1, events.join('\n'));
    assert.match(events[0]!, /ERR_IO_NETWORK .*under 1000 bytes\/s .*too slow/);
    assert.ok(r.files.every((f) => f.provider === good.url + '/'));
    assert.ok(existsSync(join(out, 'vmlinuz')));
  }
  // Without the floor the same trickle is never a stall: only the whole fetch's deadline ends it.
  const slow = await trickler((u) => u.includes('/blobs/'));
  const e = await fetchRelease(base({ providers: [slow.url, good.url], timeoutMs: STALL_MS, totalTimeoutMs: 3 * STALL_MS, minBytesPerSecond: 0, artifacts: ['kernel'] })).catch((x: unknown) => x);
  assert.equal(timeoutKind(e), 'deadline', String(e));
});

test('a definitive answer (404) is not retried; 5xx and refused connections are, a bounded number of times', { timeout: 60_000 }, async (t) => {
  const { dir, d, base } = await setup(t);
  const counted = await proxy(t, d.url, () => false);
  const r = await cli(['fetch', counted.url, '--channel', 'nightly', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', 'o'], { cwd: dir });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /\[ERR_PROVIDER_NOT_FOUND\]/);
  assert.deepEqual(counted.seen, ['/trust/root.json', '/nightly/x86_64/manifest.json']);

  const failing = await proxy(t, d.url, (req, res) => {
    if (!req.url!.endsWith('/manifest.json')) return false;
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"ok":false,"code":"ERR_LOG_STORAGE","message":"busy"}');
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [failing.url] })), 'ERR_PROVIDER_RESPONSE');
  assert.equal(failing.seen.filter((p) => p.endsWith('/manifest.json')).length, RETRIES + 1);

  // A coded refusal (429) is definitive too.
  const limited = await proxy(t, d.url, (req, res) => {
    if (!req.url!.endsWith('/manifest.json')) return false;
    res.writeHead(429, { 'content-type': 'application/json' }).end('{"ok":false,"code":"ERR_PROVIDER_RATE_LIMITED","message":"slow down"}');
    return true;
  });
  await assertRejectsCode(fetchRelease(base({ providers: [limited.url] })), 'ERR_PROVIDER_RATE_LIMITED');
  assert.equal(limited.seen.filter((p) => p.endsWith('/manifest.json')).length, 1);

  // Nothing listens: the connection is refused RETRIES + 1 times, then ERR_IO_NETWORK.
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((r) => server.close(() => r()));
  await assertRejectsCode(fetchRelease(base({ providers: [closed] })), 'ERR_IO_NETWORK');
});

test('--timeout bounds the whole fetch: a provider trickling forever is cut off at the deadline', { timeout: 60_000 }, async (t) => {
  const { dir, d, base } = await setup(t);
  const trickle = await proxy(t, d.url, (req, res) => {
    if (!req.url!.includes('/blobs/')) return false;
    res.writeHead(200, { 'content-length': '300000' });
    const tick = setInterval(() => res.write(Buffer.alloc(10, 7)), 20);
    res.on('close', () => clearInterval(tick));
    return true;
  });
  const e = await fetchRelease(base({ providers: [trickle.url], timeoutMs: 5_000, totalTimeoutMs: 1_500, artifacts: ['kernel'] })).catch((x: unknown) => x);
  assert.ok(isTrustError(e) && e.code === 'ERR_IO_NETWORK', String(e));
  assert.equal(timeoutKind(e), 'deadline');
  const r = await cli(['fetch', trickle.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', 'o', '--artifact', 'kernel', '--timeout', '2'], { cwd: dir });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /time allowed for the whole fetch ran out \[ERR_IO_NETWORK\]/);
  const usage = await cli(['fetch', trickle.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', 'o', '--timeout', '0'], { cwd: dir });
  assert.equal(usage.code, 2);
});
