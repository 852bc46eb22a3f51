/**
 * server/fast-http — answers the simplest HTTP/1.1 requests (RFC 9112) of a `node:http` server's plain-TCP
 * connections straight from the socket, and hands each connection to `node:http` at the first request that is not one.
 *
 * Why: on this project's 2-core benchmark machine a bare `node:http` server answering every request with one prepared
 * buffer reaches 0.72–0.78× of nginx's requests/s; the same process writing prepared bytes on `node:net` reaches
 * about 1.3×. The difference is node:http's per-request objects (IncomingMessage, ServerResponse, header
 * formatting, stream state), not the parser (llhttp, C). A boot storm is thousands of identical small GETs; this
 * answers those without the objects.
 *
 * What counts as simple (checked on the bytes of one read, never across reads): a complete request head of at most
 * {@link SIMPLE_HEAD_MAX_BYTES}, request line `GET|HEAD SP origin-form SP HTTP/1.1` whose target holds only RFC 3986
 * path and query characters, header lines `token ":" value` of visible ASCII, space and tab, CRLF line ends, exactly
 * one Host, no header that gives the request a body or changes the answer (Content-Length, Transfer-Encoding,
 * Expect, Upgrade, TE, Trailer, Range, If-*), and Connection absent or `keep-alive`; and then the server's `answer`
 * must give a whole response (at once, or after a wait during which the connection reads nothing). Everything else — a head split over reads, obs-fold, a bare LF, HTTP/1.0, a body,
 * a conditional or a range, a route not prepared in memory, a client not reading its answers (the socket's write
 * buffer is full) — goes, with every byte not yet answered, to `node:http`, which keeps the connection from then on.
 * So node:http's timeouts, limits and refusals apply to every request this does not answer: this never refuses
 * anything itself, and it never reads a body (it takes no request that has one).
 *
 * A response is written as node:http writes it (status line, the given header list, then `Date`, `Connection:
 * keep-alive`, `Keep-Alive: timeout=N`), so a client cannot tell which answered (test/server/fast-http.test.ts and
 * the fast-front fuzz target compare the bytes). An idle connection is closed after the server's `timeout` until its
 * first answer and after the keep-alive timeout from then on, as on node:http; a client's FIN is answered
 * with ours once what was written has gone.
 *
 * Trust boundary: every byte read here is the client's. The head is bounded, matched by anchored linear regular
 * expressions, and only a method and a target string leave this module.
 */
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

/** SIMPLE_HEAD_MAX_BYTES: a longer head goes to node:http (whose own cap, maxHeaderSize, is 16 KiB by default). */
export const SIMPLE_HEAD_MAX_BYTES = 8 * 1024;

/**
 * SMALL_BODY_MAX_BYTES: a body up to this size is sent with its head as one buffer (a copy made once a second per
 * answer). A connection's queue of unsent answers stays under the socket's high-water mark plus one answer (the
 * requests after are node:http's), so copies this small bound what a client that does not read holds; a larger body
 * is written from the answer's own buffer, which the answer's `sent` releases.
 */
export const SMALL_BODY_MAX_BYTES = 16 * 1024;

/** SimpleRequest is a complete request without a body: its method, its request target, and where the next begins. */
export interface SimpleRequest {
  method: 'GET' | 'HEAD';
  target: string;
  next: number;
}

/** FastAnswer is a whole response known at once: `body` is left out of the answer to HEAD. */
export interface FastAnswer {
  status: number;
  /** headers is a flat name/value list (as `writeHead` takes it); the same array object is cached with its bytes. */
  headers: readonly string[];
  body: Uint8Array | undefined;
  /** sent is called once, when the response has been written to the kernel or the connection is gone. */
  sent?: (() => void) | undefined;
}

/**
 * FastAnswerer returns the answer to a simple request, a promise of it (the connection waits, reading nothing
 * more), or undefined (also as the promise's value, or its rejection) to hand the connection to node:http.
 */
export type FastAnswerer = (method: 'GET' | 'HEAD', target: string, socket: Socket) => FastAnswer | Promise<FastAnswer | undefined> | undefined;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** origin-form (RFC 9112 §3.2.1): absolute-path [ "?" query ], of unreserved, sub-delims, ":", "@", "%", "/", "?". */
const REQUEST_LINE = /^(GET|HEAD) (\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*) HTTP\/1\.1$/;
/** field-line (RFC 9112 §5): token ":" then visible ASCII, space and tab (no obs-text, no obs-fold, no CR or LF). */
const FIELD_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*$/;
/**
 * Fields after which the request is not simple: a body, an upgrade, or an answer that depends on them
 * (Proxy-Connection: llhttp reads it as Connection).
 */
