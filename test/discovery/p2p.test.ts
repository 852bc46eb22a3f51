/**
 * Provider discovery over a real libp2p DHT on 127.0.0.1 (issue 14, "Tests must show"): a bootstrap node, an origin
 * provider, two verifying mirrors, a malicious provider and clients — each a real libp2p node (TCP, Noise, Yamux,
 * kad-dht) and, for the providers, a real HTTP provider. The client is the real `custody` CLI in a child process.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { urlToMultiaddr } from '../../src/discovery/addresses.ts';
import { discoverProviders, startAnnouncer } from '../../src/discovery/discover.ts';
import { startP2pNode, type P2pNode } from '../../src/discovery/node.ts';
import { startMirror } from '../../src/server/mirror/mirror-daemon.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { get, putIncoming, serveChild, start } from '../provider/harness.ts';

/** TTL_MS: provider records live this long without re-announcement (short, to see a departed provider go). */
const TTL_MS = 2_000;

async function node(t: TestContext, o: Parameters<typeof startP2pNode>[0] = {}): Promise<P2pNode> {
  const n = await startP2pNode({ dialTimeoutMs: 2_000, ...o });
  t.after(() => n.stop().catch(() => undefined));
  return n;
}

/** provider announces `url` for what `list` returns, through the bootstrap node. */
async function provider(t: TestContext, bootstrap: string, url: string, list: () => Array<{ channel: string; arch: string }>, ttlMs?: number) {
  const n = await node(t, { bootstrap: [bootstrap], announce: [urlToMultiaddr(url)], ttlMs });
  const a = startAnnouncer(n, { list, checkMs: 200 });
  t.after(() => a.stop());
  return { node: n, announcer: a };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('five nodes on loopback: discover, skip a malicious provider, fetch verified bytes; a mirror propagates only after verifying', async (t) => {
  const dir = tmpDir(t);
  const KERNEL = Buffer.alloc(100_000, 5);
  // Origin provider (real daemon) and the bootstrap node.
  const origin = await start(t, join(dir, 'origin'));
  putIncoming(origin, 'stable', 'x86_64', { vmlinuz: KERNEL, 'initrd.img': Buffer.from('initrd 1\n') });
  putIncoming(origin, 'testing', 'x86_64', { vmlinuz: Buffer.from('other channel') });
  await origin.rescan();
  const boot = await node(t);
  const bootAddr = boot.listenAddrs()[0]!;
  assert.match(bootAddr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/);
  const list = (): Array<{ channel: string; arch: string }> => origin.releases.list().map((r) => ({ channel: r.channel, arch: r.arch }));
  const o = await provider(t, bootAddr, origin.url, list);

  // Two verifying mirrors of the origin, each announcing what it serves (verified) only.
  const mirrors = [];
  for (const name of ['m1', 'm2']) {
    const m = await startMirror({
      dataDir: join(dir, name),
      host: '127.0.0.1',
      port: 0,
      upstreams: [origin.url],
      fingerprint: origin.identity.fingerprint,
      requireLog: origin.vkey,
      intervalMs: 0,
      rateLimitPerIp: 0,
      logger: pino({ level: 'silent' }),
    });
    t.after(() => m.close());
    await m.poll();
    const p = await provider(t, bootAddr, m.url, () => m.mirror.list().map((r) => ({ channel: r.channel, arch: r.arch })));
    mirrors.push({ m, p });
  }

  // A malicious provider: announced like the others, serving a forged manifest (and otherwise the origin's bytes).
  const evil = createServer((req, res) => {
    void fetch(origin.url + req.url!).then(async (r) => {
      let body = Buffer.from(await r.arrayBuffer());
      if (req.url!.endsWith('/manifest.json')) body = Buffer.from(body.toString('utf8').replace('"initrd.img"', '"initrd.imh"'));
      res.writeHead(r.status, { 'content-type': 'application/octet-stream' }).end(body);
    });
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => evil.close(() => r())));
  evil.on('connection', (s) => t.after(() => s.destroy()));
  const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
  const e = await provider(t, bootAddr, evilUrl, list);

  // A client node finds all four providers of stable/x86_64, URLs from their signed peer records.
  const client = await node(t, { bootstrap: [bootAddr] });
  const want = new Set([origin.url + '/', mirrors[0]!.m.url + '/', mirrors[1]!.m.url + '/', evilUrl]);
  const found = await until('all four providers', async () => {
    const f = await discoverProviders(client, { channel: 'stable', arch: 'x86_64', timeoutMs: 5_000, enough: 4 });
    return f.length >= 4 ? f : undefined;
  });
  assert.deepEqual(new Set(found.map((f) => f.url)), want);
  const byUrl = new Map(found.map((f) => [f.url, f.peerId]));
  assert.equal(byUrl.get(origin.url + '/'), o.node.peerId);
  assert.equal(byUrl.get(evilUrl), e.node.peerId);
  // Nobody provides another channel's key.
  await assertRejectsCode(discoverProviders(client, { channel: 'nightly', arch: 'x86_64', timeoutMs: 1_500 }), 'ERR_DISCOVERY_NO_PROVIDER');

  // The real CLI client: custody fetch --discover verifies everything; the malicious provider is found, refused
  // (its manifest does not verify) and skipped.
  const data = join(dir, 'client');
  const r = await spawnCli(
    ['fetch', '--discover', '--bootstrap', bootAddr, '--data', data, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', origin.identity.fingerprint, '--require-log', origin.vkey, '--output', join(dir, 'out'), '--discover-timeout', '20s', '--json'],
    { cwd: dir },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(join(dir, 'out', 'vmlinuz')).equals(KERNEL));
  assert.match(r.stderr, new RegExp(`custody: discovered ${evilUrl.replace(/[.]/g, '\\.')}`));
  assert.match(r.stderr, new RegExp(`warning: ${evilUrl.replace(/[.]/g, '\\.')}: manifest refused: .*\\[ERR_`));
  const out = JSON.parse(r.stdout) as { provider: string; files: Array<{ provider: string }> };
  assert.notEqual(out.provider, evilUrl);
  // The peers that delivered verified bytes are ranked first next time; the malicious one is not among them.
  const ranking = JSON.parse(readFileSync(join(data, 'p2p', 'providers.json'), 'utf8')) as { verified: Record<string, number> };
  assert.ok(!(e.node.peerId in ranking.verified));
  assert.ok(Object.keys(ranking.verified).length >= 1);

  // `custody discover` prints MANIFEST_URL lines.
  const d = await spawnCli(['discover', '--channel', 'stable', '--arch', 'x86_64', '--bootstrap', bootAddr, '--ephemeral', '--timeout', '20s'], { cwd: dir });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^MANIFEST_URL=http:\/\/127\.0\.0\.1:\d+\/stable\/x86_64\/manifest\.json$/m);

  // custody install --discover: the same, into an install target (in-process CLI, same code path).
  const inst = await cli(
    ['install', '--discover', '--bootstrap', bootAddr, '--ephemeral', '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', origin.identity.fingerprint, '--require-log', origin.vkey, '--target', join(dir, 'target')],
    { cwd: dir },
  );
  assert.equal(inst.code, 0, inst.stderr);
  assert.match(inst.stdout, /^INSTALLED stable\/x86_64/m);
  assert.ok(readFileSync(join(dir, 'target', 'current', 'vmlinuz')).equals(KERNEL));

  // Mirror propagation: a new origin release reaches a mirror only through its (verifying) poll.
  putIncoming(origin, 'stable', 'x86_64', { vmlinuz: Buffer.alloc(100_000, 6), 'initrd.img': Buffer.from('initrd 2\n') });
  await origin.rescan();
  const m1 = mirrors[0]!.m;
  const before = (await get(m1, '/stable/x86_64/manifest.json')).body;
  assert.ok(!before.equals((await get(origin, '/stable/x86_64/manifest.json')).body));
  assert.deepEqual((await m1.poll()).updated, ['stable/x86_64']);
  assert.ok((await get(m1, '/stable/x86_64/manifest.json')).body.equals((await get(origin, '/stable/x86_64/manifest.json')).body));

  // m2 still serves the old release: a client given every provider found (stale mirror and malicious one
  // included) ends with the newest verified release.
  const all = await discoverProviders(client, { channel: 'stable', arch: 'x86_64', timeoutMs: 10_000, enough: 4 });
  const newest = await fetchRelease({
    providers: all.map((f) => f.url),
    channel: 'stable',
    arch: 'x86_64',
    trust: { fingerprint: origin.identity.fingerprint },
    requireLog: origin.vkey,
    outputDir: join(dir, 'out2'),
    now: () => new Date(),
  });
  assert.equal(newest.manifest.digest, origin.releases.get('stable', 'x86_64')!.manifest.digest);
  assert.ok(readFileSync(join(dir, 'out2', 'vmlinuz')).equals(Buffer.alloc(100_000, 6)));
});

test('a provider that leaves is no longer returned once its record TTL passed; one that stays is re-announced', async (t) => {
  const boot = await node(t, { ttlMs: TTL_MS });
  const bootAddr = boot.listenAddrs()[0]!;
  const list = (): Array<{ channel: string; arch: string }> => [{ channel: 'stable', arch: 'x86_64' }];
  const stays = await provider(t, bootAddr, 'http://127.0.0.1:9/', list, TTL_MS);
  const leaves = await provider(t, bootAddr, 'http://127.0.0.1:10/', list, TTL_MS);
  const ids = async (): Promise<Set<string>> => {
    const out = new Set<string>();
    for await (const p of boot.findProviders('stable', 'x86_64', AbortSignal.timeout(3_000))) out.add(p.peerId);
    return out;
  };
  await until('both records', async () => {
    const s = await ids();
    return s.has(stays.node.peerId) && s.has(leaves.node.peerId) ? true : undefined;
  });
  const announcedAt = Date.now();
  await leaves.announcer.stop();
  await leaves.node.stop();
  // Twice the TTL later the departed provider is gone, the other one (re-announced before expiry) is still there.
  await until('the departed provider to expire', async () => {
    const s = await ids();
    return s.has(stays.node.peerId) && !s.has(leaves.node.peerId) ? true : undefined;
  }, 15 * TTL_MS);
  // Past twice the TTL, the provider that stayed is still found: it re-announced before its record expired.
  await new Promise((r) => setTimeout(r, Math.max(0, announcedAt + 2 * TTL_MS + 500 - Date.now())));
  assert.ok((await ids()).has(stays.node.peerId));
});

test('custody serve --dht and custody serve --mirror --dht (real processes) announce their URLs; the banner gives the bootstrap multiaddr', async (t) => {
  const dir = tmpDir(t);
  const o = await serveChild(t, dir, ['--data', join(dir, 'origin'), '--workers', '1', '--dht']);
  const p2p = (o.info as unknown as { p2p: { peer_id: string; listen: string[] } }).p2p;
  assert.match(p2p.listen[0]!, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${p2p.peer_id}$`));
  // The persistent peer key (0600) keeps the peer id across restarts.
  assert.equal(statSync(join(dir, 'origin', 'p2p', 'peer.key')).mode & 0o777, 0o600);
  const m = await serveChild(t, dir, [
    '--data', join(dir, 'mirror'), '--mirror', o.info.url, '--root-fingerprint', o.info.trust_fingerprint, '--require-log', o.info.log_vkey,
    '--mirror-interval', '500ms', '--dht', '--bootstrap', p2p.listen[0]!, '--ephemeral',
  ]);
  const client = await node(t, { bootstrap: [p2p.listen[0]!] });
  const sample = o.info.sample!;
  let last: string[] = [];
  const urls = await until('origin and mirror', async () => {
    const f = await discoverProviders(client, { channel: sample.channel, arch: sample.arch, timeoutMs: 5_000, enough: 2 });
    last = f.map((x) => x.url);
    return f.length >= 2 ? new Set(last) : undefined;
  }, 90_000).catch((e: Error) => {
    throw new Error(`${e.message}; found ${last.join(' ')}\norigin stderr: ${o.stderr().slice(-2000)}\nmirror stderr: ${m.stderr().slice(-2000)}`);
  });
  assert.deepEqual(urls, new Set([o.info.url + '/', m.info.url + '/']));
  // SIGTERM: both stop cleanly (the announcer withdraws, the node stops).
  o.proc.kill('SIGTERM');
  m.proc.kill('SIGTERM');
  assert.equal(await o.exited, 0);
  assert.equal(await m.exited, 0);
});

test('discovery refuses bad multiaddrs and a node that cannot listen, with codes', async () => {
  await assertRejectsCode(startP2pNode({ bootstrap: ['not-a-multiaddr'] }), 'ERR_DISCOVERY_MULTIADDR');
  await assertRejectsCode(startP2pNode({ listen: ['/ip4/192.0.2.1/tcp/1'] }), 'ERR_DISCOVERY_START');
});
