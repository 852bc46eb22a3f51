/**
 * io/http-download — the fast path for one large body over plain HTTP/1.1 (RFC 9112): a GET on a fresh connection
 * whose answer, when it is a `200` framed by `Content-Length` (RFC 9112 §6.3 rule 6), is read by the kernel straight
 * into the caller's write buffers (net.Socket `onread`). Each byte is then handed to the caller once (to hash) and
 * written from the same memory: no per-read allocation, no copy by the HTTP parser, no garbage for the collector.
 * On the bench VM this halves the client's CPU per byte (256 MiB: ~0.65 s against ~1.15 s through node:http).
 *
 * It handles only the plain case and says 'fallback' for anything else, before a byte reaches the caller: another
 * status, chunked or close-delimited framing, a length other than the expected one, a head it does not fully
 * understand (obsolete line folding, a malformed field, over {@link HEAD_MAX_BYTES}), or a connection that fails
 * before the head. The caller then asks again through io/http-client (node:http), whose parser, retries and error
 * reporting stay the single authority for everything unusual.
 *
 * Trust boundary: the server chooses every byte. The head parser is bounded (size, field count) and strict; the body
 * is at most the expected size (bytes past `Content-Length` are ignored, as node:http's parser does). Nothing here
 * decides that the bytes are right: the caller checks their digest before it uses them.
 */
import { connect, type Socket } from 'node:net';
import { IoError } from '../errors.ts';
import { errnoReason, socketBytes, timeoutError, watchThroughput } from './http-client.ts';

/** HEAD_MAX_BYTES bounds the status line and header fields of an answer taken on the fast path. */
export const HEAD_MAX_BYTES = 16 * 1024;
/** HEAD_MAX_FIELDS bounds the number of header fields. */
export const HEAD_MAX_FIELDS = 100;
/** DOWNLOAD_BATCH_BYTES: the size of each write buffer (one write per buffer); three are used in turn. */
export const DOWNLOAD_BATCH_BYTES = 4 * 1024 * 1024;
const DOWNLOAD_BUFFERS = 3;
/** STALL_BUFFER_BYTES: the one read after a pause for a free buffer lands here, then is copied (rare, small). */
const STALL_BUFFER_BYTES = 64 * 1024;
/** MAX_LENGTH_DIGITS: a Content-Length of more digits is not a safe integer (2^53 has 16). */
const MAX_LENGTH_DIGITS = 15;

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** Framing is how an answer's body ends (RFC 9112 §6.3): after a length, after the last chunk, or at close. */
export type Framing = { length: number } | 'chunked' | 'close';

/** ResponseHead is what the fast path needs of an answer's head. */
export interface ResponseHead {
  /** status is the three-digit status code. */
  status: number;
  /** framing is how the body ends. */
  framing: Framing;
  /** contentLength is the Content-Length field as sent, when there is one (for messages). */
  contentLength?: string;
  /** headBytes is the length of the head including its closing empty line. */
  headBytes: number;
}

// RFC 9110 §5.6.2 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9112 §4 status-line: HTTP-version SP 3DIGIT SP [reason-phrase] (a missing SP before an empty reason is tolerated).
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * parseResponseHead reads the head at the start of `b`: 'incomplete' while no empty line ends it (and `b` is under
 * HEAD_MAX_BYTES), a {@link ResponseHead} for a final answer (status 200-599 other than 204 and 304) framed by one
 * Content-Length, by `Transfer-Encoding: chunked` alone, or by the connection's close; undefined for anything
 * else, which is not an error here: the general client (node:http) is asked instead.
 */
