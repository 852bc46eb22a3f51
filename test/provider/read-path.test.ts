/**
 * server/provider/read-path on a loopback server with a counting blob store: a boot storm on a cold small blob reads
 * it once (concurrent misses share one load), an evicted blob is read again, and a large blob (streamed, never kept)
 * is opened once per request after it was first seen; small blobs served from memory arrive byte for byte, with
 * their Content-Length, Range and HEAD.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { BlobCache } from '../../src/server/provider/blobs.ts';
import { ReadPath } from '../../src/server/provider/read-path.ts';
import { tmpDir } from '../support/tmp.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function serveReadPath(t: TestContext, blobCacheBytes?: number, blobInFlightBytes?: number): Promise<{ url: string; dir: string; opens: Map<string, number>; rp: ReadPath }> {
  const dir = tmpDir(t);
  const opens = new Map<string, number>();
  const rp = new ReadPath({
    releases: { get: () => undefined },
    blobs: {
      pathOf: (h: string) => {
        opens.set(h, (opens.get(h) ?? 0) + 1);
        return join(dir, h);
      },
    },
    trust: { rootBytes: Buffer.from('{}'), rootDir: undefined },
    ...(blobCacheBytes === undefined ? {} : { blobCacheBytes }),
    ...(blobInFlightBytes === undefined ? {} : { blobInFlightBytes }),
  });
  const server = createServer((req, res) => {
    if (!rp.handle(req, res)) res.writeHead(599).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, dir, opens, rp };
}

function get(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('read path: concurrent requests for a cold small blob share one read; an evicted blob is read again', async (t) => {
  const s = await serveReadPath(t, 4096);
  const a = Buffer.alloc(4096, 1);
  const b = Buffer.alloc(4096, 2);
  writeFileSync(join(s.dir, sha(a)), a);
  writeFileSync(join(s.dir, sha(b)), b);
  const storm = await Promise.all(Array.from({ length: 10 }, () => get(`${s.url}/blobs/sha256/${sha(a)}`)));
  for (const r of storm) {
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, a);
  }
  assert.equal(s.opens.get(sha(a)), 1, 'ten concurrent misses, one read');
  assert.equal((await get(`${s.url}/blobs/sha256/${sha(a)}`)).status, 200);
  assert.equal(s.opens.get(sha(a)), 1, 'then served from memory');
  // The cache holds one 4 KiB blob: b evicts a, and a is read again.
  assert.deepEqual((await get(`${s.url}/blobs/sha256/${sha(b)}`)).body, b);
  assert.deepEqual((await get(`${s.url}/blobs/sha256/${sha(a)}`)).body, a);
  assert.equal(s.opens.get(sha(a)), 2);
});

test('read path: a blob too large for memory is opened once per request once it is known', async (t) => {
  const s = await serveReadPath(t);
  const big = Buffer.alloc(16 * 1024 * 1024 + 1, 7);
  writeFileSync(join(s.dir, sha(big)), big);
  for (let i = 0; i < 3; i++) assert.equal((await get(`${s.url}/blobs/sha256/${sha(big)}`, 'HEAD')).status, 200);
  // The first request finds it too large (one open) and then streams it (one more); later requests stream only.
  assert.equal(s.opens.get(sha(big)), 4);
  const whole = await get(`${s.url}/blobs/sha256/${sha(big)}`);
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(big));
});

test('read path: small blobs of every byte value arrive exactly, loaded and then from memory, whole, HEAD and Range', async (t) => {
  const s = await serveReadPath(t);
  // Every byte value, at a few sizes (0x00 and 0x80-0xff must survive whatever form the body is kept in).
  const sizes = [1, 256, 4096, 64 * 1024, 64 * 1024 + 1];
  const blobs = sizes.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + 7) & 0xff)));
  for (const b of blobs) writeFileSync(join(s.dir, sha(b)), b);
  for (const b of blobs) {
    const url = `${s.url}/blobs/sha256/${sha(b)}`;
    for (let i = 0; i < 2; i++) {
      // The first request loads the blob, the second is served from memory.
      const r = await get(url);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], String(b.length));
      assert.ok(r.body.equals(b), `${b.length} bytes, request ${i + 1}`);
    }
    const head = await get(url, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(b.length));
    assert.equal(head.body.length, 0);
    const range = await get(url, 'GET', { range: 'bytes=0-0' });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], `bytes 0-0/${b.length}`);
    assert.ok(range.body.equals(b.subarray(0, 1)));
  }
});

test('read path: concurrent streams of large blobs arrive exactly while their buffers grow, shrink and are reused', async (t) => {
  const s = await serveReadPath(t);
  // Two blobs above the in-memory limit, every byte depending on its position and blob: a buffer handed from one
  // stream to another (StreamBuffers) or read into too early, or a chunk sent twice, shows as a wrong byte.
  const n = 16 * 1024 * 1024 + 4100;
  const blobs = [1, 2].map((k) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) b.writeUInt32LE(((i * 2654435761) ^ k) >>> 0, i);
    return b;
  });
  for (const b of blobs) writeFileSync(join(s.dir, sha(b)), b);
  const aborted = (url: string): Promise<void> =>
    new Promise((resolve) => {
      const req = request(url, { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => resolve());
      req.end();
    });
  // A client that stops reading now and then: the socket's buffers fill, writes stay pending, and a buffer read
  // into again before its write called back would send the next chunk's bytes in place of this one's.
  const slow = (url: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const req = request(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let pauses = 0;
        res.on('data', (d: Buffer) => {
          chunks.push(d);
          if (pauses++ < 40) {
            res.pause();
            setTimeout(() => res.resume(), 5);
          }
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
      });
      req.on('error', reject);
      req.end();
    });
  const wave = async (): Promise<void> => {
    const jobs: Promise<void>[] = [];
    for (const b of blobs) {
      const url = `${s.url}/blobs/sha256/${sha(b)}`;
      jobs.push(
        get(url).then((r) => assert.ok(r.status === 200 && r.body.equals(b), 'whole blob')),
        get(url).then((r) => assert.ok(r.status === 200 && r.body.equals(b), 'whole blob, second client')),
        get(url, 'GET', { range: 'bytes=1000003-9000001' }).then((r) => {
          assert.equal(r.status, 206);
          assert.ok(r.body.equals(b.subarray(1000003, 9000002)), 'middle range');
        }),
        get(url, 'GET', { range: `bytes=-70000` }).then((r) => {
          assert.equal(r.status, 206);
          assert.ok(r.body.equals(b.subarray(n - 70000)), 'suffix range');
        }),
        aborted(url),
        slow(url).then((body) => assert.ok(body.equals(b), 'whole blob, slow client')),
      );
    }
    await Promise.all(jobs);
  };
  // The second wave takes the buffers the first gave back; after each, every stream has ended (the aborted ones
  // too) and every buffer is back.
  await wave();
  await drained(s.rp);
  await wave();
  await drained(s.rp);
});

/** drained waits for the read path's streams to end (a server's 'close' comes after the client's), then checks. */
async function drained(rp: ReadPath): Promise<void> {
  for (let i = 0; i < 1000 && rp.streamStats.streams > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(rp.streamStats, { streams: 0, bufferBytes: 0, pinnedBytes: 0 }, 'every stream ended and gave its buffer back');
}

test('read path: pipelined downloads whose client hangs up end and give their buffers back', async (t) => {
  const s = await serveReadPath(t);
  const big = Buffer.alloc(16 * 1024 * 1024 + 1, 9);
  writeFileSync(join(s.dir, sha(big)), big);
  const path = `/blobs/sha256/${sha(big)}`;
  // The first request finds the blob too large for memory; later ones stream at once.
  assert.equal((await get(`${s.url}${path}`, 'HEAD')).status, 200);
  const port = Number(new URL(s.url).port);
  await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<void>((resolve, reject) => {
          // Two GETs on one connection: the second response waits behind the first, which the client never reads
          // to the end before it hangs up.
          const c = connect(port, '127.0.0.1', () => c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
          c.once('data', () => {
            c.destroy();
            resolve();
          });
          c.on('error', reject);
        }),
    ),
  );
  await drained(s.rp);
  // And connections reset right after sending both requests, while the server still opens the files.
  for (let i = 0; i < 8; i++) {
    await new Promise<void>((resolve) => {
      const c = connect(port, '127.0.0.1', () => {
        c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, () => {
          c.resetAndDestroy();
          resolve();
        });
      });
      c.on('error', () => resolve());
    });
  }
  await drained(s.rp);
});