const NOT_SIMPLE: ReadonlySet<string> = new Set([
  'content-length', 'transfer-encoding', 'expect', 'upgrade', 'te', 'trailer', 'http2-settings', 'proxy-connection',
  'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since',
]);

/**
 * parseSimpleRequest reads the request starting at `start` of one read's bytes, or returns undefined when it is not a
 * simple one (the module doc) or not complete in these bytes.
 */
export function parseSimpleRequest(data: Uint8Array, start: number): SimpleRequest | undefined {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const end = buf.indexOf(CRLFCRLF, start);
  if (end < 0 || end + 4 - start > SIMPLE_HEAD_MAX_BYTES) return undefined;
  const lines = buf.toString('latin1', start, end).split('\r\n');
  const line = REQUEST_LINE.exec(lines[0]!);
  if (line === null) return undefined;
  let hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const field = lines[i]!;
    if (!FIELD_LINE.test(field)) return undefined;
    const colon = field.indexOf(':');
    const name = field.slice(0, colon).toLowerCase();
    if (name === 'host') hosts++;
    else if (name === 'connection') {
      if (field.slice(colon + 1).trim().toLowerCase() !== 'keep-alive') return undefined;
    } else if (NOT_SIMPLE.has(name)) return undefined;
  }
  if (hosts !== 1) return undefined;
  return { method: line[1] as 'GET' | 'HEAD', target: line[2]!, next: end + 4 };
}

/**
 * FastConnection is what the fast path keeps of a connection it reads: `waiting`, an answer is being prepared (the
 * socket is paused meanwhile); `onAnswered`, what to call once that answer and those of the requests read with it
 * have been written (set by {@link closeAfterAnswer}).
 */
interface FastConnection {
  waiting: boolean;
  onAnswered: (() => void) | undefined;
}
const CONNECTIONS = new WeakMap<Socket, FastConnection>();

/**
 * closeAfterAnswer asks a connection of the fast path that is waiting for an answer being prepared (a request read,
 * its answer not yet written) to close once that answer, and those of the requests read with it, have been written —
 * what a drain does with the requests node:http has in flight (server/http ConnectionTracker); requests of those bytes
 * that node:http answers are its own. Nothing more is read from the connection: `close` is then called to close it.
 * Returns false where the connection has no such request: the caller closes it now.
 */
export function closeAfterAnswer(socket: Socket, close: () => void): boolean {
  const c = CONNECTIONS.get(socket);
  if (c === undefined || !c.waiting) return false;
  c.onAnswered = close;
  return true;
}

/** HttpDate is the IMF-fixdate of the current second, made once a second (as node:http does). */
class HttpDate {
  #second = -1;
  #text = '';
  get text(): string {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#text = new Date(second * 1000).toUTCString();
    }
    return this.#text;
  }
}

