/**
 * test/provider/tuf-harness — a daemon serving its TUF repository, and a hostile proxy in front of it that the test
 * controls: it passes requests to the daemon except the paths given replacement bytes (a rolled-back timestamp, a
 * snapshot of another version, changed target bytes, a badly signed root…). Shared by the tuf-js test (a real third-
 * party client) and the test of our own client (custody fetch --tuf).
 */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { PrivateKey, type Signer } from '../../src/crypto/index.ts';
import type { JsonObject } from '../../src/encoding/json.ts';
import { tufKeyId, tufKeyObject } from '../../src/keys/key-id.ts';
import { hostArch, sampleFiles } from '../../src/server/provider/sample.ts';
import type { RunningDaemon } from '../../src/server/daemon.ts';
import { editRoot, formatRoot, parseRoot, signRoot } from '../../src/trust/root.ts';
import { createTimestamp, metaFileFor, parseTufMetadata, signTufMetadata } from '../../src/trust/tuf-metadata.ts';
import { start } from './harness.ts';
import { tmpDir } from '../support/tmp.ts';

export interface Proxy {
  url: string;
  /** overrides maps a request path to the bytes answered instead of the daemon's. */
  overrides: Map<string, Buffer>;
  /** requests lists the paths asked for. */
  requests: string[];
}

/** proxy starts a pass-through HTTP proxy to `upstream` on a loopback port. */
export async function proxy(t: TestContext, upstream: string): Promise<Proxy> {
  const overrides = new Map<string, Buffer>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push(path);
    const o = overrides.get(path);
    if (o !== undefined) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': o.length });
      res.end(o);
      return;
    }
    void fetch(upstream + path).then(
      async (r) => {
        const body = Buffer.from(await r.arrayBuffer());
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, overrides, requests };
}

export interface TufFixture {
  d: RunningDaemon;
  data: string;
  /** root1 is DATA/trust/1.root.json, the root a client starts from. */
  root1: Buffer;
  arch: string;
  /** payload is the sample release's payload.bin and its target path. */
  payload: Buffer;
  payloadPath: string;
  timestampKey: PrivateKey;
  rootKey: PrivateKey;
}

/** tufDaemon starts a daemon on a new data directory with its sample release (so the repository has targets). */
export async function tufDaemon(t: TestContext): Promise<TufFixture> {
  const data = join(tmpDir(t), 'data');
  const d = await start(t, data, { sample: true });
  const arch = hostArch();
  const payload = sampleFiles().find(([n]) => n === 'payload')![2];
  const { loadPrivateKey } = await import('../../src/keys/key-file.ts');
  return {
    d,
    data,
    root1: readFileSync(join(data, 'trust', '1.root.json')),
    arch,
    payload,
    payloadPath: `sample/${arch}/payload.bin`,
    timestampKey: await loadPrivateKey(join(data, 'keys', 'timestamp.pem')),
    rootKey: await loadPrivateKey(join(data, 'keys', 'root.pem')),
  };
}

/** getBytes fetches a path (of the daemon or the proxy) as bytes. */
export async function getBytes(base: string, path: string): Promise<Buffer> {
  const r = await fetch(base + path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/** expiredTimestamp signs, with the daemon's timestamp key, a timestamp naming the current snapshot that expired. */
export async function expiredTimestamp(f: TufFixture): Promise<Buffer> {
  const cur = parseTufMetadata(await getBytes(f.d.url, '/tuf/timestamp.json'), 'timestamp');
  const snap = await getBytes(f.d.url, `/tuf/${cur.snapshot.version}.snapshot.json`);
  const signed = createTimestamp({ version: cur.version + 10, expires: new Date(Date.now() - 3_600_000), snapshot: metaFileFor(snap, cur.snapshot.version) });
  return Buffer.from(signTufMetadata(signed, [f.timestampKey]));
}

/**
 * rotatedRoot makes root version 2 whose root role is a new key. `signers` choose who signs it: the old root key
 * and the new one make a valid rotation; the new key alone is a rotation signed by too few OLD keys (0/1).
 */
export function rotatedRoot(f: TufFixture, newKey: PrivateKey, signers: readonly Signer[]): Buffer {
  const v1 = parseRoot(f.root1);
  let v2 = editRoot(v1, (signed) => {
    const keys = signed.keys as JsonObject;
    keys[tufKeyId(newKey.publicKey)] = tufKeyObject(newKey.publicKey);
    ((signed.roles as JsonObject).root as JsonObject).keyids = [tufKeyId(newKey.publicKey)];
  });
  for (const s of signers) v2 = signRoot(v2, s);
  return Buffer.from(formatRoot(v2));
}

/** flipByte returns a copy of `b` with one byte changed (same length: only the hash can tell). */
export function flipByte(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[0] = c[0]! ^ 0xff;
  return c;
}
