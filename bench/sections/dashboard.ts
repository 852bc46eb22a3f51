/**
 * bench/sections/dashboard — the operator dashboard (docs/dashboard.md) in headless Chromium (Debian's chromium via
 * playwright-core): time from page load to "release verified" (the releases page fetches the root, the manifest and
 * its proof, checks the root, the targets threshold, target, expiry, the checkpoint and the inclusion proof with
 * WebCrypto) for a release of 5 artifacts logged after 10^6 entries (10^3 in --quick); and the page weight, the gzip
 * size of every /ui/ asset (target ≤ 150 KiB).
 *
 * The big log is built before the daemon starts, through the storage layer the daemon uses (log/storage-sqlite
 * `appendBatch`, DATA/log/log.db): real entries, every stored hash of the RFC 6962 tree, its full tiles and entry
 * bundles, in batches of 65,536 under the write lease, exactly what the sequencer's group commit writes. The daemon
 * then starts on that log as after a crash between the two commits: it finds entries no checkpoint covers, checks
 * and signs the tree head, and appends the release after them. (Through `POST /log/add` in-process, 1,000 entries
 * took 5.2 s on the loaded 2-core VM, about 1.5 h for 10^6: each add waits for its own inclusion proof.) Each timed
 * run is a fresh page in one browser profile (pins kept after the first, as for a returning operator); the median
 * of the runs is reported. Skipped where chromium is missing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { openSqliteStorage } from '../../src/log/storage-sqlite.ts';
import type { StoredTile } from '../../src/log/storage.ts';
import { startDaemon } from '../../src/server/daemon.ts';
import { hashLeaf, hashReaderFunc, storedHashes } from '../../src/tlog/merkle.ts';
import { ENTRY_BUNDLE_LEVEL, TILE_WIDTH, encodeEntryBundle, readTileData, tilesForSize } from '../../src/tlog/tile.ts';
import { chromiumMissing, launchChromium } from '../../test/support/chromium.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const ASSETS = ['/ui/', '/ui/app.js', '/ui/app.css', '/ui/favicon.svg'];
/** BULK_BATCH entries per appendBatch (a multiple of TILE_WIDTH, so every batch but the last ends on a bundle). */
const BULK_BATCH = 65_536;

/**
 * buildLog writes `n` entries (`bench entry <i>\n`) into a new SQLite log at `dir`/log.db, as the sequencer would:
 * stored hashes (RFC 6962 tree, golang.org/x/mod tlog layout), full tiles and entry bundles (c2sp.org/tlog-tiles),
 * one appendBatch per BULK_BATCH entries under the write lease, released at the end. No checkpoint: the daemon signs
 * the first one when it starts.
 */
async function buildLog(dir: string, n: number, log: (s: string) => void): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const storage = await openSqliteStorage(join(dir, 'log.db'));
  const holder = { owner: `bench-bulk-${process.pid}`, pid: process.pid, host: hostname() };
  try {
    await storage.acquireLease({ holder: { ...holder, expiresAt: Date.now() + 3_600_000 }, now: Date.now(), isDead: () => false });
    // Every stored hash in one buffer (fewer than 2n of them): the tree's interior nodes read earlier ones.
    const all = Buffer.alloc((2 * n + 64) * 32);
    let count = 0;
    const reader = hashReaderFunc((ix) => ix.map((i) => all.subarray(i * 32, i * 32 + 32)));
    for (let start = 0; start < n; start += BULK_BATCH) {
      const end = Math.min(n, start + BULK_BATCH);
      const entries: Uint8Array[] = [];
      const hashes: Uint8Array[] = [];
      const hashStart = count;
      for (let i = start; i < end; i++) {
        const e = Buffer.from(`bench entry ${i}\n`);
        entries.push(e);
        for (const h of storedHashes(i, hashLeaf(e), reader)) {
          all.set(h, count * 32);
          hashes.push(all.subarray(count * 32, ++count * 32));
        }
      }
      const tiles: StoredTile[] = [];
      for (const t of tilesForSize(start, end)) {
        if (t.width !== TILE_WIDTH) continue;
        tiles.push({ level: t.level, index: t.index, data: readTileData(t, reader) });
        if (t.level === 0) {
          const from = t.index * TILE_WIDTH - start;
          tiles.push({ level: ENTRY_BUNDLE_LEVEL, index: t.index, data: encodeEntryBundle(entries.slice(from, from + TILE_WIDTH)) });
        }
      }
      await storage.appendBatch({ owner: holder.owner, oldSize: start, entries, hashStart, hashes, tiles });
      if (end % 262_144 === 0) log(`dashboard: ${end} entries`);
    }
    await storage.releaseLease(holder.owner);
  } finally {
    await storage.close();
  }
}

