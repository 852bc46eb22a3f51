/**
 * bench/sections/p2p — mirrors and discovery on loopback (issue 14, docs/discovery.md):
 *  1. time from the start of a discovery client (a fresh libp2p node, as `custody discover` starts one) to the first
 *     verified provider — discovered over the DHT, its manifest fetched and verified (root, signature, log proof) —
 *     with 1, 10 and 50 provider nodes (several libp2p nodes per process: they all announce the origin's URL);
 *  2. aggregate throughput of 32 concurrent clients each downloading one 64 MiB artifact from 1 mirror vs spread over
 *     3 mirrors (each mirror a real `custody serve --mirror` process; clients stream and hash in this process);
 *  3. mirror propagation delay: from an origin release to the mirror serving it (poll interval stated).
 * --quick: 1/3/5 providers, 4 MiB, 8 clients. On a 2-core machine the scale-out figure measures CPU sharing as
 * much as anything: read it next to the core count in RESULTS.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { urlToMultiaddr } from '../../src/discovery/addresses.ts';
import { discoverProviders, startAnnouncer } from '../../src/discovery/discover.ts';
import { startP2pNode, type P2pNode } from '../../src/discovery/node.ts';
import { startDaemon, type RunningDaemon } from '../../src/server/daemon.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function release(d: RunningDaemon, files: Record<string, Buffer>): Promise<void> {
  const dir = join(d.incomingDir, 'stable', 'x86_64');
  mkdirSync(dir, { recursive: true });
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
  await d.rescan();
}

/** firstVerified: a fresh client node → first provider found → its manifest verified. */
async function firstVerified(ctx: BenchContext, d: RunningDaemon, providers: number): Promise<{ ms: number; runs: number[] }> {
  const nodes: P2pNode[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    const boot = await startP2pNode({});
    nodes.push(boot);
    const bootAddr = boot.listenAddrs()[0]!;
    for (let i = 0; i < providers; i++) {
      const n = await startP2pNode({ bootstrap: [bootAddr], announce: [urlToMultiaddr(d.url)] });
      nodes.push(n);
      const a = startAnnouncer(n, { list: () => [{ channel: 'stable', arch: 'x86_64' }], checkMs: 60_000 });
      stops.push(a.stop);
      await a.settled();
    }
    ctx.log(`${providers} provider node(s) announced`);
    const runs: number[] = [];
    for (let r = 0; r < (ctx.quick ? 2 : 5); r++) {
      const t0 = performance.now();
      const client = await startP2pNode({ bootstrap: [bootAddr] });
      try {
        const found = await discoverProviders(client, { channel: 'stable', arch: 'x86_64', timeoutMs: 60_000, enough: 1 });
        await fetchRelease({
          providers: [found[0]!.url],
          channel: 'stable',
          arch: 'x86_64',
          trust: { fingerprint: d.identity.fingerprint },
          requireLog: d.vkey,
          artifacts: [],
          outputDir: join(ctx.scratch, `fv-${providers}-${r}`),
          now: () => new Date(),
        });
        runs.push(performance.now() - t0);
      } finally {
        await client.stop();
      }
    }
    return { ms: median(runs), runs };
  } finally {
    for (const s of stops) await s().catch(() => undefined);
    await Promise.allSettled(nodes.map((n) => n.stop()));
  }
}

function spawnMirror(ctx: BenchContext, d: RunningDaemon, name: string, intervalMs: number): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(
    process.execPath,
    [
      '--import', TSX, CLI_MAIN, 'serve', '--data', join(ctx.scratch, name), '--port', '0', '--json', '--log-level', 'error',
      '--mirror', d.url, '--root-fingerprint', d.identity.fingerprint, '--require-log', d.vkey, '--mirror-interval', `${intervalMs}ms`, '--rate-limit-per-ip', '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve({ proc, url: (JSON.parse(out.split('\n')[0]!) as { url: string }).url });
    });
    proc.on('exit', (c) => reject(new Error(`mirror exited ${c}: ${err}`)));
  });
}

