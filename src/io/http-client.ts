/**
^ * io/http-client — requests to untrusted servers (providers, logs) over `node:http`/`node:https`, with two clocks that
 * always fire: a stall timeout (socket silence, before the headers or between two body chunks) and an absolute
 * deadline for the whole operation. A third, optional, is a throughput floor (curl's `--speed-limit`): a server that
 * trickles a byte now and then resets the stall timer forever, so the caller that has other servers to ask can drop
 * one that moves fewer than `minBytesPerSecond` (averaged over each stall window) and go on to the next.
 *
 * Why not `fetch()`: on Node 20 (undici 6.x) the link from a caller's AbortSignal to a fetch made with
 * `redirect: 'error'` can be lost after a garbage collection (nodejs/undici issues 4627 and 4750), so an abort meant
 * to end a stalled body never reaches the stream and only undici's own 300 s body timeout ends it. Here the socket's
 * own idle timer and a plain timer hold the request; nothing depends on a weak reference.
 *
 * Trust boundary: the server chooses status, headers and body. Redirects are not followed (the caller refuses 3xx);
 * bodies are read by the caller with a cap (see {@link readCapped}).
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { IoError, LimitError, isTrustError } from '../errors.ts';

/** HttpGetOptions configures {@link httpGet}. */
export interface HttpGetOptions {
  /** stallMs abandons the request after this much socket silence (before the headers or between body chunks). */
  stallMs: number;
  /** deadline (ms since the epoch, `Date.now()` clock) abandons the request and its body at that time. */
  deadline: number;
  /**
   * minBytesPerSecond (default 0 = off): fewer bytes than this, times the stall window, moved (sent or received)
   * during any stall window abandons the exchange as a stall (details.timeout 'stall', a message saying too slow).
   */
  minBytesPerSecond?: number;
  method?: 'GET' | 'HEAD' | 'PUT' | 'POST';
  headers?: Record<string, string>;
  /**
   * body is sent after the headers. When the server answers before it has read all of it (a refusal, or "already
   * stored"), sending stops and the answer is what counts: a broken pipe after an answer is not a failure.
   */
  body?: Uint8Array | Readable;
}

/** HttpAnswer is a response whose body is still to be read (or dropped with `close`). */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** stallMs is the stall timeout the request was made with. */
  stallMs: number;
  /** minBytesPerSecond is the throughput floor the request was made with (0: none). */
  minBytesPerSecond: number;
  /** timedOut tells whether the stall timeout, the throughput floor or the deadline ended the exchange. */
  timedOut(): 'stall' | 'slow' | 'deadline' | undefined;
  /** close releases the connection (the body is not read further). */
  close(): void;
}

/**
 * httpGet sends one request and resolves with the status and headers; the body streams through `body`. Network
 * failures and timeouts before the headers reject with ERR_IO_NETWORK (details: `timeout` 'stall' | 'deadline').
 */
export function httpGet(url: URL, o: HttpGetOptions): Promise<HttpAnswer> {
  const left = o.deadline - Date.now();
  if (left <= 0) return Promise.reject(timeoutError(url, 'deadline', o.stallMs));
  return new Promise<HttpAnswer>((resolve, reject) => {
    let timedOut: 'stall' | 'slow' | 'deadline' | undefined;
    const floor = o.minBytesPerSecond ?? 0;
    // A fresh connection per request (agent: false): a pooled socket would carry one request's timers to the next.
    const req: ClientRequest = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: o.method ?? 'GET',
      headers: { 'accept-encoding': 'identity', ...o.headers },
      agent: false,
    });
    const deadlineTimer = setTimeout(() => {
      timedOut = 'deadline';
      req.destroy(timeoutError(url, 'deadline', o.stallMs));
    }, left);
    // Socket bytes until the head is in, then the body's bytes as the parser hands them on (watchThroughput).
    let body: number | undefined;
    const watch = watchThroughput(() => body ?? socketBytes(req.socket), o.stallMs, floor, () => {
      timedOut ??= 'slow';
      req.destroy(timeoutError(url, 'slow', o.stallMs, floor));
    });
    const clear = (): void => {
      clearTimeout(deadlineTimer);
      watch.stop();
    };
    req.setTimeout(o.stallMs, () => {
      timedOut ??= 'stall';
      req.destroy(timeoutError(url, 'stall', o.stallMs));
    });
    req.on('error', (e) => {
      // After an answer, a write error (EPIPE: the server closed while we were still sending) changes nothing.
      if (answered) return;
      clear();
      reject(timedOut !== undefined ? timeoutError(url, timedOut, o.stallMs, floor) : new IoError('ERR_IO_NETWORK', `cannot fetch ${url.href}: ${errnoReason(e)}`, { cause: e }));
    });
    req.on('close', clear);
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      if (o.body instanceof Readable) {
        o.body.unpipe(req);
        o.body.destroy();
      }
      res.on('close', clear);
      if (floor > 0) {
        // The body's bytes are counted where node:http's parser pushes them into the response stream: a reader of
        // the stream (readCapped's async iteration) may not be disturbed by a 'data' listener of ours.
        body = 0;
        watch.restart();
        const push = res.push.bind(res);
        res.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
          if (chunk instanceof Uint8Array) body! += chunk.length;
          return push(chunk, encoding);
        };
      }
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: res,
        stallMs: o.stallMs,
        minBytesPerSecond: floor,
        timedOut: () => timedOut,
        close: () => {
          clear();
          req.destroy();
        },
      });
    });
    if (o.body === undefined) req.end();
    else if (o.body instanceof Readable) {
      o.body.on('error', (e) => req.destroy(e));
      o.body.pipe(req);
    } else req.end(o.body);
  });
}