export function parseResponseHead(b: Uint8Array): ResponseHead | 'incomplete' | undefined {
  const limit = Math.min(b.length, HEAD_MAX_BYTES);
  let end = -1;
  for (let i = 3; i < limit; i++) {
    if (b[i] === 0x0a && b[i - 1] === 0x0d && b[i - 2] === 0x0a && b[i - 3] === 0x0d) {
      end = i + 1;
      break;
    }
  }
  if (end < 0) return b.length < HEAD_MAX_BYTES ? 'incomplete' : undefined;
  // latin1: one char per byte, so the patterns above see obs-text (0x80-0xff) as it is and never a decoding error.
  const lines = Buffer.from(b.buffer, b.byteOffset, end - 4).toString('latin1').split('\r\n');
  const statusLine = STATUS_LINE.exec(lines[0]!);
  if (statusLine === null) return undefined;
  const status = Number(statusLine[1]);
  // 1xx (interim), 204 and 304 (no body) never answer our GET of a blob; node:http knows what to do with them.
  if (status < 200 || status === 204 || status === 304) return undefined;
  if (lines.length - 1 > HEAD_MAX_FIELDS) return undefined;
  let contentLength: string | undefined;
  let chunked = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // A bare LF, obsolete folding (a line starting with SP/HTAB) or a space before the colon all fail here.
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return undefined;
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, '');
    if (!FIELD_VALUE.test(value)) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    if (name === 'transfer-encoding') {
      // Only a single "chunked"; any other coding (or a repeated field) is node:http's business.
      if (chunked || value.toLowerCase() !== 'chunked') return undefined;
      chunked = true;
    } else if (name === 'content-length') {
      // RFC 9112 §6.3: a list or repeated values are refused here (node:http decides what they mean).
      if (contentLength !== undefined || !/^[0-9]+$/.test(value) || value.length > MAX_LENGTH_DIGITS) return undefined;
      contentLength = value;
    }
  }
  // RFC 9112 §6.3 rule 3: both present is a smuggling pattern; leave it to the general client's rules.
  if (chunked && contentLength !== undefined) return undefined;
  const framing: Framing = chunked ? 'chunked' : contentLength !== undefined ? { length: Number(contentLength) } : 'close';
  return { status, framing, headBytes: end, ...(contentLength !== undefined ? { contentLength } : {}) };
}

/** CHUNK_LINE_MAX_BYTES bounds a chunk-size line with its extensions. */
const CHUNK_LINE_MAX_BYTES = 1024;

/**
 * BodyDecoder removes a body's framing in place: `feed` takes new bytes at buf[start…start+n) and leaves the body
 * bytes among them packed at buf[start…start+k), returning k. Chunked framing (RFC 9112 §7.1) is parsed strictly:
 * hex sizes of at most 15 digits, extensions skipped within CHUNK_LINE_MAX_BYTES, CRLF after each chunk, a trailer
 * section within HEAD_MAX_BYTES; a violation throws ERR_IO_NETWORK.
 */
export class BodyDecoder {
  readonly framing: Framing;
  /** done: the framing says the body is complete (never for 'close': the caller sees the close). */
  done = false;
  #left: number;
  #state: 'size' | 'ext' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'trailer-line' | 'trailer-lf' | 'end-lf' = 'size';
  #digits = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  readonly #what: string;

  constructor(framing: Framing, what: string) {
    this.framing = framing;
    this.#what = what;
    this.#left = typeof framing === 'object' ? framing.length : 0;
    if (typeof framing === 'object' && framing.length === 0) this.done = true;
  }

