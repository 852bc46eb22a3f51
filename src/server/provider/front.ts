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
import { RequestLimiter } from '../http.ts';
import type { HttpCounts } from '../ui/counts.ts';
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
  /** counts counts the front's refusals (handler "front" and the rate-limit counter in /metrics). */
  counts?: HttpCounts | undefined;
}

/** FRONT_TIMEOUTS: keep-alive beyond typical client pools; no whole-request deadline (uploads of large artifacts may
 * take long), but a connection idle for a minute (slow-loris, a stalled reader) is closed. */
export const FRONT_TIMEOUTS = { keepAliveMs: 72_000, requestMs: 0, idleMs: 60_000 } as const;

/** createFrontServer returns the (not yet listening) public server. */
export function createFrontServer(o: FrontOptions): Server {
  const limiter = o.rateLimitPerIp > 0 || o.rateLimitGlobal > 0 ? new RequestLimiter(o.rateLimitPerIp, o.rateLimitGlobal) : undefined;
  const extra = o.headers ?? [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (limiter !== undefined) {
      const refused = limiter.check(req.socket.remoteAddress ?? '');
      if (refused !== undefined) {
        if (o.counts !== undefined) {
          o.counts.add('front', req.method, refused.httpStatus);
          o.counts.rateLimited[limiter.scopeOf(refused)]++;
        }
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
