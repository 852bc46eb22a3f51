/**
 * bench/sections/provider — the provider daemon's read path next to nginx serving the same files, both loaded by
 * wrk on loopback in the same run: a small signed manifest, a 4 KiB artifact and a 1 MiB artifact (requests/s,
 * MiB/s, p99). Then the boot client: `custody fetch` (manifest + proof + artifact, hashed while streaming, renamed
 * after the check) against `curl -o` followed by `sha256sum` on the same 256 MiB artifact, five interleaved pairs.
 *
 * Setup: `custody serve` is the real CLI process, the built bin as users run it, with its default `--workers` (one per core, as nginx; a leader
 * process besides them signs and logs), rate limits off; nginx runs with one worker per core, sendfile on, access
 * log off — its usual static-file configuration. wrk uses 2 threads and 64
 * connections for 10 s (3 s in --quick). A bare node:http server on as many cluster workers (bench/http-ceiling) is
 * measured in the same run: the ceiling of node:http here. Everything shares this machine's cores, so the ratios, not the absolute
 * figures, carry over. Skipped (with the reason in RESULTS.md) where nginx or wrk is missing.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveJson } from '../serve-json.ts';
import { startCeiling } from '../start-ceiling.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIST_BIN = fileURLToPath(new URL('../../dist/cli/custody.cjs', import.meta.url));
/** FETCH_RUNS: interleaved fetch/curl pairs; the median pair is the figure (writeback makes single runs vary 2×). */
const FETCH_RUNS = 5;

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, cmd);
    if (spawnSync('test', ['-x', p]).status === 0) return p;
  }
  return undefined;
}

interface Wrk {
  rps: number;
  mibps: number;
  p99ms: number;
  errors: number;
}

