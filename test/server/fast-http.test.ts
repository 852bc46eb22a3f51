/**
 * server/fast-http: which request heads count as simple (RFC 9112 request line and field lines, the fields that
 * send a request to node:http), and — on loopback, byte for byte — that a front with the fast path answers every
 * sequence of requests exactly as the same front without it: simple GETs, HEADs, conditionals, ranges, misses,
 * pipelined mixes, heads split over reads, bodies, rate-limit refusals. Then what only the fast path does: a small
 * blob's buffer is unpinned when a client that does not read hangs up, a client's FIN is answered, a drain
 * closes an idle fast connection at once and one waiting for a blob after its answer, a client over its rate limit
 * causes no blob read, and a connection's idle limit is the server's timeout until its first answer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { attachFastPath, parseSimpleRequest, responseHead, SIMPLE_HEAD_MAX_BYTES, type FastAnswer } from '../../src/server/fast-http.ts';
import { ConnectionTracker } from '../../src/server/http.ts';
import { BlobStore } from '../../src/server/provider/blobs.ts';
import { createFrontServer } from '../../src/server/provider/front.ts';
import { ReadPath } from '../../src/server/provider/read-path.ts';
import { putIncoming, start } from '../provider/harness.ts';
import { tmpDir } from '../support/tmp.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const head = (s: string): Buffer => Buffer.from(s, 'latin1');

test('fast-http: simple request heads are GET or HEAD, HTTP/1.1, one Host, no body and nothing conditional', () => {
  const simple = (s: string) => parseSimpleRequest(head(s), 0);
  assert.deepEqual(simple('GET /a/b.json?x=1 HTTP/1.1\r\nHost: h\r\n\r\n'), { method: 'GET', target: '/a/b.json?x=1', next: 39 });
  assert.deepEqual(simple('HEAD / HTTP/1.1\r\nhost:h\r\nConnection: Keep-Alive \r\nAccept: */*\r\nUser-Agent: x/1 (y)\r\n\r\n')?.method, 'HEAD');
  // Pipelined: the next request starts where the head ends; the second is read from there.
  const two = head('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
  const first = parseSimpleRequest(two, 0)!;
  assert.equal(first.target, '/1');
  assert.equal(parseSimpleRequest(two, first.next)!.target, '/2');
  assert.equal(parseSimpleRequest(two, first.next)!.next, two.length);
  const notSimple = [
    'GET / HTTP/1.1\r\n\r\n', // no Host
    'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
    'GET / HTTP/1.0\r\nHost: h\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\n\r\n',
    'get / HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET  / HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n', // absolute-form
    'GET * HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET /a"b HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n', // space before the colon
    'GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: "x"\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n', // obs-fold
    'GET / HTTP/1.1\nHost: h\r\n\r\n', // bare LF
    'GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n', // bare CR
    'GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xe9\r\n\r\n', // obs-text
    'GET / HTTP/1.1\r\nHost: h\r\nX-A: \x01\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\n', // incomplete
    `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(SIMPLE_HEAD_MAX_BYTES)}\r\n\r\n`,
  ];
  for (const s of notSimple) assert.equal(simple(s), undefined, JSON.stringify(s.slice(0, 80)));
  // Offsets: a request found after `start` only.
  assert.equal(parseSimpleRequest(head('xxGET / HTTP/1.1\r\nHost: h\r\n\r\n'), 2)?.target, '/');
  assert.equal(parseSimpleRequest(head('xxGET / HTTP/1.1\r\nHost: h\r\n\r\n'), 0), undefined);
});

test('fast-http: a response head is written in node:http\'s words and order', () => {
  assert.equal(
    responseHead(200, ['content-type', 'text/plain', 'content-length', '2'], 'Fri, 04 Dec 2026 02:47:56 GMT', 72),
    'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nDate: Fri, 04 Dec 2026 02:47:56 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=72\r\n\r\n',
  );
});

const KERNEL = Buffer.alloc(70_000, 0x4b);
const INITRD = Buffer.from('initrd '.repeat(500));

interface Front {
  port: number;
  server: Server;
  readPath: ReadPath;
  connections: ConnectionTracker;
}