async function run(ctx: BenchContext): Promise<string> {
  const missing = chromiumMissing();
  if (missing !== undefined) return `_${missing}_\n`;
  const entries = ctx.quick ? 1_000 : 1_000_000;
  const runs = ctx.quick ? 3 : 7;
  const data = join(ctx.scratch, 'dashboard-data');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const t0 = performance.now();
  await buildLog(join(data, 'log'), entries, ctx.log);
  const buildS = (performance.now() - t0) / 1000;
  ctx.log(`dashboard: log of ${entries} entries built in ${buildS.toFixed(1)} s`);
  const t1 = performance.now();
  const d = await startDaemon({ dataDir: data, host: '127.0.0.1', port: 0, logger: pino({ level: 'error' }), rateLimitPerIp: 0, sample: false });
  const startS = (performance.now() - t1) / 1000;
  try {
    const dir = join(d.incomingDir, 'stable', 'x86_64');
    mkdirSync(dir, { recursive: true });
    for (const [name, size] of [['vmlinuz', 8 << 20], ['initramfs.img', 4 << 20], ['rootfs.img', 1 << 20], ['boot.cfg', 512], ['notes.txt', 4096]] as const) {
      writeFileSync(join(dir, name), Buffer.alloc(size, name));
    }
    await d.rescan();
    const rel = d.releases.get('stable', 'x86_64');

    let weight = 0;
    const rows: string[] = [];
    for (const a of ASSETS) {
      const body = Buffer.from(await (await fetch(d.url + a)).arrayBuffer());
      const gz = gzipSync(body, { level: 9 }).length;
      weight += gz;
      rows.push(`| \`${a}\` | ${body.length} | ${gz} |`);
    }

    const b = await launchChromium();
    const times: number[] = [];
    try {
      for (let i = 0; i < runs; i++) {
        const page = await b.browser.newPage();
        const start = performance.now();
        await page.goto(`${d.url}/ui/#/releases`);
        await page.click('button[data-verify="stable-x86_64"]', { timeout: 120_000 });
        const v = await page.waitForSelector('#v-stable-x86_64 [data-verdict]', { timeout: 120_000 });
        const verdict = await v.getAttribute('data-verdict');
        times.push(performance.now() - start);
        if (verdict !== 'verified') throw new Error(`run ${i}: verdict ${verdict}: ${await v.textContent()}`);
        await page.close();
      }
    } finally {
      await b.close();
    }
    times.sort((x, y) => x - y);
    const median = times[Math.floor(times.length / 2)]!;
    ctx.record('dashboard.verify.ms', median, `${runs} runs, ${times[0]!.toFixed(0)}–${times[times.length - 1]!.toFixed(0)} ms; log ${entries} entries, release at index ${rel?.index}`);
    ctx.record('dashboard.pageweight.kib', weight / 1024, `${weight} bytes gzip -9`);
    return [
      `Log of ${entries.toLocaleString('en')} entries (built in ${buildS.toFixed(1)} s through the SQLite storage's appendBatch, in batches of ${BULK_BATCH.toLocaleString('en')}; the daemon then started on it in ${startS.toFixed(1)} s, signing its first checkpoint), then a release of 5 artifacts at index ${rel?.index}.`,
      '',
      '| measure | value |',
      '|---|---|',
      `| page load → "release verified", median of ${runs} | ${median.toFixed(0)} ms (min ${times[0]!.toFixed(0)}, max ${times[times.length - 1]!.toFixed(0)}) |`,
      `| page weight, gzip -9 of all /ui/ assets (target ≤ 150 KiB) | ${(weight / 1024).toFixed(1)} KiB |`,
      '',
      '| asset | bytes | gzip |',
      '|---|---|---|',
      ...rows,
      '',
    ].join('\n');
  } finally {
    await d.close();
  }
}

const section: BenchSection = { title: 'Dashboard: in-browser verification and page weight', run };
export default section;