/**
 * timeoutError is the ERR_IO_NETWORK of a stall or of the deadline (details.timeout names which). A server under the
 * throughput floor (`slow`) is a stall too, with its own message.
 */
export function timeoutError(url: URL, kind: 'stall' | 'slow' | 'deadline', stallMs: number, minBytesPerSecond = 0): IoError {
  const what =
    kind === 'stall'
      ? `no data for ${stallMs} ms (stalled)`
      : kind === 'slow'
        ? `under ${minBytesPerSecond} bytes/s for ${stallMs} ms (too slow)`
        : 'the time allowed for the whole fetch ran out';
  return new IoError('ERR_IO_NETWORK', `${url.href}: ${what}`, { details: { timeout: kind === 'slow' ? 'stall' : kind } });
}

/** ThroughputWatch is a running {@link watchThroughput}. */
export interface ThroughputWatch {
  /** restart begins a new first window from now (the response head arrived: the body is counted from here). */
  restart(): void;
  stop(): void;
}

/**
 * watchThroughput calls `onSlow` once when `count()` (the caller's byte counter) grew by fewer than
 * `minBytesPerSecond × windowMs / 1000` over the last `windowMs`, and returns the running watch. The window slides in
 * quarters. A connection whose last quarter was silent is left to the caller's stall timer, which names what
 * happened ("stalled"); this watch is for the trickle, which that timer never sees. What to count is the caller's:
 * socket bytes while the response head is awaited (a head trickled byte by byte), then the decoded body bytes, so
 * padding (chunk extensions, long header lines) does not count as progress and the wait for the first byte does not
 * count against a fast body. `minBytesPerSecond` 0 watches nothing.
 */
export function watchThroughput(count: () => number, windowMs: number, minBytesPerSecond: number, onSlow: () => void): ThroughputWatch {
  if (!(minBytesPerSecond > 0)) return { restart: () => undefined, stop: () => undefined };
  const floor = (minBytesPerSecond * windowMs) / 1000;
  // The counts at the ends of the last quarters, oldest first.
  let marks: number[] = [count()];
  const t = setInterval(() => {
    const moved = count();
    const quarterAgo = marks[marks.length - 1]!;
    marks.push(moved);
    if (marks.length < 5) return; // the first whole window is still under way
    const windowAgo = marks.shift()!;
    if (moved !== quarterAgo && moved - windowAgo < floor) {
      clearInterval(t);
      onSlow();
    }
  }, windowMs / 4);
  return {
    restart: () => {
      marks = [count()];
    },
    stop: () => clearInterval(t),
  };
}

/** socketBytes is what moved through a request's socket so far, both ways (0 before it has one). */
export function socketBytes(s: Socket | null | undefined): number {
  return s == null ? 0 : s.bytesRead + s.bytesWritten;
}

/** errnoReason names a socket error (ECONNREFUSED, ECONNRESET, a TLS error) without server-chosen text. */
export function errnoReason(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? `${err.code}: ` : '';
  return `${code}${String(err?.message ?? e)}`.slice(0, 300);
}

/**
 * readCapped reads a response body, refusing more than maxBytes (announced or streamed: ERR_LIMIT_SIZE); a broken or
 * timed-out stream is ERR_IO_NETWORK.
 */
export async function readCapped(a: HttpAnswer, maxBytes: number, url: URL, what: string): Promise<Buffer> {
  const announced = Number(a.headers['content-length'] ?? '0');
  if (announced > maxBytes) {
    a.close();
    throw new LimitError('ERR_LIMIT_SIZE', `${url.href}: the ${what} is ${announced} bytes, over the cap of ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of a.body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > maxBytes) throw new LimitError('ERR_LIMIT_SIZE', `${url.href}: the ${what} is over the cap of ${maxBytes} bytes`);
      chunks.push(c);
    }
  } catch (e) {
    a.close();
    throw bodyError(a, url, e);
  }
  return Buffer.concat(chunks);
}

/** bodyError turns a failure while streaming a body into a coded error (a timeout keeps its `timeout` detail). */
export function bodyError(a: HttpAnswer, url: URL, e: unknown): unknown {
  if (isTrustError(e)) return e;
  const t = a.timedOut();
  if (t !== undefined) return timeoutError(url, t, a.stallMs, a.minBytesPerSecond);
  return new IoError('ERR_IO_NETWORK', `${url.href}: the answer broke off: ${errnoReason(e)}`, { cause: e });
}