/** fronts runs a daemon with one release, and two fronts over its releases and blobs: one fast, one node:http only. */
async function fronts(t: TestContext, o: { rateLimitPerIp?: number } = {}): Promise<{ fast: Front; slow: Front; etag: string }> {
  const data = join(tmpDir(t), 'data');
  const d = await start(t, data);
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: KERNEL, 'initramfs.img': INITRD, '.version': '1.0.0\n' });
  assert.equal((await d.rescan()).released.length, 1);
  const make = async (fastPath: boolean): Promise<Front> => {
    const readPath = new ReadPath({
      releases: d.releases,
      blobs: new BlobStore(join(data, 'blobs')),
      trust: { rootBytes: d.identity.rootBytes, rootDir: undefined },
      defaultRelease: { channel: 'stable', arch: 'x86_64' },
    });
    const server = createFrontServer({
      readPath,
      fallback: (req, res) => {
        // What fastify would do: read the body, answer.
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => res.writeHead(404, ['content-type', 'text/plain', 'content-length', String(String(n).length)]).end(String(n)));
      },
      rateLimitPerIp: o.rateLimitPerIp ?? 0,
      rateLimitGlobal: 0,
      maxConnections: 100,
      fastPath,
    });
    const connections = new ConnectionTracker(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => connections.closeWithin(1000, () => new Promise<void>((r) => server.close(() => r()))));
    return { port: (server.address() as AddressInfo).port, server, readPath, connections };
  };
  const r = d.releases.get('stable', 'x86_64')!;
  return { fast: await make(true), slow: await make(false), etag: `"${r.manifest.digest}"` };
}

/**
 * exchange writes each part (waiting `gapMs` between parts), then a last request that closes the connection, and
 * returns every byte the server sent until it closed, with each Date value blanked.
 */
async function exchange(port: number, parts: string[], gapMs = 30): Promise<string> {
  const s = connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('connect', () => r()));
  for (const p of [...parts, 'GET /trust/root.json HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n']) {
    s.write(head(p));
    await new Promise((r) => setTimeout(r, gapMs));
  }
  await closed;
  return Buffer.concat(got).toString('latin1').replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n');
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;

test('fast-http: the fast front answers every sequence byte for byte as node:http does, and answers the simple ones itself', async (t) => {
  const { fast, slow, etag } = await fronts(t);
  const blob = `/blobs/sha256/${sha(KERNEL)}`;
  const sequences: string[][] = [
    [get('/stable/x86_64/manifest.json'), get('/manifest.json'), `HEAD /stable/x86_64/manifest.json HTTP/1.1\r\nHost: h\r\n\r\n`],
    [get('/stable/x86_64/manifest.json.tlog-proof'), get('/trust/root.json'), get('/stable/x86_64/manifest.json?cache=no')],
    // A blob read into memory for the first request (the fast path waits for it), then answered from memory.
    [get(blob), get(blob), `HEAD ${blob} HTTP/1.1\r\nHost: h\r\n\r\n`, get('/stable/x86_64/vmlinuz'), get('/stable/x86_64/initramfs.img'), get('/stable/x86_64/initramfs.img')],
    [get('/stable/x86_64/manifest.json', `If-None-Match: ${etag}\r\n`), get(blob, 'Range: bytes=10-19\r\n'), get('/stable/x86_64/manifest.json')],
    [get('/nope'), get('/stable/x86_64/missing'), get('/stable/arm64/manifest.json'), get('/stable/x86_64/manifest.json')],
    // Pipelined in one write: simple, conditional, simple, range, simple.
    [get('/manifest.json') + get('/manifest.json', `If-None-Match: ${etag}\r\n`) + get('/trust/root.json') + get(blob, 'Range: bytes=-5\r\n') + get('/manifest.json')],
    // A head split over two writes; then simple requests on the same (now node:http's) connection.
    ['GET /stable/x86_64/manifest.json HTTP/1.1\r\nHo', 'st: h\r\n\r\n', get('/trust/root.json')],
    // A body after simple requests, and a request line node:http refuses.
    [get('/manifest.json'), 'POST /admin/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello', get('/manifest.json')],
    [get('/manifest.json'), 'GET /a b HTTP/1.1\r\nHost: h\r\n\r\n'],
    [get('/manifest.json') + 'GET / HTTP/1.0\r\n\r\n'],
    [get('/manifest.json', 'Connection: keep-alive\r\nAccept: application/json\r\nUser-Agent: boot/1\r\n'), get('/%73table/x86_64/manifest.json'), get('/stable/x86_64/%ZZ')],
  ];
  for (const seq of sequences) {
    const before = fast.readPath.streamStats.pinnedBytes;
    const a = await exchange(fast.port, seq);
    const b = await exchange(slow.port, seq);
    assert.equal(a, b, `sequence ${JSON.stringify(seq).slice(0, 200)}`);
    assert.match(a, /^HTTP\/1\.1 /);
    assert.equal(fast.readPath.streamStats.pinnedBytes, before, 'every pinned blob is unpinned once sent');
  }
  // The fast path answered: node:http saw no 'request' for a connection of simple requests only.
  let requests = 0;
  fast.server.on('request', () => requests++);
  const text = await exchange(fast.port, [get('/manifest.json') + get(blob) + get('/trust/root.json')]);
  assert.equal(text.match(/HTTP\/1\.1 200 OK/g)?.length, 4);
  assert.equal(requests, 1, 'only the closing request went to node:http');
});

