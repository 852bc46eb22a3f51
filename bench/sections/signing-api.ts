/**
 * bench/sections/signing-api — the signing API (/v1, docs/signing-api.md) under load over HTTP on loopback: wrk (2
 * threads, 32 connections, 10 s; 3 s in --quick) POSTs authenticated `verify` requests (bearer token looked up in
 * the store per request, envelope verified under the trust root) and `sign` requests (statement signed, appended
 * to the log: bound by the log's group commit, one fsync per batch). Requests/s, p50 and p99.
 *
 * Setup: `custody serve --workers N` (one per core, at most 4) as a real CLI process on SQLite storage, the
 * per-address, per-token and global limits off, a token made by `custody token create`. The workers answer verify
 * themselves (server/signing/worker-verify); sign goes to the leader. Besides requests/s, the daemon's CPU time
 * per request (leader + workers, from /proc) is reported: it is what a loaded machine does not distort. Target (issue 11): verify ≥ 10,000 requests/s on this machine;
 * sign is reported as measured. Skipped where wrk is missing.
 *
 * The ceiling, measured in the same run with the same wrk load: bench/http-ceiling `--ed25519-verify`, a bare
 * node:http cluster (as many workers) that reads each body and verifies one Ed25519 signature with a cached key,
 * nothing else. It is what any Node server checking one signature per request reaches on this machine; verify's
 * requests/s next to it is what authentication, parsing and the lookups cost.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { startCeiling } from '../start-ceiling.ts';
import type { BenchContext, BenchSection } from '../types.ts';

/** WORKERS: one per core (wrk shares them). */
const WORKERS = Math.max(1, Math.min(4, cpus().length));
const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Load {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** cpuUs is the daemon's CPU time (leader and workers, user + system) per request, in microseconds. */
  cpuUs: number;
}

/** cpuTicks sums user + system CPU time (clock ticks, 100 per second on Linux) of these processes (/proc/PID/stat). */
function cpuTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(f[11]) + Number(f[12]);
    } catch {
      return NaN;
    }
  }
  return sum;
}

