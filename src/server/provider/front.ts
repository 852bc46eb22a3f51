/**
 * server/provider/front — the provider's public listener: one `node:http` (or `node:https`) server whose handler
 * applies the rate limits, answers the read routes (server/provider/read-path) and passes every other request on
 * (to fastify in one process, to the leader from a cluster worker).
 *
 * Rate limits live here, in front of everything, so they count every request (refused admin requests, the log, 404s):
 * per client address, a one-second window opened by its first request; for everyone together, a token bucket holding one second's worth.
 * Both answer 429 ERR_PROVIDER_RATE_LIMITED with Retry-After. They are per process: with `--workers N` each worker
 * counts its own connections (docs/provider.md).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { IoError, type TrustError } from '../../errors.ts';
import { writeError, type ReadPath } from './read-path.ts';

/** FrontOptions configures {@link createFrontServer}. */
export interface FrontOptions {
  readPath: ReadPath;
  /** fallback handles what the read path does not (fastify's handler, or forwarding to the leader). */
  fallback: (req: IncomingMessage, res: ServerResponse) => void;
  /** rateLimitPerIp is requests per second per client address (0 = off). */
  rateLimitPerIp: number;
  /** rateLimitGlobal is requests per second for all clients of this process together (0 = off). */
  rateLimitGlobal: number;
  maxConnections: number;
  tls?: { cert: Uint8Array; key: Uint8Array } | undefined;
  /** headers are added to refusals (a worker names itself). */
  headers?: readonly string[] | undefined;
}

/** FRONT_TIMEOUTS: keep-alive beyond typical client pools; no whole-request deadline (uploads of large artifacts may
 * take long), but a connection idle for a minute (slow-loris, a stalled reader) is closed. */
export const FRONT_TIMEOUTS = { keepAliveMs: 72_000, requestMs: 0, idleMs: 60_000 } as const;

/** RequestLimiter is the per-address window and the global bucket. */
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

  constructor(perIp: number, global: number) {
    this.#perIp = perIp;
    this.#global = global;
    this.#tokens = global;
    this.#perIpRefusal = new IoError('ERR_PROVIDER_RATE_LIMITED', `rate limit of ${perIp} requests per second exceeded; retry in 1 second`);
    this.#globalRefusal = new IoError('ERR_PROVIDER_RATE_LIMITED', `the provider serves at most ${global} requests per second`);
  }

  /** check counts one request from `ip` and returns the refusal when a limit is reached. */
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

/** createFrontServer returns the (not yet listening) public server. */
export function createFrontServer(o: FrontOptions): Server {
  const limiter = o.rateLimitPerIp > 0 || o.rateLimitGlobal > 0 ? new RequestLimiter(o.rateLimitPerIp, o.rateLimitGlobal) : undefined;
  const extra = o.headers ?? [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (limiter !== undefined) {
      const refused = limiter.check(req.socket.remoteAddress ?? '');
      if (refused !== undefined) {
        // A refused request may still be sending a body: close the connection rather than read it.
        writeError(res, refused, req.method === 'GET' || req.method === 'HEAD' ? extra : [...extra, 'connection', 'close']);
        return;
      }
    }
    if (!o.readPath.handle(req, res)) o.fallback(req, res);
  };
  const server = o.tls ? createHttpsServer({ cert: Buffer.from(o.tls.cert), key: Buffer.from(o.tls.key) }, handler) : createHttpServer(handler);
  server.keepAliveTimeout = FRONT_TIMEOUTS.keepAliveMs;
  server.requestTimeout = FRONT_TIMEOUTS.requestMs;
  server.setTimeout(FRONT_TIMEOUTS.idleMs);
  server.maxConnections = o.maxConnections;
  return server;
}
