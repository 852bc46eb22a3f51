/**
 * bench/sections/tuf — a release through the daemon's TUF repository (docs/tuf.md): our client (`custody fetch
 * --tuf`, client/tuf-client) and tuf-js 5's Updater, next to the manifest client (`custody fetch`,
 * client/provider-client) fetching the same 64 MiB artifact (--quick: 4 MiB) from the same in-process daemon on
 * loopback, each from a fresh state directory, interleaved, best of N. Informative: no target is set.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Updater } from 'tuf-js';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { tufFetch } from '../../src/client/tuf-client.ts';
import { randomBytes } from '../../src/crypto/index.ts';
import { startDaemon } from '../../src/server/daemon.ts';
import type { BenchContext, BenchSection } from '../types.ts';

async function best(n: number, f: () => Promise<void>): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

async function run(ctx: BenchContext): Promise<string> {
  const mib = ctx.quick ? 4 : 64;
  const dir = join(ctx.scratch, 'tuf');
  const d = await startDaemon({ dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), rateLimitPerIp: 0, sample: false, signingApi: false });
  try {
    const incoming = join(d.incomingDir, 'stable', 'x86_64');
    mkdirSync(incoming, { recursive: true });
    writeFileSync(join(incoming, 'rootfs.img'), randomBytes(mib * 1024 * 1024));
    await d.rescan();
    const root = d.identity.root;
    let i = 0;
    const fresh = (what: string): string => join(dir, `${what}-${i++}`);
    const ours = (): Promise<void> =>
      tufFetch({ url: `${d.url}/tuf`, channel: 'stable', arch: 'x86_64', trust: { root }, stateDir: fresh('state'), outputDir: fresh('out'), now: () => new Date() }).then(() => undefined);
    const tufjs = async (): Promise<void> => {
      const md = fresh('md');
      const td = fresh('td');
      mkdirSync(md);
      mkdirSync(td);
      writeFileSync(join(md, 'root.json'), d.identity.rootBytes);
      const u = new Updater({ metadataBaseUrl: `${d.url}/tuf`, targetBaseUrl: `${d.url}/tuf/targets`, metadataDir: md, targetDir: td });
      const info = await u.getTargetInfo('stable/x86_64/rootfs.img');
      if (info === undefined) throw new Error('tuf-js found no target');
      await u.downloadTarget(info);
    };
    const manifest = (): Promise<void> =>
      fetchRelease({ providers: [d.url], channel: 'stable', arch: 'x86_64', trust: { root }, outputDir: fresh('m'), now: () => new Date() }).then(() => undefined);
    await ours();
    await tufjs();
    await manifest();
    const n = ctx.quick ? 2 : 5;
    const times = { ours: Infinity, tufjs: Infinity, manifest: Infinity };
    for (let k = 0; k < n; k++) {
      times.ours = Math.min(times.ours, await best(1, ours));
      times.tufjs = Math.min(times.tufjs, await best(1, tufjs));
      times.manifest = Math.min(times.manifest, await best(1, manifest));
    }
    ctx.log(`fetch --tuf ${times.ours.toFixed(0)} ms, tuf-js ${times.tufjs.toFixed(0)} ms, fetch (manifest) ${times.manifest.toFixed(0)} ms`);
    const row = (name: string, ms: number): string => `| ${name} | ${ms.toFixed(0)} | ${((mib / ms) * 1000).toFixed(0)} | ${(ms / times.manifest).toFixed(2)}× |`;
    return [
      `One release of a ${mib} MiB artifact from the daemon on loopback, fresh state each time, best of ${n}.`,
      '',
      '| client | ms | MiB/s | vs custody fetch (manifest) |',
      '|---|---:|---:|---:|',
      row('custody fetch --tuf (root, timestamp, snapshot, targets, download)', times.ours),
      row('tuf-js 5 Updater (refresh, getTargetInfo, downloadTarget)', times.tufjs),
      row('custody fetch (manifest, download)', times.manifest),
    ].join('\n');
  } finally {
    await d.close();
  }
}

const section: BenchSection = { title: 'TUF repository: fetch --tuf and tuf-js next to fetch', run };
export default section;