/** wrk runs wrk and parses Requests/sec, Transfer/sec and the 99% latency line of --latency. */
function wrk(url: string, seconds: number): Wrk {
  const out = execFileSync('wrk', ['-t2', '-c64', `-d${seconds}s`, '--latency', url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const t = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(out);
  const unit = { B: 1 / 2 ** 20, KB: 1 / 1024, MB: 1, GB: 1024 }[t?.[2] ?? 'B'] ?? NaN;
  const mibps = Number(t?.[1] ?? NaN) * unit;
  const p = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99ms = Number(p?.[1] ?? NaN) * ({ us: 0.001, ms: 1, s: 1000 }[p?.[2] ?? 'ms'] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, mibps, p99ms, errors };
}

function startNginx(dir: string, root: string, port: number): { stop: () => void } {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root root;\n' : ''}worker_processes ${cpus().length};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} error;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/json json; application/octet-stream bin; }
  default_type application/octet-stream;
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`,
  );
  const proc = spawn(which('nginx')!, ['-c', conf, '-p', dir], { stdio: 'ignore' });
  return { stop: () => proc.kill('SIGQUIT') };
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—';
}

const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—');

const section: BenchSection = {
  title: 'Provider daemon (custody serve) vs nginx; custody fetch vs curl + sha256sum',
  async run(ctx: BenchContext): Promise<string> {
    const missing = ['nginx', 'wrk', 'curl', 'sha256sum'].filter((c) => which(c) === undefined);
    if (missing.length > 0) return `Skipped: ${missing.join(', ')} not installed (apt-get install nginx wrk curl).`;
    const seconds = ctx.quick ? 3 : 10;
    const data = join(ctx.scratch, 'provider-data');
    const inc = join(data, 'incoming', 'stable', 'x86_64');
    mkdirSync(inc, { recursive: true });
    const small = Buffer.alloc(4096, 1);
    const mib = Buffer.alloc(1024 * 1024, 2);
    const bigMiB = ctx.quick ? 32 : 256;
    const big = Buffer.alloc(bigMiB * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    writeFileSync(join(inc, 'small.bin'), small);
    writeFileSync(join(inc, 'one-mib.bin'), mib);
    writeFileSync(join(inc, 'rootfs.bin'), big);
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

    // The built CLI, as users run it (the package's bin, dist/cli/custody.cjs), not tsx compiling src/ at start: the
    // daemon and its workers, and custody fetch below.
    execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'ignore' });
    ctx.log('starting custody serve from the built bin (signs and logs the release at start)');
    const served = await serveJson([DIST_BIN], data);
    const s = { url: served.banner.url, fingerprint: served.banner.trust_fingerprint, vkey: served.banner.log_vkey, stop: served.stop };
    // nginx serves the same bytes: the manifest as served, and the artifacts.
    const webroot = join(ctx.scratch, 'nginx-root');
    mkdirSync(join(webroot, 'stable', 'x86_64'), { recursive: true });
    const manifest = Buffer.from(await (await fetch(`${s.url}/stable/x86_64/manifest.json`)).arrayBuffer());
    writeFileSync(join(webroot, 'stable', 'x86_64', 'manifest.json'), manifest);
    for (const [n, b] of [['small.bin', small], ['one-mib.bin', mib], ['rootfs.bin', big]] as const) {
      writeFileSync(join(webroot, 'stable', 'x86_64', n), b);
    }
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const nginx = startNginx(join(ctx.scratch, 'nginx'), webroot, port);
    const ngx = `http://127.0.0.1:${port}`;
    const rows: string[] = [];
    try {
      for (let i = 0; i < 50; i++) {
        if ((await fetch(`${ngx}/stable/x86_64/small.bin`).catch(() => undefined))?.ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const cases: Array<[string, string, string, string, string]> = [
        [`manifest.json (${manifest.length} B)`, '/stable/x86_64/manifest.json', '/stable/x86_64/manifest.json', 'provider.manifest.ratio', 'manifest'],
        ['artifact 4 KiB', `/blobs/sha256/${sha(small)}`, '/stable/x86_64/small.bin', 'provider.artifact4k.ratio', 'artifact4k'],
        ['artifact 1 MiB', `/blobs/sha256/${sha(mib)}`, '/stable/x86_64/one-mib.bin', 'provider.artifact1m.ratio', 'artifact1m'],
      ];
      for (const [what, ours, theirs, id, short] of cases) {
        ctx.log(`wrk ${what}: custody serve, then nginx, then the node:http ceiling (${seconds} s each)`);
        const a = wrk(s.url + ours, seconds);
        const b = wrk(ngx + theirs, seconds);
        // The ceiling serves the same bytes from a prepared response (bench/http-ceiling), started only for its turn
        // so that its idle workers take nothing from the others'.
        const file = join(webroot, theirs);
        const cport = port + 1;
        const ceiling = await startCeiling(cport, file);
        let c: Wrk;
        try {
          c = wrk(`http://127.0.0.1:${cport}/`, seconds);
        } finally {
          ceiling.stop();
        }
        ctx.record(id, a.rps / b.rps, `${fmt(a.rps)} vs ${fmt(b.rps)} req/s`);
        ctx.record(`provider.ceiling.${short}.ratio`, c.rps / b.rps, `bare node:http ${fmt(c.rps)} vs nginx ${fmt(b.rps)} req/s`);
        rows.push(
          `| ${what} | ${fmt(a.rps)} req/s, ${fmt(a.mibps, 1)} MiB/s, p99 ${fmt(a.p99ms, 1)} ms | ${fmt(b.rps)} req/s, ${fmt(b.mibps, 1)} MiB/s, p99 ${fmt(b.p99ms, 1)} ms | ${ratio(a.rps, b.rps)} | ${fmt(c.rps)} req/s (${ratio(c.rps, b.rps)}) | ${a.errors}/${b.errors} |`,
        );
      }

      // The boot client: download + verify vs curl + sha256sum, FETCH_RUNS interleaved pairs. Each command starts
      // after `sync`: curl leaves its 256 MiB unsynced, and on ext4 (data=ordered) the next fsync — fetch's — would
      // write those pages out too, so a single back-to-back pair measured the other command's writeback.
      ctx.log(`custody fetch ${bigMiB} MiB vs curl + sha256sum, ${FETCH_RUNS} interleaved runs`);
      const pairs: Array<{ ours: number; anchor: number }> = [];
      for (let run = 0; run < FETCH_RUNS; run++) {
        const out = join(ctx.scratch, 'fetch-out');
        const curlOut = join(ctx.scratch, 'curl.bin');
        rmSync(out, { recursive: true, force: true });
        rmSync(curlOut, { force: true });
        execFileSync('sync');
        const t0 = performance.now();
        execFileSync(
          process.execPath,
          [DIST_BIN, 'fetch', s.url, '--channel', 'stable', '--arch', 'x86_64', '--artifact', 'rootfs', '--root-fingerprint', s.fingerprint, '--require-log', s.vkey, '--output', out],
          { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] },
        );
        const ours = (performance.now() - t0) / 1000;
        if (!readFileSync(join(out, 'rootfs.bin')).equals(big)) throw new Error('fetch wrote other bytes');
        execFileSync('sync');
        const t1 = performance.now();
        execFileSync('sh', ['-c', `curl -sf -o "$1" "$2" && sha256sum "$1" > /dev/null`, 'sh', curlOut, `${ngx}/stable/x86_64/rootfs.bin`]);
        pairs.push({ ours, anchor: (performance.now() - t1) / 1000 });
      }
      const ratios = pairs.map((p) => p.anchor / p.ours);
      const mid = [...pairs].sort((a, b) => a.anchor / a.ours - b.anchor / b.ours)[Math.floor(pairs.length / 2)]!;
      rows.push('');
      rows.push(
        `custody fetch through the built bin (Node start, root + manifest + proof verified, streamed hash, fsync, rename) vs \`curl -o\` + \`sha256sum\` from nginx, ${bigMiB} MiB, ${FETCH_RUNS} interleaved runs, each after \`sync\`; the ratio is of throughputs (theirs' time / ours):`,
      );
      rows.push('');
      rows.push('| run | custody fetch | curl -o + sha256sum | ratio |');
      rows.push('|---|---|---|---|');
      pairs.forEach((p, i) => rows.push(`| ${i + 1} | ${fmt(p.ours, 2)} s = ${fmt(bigMiB / p.ours)} MiB/s | ${fmt(p.anchor, 2)} s = ${fmt(bigMiB / p.anchor)} MiB/s | ${(p.anchor / p.ours).toFixed(2)}× |`));
      ctx.record(
        'provider.fetch.ratio',
        mid.anchor / mid.ours,
        `median of ${FETCH_RUNS}: ${fmt(bigMiB / mid.ours)} vs ${fmt(bigMiB / mid.anchor)} MiB/s; runs ${ratios.map((r) => r.toFixed(2) + '×').join(', ')}; built bin`,
      );
    } finally {
      nginx.stop();
      await s.stop();
    }
    return [
      `wrk -t2 -c64 -d${seconds}s --latency on loopback; custody serve (the built bin) = ${cpus().length} workers + a leader (read path: server/fast-http, then node:http; rate limits off);`,
      `${spawnSync(which('nginx')!, ['-v']).stderr.toString().trim().replace(/^nginx version: /, '')} with ${cpus().length} workers, sendfile.`,
      'Both serve the same bytes; wrk shares the cores with the server. The node:http ceiling is bench/http-ceiling: the',
      'same bytes from one prepared response on as many cluster workers, nothing else (what node:http itself allows here).',
      '',
      '| request | custody serve | nginx | ratio (req/s) | node:http ceiling (ratio to nginx) | errors (ours/nginx) |',
      '|---|---|---|---|---|---|',
      ...rows,
    ].join('\n');
  },
};

export default section;
