/**
 * bench/sections/dashboard — the operator dashboard (docs/dashboard.md) in headless Chromium (Debian's chromium via
 * playwright-core): time from page load to "release verified" (the releases page fetches the root, the manifest and
 * its proof, checks the root, the targets threshold, target, expiry, the checkpoint and the inclusion proof with
 * WebCrypto) for a release of 5 artifacts logged after 10^6 entries (10^3 in --quick); and the page weight, the gzip
 * size of every /ui/ asset (target ≤ 150 KiB).
 *
 * The big log is built in-process through the daemon's own `POST /log/add` (fastify inject, 512 in flight, so the
 * sequencer's group commit writes large batches to SQLite): the same storage path as production, no network. Each
 * timed run is a fresh page in one browser profile (pins kept after the first, as for a returning operator);
 * the median of the runs is reported. Skipped where chromium is missing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { startDaemon } from '../../src/server/daemon.ts';
import { chromiumMissing, launchChromium } from '../../test/support/chromium.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const ASSETS = ['/ui/', '/ui/app.js', '/ui/app.css', '/ui/favicon.svg'];

async function run(ctx: BenchContext): Promise<string> {
  const missing = chromiumMissing();
  if (missing !== undefined) return `_${missing}_\n`;
  const entries = ctx.quick ? 1_000 : 1_000_000;
  const runs = ctx.quick ? 3 : 7;
  const data = join(ctx.scratch, 'dashboard-data');
  const d = await startDaemon({ dataDir: data, host: '127.0.0.1', port: 0, logger: pino({ level: 'error' }), rateLimitPerIp: 0, sample: false });
  try {
    const auth = { authorization: `Bearer ${new TextDecoder().decode(d.identity.token)}` };
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries) {
        const i = next++;
        const r = await d.app.inject({ method: 'POST', url: '/log/add', headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: Buffer.from(`bench entry ${i}\n`) });
        if (r.statusCode !== 200) throw new Error(`log add ${i}: ${r.statusCode} ${r.body.slice(0, 200)}`);
        if (i % 100_000 === 0 && i > 0) ctx.log(`dashboard: ${i} entries`);
      }
    };
    await Promise.all(Array.from({ length: 512 }, worker));
    const buildS = (performance.now() - t0) / 1000;
    ctx.log(`dashboard: log of ${entries} entries built in ${buildS.toFixed(1)} s`);
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
    ctx.record('dashboard.pageweight.mib', weight / 1024 / 1024, `${(weight / 1024).toFixed(1)} KiB gzip`);
    return [
      `Log of ${entries.toLocaleString('en')} entries (built in ${buildS.toFixed(1)} s through POST /log/add in-process), then a release of 5 artifacts at index ${rel?.index}.`,
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
