import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { startLogServer } from '../src/server/log/server.ts';
import { load } from './sections/tlog.ts';
const dir = '/tmp/scratch/tl-' + Date.now();
const N = Number(process.env.N ?? 200_000);
const s = await startLogServer({ dataDir: dir, origin: 'bench.test/log', tokens: [Buffer.from('bench-token-0123456789abcdef')], host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), service: { batchMaxEntries: 65536, maxPendingEntries: 1e6, addTimeoutMs: 600000 } });
for (let done = 0; done < N; done += 65536) { const n = Math.min(65536, N - done); await Promise.all(Array.from({ length: n }, (_, i) => s.service.add(Buffer.from(`bench entry ${done + i}`)))); }
await s.close();
const proc = spawn(process.execPath, ['--import', 'tsx', '/work/main/src/cli/main.ts', 'log', 'serve', '--data', dir, '--port', '0', '--origin', 'bench.test/log', '--token-file', '/tmp/scratch/tok2', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
const url: string = await new Promise((r) => proc.stdout!.on('data', (d) => { out += d; const l = out.split('\n'); if (l.length >= 3) r(l[1]!); }));
const tiles = Math.floor(N / 256);
let y = 1;
const path = (i: number) => { y = (Math.imul(y, 1103515245) + 12345) >>> 0; const n = y % tiles; const s3 = String(n).padStart(3, '0'); const g: string[] = []; for (let e = s3.length; e > 0; e -= 3) g.unshift(s3.slice(Math.max(0, e - 3), e).padStart(3, '0')); const idx = g.map((x, k) => (k < g.length - 1 ? `x${x}` : x)).join('/'); return i % 2 === 0 ? `tile/0/${idx}` : `tile/entries/${idx}`; };
for (let k = 0; k < 3; k++) { const r = await load(64, 2000, (i) => ({ url: `${url}/${path(i)}`, method: 'GET' })); console.log(`pass ${k}: ${r.rate.toFixed(0)}/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} errors ${r.errors}`); }
proc.kill('SIGTERM');