test('fast-http: concurrent first requests for a small blob not yet in memory wait for one read and are answered in order, FIN or not', async (t) => {
  const { fast } = await fronts(t);
  let requests = 0;
  fast.server.on('request', () => requests++);
  const blob = `/blobs/sha256/${sha(INITRD)}`;
  const name = '/stable/x86_64/initramfs.img';
  // Each connection pipelines: the cold blob, a manifest, the blob by name, a HEAD; half of them half-close at once.
  const texts = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const s = connect(fast.port, '127.0.0.1');
      const got: Buffer[] = [];
      s.on('data', (c: Buffer) => got.push(c));
      const closed = new Promise<void>((r) => s.on('close', () => r()));
      const bytes = head(get(blob) + get('/manifest.json') + get(name) + `HEAD ${blob} HTTP/1.1\r\nHost: h\r\n\r\n`);
      if (i % 2 === 0) s.end(bytes);
      else {
        s.write(bytes);
        setTimeout(() => s.end(), 200);
      }
      await closed;
      return Buffer.concat(got).toString('latin1');
    }),
  );
  for (const text of texts) {
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '200', '200']);
    const parts = text.split(/HTTP\/1\.1 200 OK\r\n/).slice(1);
    assert.ok(parts[0]!.endsWith(INITRD.toString('latin1')), 'the blob first');
    assert.match(parts[1]!, /^content-type: application\/json/, 'then the manifest');
    assert.match(parts[2]!, /content-disposition: attachment; filename="initramfs.img"/);
    assert.ok(parts[3]!.endsWith('\r\n\r\n'), 'HEAD: no body');
  }
  assert.equal(requests, 0, 'all answered by the fast path');
  assert.equal(fast.readPath.streamStats.pinnedBytes, 0);
});

