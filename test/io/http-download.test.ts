/**
 * io/http-download — the plain-HTTP fast path of large downloads: the strict head parser (what it takes, what it
 * leaves to node:http), and the streaming into reused buffers against raw loopback servers that write exact bytes
 * (split heads, bodies past Content-Length, stalls, early closes, a sink slower than the network).
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { IoError, isTrustError } from '../../src/errors.ts';
import { httpGet, readCapped } from '../../src/io/http-client.ts';
import { BodyDecoder, HEAD_MAX_BYTES, HEAD_MAX_FIELDS, httpDownload, parseResponseHead, type DownloadSink, type HttpDownloadOptions } from '../../src/io/http-download.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\n';

test('parseResponseHead: final answers framed by one Content-Length, chunked alone, or the close; the rest is left to node:http', () => {
  assert.deepEqual(parseResponseHead(b(HEAD + 'hello')), { status: 200, framing: { length: 5 }, contentLength: '5', headBytes: HEAD.length });
  assert.deepEqual(parseResponseHead(b('HTTP/1.0 200\r\ncontent-length:\t7 \r\n\r\n')), { status: 200, framing: { length: 7 }, contentLength: '7', headBytes: 36 });
  assert.deepEqual(parseResponseHead(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n')), { status: 200, framing: 'chunked', headBytes: 47 });
  assert.deepEqual(parseResponseHead(b('HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n')), { status: 404, framing: 'close', headBytes: 37 });
  assert.deepEqual(parseResponseHead(b('HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n')), { status: 503, framing: { length: 0 }, contentLength: '0', headBytes: 40 });
  assert.equal(parseResponseHead(b(HEAD.slice(0, -2))), 'incomplete');
  assert.equal(parseResponseHead(b('')), 'incomplete');
  const refused: Array<[string, string]> = [
    ['an interim answer', 'HTTP/1.1 100 Continue\r\n\r\n'],
    ['a 204', 'HTTP/1.1 204 No Content\r\n\r\n'],
    ['a 304', 'HTTP/1.1 304 Not Modified\r\n\r\n'],
    ['another coding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['chunked beside a length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['two lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n'],
    ['a length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n'],
    ['a signed length', 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n'],
    ['a length past 2^53', 'HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999\r\n\r\n'],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n 2\r\n\r\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n'],
    ['a field without a colon', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nnonsense\r\n\r\n'],
    ['a control character in a value', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: a\x00b\r\n\r\n'],
    ['a bare LF inside the head', 'HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\n'],
    ['HTTP/2 status line', 'HTTP/2 200\r\nContent-Length: 5\r\n\r\n'],
    ['a lowercase protocol', 'http/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 5\r\n\r\n'],
    ['too many fields', `HTTP/1.1 200 OK\r\nContent-Length: 5\r\n${'X-A: 1\r\n'.repeat(HEAD_MAX_FIELDS)}\r\n`],
  ];
  for (const [what, head] of refused) assert.equal(parseResponseHead(b(head + 'hello')), undefined, what);
  // A head that does not end within HEAD_MAX_BYTES is refused, not waited for.
  assert.equal(parseResponseHead(b(`HTTP/1.1 200 OK\r\nX-A: ${'a'.repeat(HEAD_MAX_BYTES)}`)), undefined);
  assert.equal(parseResponseHead(b(`HTTP/1.1 200 OK\r\nX-A: ${'a'.repeat(HEAD_MAX_BYTES - 100)}`)), 'incomplete');
});

test('BodyDecoder: chunked framing removed in place whatever the split; malformed framing is ERR_IO_NETWORK', () => {
  const wire = '5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\nIGNORED';
  for (const step of [1, 2, 3, 7, 64]) {
    const buf = b(wire);
    const d = new BodyDecoder('chunked', 'u');
    let w = 0;
    for (let i = 0; i < buf.length && !d.done; i += step) {
      // Each piece arrives just after what was kept, as the download loop hands them over.
      const n = Math.min(step, buf.length - i);
      buf.copyWithin(w, i, i + n);
      w += d.feed(buf, w, n);
    }
    assert.equal(d.done, true, `step ${step}`);
    assert.equal(buf.subarray(0, w).toString(), 'helloabcdefghijklmnopqrstuvwxyz', `step ${step}`);
  }
  const length = new BodyDecoder({ length: 3 }, 'u');
  assert.equal(length.feed(b('abcdef'), 0, 6), 3);
  assert.equal(length.done, true);
  assert.equal(new BodyDecoder({ length: 0 }, 'u').done, true);
  const close = new BodyDecoder('close', 'u');
  assert.equal(close.feed(b('abc'), 0, 3), 3);
  assert.equal(close.done, false);
  for (const bad of ['x\r\n', '\r\n', '5\r\nhelloXX', '5\n', '1234567890123456\r\n', `1;${'e'.repeat(2000)}\r\n`, '0\r\nX: 1\rZ', '0\r\n\rZ']) {
    assertCode(() => new BodyDecoder('chunked', 'u').feed(b(bad), 0, bad.length), 'ERR_IO_NETWORK');
  }
});

/** rawServer answers every connection with `answer(socket)` after reading the request head. */
async function rawServer(t: TestContext, answer: (s: Socket, request: string) => void | Promise<void>): Promise<URL> {
  const server: Server = createServer((s) => {
    let req = '';
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      if (req.includes('\r\n\r\n')) return;
      req += d.toString('latin1');
      if (req.includes('\r\n\r\n')) void answer(s, req);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs/sha256/ab?x=1`);
}

/** collect is a sink keeping what `data` saw and what `write` stored (optionally slowly). */
function collect(writeDelayMs = 0): DownloadSink & { seen: Buffer[]; stored: Buffer[] } {
  const seen: Buffer[] = [];
  const stored: Buffer[] = [];
  return {
    seen,
    stored,
    data: (p) => void seen.push(Buffer.from(p)),
    write: async (bytes) => {
      if (writeDelayMs > 0) await new Promise((r) => setTimeout(r, writeDelayMs));
      stored.push(Buffer.from(bytes));
    },
  };
}

const opts = (size: number, extra: { stallMs?: number; batchBytes?: number } = {}): HttpDownloadOptions => ({
  stallMs: extra.stallMs ?? 5000,
  deadline: Date.now() + 30_000,
  size,
  errorBodyMaxBytes: 1024,
  ...(extra.batchBytes !== undefined ? { batchBytes: extra.batchBytes } : {}),
});

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('httpDownload: a head split byte by byte, a body in uneven pieces past several buffers, a slow sink: every byte once, in order', async (t) => {
  const body = Buffer.alloc(1024 * 1024 + 12345);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
  let request = '';
  const url = await rawServer(t, async (s, req) => {
    request = req;
    const head = b(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (const byte of head) {
      s.write(Uint8Array.of(byte));
      await pause(1);
    }
    for (let off = 0; off < body.length; ) {
      const n = Math.min(body.length - off, 1 + ((off * 13) % 200_000));
      s.write(body.subarray(off, off + n));
      off += n;
      if (off % 3 === 0) await pause(1);
    }
    s.end();
  });
  // 64 KiB buffers and a sink slower than loopback: the reader runs out of free buffers, pauses and resumes.
  const sink = collect(5);
  assert.equal(await httpDownload(url, opts(body.length, { batchBytes: 64 * 1024 }), sink), 'done');
  assert.ok(Buffer.concat(sink.seen).equals(body), 'data saw the body');
  assert.ok(Buffer.concat(sink.stored).equals(body), 'write stored the body');
  assert.ok(sink.stored.length >= 17 && sink.stored.every((p) => p.length <= 64 * 1024), 'written in buffer-sized pieces');
  assert.match(request, /^GET \/blobs\/sha256\/ab\?x=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n$/);
});

test('httpDownload: head and whole body in one write, bytes past Content-Length ignored, an empty body', async (t) => {
  const url = await rawServer(t, (s) => void s.end(b(HEAD + 'helloEXTRA BYTES')));
  const sink = collect();
  assert.equal(await httpDownload(url, opts(5), sink), 'done');
  assert.equal(Buffer.concat(sink.seen).toString(), 'hello');
  assert.equal(Buffer.concat(sink.stored).toString(), 'hello');
  const empty = await rawServer(t, (s) => void s.end(b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')));
  const sink0 = collect();
  assert.equal(await httpDownload(empty, opts(0), sink0), 'done');
  assert.equal(Buffer.concat(sink0.stored).length, 0);
});

test('httpDownload: chunked and close-delimited 200s stream too; the data callback sees what the framing carries', async (t) => {
  const chunked = await rawServer(t, async (s) => {
    s.write(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel'));
    await pause(5);
    s.end(b('\r\n2\r\nlo\r\n0\r\n\r\n'));
  });
  const sink = collect();
  assert.equal(await httpDownload(chunked, opts(5), sink), 'done');
  assert.equal(Buffer.concat(sink.stored).toString(), 'hello');
  const closeDelimited = await rawServer(t, (s) => void s.end(b('HTTP/1.1 200 OK\r\n\r\nhello, and more')));
  const sink2 = collect();
  assert.equal(await httpDownload(closeDelimited, opts(5), sink2), 'done');
  assert.equal(Buffer.concat(sink2.seen).toString(), 'hello, and more', 'the caller counts and refuses');
  assert.equal(Buffer.concat(sink2.stored).toString(), 'hello, and more');
});

test('httpDownload: another status or length is returned unread by the sink; a failed connection or odd head is "failed"', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope.', { status: 404, contentLength: '5', body: b('nope.') }],
    ['HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n0\r\n\r\n', { status: 503, body: b('busy') }],
    ['HTTP/1.1 410 Gone\r\n\r\ngone for good', { status: 410, body: b('gone for good') }],
    [`HTTP/1.1 404 Not Found\r\nContent-Length: 2000\r\n\r\n${'x'.repeat(2000)}`, { status: 404, contentLength: '2000', body: b('') }],
    ['HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!', { status: 200, contentLength: '6', body: b('') }],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'failed'],
    ['not http at all\r\n\r\n', 'failed'],
  ];
  for (const [answer, expected] of cases) {
    const url = await rawServer(t, (s) => void s.end(b(answer)));
    const sink = collect();
    const r = await httpDownload(url, opts(5), sink);
    assert.deepEqual(typeof r === 'object' ? { ...r, body: Buffer.from(r.body) } : r, expected, answer.slice(0, 40));
    assert.equal(sink.seen.length + sink.stored.length, 0);
  }
  // A connection closed before any head, and a port nobody listens on.
  const closed = await rawServer(t, (s) => void s.destroy());
  assert.equal(await httpDownload(closed, opts(5), collect()), 'failed');
  const nobody = new URL('http://127.0.0.1:1/x');
  assert.equal(await httpDownload(nobody, opts(5), collect()), 'failed');
});

test('httpDownload: a body that breaks off, a stall, the deadline: ERR_IO_NETWORK with the timeout named', async (t) => {
  const short = await rawServer(t, (s) => void s.end(b(HEAD + 'hel')));
  await assertRejectsCode(httpDownload(short, opts(5), collect()), 'ERR_IO_NETWORK');
  const stalls = await rawServer(t, (s) => void s.write(b(HEAD + 'he')));
  const e = await httpDownload(stalls, opts(5, { stallMs: 150 }), collect()).then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(isTrustError(e) && e.code === 'ERR_IO_NETWORK' && e.details?.timeout === 'stall', String(e));
  const silent = await rawServer(t, () => undefined);
  const d = await httpDownload(silent, { stallMs: 5000, deadline: Date.now() + 150, size: 5, errorBodyMaxBytes: 1024 }, collect()).then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(isTrustError(d) && d.code === 'ERR_IO_NETWORK' && d.details?.timeout === 'deadline', String(d));
  await assertRejectsCode(httpDownload(silent, { stallMs: 5000, deadline: Date.now() - 1, size: 5, errorBodyMaxBytes: 1024 }, collect()), 'ERR_IO_NETWORK');
});

test('httpDownload: a failing write or a throwing data callback ends the download with that error', async (t) => {
  const url = await rawServer(t, (s) => void s.end(b(HEAD + 'hello')));
  const failing: DownloadSink = { data: () => undefined, write: () => Promise.reject(new IoError('ERR_IO_WRITE_FAILED', 'disk full')) };
  await assertRejectsCode(httpDownload(url, opts(5), failing), 'ERR_IO_WRITE_FAILED');
  const throwing: DownloadSink = {
    data: () => {
      throw new IoError('ERR_IO_READ_FAILED', 'refused by the caller');
    },
    write: () => Promise.resolve(),
  };
  await assertRejectsCode(httpDownload(url, opts(5), throwing), 'ERR_IO_READ_FAILED');
  assert.throws(() => httpDownload(new URL('https://127.0.0.1/x'), opts(5), collect()), /only http: URLs/);
});

/** drip answers with `head`, then writes `piece()` every `everyMs` until the client goes (or `count` pieces). */
function drip(t: TestContext, head: string, piece: () => string, everyMs: number, count = Infinity, delayMs = 0): Promise<URL> {
  return rawServer(t, async (s) => {
    if (delayMs > 0) await pause(delayMs);
    s.write(b(head));
    let n = 0;
    const tick = setInterval(() => {
      if (s.destroyed || n++ >= count) {
        clearInterval(tick);
        return;
      }
      s.write(b(piece()));
    }, everyMs);
    s.on('close', () => clearInterval(tick));
    t.after(() => clearInterval(tick));
  });
}

/** outcome is what a promise settled with: 'ok', or the error's timeout kind and message. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isTrustError(e) ? `${String(e.details?.timeout)}: ${e.message}` : String(e);
  }
}

test('the throughput floor counts body bytes, not padding, and not the wait for the first byte (httpDownload and httpGet)', { timeout: 60_000 }, async (t) => {
  const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  // One body byte per chunk, each chunk line padded with ~900 bytes of chunk extension: ~18 KB/s on the wire,
  // 20 body bytes/s. A floor of 1,000 B/s must see the 20.
  const padded = await drip(t, CHUNKED, () => `1;${'x'.repeat(900)}\r\nA\r\n`, 50);
  const floor = { stallMs: 400, deadline: Date.now() + 20_000, minBytesPerSecond: 1000 };
  assert.match(await outcome(httpDownload(padded, { ...floor, size: 1_000_000, errorBodyMaxBytes: 1024 }, collect())), /^stall: .*under 1000 bytes\/s .*too slow/);
  assert.match(await outcome(httpGet(padded, floor).then((a) => readCapped(a, 1_000_000, padded, 'body'))), /^stall: .*under 1000 bytes\/s .*too slow/);

  // An answer that starts late (most of a stall window of silence) and then comes at ten times the floor completes.
  const body = 'y'.repeat(250);
  const late = await drip(t, `HTTP/1.1 200 OK\r\nContent-Length: ${30 * 250}\r\n\r\n`, () => body, 50, 30, 600);
  const lateOpts = { stallMs: 800, deadline: Date.now() + 20_000, minBytesPerSecond: 500 };
  const sink = collect();
  assert.equal(await outcome(httpDownload(late, { ...lateOpts, size: 30 * 250, errorBodyMaxBytes: 1024 }, sink)), 'ok');
  assert.equal(Buffer.concat(sink.seen).length, 30 * 250);
  const got = await httpGet(late, lateOpts).then((a) => readCapped(a, 1_000_000, late, 'body'));
  assert.equal(got.length, 30 * 250);
});
