/**
 * bench/http-ceiling — the ceiling of `node:http` on this machine, for bench/sections/provider: `node:cluster` with
 * one worker per core (as `custody serve`), each answering every request with one prepared response (the bytes of
 * FILE and a header list like the read path's, one `writeHead` + `end`), no routing, no timeouts, no logging.
 * What custody serve reaches next to this is what its own code costs; what this reaches next to nginx is what
 * node:http costs.
 *
 * With `--ed25519-verify` instead of FILE it is the ceiling of the signing API's POST /v1/verify
 * (bench/sections/signing-api): each worker reads the request body, then verifies one Ed25519 signature (a key and a
 * signature made at start, over 1 KiB, node:crypto with the key object cached) and answers a small JSON. No
 * authentication, no parsing, no lookup: what any node:http server that checks one signature per request reaches.
 *
 * Usage: node --import tsx bench/http-ceiling.ts PORT FILE|--ed25519-verify   (prints "listening" once every worker listens)
 */
import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
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
  // A clean exit (not the default signal death), so a worker run under --cpu-prof writes its profile.
  process.on('SIGTERM', () => process.exit(0));
}
if (cluster.isPrimary) {
  // The primary only forks (above).
} else if (file === '--ed25519-verify') {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const message = randomBytes(1024);
  const signature = sign(null, message, privateKey);
  const answer = Buffer.from('{"valid":true}');
  const headers = ['content-type', 'application/json; charset=utf-8', 'cache-control', 'no-store', 'content-length', String(answer.length)];
  createServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      if (!verify(null, message, publicKey, signature)) throw new Error('http-ceiling: a valid signature failed');
      res.writeHead(200, headers);
      res.end(answer);
    });
  }).listen(port, '127.0.0.1');
} else {
  const body = readFileSync(file);
  const headers = ['content-type', 'application/octet-stream', 'cache-control', 'public, max-age=0, must-revalidate', 'etag', '"ceiling"', 'content-length', String(body.length)];
  createServer((req, res) => {
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }).listen(port, '127.0.0.1');
}