  feed(buf: Uint8Array, start: number, n: number): number {
    if (this.done) return 0;
    if (this.framing === 'close') return n;
    if (typeof this.framing === 'object') {
      const k = Math.min(n, this.#left);
      this.#left -= k;
      if (this.#left === 0) this.done = true;
      return k;
    }
    let w = start;
    const end = start + n;
    for (let i = start; i < end && !this.done; ) {
      const c = buf[i]!;
      switch (this.#state) {
        case 'data': {
          const k = Math.min(this.#left, end - i);
          if (w !== i) buf.copyWithin(w, i, i + k);
          w += k;
          i += k;
          this.#left -= k;
          if (this.#left === 0) this.#state = 'data-cr';
          continue;
        }
        case 'size': {
          const d = hexValue(c);
          if (d >= 0 && this.#digits < MAX_LENGTH_DIGITS) {
            this.#left = this.#left * 16 + d;
            this.#digits++;
          } else if (this.#digits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) this.#state = 'ext';
          else if (this.#digits > 0 && c === 0x0d) this.#state = 'size-lf';
          else this.#malformed('a chunk size');
          break;
        }
        case 'ext':
          if (c === 0x0d) this.#state = 'size-lf';
          else if (++this.#lineBytes > CHUNK_LINE_MAX_BYTES) this.#malformed('a chunk extension');
          break;
        case 'size-lf':
          if (c !== 0x0a) this.#malformed('a chunk size line');
          this.#digits = 0;
          this.#lineBytes = 0;
          this.#state = this.#left === 0 ? 'trailer' : 'data';
          break;
        case 'data-cr':
          if (c !== 0x0d) this.#malformed('the end of a chunk');
          this.#state = 'data-lf';
          break;
        case 'data-lf':
          if (c !== 0x0a) this.#malformed('the end of a chunk');
          this.#state = 'size';
          break;
        case 'trailer':
          // The start of a trailer line: CR ends the body, anything else is a field (skipped).
          this.#state = c === 0x0d ? 'end-lf' : 'trailer-line';
          break;
        case 'trailer-line':
          if (c === 0x0d) this.#state = 'trailer-lf';
          break;
        case 'trailer-lf':
          if (c !== 0x0a) this.#malformed('a trailer field');
          this.#state = 'trailer';
          break;
        case 'end-lf':
          if (c !== 0x0a) this.#malformed('the end of the body');
          this.done = true;
          break;
      }
      if (this.#state.startsWith('trailer') && ++this.#trailerBytes > HEAD_MAX_BYTES) this.#malformed('the trailer section');
      i++;
    }
    return w - start;
  }

  #malformed(what: string): never {
    throw new IoError('ERR_IO_NETWORK', `${this.#what}: the answer broke off: malformed chunked framing at ${what}`);
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** DownloadSink receives the body: `data` sees every byte once, in order, before `write` is given the same bytes. */
export interface DownloadSink {
  /** data is called for each piece as it arrives (hash, count, progress); a throw ends the download with it. */
  data(piece: Uint8Array): void;
  /**
   * write stores the next bytes (in order, one call at a time); its rejection ends the download with that error.
   * The memory is reused once the promise settles.
   */
  write(bytes: Uint8Array): Promise<void>;
}

/** HttpDownloadOptions configures {@link httpDownload}. */
export interface HttpDownloadOptions {
  /** stallMs abandons the exchange after this much socket silence. */
  stallMs: number;
  /** deadline (ms since the epoch) abandons it at that time. */
  deadline: number;
  /** minBytesPerSecond is the throughput floor of io/http-client (default 0 = off). */
  minBytesPerSecond?: number;
  /** size is the expected body length: a 200 announcing another Content-Length is returned unread. */
  size: number;
  /** errorBodyMaxBytes caps the body read of an answer other than 200 (past it, the body is returned empty). */
  errorBodyMaxBytes: number;
  /** batchBytes is the size of each write buffer (default DOWNLOAD_BATCH_BYTES; tests use small ones). */
  batchBytes?: number;
}

/**
 * HttpDownloadResult: 'done' — a 200 whose body went through the sink and every write settled; an `answer` — not a
 * 200 of the expected size, nothing given to the sink (the body of an error answer, capped, and the Content-Length
 * as sent); 'failed' — the connection failed, or the head is not one this parser takes, before any answer was read
 * (nothing given to the sink: ask again through node:http, as after a failed connection).
 */
export type HttpDownloadResult = 'done' | 'failed' | { status: number; contentLength?: string; body: Uint8Array };

/**
 * httpDownload GETs an `http:` URL and, for a 200 announcing `size` bytes (or not announcing a length), streams the
 * body into `sink` — see {@link HttpDownloadResult}. A stall or the deadline throws ERR_IO_NETWORK
 * (details.timeout) at any point; a body that breaks off or is malformed throws ERR_IO_NETWORK; an error of the sink
 * is rethrown as it is. The sink's `data` may see more than `size` bytes (chunked or close-delimited framing): the
 * caller counts and refuses.
 */
export function httpDownload(url: URL, o: HttpDownloadOptions, sink: DownloadSink): Promise<HttpDownloadResult> {
  if (url.protocol !== 'http:') throw new Error('http-download: only http: URLs take the fast path');
  const left = o.deadline - Date.now();
  if (left <= 0) return Promise.reject(timeoutError(url, 'deadline', o.stallMs));
  const batchBytes = Math.max(STALL_BUFFER_BYTES, HEAD_MAX_BYTES + o.errorBodyMaxBytes, o.batchBytes ?? DOWNLOAD_BATCH_BYTES);
  return new Promise<HttpDownloadResult>((resolve, reject) => {
    const free: Buffer[] = Array.from({ length: DOWNLOAD_BUFFERS }, () => Buffer.allocUnsafeSlow(batchBytes));
    const stallBuf = Buffer.allocUnsafeSlow(STALL_BUFFER_BYTES);
    let cur: Buffer | undefined = free.pop();
    let fill = 0;
    let head: ResponseHead | undefined;
    let decoder: BodyDecoder | undefined;
    /** errorAnswer: the head of an answer other than a 200, whose body is read into `cur` (capped). */
    let errorAnswer = false;
    let received = 0;
    /** body counts the decoded body bytes of any answer, for the throughput floor. */
    let body = 0;
    let waiting = false; // paused until a write frees a buffer
    let settled = false;
    let writing: Promise<void> = Promise.resolve();

    /** settle ends the exchange once: 'done' stands only if every write succeeds; other outcomes stand as they are. */
    const settle = (outcome: HttpDownloadResult | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadlineTimer);
      watch.stop();
      sock.destroy();
      const finish = (writeError?: unknown): void => {
        if (typeof outcome === 'object' && 'error' in outcome) reject(asError(outcome.error));
        else if (outcome === 'done' && writeError !== undefined) reject(asError(writeError));
        else resolve(outcome);
      };
      // Writes already handed to the sink finish before the caller hears anything (it closes the file next).
      void writing.then(
        () => finish(),
        (e: unknown) => finish(e),
      );
    };
    const fail = (e: unknown): void => {
      // An error answer's body is best effort: whatever goes wrong, the status stands with an empty body.
      if (errorAnswer && head !== undefined) settle({ status: head.status, ...contentLengthOf(head), body: new Uint8Array() });
      else settle({ error: e });
    };
    /** ended: the server closed the connection after `received` body bytes (the end of a close-delimited body). */
    const ended = (): void => {
      if (head === undefined) settle('failed');
      else if (head.framing !== 'close') fail(new IoError('ERR_IO_NETWORK', `${url.href}: the answer broke off after ${received} bytes`));
      else if (errorAnswer) settle({ status: head.status, ...contentLengthOf(head), body: cur!.subarray(0, fill) });
      else {
        if (cur !== undefined && fill > 0) submit(cur, fill);
        settle('done');
      }
    };
    /** broke: the connection failed (reset, refused): before a head, ask again; after one, the answer is incomplete. */
    const broke = (reason: string): void => {
      if (head === undefined) settle('failed');
      else fail(new IoError('ERR_IO_NETWORK', `${url.href}: the answer broke off: ${reason}`));
    };

    const submit = (buf: Buffer, n: number): void => {
      const bytes = buf.subarray(0, n);
      writing = writing.then(() => sink.write(bytes));
      writing.then(
        () => {
          free.push(buf);
          if (waiting && !settled) {
            waiting = false;
            cur = free.pop();
            fill = 0;
            sock.resume();
          }
        },
        (e: unknown) => fail(e),
      );
    };

    /** take handles `n` new bytes at cur[fill…]; false pauses the socket. */
    const take = (n: number): boolean => {
      const buf = cur!;
      let at = fill;
      if (head === undefined) {
        const h = parseResponseHead(buf.subarray(0, fill + n));
        if (h === 'incomplete') {
          fill += n;
          return true;
        }
        if (h === undefined) {
          settle('failed');
          return false;
        }
        head = h;
        body = 0;
        watch.restart();
        const announced = typeof h.framing === 'object' ? h.framing.length : undefined;
        if (h.status === 200 && announced !== undefined && announced !== o.size) {
          settle({ status: 200, ...contentLengthOf(h), body: new Uint8Array() });
          return false;
        }
        errorAnswer = h.status !== 200;
        decoder = new BodyDecoder(h.framing, url.href);
        // The first body bytes came with the head: moved to the buffer's start (under HEAD_MAX_BYTES of them).
        n = fill + n - h.headBytes;
        buf.copyWithin(0, h.headBytes, h.headBytes + n);
        fill = 0;
        at = 0;
      }
      const k = decoder!.feed(buf, at, n);
      body += k;
      if (errorAnswer) {
        fill += k;
        if (fill > o.errorBodyMaxBytes) fail(new Error('error body over the cap'));
        else if (decoder!.done) settle({ status: head.status, ...contentLengthOf(head), body: buf.subarray(0, fill) });
        return !settled;
      }
      if (k > 0) sink.data(buf.subarray(at, at + k));
      fill += k;
      received += k;
      if (decoder!.done) {
        submit(buf, fill);
        cur = undefined;
        settle('done');
        return false;
      }
      if (fill === buf.length) {
        submit(buf, fill);
        cur = free.pop();
        fill = 0;
        if (cur === undefined) {
          waiting = true;
          return false;
        }
      }
      return true;
    };

    const sock: Socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      onread: {
        // Called after each read for the memory of the next one: the free end of the current buffer, or, while
        // paused for a free buffer, the small stall buffer (the socket reads again only after resume()).
        buffer: () => (cur === undefined || waiting ? stallBuf : cur.subarray(fill)),
        callback: (n: number, buf: Uint8Array): boolean => {
          if (settled) return false;
          try {
            if (buf === stallBuf) {
              if (cur === undefined) throw new Error('http-download: a read arrived while no buffer was free');
              stallBuf.copy(cur, fill, 0, n);
            }
            return take(n);
          } catch (e) {
            fail(e);
            return false;
          }
        },
      },
    });
    const deadlineTimer = setTimeout(() => settle({ error: timeoutError(url, 'deadline', o.stallMs) }), left);
    sock.setTimeout(o.stallMs, () => settle({ error: timeoutError(url, 'stall', o.stallMs) }));
    // Socket bytes until the head is in, then decoded body bytes (io/http-client watchThroughput).
    const watch = watchThroughput(() => (head === undefined ? socketBytes(sock) : body), o.stallMs, o.minBytesPerSecond ?? 0, () =>
      settle({ error: timeoutError(url, 'slow', o.stallMs, o.minBytesPerSecond) }),
    );
    sock.on('connect', () => {
      // RFC 9112 §3: request-line and Host; the body is asked for unencoded and the connection closes after it.
      sock.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n`);
    });
    sock.on('error', (e) => broke(errnoReason(e)));
    sock.on('end', ended);
    sock.on('close', ended);
  });
}

function contentLengthOf(h: ResponseHead): { contentLength?: string } {
  return h.contentLength !== undefined ? { contentLength: h.contentLength } : {};
}
