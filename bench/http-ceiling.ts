/**
 * bench/http-ceiling — the ceiling of `node:http` on this machine, for bench/sections/provider: `node:cluster` with
 * one worker per core (as `custody serve`), each answering every request with one prepared response (the bytes of
 * FILE and a header list like the read path's, one `writeHead` + `end`), no routing, no timeouts, no logging.
 * What custody serve reaches next to this is what its own code costs; what this reaches next to nginx is what
 * node:http costs.
 *
 * Usage: node --import tsx bench/http-ceiling.ts PORT FILE   (prints "listening" once every worker listens)
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';

const port = Number(process.argv[2]);
const file = process.argv[3] ?? '';
if (cluster.isPrimary) {
  let up = 0;
  const n = availableParallelism();
  for (let i = 0; i < n; i++) {
    cluster.fork().once('listening', () => {
      if (++up === n) process.stdout.write('listening\n');
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const body = readFileSync(file);
  const headers = ['content-type', 'application/octet-stream', 'cache-control', 'public, max-age=0, must-revalidate', 'etag', '"ceiling"', 'content-length', String(body.length)];
  createServer((req, res) => {
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }).listen(port, '127.0.0.1');
}