/** withChildren adds the child processes of pid (Linux /proc children list; the ceiling's cluster workers). */
function withChildren(pid: number): number[] {
  try {
    return [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

function wrkPost(url: string, script: string, seconds: number, pids: readonly number[]): Load {
  const before = cpuTicks(pids);
  const out = execFileSync('wrk', ['-t2', '-c32', `-d${seconds}s`, '--latency', '-s', script, url], { encoding: 'utf8' });
  const cpuMs = (cpuTicks(pids) - before) * 10;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const ms = (re: RegExp): number => {
    const m = re.exec(out);
    return Number(m?.[1] ?? NaN) * ({ us: 0.001, ms: 1, s: 1000 }[m?.[2] ?? 'ms'] ?? NaN);
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50ms: ms(/\s50%\s+([\d.]+)(us|ms|s)/),
    p99ms: ms(/\s99%\s+([\d.]+)(us|ms|s)/),
    errors: non2xx,
    cpuUs: (cpuMs * 1000) / requests,
  };
}

function luaPost(path: string, token: string, body: string): string {
  return `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer ${token}"\nwrk.body = ${JSON.stringify(body)}\nwrk.path = "${path}"\n`;
}

async function measure(ctx: BenchContext): Promise<string> {
  if (spawnSync('wrk', ['--version']).error !== undefined) return 'Not measured: wrk is not installed.';
  const data = join(ctx.scratch, 'signing-data');
  const child = spawn(
    process.execPath,
    ['--import', TSX, CLI_MAIN, 'serve', '--data', data, '--port', '0', '--workers', String(WORKERS), '--no-sample', '--json', '--log-level', 'error', '--rate-limit-per-ip', '0', '--max-connections-per-ip', '0', '--signing-rate-limit-per-token', '0', '--signing-rate-limit-per-ip', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } },
  );
  try {
    const { url, workers } = await new Promise<{ url: string; workers: number[] }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as { url: string; workers: number[] });
      });
      child.on('exit', (c) => reject(new Error(`custody serve exited ${c}`)));
    });
    const made = spawnSync(process.execPath, ['--import', TSX, CLI_MAIN, 'token', 'create', '--data', data, '--name', 'bench', '--scope', 'sign,verify'], { encoding: 'utf8' });
    const token = made.stdout.trim();
    const artifact = 'sha256:' + encodeHex(sha256('bench artifact'));
    const signed = (await (
      await fetch(`${url}/v1/sign`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ artifact, artifact_type: 'report' }) })
    ).json()) as { signature: string };
    const verifyLua = join(ctx.scratch, 'verify.lua');
    const signLua = join(ctx.scratch, 'sign.lua');
    writeFileSync(verifyLua, luaPost('/v1/verify', token, JSON.stringify({ artifact, signature: signed.signature })));
    writeFileSync(signLua, luaPost('/v1/sign', token, JSON.stringify({ artifact, artifact_type: 'report', subject: 'bench' })));
    const seconds = ctx.quick ? 3 : 10;
    ctx.log('verify');
    const pids = [child.pid!, ...workers];
    const v = wrkPost(url, verifyLua, seconds, pids);
    ctx.log('sign');
    const s = wrkPost(url, signLua, seconds, pids);
    ctx.log('ceiling: node:http + one Ed25519 verify per request');
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const ceiling = await startCeiling(port, '--ed25519-verify');
    let c: Load;
    try {
      c = wrkPost(`http://127.0.0.1:${port}`, verifyLua, seconds, withChildren(ceiling.pid));
    } finally {
      ceiling.stop();
    }
    // A figure of refusals (429, 401) measures the refusal path, not the route: record only clean runs.
    const ceilingNote = c.errors === 0 ? `; ceiling (bare node:http + one Ed25519 verify) ${c.rps.toFixed(0)}/s in the same run` : '';
    if (v.errors === 0) ctx.record('signing-api-verify-rps', v.rps, `p50 ${v.p50ms} ms, p99 ${v.p99ms} ms${ceilingNote}`);
    if (s.errors === 0) ctx.record('signing-api-sign-rps', s.rps, `p50 ${s.p50ms} ms, p99 ${s.p99ms} ms`);
    return [
      `| route (authenticated, 32 connections, ${WORKERS} workers) | requests/s | p50 ms | p99 ms | non-2xx | daemon CPU µs/request |`,
      '|---|---:|---:|---:|---:|---:|',
      `| POST /v1/verify (trust root, no inclusion; answered by the workers) | ${v.rps.toFixed(0)} | ${v.p50ms.toFixed(2)} | ${v.p99ms.toFixed(2)} | ${v.errors} | ${v.cpuUs.toFixed(0)} |`,
      `| POST /v1/sign (signed, logged, proof; forwarded to the leader) | ${s.rps.toFixed(0)} | ${s.p50ms.toFixed(2)} | ${s.p99ms.toFixed(2)} | ${s.errors} | ${s.cpuUs.toFixed(0)} |`,
      `| ceiling: bare node:http + one Ed25519 verify per request (bench/http-ceiling) | ${c.rps.toFixed(0)} | ${c.p50ms.toFixed(2)} | ${c.p99ms.toFixed(2)} | ${c.errors} | ${c.cpuUs.toFixed(0)} |`,
      '',
      `verify reaches ${(v.rps / c.rps).toFixed(2)}× of the ceiling measured in this run (the ceiling is the most a Node server checking one signature per request does here).`,
      '',
      'CPU µs/request is the CPU time of the leader and its workers over the run divided by the requests answered: on a',
      'machine shared with other work it shows the cost of a request when requests/s cannot.',
      'Target: verify ≥ 10,000 requests/s; sign is bound by the log\'s group commit (one fsync per batch).',
    ].join('\n');
  } finally {
    child.kill('SIGTERM');
  }
}

const section: BenchSection = { title: 'Signing API (/v1 sign and verify over HTTP)', run: measure };
export default section;