test('read path: small blobs held for slow clients stay under the in-flight cap; past it they are streamed', async (t) => {
  // A cache of one 4 MiB blob and an in-flight cap of two: clients asking for six distinct blobs round-robin and
  // reading nothing would each have held a loaded copy; past the cap the rest stream from the file.
  const MiB = 1024 * 1024;
  const s = await serveReadPath(t, 4 * MiB, 8 * MiB);
  const blobs = Array.from({ length: 6 }, (_, k) => Buffer.alloc(4 * MiB - 1000, k + 1));
  for (const b of blobs) writeFileSync(join(s.dir, sha(b)), b);
  const port = Number(new URL(s.url).port);
  const sockets: Array<ReturnType<typeof connect>> = [];
  t.after(() => {
    for (const c of sockets) c.destroy();
  });
  let peak = 0;
  // Streams are sampled as they run: a loopback socket's kernel buffers can take a whole 4 MiB response, and a
  // stream whose bytes all went there has ended by the time the loop is over.
  let streamed = 0;
  for (let i = 0; i < 18; i++) {
    const b = blobs[i % blobs.length]!;
    await new Promise<void>((resolve, reject) => {
      const c = connect(port, '127.0.0.1', () => c.write(`GET /blobs/sha256/${sha(b)} HTTP/1.1\r\nHost: x\r\n\r\n`));
      sockets.push(c);
      c.once('data', () => {
        c.pause(); // reads nothing more: the response stays in flight
        resolve();
      });
      c.on('error', reject);
    });
    peak = Math.max(peak, s.rp.streamStats.pinnedBytes);
    streamed = Math.max(streamed, s.rp.streamStats.streams);
  }
  assert.ok(peak <= 8 * MiB, `held ${peak} bytes of small blobs, cap 8 MiB`);
  assert.ok(streamed > 0, 'past the cap, small blobs were streamed');
  // A client that reads still gets every byte, whichever way its blob is sent.
  for (const b of blobs) assert.ok((await get(`${s.url}/blobs/sha256/${sha(b)}`)).body.equals(b));
  for (const c of sockets.splice(0)) c.destroy();
  await drained(s.rp);
});

test('blob cache: least recently used out first, the entry asked for last included', () => {
  const c = new BlobCache(3 * 4, 4);
  const b = (n: number): Buffer => Buffer.alloc(4, n);
  c.set('a', b(1));
  c.set('b', b(2));
  c.set('c', b(3));
  assert.deepEqual(c.get('a'), b(1)); // a is now the newest: b is the oldest
  assert.deepEqual(c.get('a'), b(1)); // asked for again: still the newest
  c.set('d', b(4));
  assert.deepEqual([c.has('a'), c.has('b'), c.has('c'), c.has('d')], [true, false, true, true]);
  c.get('c');
  c.get('d');
  c.set('e', b(5)); // a is the oldest now
  assert.deepEqual([c.has('a'), c.has('c'), c.has('d'), c.has('e')], [false, true, true, true]);
  c.set('f', Buffer.alloc(5)); // over the entry cap: never kept
  assert.equal(c.has('f'), false);
  assert.equal(c.get('zz'), undefined);
});
