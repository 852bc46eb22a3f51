/**
 * server/http — what every Custody HTTP surface shares: the JSON refusal body, mapping thrown errors to coded
 * errors, and bearer-token checks.
 *
 * Every refusal is `{ "ok": false, "code": "ERR_…", "message": "…", "hint": "…" }` with the HTTP status of its code
 * (errors.ts ERROR_CODES) and `Cache-Control: no-store`.
 *
 * Trust boundary: the Authorization header is attacker-controlled. Tokens are compared as SHA-256 digests in
 * constant time over every configured token (no early exit), so timing reveals neither content, length, nor which
 * token matched. Tokens never appear in logs (server/log-format `REDACT_PATHS`) or in error messages.
 */
import type { FastifyError, FastifyReply, FastifyRequest, preParsingAsyncHookHandler } from 'fastify';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import { constantTimeEqual, sha256 } from '../crypto/index.ts';
import { ConfigError, IoError, LimitError, PolicyError, UsageError, isTrustError, type CodesOf, type TrustError } from '../errors.ts';
import { closeAfterAnswer } from './fast-http.ts';

/** sendError renders a coded error as the JSON refusal body with its HTTP status. */
export function sendError(reply: FastifyReply, e: TrustError): FastifyReply {
  if (e.httpStatus === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  return reply.code(e.httpStatus).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(e.toJSON());
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** BearerCheck tells whether a request carries an accepted token, or throws the coded refusal. */
export type BearerCheck = (req: FastifyRequest) => Promise<void>;

/**
 * bearerMatcher returns a predicate telling whether an Authorization header carries one of `tokens` (SHA-256 digests
 * compared in constant time over every token, no early exit).
 */
export function bearerMatcher(tokens: readonly Uint8Array[]): (authorization: string | undefined) => boolean {
  const digests = tokens.map((t) => sha256(t));
  return (authorization) => {
    const m = BEARER.exec(authorization ?? '');
    if (!m) return false;
    const got = sha256(m[1]!);
    let ok = false;
    for (const d of digests) ok = constantTimeEqual(got, d) || ok;
    return ok;
  };
}

/**
 * bearerCheck returns an onRequest hook accepting any of `tokens`; refusals use `code` (e.g. ERR_LOG_UNAUTHORIZED).
 * `onRefused` is told about each refusal (audit), never with the presented token.
 */
export function bearerCheck(tokens: readonly Uint8Array[], code: CodesOf<'policy'>, onRefused?: (req: FastifyRequest, reason: string) => void): BearerCheck {
  if (tokens.length === 0) throw new Error('http: bearerCheck needs at least one token');
  const matches = bearerMatcher(tokens);
  return (req) => {
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (!matches(req.headers.authorization)) {
      const reason = m ? 'the bearer token is not accepted' : 'expected an Authorization: Bearer header';
      onRefused?.(req, reason);
      return Promise.reject(new PolicyError(code, reason));
    }
    return Promise.resolve();
  };
}

/**
 * authorizeBeforeBody turns a bearer check into a preParsing hook: it runs after every onRequest hook (so the rate
 * limits count refused requests too) and before a single byte of the body is read.
 */
export function authorizeBeforeBody(check: BearerCheck): preParsingAsyncHookHandler {
  return async (req, _reply, payload) => {
    await check(req);
    return payload;
  };
}

/**
 * addressKey is what the per-address limits count a client address as: an IPv4 address as itself (an IPv4-mapped
 * IPv6 address `::ffff:a.b.c.d` too), an IPv6 address as its /64 (RFC 4291 §2.5.4: one subnet, which a single host is
 * routinely handed whole, so counting its addresses one by one would let a client rotate past every limit). Zone
 * indexes (`%eth0`) are dropped, except for a link-local address (fe80::/10), which counts alone: all neighbours
 * on every link share that prefix. A string that is not an IPv6 address is returned as it is.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  let a = ip.toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const gap = a.indexOf('::');
  const split = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = split(gap < 0 ? a : a.slice(0, gap));
  const tail = gap < 0 ? [] : split(a.slice(gap + 2));
  // A dotted IPv4 address at the end stands for the last two groups.
  const dotted = (gap < 0 ? head : tail).at(-1)?.includes('.') === true ? (gap < 0 ? head : tail).at(-1) : undefined;
  const count = head.length + tail.length + (dotted === undefined ? 0 : 1);
  if (count > 8 || (gap < 0 && count !== 8)) return ip;
  const groups = gap < 0 ? head : [...head, ...Array<string>(8 - count).fill('0'), ...tail];
  if (dotted !== undefined && groups[5] === 'ffff' && groups.slice(0, 5).every((g) => /^0{1,4}$/.test(g))) return dotted;
  const prefix = groups.slice(0, 4);
  if (!prefix.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return ip;
  // Link-local (fe80::/10): every interface's neighbours share the one prefix, so each address (and zone) counts alone.
  if ((parseInt(prefix[0]!, 16) & 0xffc0) === 0xfe80) return ip.toLowerCase();
  return `${prefix.map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/**
 * clientAddress is the client address fastify gives a request, or `local` for one that came over a Unix socket (the
 * leader's socket: fastify's `req.ip` is then undefined, whatever its type says).
 */
export function clientAddress(req: FastifyRequest): string {
  const ip: string | undefined = req.ip;
  return ip ?? 'local';
}

/**
 * capConnectionsPerAddress closes, as soon as it is accepted, a connection from an address (counted by
 * {@link addressKey}) that already holds `max` open connections to `server` — nginx's `limit_conn`. Without it one
 * client trickling a byte a minute could hold every one of the server's `maxConnections` slots. `onRefused` is told
 * about each closed connection. Returns the number of addresses holding connections (for tests and metrics).
 */
export function capConnectionsPerAddress(server: NetServer, max: number, onRefused?: (socket: Socket) => void): () => number {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress ?? '');
    const n = (open.get(key) ?? 0) + 1;
    if (n > max) {
      onRefused?.(socket);
      socket.destroy();
      return;
    }
    open.set(key, n);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
  return () => open.size;
}

/**
 * DRAIN_MS bounds how long a stopping server waits for its requests in flight (a slow download, a stuck client) before
 * it closes their connections: every daemon (provider, worker, mirror, log, witness) stops within it.
 */
export const DRAIN_MS = 10_000;

/**
 * ConnectionTracker follows a server's connections and the requests each has in flight (received, response not yet
 * closed), so that {@link ConnectionTracker.closeWithin} can stop the server the way a daemon should on SIGTERM:
 * every connection with nothing in flight is closed at once — an idle keep-alive connection, and one still sending
 * a request's head, which Node's `server.close()` would otherwise wait for until its headers timeout (60 s) — each
 * request in flight is answered and its connection then closed, and whatever is still open after the drain time
 * (a TLS handshake included) is destroyed.
 *
 * It counts 'request' events; a server that handles 'checkContinue' itself (Node then emits no 'request' until the
 * handler does) passes `expectContinue` so those requests count from their 'checkContinue' too (once per response).
 */
export class ConnectionTracker {
  /** inFlight: per HTTP connection (for TLS, the TLS socket once its handshake is done), its requests in flight. */
  readonly #inFlight = new Map<Socket, number>();
  /** tcp: every accepted TCP connection, handshaking ones too: what the drain deadline destroys. */
  readonly #tcp = new Set<Socket>();
  readonly #counted = new WeakSet<ServerResponse>();
  #stopping = false;

  constructor(server: HttpServer, o: { expectContinue?: boolean } = {}) {
    const tls = server instanceof TlsServer;
    server.on('connection', (s: Socket) => {
      this.#tcp.add(s);
      s.once('close', () => this.#tcp.delete(s));
      if (!tls) this.#track(s);
    });
    if (tls) server.on('secureConnection', (s: Socket) => this.#track(s));
    const started = (req: IncomingMessage, res: ServerResponse): void => {
      if (this.#counted.has(res)) return;
      this.#counted.add(res);
      const s = req.socket;
      this.#inFlight.set(s, (this.#inFlight.get(s) ?? 0) + 1);
      res.once('close', () => {
        const n = (this.#inFlight.get(s) ?? 1) - 1;
        if (this.#inFlight.has(s)) this.#inFlight.set(s, n);
        // Node's server.close() ends a keep-alive connection after its last response too; this does not depend on it.
        if (n === 0 && this.#stopping) closeFlushed(s);
      });
    };
    server.on('request', started);
    if (o.expectContinue === true) server.on('checkContinue', started);
  }

  #track(s: Socket): void {
    if (this.#stopping) {
      // Accepted while stopping (the listener is closing): nothing of it has started.
      s.destroy();
      return;
    }
    this.#inFlight.set(s, 0);
    s.once('close', () => this.#inFlight.delete(s));
  }

  /**
   * closeWithin closes every connection with nothing in flight, runs `close` (what stops the listener and waits for
   * the connections: `app.close()`, or `server.close()` promised), and destroys every connection still open once
   * `drainMs` have passed.
   */
  async closeWithin(drainMs: number, close: () => Promise<void>): Promise<void> {
    this.#stopping = true;
    // A connection of server/fast-http waiting for an answer being prepared has a request in flight node:http does not see.
    for (const [s, n] of this.#inFlight) if (n === 0 && !closeAfterAnswer(s, () => closeFlushed(s))) closeFlushed(s);
    const deadline = setTimeout(() => {
      for (const s of this.#tcp) s.destroy();
    }, drainMs);
    try {
      await close();
    } finally {
      clearTimeout(deadline);
    }
  }
}

/** closeFlushed closes a connection once what was written to it has gone (the end of a response is not cut). */
function closeFlushed(s: Socket): void {
  if (s.destroyed) return;
  s.end(() => s.destroy());
}

/**
 * GONE_WATCHERS holds, per socket, the callbacks of {@link onConnectionGone} waiting for it to close: one 'close'
 * listener per socket however many responses it carries (a client pipelining many requests would otherwise stack a
 * listener per response and trip Node's MaxListeners warning). `closed` marks a socket whose 'close' has been.
 */
const GONE_WATCHERS = new WeakMap<Socket, { fns: Set<() => void>; closed: boolean }>();

/**
 * onConnectionGone calls `fn` once when `res` closes or its connection does, whichever comes first, and returns the
 * function that stops listening. Both are needed: a pipelined response queued behind another gets no 'close' of its
 * own when the client hangs up (its writes never call back), only its socket does. `res` closes after a normal end too:
 * callers that care tell the two apart with `res.writableFinished`. A connection already closed calls `fn` on the
 * next microtask. Node emits the response's 'close' from inside the socket's, so "once" is kept by a flag, not by
 * removing listeners.
 */
export function onConnectionGone(res: ServerResponse, fn: () => void): () => void {
  const socket = res.req.socket;
  let w = GONE_WATCHERS.get(socket);
  if (w === undefined) {
    const watch = { fns: new Set<() => void>(), closed: false };
    socket.once('close', () => {
      watch.closed = true;
      for (const f of [...watch.fns]) f();
      watch.fns.clear();
    });
    GONE_WATCHERS.set(socket, watch);
    w = watch;
  }
  const watch = w;
  let fired = false;
  const detach = (): void => {
    res.off('close', gone);
    watch.fns.delete(gone);
  };
  const gone = (): void => {
    if (fired) return;
    fired = true;
    detach();
    fn();
  };
  res.once('close', gone);
  if (watch.closed) queueMicrotask(gone);
  else watch.fns.add(gone);
  return detach;
}

/**
 * RequestLimiter is the per-address window and the global token bucket of every server surface (the provider's front,
 * the standalone witness).
 */
export class RequestLimiter {
  readonly #perIp: number;
  readonly #global: number;
  #counts = new Map<string, { start: number; n: number }>();
  #swept = Date.now();
  #tokens: number;
  #last = Date.now();
  /** The refusals are made once: a flood must not cost an Error (and its stack trace) per refused request. */
  readonly #perIpRefusal: TrustError;
  readonly #globalRefusal: TrustError;

  /** perIp and global are requests per second (0: no such limit); refusals carry `code` (the surface's own). */
  constructor(perIp: number, global: number, code: 'ERR_PROVIDER_RATE_LIMITED' | 'ERR_HTTP_RATE_LIMITED' = 'ERR_PROVIDER_RATE_LIMITED') {
    this.#perIp = perIp;
    this.#global = global;
    this.#tokens = global;
    this.#perIpRefusal = new IoError(code, `rate limit of ${perIp} requests per second exceeded; retry in 1 second`);
    this.#globalRefusal = new IoError(code, `the server answers at most ${global} requests per second`);
  }

  /** scopeOf tells which limit made a refusal returned by {@link RequestLimiter.check}. */
  scopeOf(refusal: TrustError): 'address' | 'global' {
    return refusal === this.#globalRefusal ? 'global' : 'address';
  }

  /** checkAddress counts one request from the client address `ip` (by {@link addressKey}: an IPv6 client by its /64). */
  checkAddress(ip: string): TrustError | undefined {
    return this.check(addressKey(ip));
  }

  /** check counts one request for `key` (an address key, a token id) and returns the refusal when a limit is reached. */
  check(ip: string): TrustError | undefined {
    const now = Date.now();
    if (this.#perIp > 0) {
      // Each address's window opens at its first request; once a second, closed windows are forgotten, so memory
      // is bounded by the addresses seen in about two seconds.
      if (now - this.#swept >= 1000) {
        this.#swept = now;
        for (const [k, v] of this.#counts) if (now - v.start >= 1000) this.#counts.delete(k);
      }
      let c = this.#counts.get(ip);
      if (c === undefined || now - c.start >= 1000) {
        c = { start: now, n: 0 };
        this.#counts.set(ip, c);
      }
      if (++c.n > this.#perIp) return this.#perIpRefusal;
    }
    if (this.#global > 0) {
      this.#tokens = Math.min(this.#global, this.#tokens + ((now - this.#last) / 1000) * this.#global);
      this.#last = now;
      if (this.#tokens < 1) return this.#globalRefusal;
      this.#tokens -= 1;
    }
    return undefined;
  }
}

/** HttpErrorMapping names the coded errors of one surface for what fastify reports without a code. */
export interface HttpErrorMapping {
  /** tooLarge is the error for a body over the route's limit (default ERR_LIMIT_SIZE). */
  tooLarge?: () => TrustError;
  /** internal is the error for an unexpected failure (default ERR_HTTP_INTERNAL). */
  internal?: () => TrustError;
}

/**
 * toHttpError maps anything thrown in a route (fastify's own errors included) to a coded error. The defaults are
 * neutral (ERR_LIMIT_SIZE, ERR_HTTP_RATE_LIMITED, ERR_USAGE_ARGUMENT, ERR_HTTP_INTERNAL): each surface (log,
 * provider, witness) names its own codes through `mapping` where it has them.
 */
export function toHttpError(err: unknown, mapping: HttpErrorMapping | (() => TrustError) = {}): TrustError {
  const m = typeof mapping === 'function' ? { tooLarge: mapping } : mapping;
  if (isTrustError(err)) return err;
  const fe = err as Partial<FastifyError> | null;
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return m.tooLarge?.() ?? new LimitError('ERR_LIMIT_SIZE', 'the request body is over the cap of this route');
  }
  if (status === 429) return new IoError('ERR_HTTP_RATE_LIMITED', 'too many requests from this client');
  if (status >= 400 && status < 500) {
    return new UsageError('ERR_USAGE_ARGUMENT', `bad request: ${String(fe?.message ?? 'malformed').toLowerCase().slice(0, 200)}`, {
      hint: 'check the request against the API documentation (docs/log.md, docs/provider.md)',
    });
  }
  return m.internal?.() ?? new IoError('ERR_HTTP_INTERNAL', 'internal error');
}

/** TOKEN_MIN_CHARS: shorter bearer tokens are guessable. TOKEN_FILE_MAX_BYTES caps a token file before reading. */
export const TOKEN_MIN_CHARS = 16;
export const TOKEN_FILE_MAX_BYTES = 4096;

/**
 * parseTokenText checks the text of a bearer token file (one trailing newline allowed): one line of at least
 * TOKEN_MIN_CHARS visible ASCII characters. The message names the file, never the token.
 */
export function parseTokenText(text: string, where: string): Uint8Array {
  const token = text.replace(/\r?\n$/, '');
  if (!/^[\x21-\x7e]+$/.test(token) || token.length < TOKEN_MIN_CHARS) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${where}: expected one line of at least ${TOKEN_MIN_CHARS} visible ASCII characters`);
  }
  return new TextEncoder().encode(token);
}
