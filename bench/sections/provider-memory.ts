/**
 * bench/sections/provider-memory — the memory of the provider daemon under a download storm: 1,000 concurrent
 * downloads of a 1 GiB artifact (issue #9's target: RSS under 300 MiB), measured as the sum of the resident set
 * sizes (/proc/<pid>/status VmRSS) of every daemon process — the leader and each worker — sampled every 100 ms.
 *
 * Setup: `custody serve` as an operator runs it: the built CLI (`npm run build` first, then `node dist/cli/main.js`;
 * the tsx loader of `npm start` would add about 25 MiB to every process), default worker count, rate limits off. The
 * load is wrk with 1,000
 * connections, each asking for the whole artifact, so every connection is mid-download for the whole run (wrk reads
 * as fast as it can; what the daemon holds per connection is its read chunk and what the socket has not taken).
 * Skipped (with the reason) where wrk or /proc is missing.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveJson } from '../serve-json.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const CLI_BUILT = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CONNECTIONS = 1000;

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

const section: BenchSection = {
  title: 'Provider daemon memory: 1,000 concurrent downloads of a 1 GiB artifact',
  async run(ctx: BenchContext): Promise<string> {
    if (spawnSync('wrk', ['--version']).error !== undefined) return 'Skipped: wrk not installed (apt-get install wrk).';
    if (!existsSync('/proc/self/status')) return 'Skipped: no /proc to read resident set sizes from.';
    const seconds = ctx.quick ? 5 : 15;
    const data = join(ctx.scratch, 'memory-data');
    const inc = join(data, 'incoming', 'stable', 'x86_64');
    mkdirSync(inc, { recursive: true });
    // 1 GiB of a cheap pattern (not sparse: the blob store copies and hashes it like any artifact).
    const chunk = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < chunk.length; i += 4096) chunk[i] = (i >> 12) & 0xff;
    const fd = openSync(join(inc, 'rootfs.img'), 'w');
    for (let i = 0; i < 128; i++) writeSync(fd, chunk);
    closeSync(fd);

    ctx.log('npm run build, then custody serve from dist/ (imports and signs the 1 GiB artifact)');
    execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'ignore' });
    const served = await serveJson([CLI_BUILT], data, ['--no-sample']);
    const s = { url: served.banner.url, pids: [served.proc.pid!, ...served.banner.workers] };
    try {
      const path = '/stable/x86_64/rootfs.img';
      const idle = s.pids.map(rssMiB);
      let peak = 0;
      const peakPer = s.pids.map(() => 0);
      const timer = setInterval(() => {
        const now = s.pids.map(rssMiB);
        now.forEach((v, i) => (peakPer[i] = Math.max(peakPer[i]!, v)));
        peak = Math.max(peak, now.reduce((a, b) => a + b, 0));
      }, 100);
      ctx.log(`wrk -c${CONNECTIONS} for ${seconds} s on the 1 GiB artifact, sampling RSS`);
      const out = await new Promise<string>((resolve, reject) =>
        execFile('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '60s', s.url + path], { encoding: 'utf8' }, (e, stdout) =>
          e ? reject(new Error(`wrk failed: ${e.message}`)) : resolve(stdout),
        ),
      );
      clearInterval(timer);
      const t = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(out);
      const mibps = Number(t?.[1] ?? NaN) * ({ B: 1 / 2 ** 20, KB: 1 / 1024, MB: 1, GB: 1024 }[t?.[2] ?? 'B'] ?? NaN);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '—');
      ctx.record('provider.memory.rss1000.mib', peak, `${s.pids.length} processes, ${fmt(mibps)} MiB/s served`);
      const names = s.pids.map((_, i) => (i === 0 ? 'leader' : `worker ${i}`));
      return [
        `custody serve built (node dist/cli/main.js), ${s.pids.length - 1} workers; wrk -t2 -c${CONNECTIONS} -d${seconds}s on one 1 GiB artifact`,
        '(every connection mid-download throughout);',
        `RSS of every daemon process from /proc, sampled every 100 ms. Target: the sum under 300 MiB.`,
        '',
        '| | idle RSS (MiB) | peak RSS under load (MiB) |',
        '|---|---|---|',
        ...names.map((n, i) => `| ${n} | ${fmt(idle[i]!)} | ${fmt(peakPer[i]!)} |`),
        `| **all processes** | ${fmt(idle.reduce((a, b) => a + b, 0))} | **${fmt(peak)}** ${peak < 300 ? '✅' : '❌'} |`,
        '',
        `Aggregate transfer ${fmt(mibps)} MiB/s; socket errors: ${sock ? sock.slice(1).join('/') : '0/0/0/0'} (connect/read/write/timeout).`,
      ].join('\n');
    } finally {
      await served.stop();
    }
  },
};

export default section;