function getBody(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function until(f: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f().catch(() => false))) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** download streams and hashes one URL; returns the bytes received. */
function download(url: string, sha: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      const h = createHash('sha256');
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        h.update(c);
      });
      res.on('end', () => (h.digest('hex') === sha ? resolve(n) : reject(new Error('hash mismatch'))));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function run(ctx: BenchContext): Promise<string> {
  const d = await startDaemon({ dataDir: join(ctx.scratch, 'origin'), host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), rateLimitPerIp: 0, sample: false });
  const mirrors: ChildProcess[] = [];
  try {
    const mib = ctx.quick ? 4 : 64;
    const big = Buffer.alloc(mib * 1024 * 1024, 7);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    const sha = createHash('sha256').update(big).digest('hex');
    await release(d, { 'rootfs.img': big });

    const lines: string[] = ['### Discovery to the first verified provider', '', '| provider nodes | median | runs (ms) |', '|---|---|---|'];
    for (const n of ctx.quick ? [1, 3, 5] : [1, 10, 50]) {
      const r = await firstVerified(ctx, d, n);
      lines.push(`| ${n} | ${r.ms.toFixed(0)} ms | ${r.runs.map((x) => x.toFixed(0)).join(', ')} |`);
    }
    lines.push('', 'From a fresh client node (start, bootstrap dial, DHT lookup, dial + identify of the provider) to its manifest verified (root by fingerprint, signature, log proof).');

    // Three mirror processes of the origin.
    const ms: Array<{ proc: ChildProcess; url: string }> = [];
    for (const name of ['m1', 'm2', 'm3']) {
      const m = await spawnMirror(ctx, d, name, 500);
      mirrors.push(m.proc);
      ms.push(m);
    }
    const manifest = (await getBody(`${d.url}/stable/x86_64/manifest.json`)).toString();
    for (const m of ms) await until(async () => (await getBody(`${m.url}/stable/x86_64/manifest.json`)).toString() === manifest, 120_000);
    ctx.log('3 mirrors serve the release');
    const clients = ctx.quick ? 8 : 32;
    const agg = async (urls: string[]): Promise<number> => {
      const t0 = performance.now();
      const got = await Promise.all(Array.from({ length: clients }, (_, i) => download(`${urls[i % urls.length]}/blobs/sha256/${sha}`, sha)));
      const s = (performance.now() - t0) / 1000;
      return got.reduce((a, b) => a + b, 0) / 1024 / 1024 / s;
    };
    await agg([ms[0]!.url]); // warm caches
    const one: number[] = [];
    const three: number[] = [];
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
      one.push(await agg([ms[0]!.url]));
      three.push(await agg(ms.map((m) => m.url)));
    }
    const o = Math.max(...one);
    const t = Math.max(...three);
    lines.push(
      '',
      `### Aggregate download: ${clients} concurrent clients × one ${mib} MiB artifact (hashed by each client)`,
      '',
      '| mirrors | MiB/s (best) | ratio |',
      '|---|---|---|',
      `| 1 | ${o.toFixed(0)} | 1.00× |`,
      `| 3 | ${t.toFixed(0)} | ${(t / o).toFixed(2)}× |`,
    );

    // Propagation: origin release → mirror m1 serves it (poll interval 500 ms).
    const delays: number[] = [];
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
      const small = Buffer.from(`release ${i} ${Date.now()}\n`);
      const t0 = performance.now();
      await release(d, { 'rootfs.img': big, 'notes.txt': small });
      const want = (await getBody(`${d.url}/stable/x86_64/manifest.json`)).toString();
      await until(async () => (await getBody(`${ms[0]!.url}/stable/x86_64/manifest.json`)).toString() === want, 120_000);
      delays.push(performance.now() - t0);
    }
    lines.push(
      '',
      '### Mirror propagation delay',
      '',
      `Origin release (sign, log, serve) to the mirror serving it, mirror polling every 500 ms (conditional GET, then the full verification of a ${mib} MiB release): median ${median(delays).toFixed(0)} ms (${delays.map((x) => x.toFixed(0)).join(', ')} ms).`,
    );
    return lines.join('\n');
  } finally {
    for (const p of mirrors) p.kill('SIGTERM');
    await d.close();
  }
}

const section: BenchSection = { title: 'Mirrors and discovery (libp2p DHT, verifying mirrors)', run };
export default section;