/** responseHead is a response's status line and header section, in node:http's words and order. */
export function responseHead(status: number, headers: readonly string[], date: string, keepAliveS: number): string {
  let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${s}Date: ${date}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${keepAliveS}\r\n\r\n`;
}

/**
 * attachFastPath puts the fast path in front of `server`'s own connection handling (plain HTTP only: a TLS server's
 * connections are TLS records, never simple requests). Returns false, changing nothing, where the server does not
 * have exactly node:http's one 'connection' listener (attach it before anything else listens). Listeners added to
 * 'connection' later see every connection, fast or not; 'request' is emitted only for what node:http answers.
 */
export function attachFastPath(server: HttpServer, answer: FastAnswerer, o: { keepAliveMs: number }): boolean {
  const own = server.listeners('connection');
  if (own.length !== 1) return false;
  const nodeHttp = own[0] as (this: HttpServer, socket: Socket) => void;
  server.removeListener('connection', nodeHttp);
  const date = new HttpDate();
  const keepAliveS = Math.floor(o.keepAliveMs / 1000);
  /**
   * heads caches, per header list (prepared lists are long-lived objects), its bytes for the current second and,
   * for a body of at most SMALL_BODY_MAX_BYTES, the head and that body as one buffer: one write, one system call.
   */
  const heads = new WeakMap<readonly string[], { status: number; date: string; bytes: Buffer; body: Uint8Array | undefined; whole: Buffer | undefined }>();
  const cached = (a: FastAnswer): { bytes: Buffer; body: Uint8Array | undefined; whole: Buffer | undefined } => {
    const d = date.text;
    let c = heads.get(a.headers);
    if (c === undefined || c.date !== d || c.status !== a.status) {
      c = { status: a.status, date: d, bytes: Buffer.from(responseHead(a.status, a.headers, d, keepAliveS), 'latin1'), body: undefined, whole: undefined };
      heads.set(a.headers, c);
    }
    return c;
  };

  server.on('connection', (socket: Socket) => {
    const conn: FastConnection = { waiting: false, onAnswered: undefined };
    CONNECTIONS.set(socket, conn);
    /** ended: the client's FIN came. */
    let ended = false;
    let handed = false;
    let answered = false;
    const send = (req: SimpleRequest, a: FastAnswer): void => {
      if (!answered) {
        answered = true;
        socket.setTimeout(o.keepAliveMs);
      }
      const body = req.method === 'HEAD' ? undefined : a.body;
      const c = cached(a);
      if (body === undefined || body.length === 0) {
        socket.write(c.bytes);
        a.sent?.();
        return;
      }
      if (body.length <= SMALL_BODY_MAX_BYTES) {
        // A copy (the answer's buffer is not held past this call): sent, as far as the answer's owner cares.
        if (c.whole === undefined || c.body !== body) {
          c.whole = Buffer.concat([c.bytes, body]);
          c.body = body;
        }
        socket.write(c.whole);
        a.sent?.();
        return;
      }
      let done: (() => void) | undefined;
      if (a.sent !== undefined) {
        const sent = a.sent;
        let once = false;
        done = () => {
          if (once) return;
          once = true;
          sent();
        };
      }
      socket.cork();
      socket.write(c.bytes);
      socket.write(body, done);
      socket.uncork();
    };
    /** serve answers the requests of `chunk` from `pos` on, until one is not simple or must wait. */
    const serve = (chunk: Buffer, pos: number): void => {
      while (pos < chunk.length) {
        // Closing (a drain, our answer to the client's FIN): what arrives now is not answered.
        if (socket.destroyed || socket.writableEnded) return;
        // A client not reading its answers: node:http pauses the connection until they have gone.
        if (socket.writableLength >= socket.writableHighWaterMark) break;
        const req = parseSimpleRequest(chunk, pos);
        if (req === undefined) break;
        const a = answer(req.method, req.target, socket);
        if (a === undefined) break;
        if (a instanceof Promise) {
          // Prepared on demand (a small blob read into memory): nothing more is read or answered until it is.
          conn.waiting = true;
          socket.pause();
          const at = pos;
          const settled = (got: FastAnswer | undefined): void => {
            conn.waiting = false;
            if (socket.destroyed || socket.writableEnded) {
              got?.sent?.();
              return;
            }
            // Not ours after all: node:http answers it (and a drain closes the connection after that answer).
            if (got === undefined) {
              handOff(chunk.subarray(at));
              return;
            }
            send(req, got);
            serve(chunk, req.next);
            if (conn.waiting || handed) return;
            if (conn.onAnswered !== undefined) conn.onAnswered();
            else if (ended) socket.end();
            else socket.resume();
          };
          a.then(settled, () => settled(undefined));
          return;
        }
        send(req, a);
        pos = req.next;
      }
      if (pos < chunk.length) handOff(pos === 0 ? chunk : chunk.subarray(pos));
    };
    const onData = (chunk: Buffer): void => serve(chunk, 0);
    const onEnd = (): void => {
      ended = true;
      if (!conn.waiting) socket.end();
    };
    const onTimeout = (): void => {
      socket.destroy();
    };
    const onError = (): void => undefined; // 'close' follows; nothing of ours is waiting on it
    const handOff = (rest: Buffer): void => {
      handed = true;
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('error', onError);
      socket.setTimeout(0);
      // The client's FIN came while an answer was being prepared ('end' can be emitted on a paused socket): nothing
      // can be given back to the stream after its end, and node:http would close the connection now, so do that.
      if (socket.readableEnded) {
        socket.end();
        return;
      }
      // Paused, the bytes not answered go back to the front of the socket's buffer (ahead of any read since);
      // node:http takes the socket (its parser then reads the handle itself) and the resumed stream hands it those
      // bytes first, on the next tick, before any later read can arrive.
      socket.pause();
      socket.unshift(rest);
      nodeHttp.call(server, socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    // Until its first answer a connection has node:http's idle limit (server.timeout; a client that connects and sends
    // nothing holds its slot no longer than on node:http); between answers, the keep-alive limit.
    socket.setTimeout(server.timeout > 0 ? server.timeout : o.keepAliveMs);
    socket.on('timeout', onTimeout);
  });
  return true;
}
