/**
 * Verifying mirrors (`custody serve --mirror`, server/mirror): a real origin daemon on loopback, a switchable proxy in
 * front of it (honest, tampered, down, rolled back), and the mirror pulling through the proxy. The mirror must serve
 * the origin's bytes exactly, only after verifying them, and keep the previous release when the upstream misbehaves.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { parseChannelIndex } from '../../src/server/mirror/channel-index.ts';
import { startMirror, type RunningMirror } from '../../src/server/mirror/mirror-daemon.ts';
import { assertCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';
import { get, putIncoming, start } from './harness.ts';

type Mode = 'honest' | 'down' | 'tamper-artifact' | 'replay' | 'phantoms';

/** proxy forwards to upstream; `mode` decides how it lies. `replay` answers manifest requests with `replayed`. */
async function proxy(t: TestContext, upstream: string) {
  const state: { mode: Mode; replayed?: Buffer; generation: number } = { mode: 'honest', generation: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (state.mode === 'down') {
      req.socket.destroy();
      return;
    }
    if (state.mode === 'replay' && req.url!.endsWith('/manifest.json') && state.replayed) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(state.replayed);
      return;
    }
    if (state.mode === 'phantoms' && req.url === '/') {
      // The upstream's own answer plus five channels never served, named anew on every request.
      const g = ++state.generation;
      void fetch(upstream + '/').then(async (r) => {
        const info = (await r.json()) as { releases: Array<{ channel: string; arch: string }> };
        info.releases.push(...Array.from({ length: 5 }, (_, i) => ({ channel: `ph${g}x${i}`, arch: 'x86_64' })));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(info));
      });
      return;
    }
    void fetch(upstream + req.url!, { headers: req.headers['if-none-match'] ? { 'if-none-match': String(req.headers['if-none-match']) } : {} }).then(async (r) => {
      let body = Buffer.from(await r.arrayBuffer());
      if (state.mode === 'tamper-artifact' && (req.url!.startsWith('/blobs/') || req.url!.endsWith('/vmlinuz')) && body.length > 0) {
        body = Buffer.from(body);
        body[0] = body[0]! ^ 1;
      }
      const h: Record<string, string> = { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' };
      if (r.headers.get('etag')) h.etag = r.headers.get('etag')!;
      res.writeHead(r.status, h).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  server.on('connection', (s) => t.after(() => s.destroy()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

async function setup(t: TestContext, requireLog = true) {
  const dir = tmpDir(t);
  const origin = await start(t, join(dir, 'origin'));
  putIncoming(origin, 'stable', 'x86_64', { vmlinuz: Buffer.alloc(300_000, 7), 'initrd.img': Buffer.from('initrd v1\n') });
  putIncoming(origin, 'beta', 'aarch64', { vmlinuz: Buffer.from('beta kernel') });
  await origin.rescan();
  const up = await proxy(t, origin.url);
  const m = await startMirror({
    dataDir: join(dir, 'mirror'),
    host: '127.0.0.1',
    port: 0,
    upstreams: [up.url],
    fingerprint: origin.identity.fingerprint,
    requireLog: requireLog ? origin.vkey : undefined,
    intervalMs: 0, // no timer: the test polls by hand
    rateLimitPerIp: 0,
    logger: pino({ level: 'silent' }),
    stallMs: 5_000,
  });
  t.after(() => m.close());
  return { dir, origin, up, m };
}

/** releaseV2 publishes a new stable/x86_64 release at the origin. */
async function releaseV2(origin: Awaited<ReturnType<typeof start>>): Promise<void> {
  putIncoming(origin, 'stable', 'x86_64', { vmlinuz: Buffer.alloc(300_000, 9), 'initrd.img': Buffer.from('initrd v2\n') });
  await origin.rescan();
}

async function pollOf(m: RunningMirror) {
  return m.mirror.poll();
}

test('a mirror serves the upstream-signed manifest, proof and artifacts byte for byte, and clients verify them', async (t) => {
  const { dir, origin, m } = await setup(t);
  await pollOf(m);
  for (const path of ['/stable/x86_64/manifest.json', '/stable/x86_64/manifest.json.tlog-proof', '/stable/x86_64/vmlinuz', '/beta/aarch64/manifest.json', '/trust/root.json']) {
    const a = await get(origin, path);
    const b = await get(m, path);
    assert.equal(b.status, 200, path);
    assert.ok(a.body.equals(b.body), `${path} differs`);
  }
  const info = (await get(m, '/')).json();
  assert.equal(info.name, 'custody-mirror');
  assert.deepEqual(parseChannelIndex((await get(m, '/')).body), [
    { channel: 'beta', arch: 'aarch64' },
    { channel: 'stable', arch: 'x86_64' },
  ]);
  const r = await fetchRelease({
    providers: [m.url],
    channel: 'stable',
    arch: 'x86_64',
    trust: { fingerprint: origin.identity.fingerprint },
    requireLog: origin.vkey,
    outputDir: join(dir, 'out'),
    now: () => new Date(),
  });
  assert.equal(r.manifest.digest, origin.releases.get('stable', 'x86_64')!.manifest.digest);
  // Unchanged upstream: the conditional GET answers 304 and nothing is fetched again.
  const again = await pollOf(m);
  assert.deepEqual(again.updated, []);
  assert.ok(again.unchanged.includes('stable/x86_64'));
  // Audit: what was mirrored, with the upstream's digest.
  const audit = readFileSync(join(m.dataDir, 'audit.jsonl'), 'utf8');
  assert.match(audit, /"event":"mirror.release"/);
  assert.match(audit, new RegExp(origin.releases.get('stable', 'x86_64')!.manifest.digest.replace(':', ':')));
});

test('a new upstream release is served only after the mirror verified it; a tampered one is refused and the previous kept', async (t) => {
  const { origin, up, m } = await setup(t);
  await pollOf(m);
  const v1 = (await get(m, '/stable/x86_64/manifest.json')).body;
  await releaseV2(origin);
  // Before a poll the mirror still serves v1 (it has verified nothing newer).
  assert.ok((await get(m, '/stable/x86_64/manifest.json')).body.equals(v1));

  // The upstream now serves v2's manifest but corrupted artifacts: refused, v1 stays, and it is reported.
  up.state.mode = 'tamper-artifact';
  const bad = await pollOf(m);
  assert.deepEqual(bad.refused, [{ key: 'stable/x86_64', code: 'ERR_ARTIFACT_HASH_MISMATCH' }]);
  assert.ok((await get(m, '/stable/x86_64/manifest.json')).body.equals(v1));
  const health = (await get(m, '/health')).json() as { status: string; mirror: { problems: Array<{ code: string; channel: string }> } };
  assert.equal(health.status, 'degraded');
  assert.deepEqual(health.mirror.problems.map((p) => [p.channel, p.code]), [['stable', 'ERR_ARTIFACT_HASH_MISMATCH']]);
  assert.match(readFileSync(join(m.dataDir, 'audit.jsonl'), 'utf8'), /"code":"ERR_ARTIFACT_HASH_MISMATCH","event":"mirror.refused"/);

  // Upstream down: still v1, reported as unreachable.
  up.state.mode = 'down';
  await pollOf(m);
  assert.ok((await get(m, '/stable/x86_64/manifest.json')).body.equals(v1));

  // Honest again: v2 after verification, byte for byte.
  up.state.mode = 'honest';
  const ok = await pollOf(m);
  assert.ok(ok.updated.includes('stable/x86_64'));
  assert.ok((await get(m, '/stable/x86_64/manifest.json')).body.equals((await get(origin, '/stable/x86_64/manifest.json')).body));
  assert.equal(((await get(m, '/health')).json() as { status: string }).status, 'healthy');

  // An upstream replaying the old (validly signed) v1 cannot take the mirror back.
  up.state.mode = 'replay';
  up.state.replayed = v1;
  const rolled = await pollOf(m);
  assert.deepEqual(rolled.refused.filter((r) => r.key === 'stable/x86_64'), [{ key: 'stable/x86_64', code: 'ERR_MANIFEST_ROLLBACK' }]);
  assert.ok(!(await get(m, '/stable/x86_64/manifest.json')).body.equals(v1));
});

test('a restarted mirror serves its verified releases while the upstream is down; without --require-log it serves no proof', async (t) => {
  const { dir, origin, up, m } = await setup(t, false);
  await pollOf(m);
  assert.equal((await get(m, '/stable/x86_64/manifest.json.tlog-proof')).status, 404);
  await m.close();
  up.state.mode = 'down';
  const m2 = await startMirror({
    dataDir: join(dir, 'mirror'),
    host: '127.0.0.1',
    port: 0,
    upstreams: [up.url],
    fingerprint: origin.identity.fingerprint,
    intervalMs: 0,
    rateLimitPerIp: 0,
    logger: pino({ level: 'silent' }),
    stallMs: 2_000,
  });
  t.after(() => m2.close());
  const a = await get(m2, '/stable/x86_64/vmlinuz');
  assert.equal(a.status, 200);
  assert.ok(a.body.equals(Buffer.alloc(300_000, 7)));
});

test('parseChannelIndex: bounded, valid names only, malformed answers refused', () => {
  const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
  assert.deepEqual(
    parseChannelIndex(enc({ releases: [{ channel: 'stable', arch: 'x86_64' }, { channel: '../x', arch: 'a' }, { channel: 'log', arch: 'a' }, { channel: 'stable', arch: 'x86_64' }, 7] })),
    [{ channel: 'stable', arch: 'x86_64' }],
  );
  assert.equal(parseChannelIndex(enc({ releases: Array.from({ length: 5000 }, (_, i) => ({ channel: `c${i}`, arch: 'a' })) })).length, 1024);
  for (const bad of [Buffer.from('not json'), enc({}), enc({ releases: {} }), enc([1])]) assertCode(() => parseChannelIndex(bad), 'ERR_MIRROR_UPSTREAM_INDEX');
});

test('the problems of channels an upstream no longer lists are dropped: the list stays bounded by what is listed now', async (t) => {
  const { up, m } = await setup(t);
  await pollOf(m);
  up.state.mode = 'phantoms';
  for (let i = 0; i < 3; i++) await pollOf(m);
  const phantoms = (): string[] => m.mirror.status().problems.map((p) => p.channel ?? '').filter((c) => c.startsWith('ph'));
  assert.deepEqual(phantoms().sort(), ['ph3x0', 'ph3x1', 'ph3x2', 'ph3x3', 'ph3x4'], 'only the last listing\'s channels');
  up.state.mode = 'honest';
  await pollOf(m);
  assert.deepEqual(m.mirror.status().problems, []);
  const health = (await (await fetch(`${m.url}/health`)).json()) as { status: string };
  assert.equal(health.status, 'healthy');
});

test('a mirror on an address in use is a coded network error naming it, not an internal error', async (t) => {
  const { dir, origin, up } = await setup(t);
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => holder.close(() => r())));
  const port = (holder.address() as AddressInfo).port;
  await assert.rejects(
    startMirror({ dataDir: join(dir, 'mirror2'), host: '127.0.0.1', port, upstreams: [up.url], fingerprint: origin.identity.fingerprint, intervalMs: 0, logger: pino({ level: 'silent' }) }),
    (e: { code?: string; message: string; hint?: string }) => {
      assert.equal(e.code, 'ERR_IO_NETWORK');
      assert.match(e.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      assert.match(e.hint ?? '', /--port/);
      return true;
    },
  );
});