test('fast-http: a FIN while a blob is looked up, then a hand-over, closes the connection without an error', async (t) => {
  const { fast } = await fronts(t);
  let errors = 0;
  fast.server.on('clientError', () => errors++);
  for (let i = 0; i < 5; i++) {
    const s = connect(fast.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    // A blob that is not stored: the lookup resolves to "not mine", so the connection is handed over after the FIN.
    s.end(head(get(`/blobs/sha256/${'0'.repeat(64)}`)));
    await closed;
  }
  assert.equal(errors, 0);
});

test('fast-http: rate-limit refusals are the same on both paths, and a request is counted once', async (t) => {
  const { fast, slow } = await fronts(t, { rateLimitPerIp: 3 });
  // Three allowed a second: the fourth refused, the closing request too (all within one window).
  const seq = [get('/manifest.json'), get('/nope'), get('/manifest.json'), get('/manifest.json')];
  const a = await exchange(fast.port, seq, 5);
  await new Promise((r) => setTimeout(r, 1100));
  const b = await exchange(slow.port, seq, 5);
  assert.equal(a, b);
  assert.equal(a.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
  assert.equal(a.match(/HTTP\/1\.1 404/g)?.length, 1);
  assert.equal(a.match(/HTTP\/1\.1 429/g)?.length, 2);
  assert.match(a, /retry-after: 1\r\n/);
});

test('fast-http: a client that asks for a small blob many times and never reads leaves nothing pinned when it hangs up', async (t) => {
  const { fast } = await fronts(t);
  const blob = `/blobs/sha256/${sha(KERNEL)}`;
  await exchange(fast.port, [get(blob)]); // loaded into memory
  const s: Socket = connect(fast.port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.pause();
  // Far more than the kernel's socket buffers hold: the front stops answering when its write buffer is full and
  // hands the rest to node:http, which stops reading.
  s.write(head(get(blob).repeat(400)));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(fast.readPath.streamStats.pinnedBytes > 0, 'answers still queued hold the blob');
  s.destroy();
  for (let i = 0; i < 100 && fast.readPath.streamStats.pinnedBytes > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(fast.readPath.streamStats.pinnedBytes, 0);
});

test('fast-http: a client\'s FIN is answered, and a drain closes an idle fast connection at once', async (t) => {
  const { fast } = await fronts(t);
  const s = connect(fast.port, '127.0.0.1');
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.end(head(get('/manifest.json')));
  await closed;
  assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);

  const idle = connect(fast.port, '127.0.0.1');
  const idleGot: Buffer[] = [];
  idle.on('data', (c: Buffer) => idleGot.push(c));
  const idleClosed = new Promise<void>((r) => idle.on('close', () => r()));
  idle.write(head(get('/manifest.json')));
  while (idleGot.length === 0) await new Promise((r) => setTimeout(r, 10));
  const t0 = Date.now();
  await fast.connections.closeWithin(5000, () => new Promise<void>((r) => fast.server.close(() => r())));
  await idleClosed;
  assert.ok(Date.now() - t0 < 4000, 'closed at once, not at the drain deadline');
});

test('fast-http: a client over its rate limit is refused before a small blob not in memory is read for it', async (t) => {
  const { fast } = await fronts(t, { rateLimitPerIp: 2 });
  const blob = `/blobs/sha256/${sha(INITRD)}`;
  const text = await exchange(fast.port, [get('/manifest.json'), get('/manifest.json'), get(blob)], 5);
  assert.deepEqual([...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]), ['200', '200', '429', '429']);
  // Still not in memory: the read path would read it from disk for the next request (a promise), not answer at once.
  const later = fast.readPath.quick(blob);
  assert.ok(later instanceof Promise, 'the refused request read nothing');
  await later;
});

/** fastServer is a node:http server with the fast path, whose answerer lets a test hold `/slow` until it says. */
async function fastServer(t: TestContext): Promise<{ port: number; server: Server; connections: ConnectionTracker; asked: Promise<void>; release: (a: FastAnswer | undefined) => void }> {
  let release!: (a: FastAnswer | undefined) => void;
  const held = new Promise<FastAnswer | undefined>((r) => (release = r));
  let asked!: () => void;
  const askedP = new Promise<void>((r) => (asked = r));
  const server = createServer((_req, res) => res.writeHead(200, ['content-length', '4']).end('node'));
  assert.ok(attachFastPath(server, (_m, target) => {
    if (target !== '/slow') return { status: 200, headers: ['content-length', '4'], body: Buffer.from('fast') };
    asked();
    return held;
  }, { keepAliveMs: 72_000 }));
  const connections = new ConnectionTracker(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, server, connections, asked: askedP, release };
}

for (const [what, answer, bodies] of [
  ['its answer', { status: 200, headers: ['content-length', '4'], body: Buffer.from('slow') }, ['slow', 'fast']],
  ['node:http\'s answer (the answer was not the fast path\'s)', undefined, ['node', 'node']],
] as const) {
  test(`fast-http: a drain while a fast request waits for its answer sends ${what} and those of the requests read with it, then closes the connection`, async (t) => {
    const f = await fastServer(t);
    const s = connect(f.port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    // The slow request, and one pipelined behind it in the same bytes (node:http answers such a pair in a drain too).
    s.write(head(get('/slow') + get('/fast')));
    await f.asked;
    const t0 = Date.now();
    const stopped = f.connections.closeWithin(10_000, () => new Promise<void>((r) => f.server.close(() => r())));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!s.destroyed && got.length === 0, 'still open, nothing sent: the answer is not ready');
    f.release(answer === undefined ? undefined : { ...answer });
    await closed;
    await stopped;
    const text = Buffer.concat(got).toString('latin1');
    assert.deepEqual(text.split(/HTTP\/1\.1 200 OK\r\n/).slice(1).map((r) => r.slice(r.indexOf('\r\n\r\n') + 4)), bodies, text);
    assert.ok(Date.now() - t0 < 8000, 'closed after the answer, not at the drain deadline');
  });
}

test('fast-http: until its first answer a connection has the server\'s idle timeout, then the keep-alive one, as on node:http', async (t) => {
  const { fast, slow } = await fronts(t);
  for (const f of [fast, slow]) {
    f.server.setTimeout(300);
    const idle = connect(f.port, '127.0.0.1');
    idle.on('error', () => undefined);
    const idleClosed = new Promise<void>((r) => idle.on('close', () => r()));
    const used = connect(f.port, '127.0.0.1');
    used.on('error', () => undefined);
    const got: Buffer[] = [];
    used.on('data', (c: Buffer) => got.push(c));
    used.write(head(get('/manifest.json')));
    // The idle connection is closed at the server's timeout (300 ms), far before the keep-alive limit (72 s).
    await idleClosed;
    await new Promise((r) => setTimeout(r, 700));
    assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(!used.destroyed, 'a connection that was answered stays open for the keep-alive timeout');
    used.destroy();
  }
});
