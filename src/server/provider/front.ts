/**
 * server/provider/front — the provider's public listener: one `node:http` (or `node:https`) server whose handler
 * applies the rate limits, answers the read routes (server/provider/read-path) and passes every other request on
 * (to fastify in one process, to the leader from a cluster worker).
 *
 * Rate limits live here, in front of everything, so they count every request (refused admin requests, the log, 404s):
 * per client address, a one-second window opened by its first request; for everyone together, a token bucket holding one second's worth.
 * Both answer 429 ERR_PROVIDER_RATE_LIMITED with Retry-After. Connections are capped per client address too (nginx's
 * `limit_conn`): the idle timer restarts on every byte, so without a cap one client trickling bytes could hold every
 * slot. An IPv6 client counts as its /64 in both (server/http addressKey). All of this is per process: with
 * `--workers N` each worker counts its own connections (docs/provider.md).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TrustError } from '../../errors.ts';
import { attachFastPath, SMALL_BODY_MAX_BYTES, type FastAnswer, type FastAnswerer } from '../fast-http.ts';
import { capConnectionsPerAddress, RequestLimiter } from '../http.ts';
import type { HttpCounts } from '../ui/counts.ts';
import { errorResponse, writeError, type QuickAnswer, type ReadPath } from './read-path.ts';

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
  /**
   * maxConnectionsPerIp caps the connections one client address (an IPv6 client: its /64) holds open to this process
   * (default {@link DEFAULT_MAX_CONNECTIONS_PER_IP}; 0 = off): a further one is closed as soon as it is accepted.
   */
  maxConnectionsPerIp?: number | undefined;
  tls?: { cert: Uint8Array; key: Uint8Array } | undefined;
  /** headers are added to refusals (a worker names itself). */
  headers?: readonly string[] | undefined;
  /** counts counts the front's refusals (handler "front" and the rate-limit counter in /metrics). */
  counts?: HttpCounts | undefined;
  /**
   * fastPath answers the read path's prepared responses on a plain-HTTP listener without node:http's per-request
   * objects (server/fast-http; default true). Off, every request goes through node:http (tests compare the two).
   */
  fastPath?: boolean | undefined;
}

/** FRONT_TIMEOUTS: keep-alive beyond typical client pools; no whole-request deadline (uploads of large artifacts may
 * take long), but a connection idle for a minute (slow-loris, a stalled reader) is closed, and a TLS handshake not
 * done in 30 s (Node's default is 120 s, during which the connection holds its per-address slot). */
export const FRONT_TIMEOUTS = { keepAliveMs: 72_000, requestMs: 0, idleMs: 60_000, handshakeMs: 30_000 } as const;

/**
 * DEFAULT_MAX_CONNECTIONS_PER_IP: a sixteenth of the default 4,096 slots per process, far above what one honest
 * client (a browser opens 6, a boot client 1–2) or a NAT of a few hundred machines needs.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 256;

/** createFrontServer returns the (not yet listening) public server. */
export function createFrontServer(o: FrontOptions): Server {
  const limiter = o.rateLimitPerIp > 0 || o.rateLimitGlobal > 0 ? new RequestLimiter(o.rateLimitPerIp, o.rateLimitGlobal) : undefined;
  const extra = o.headers ?? [];
  /** refusalAnswers: the limiter's refusals are made once, so are their answers. */
  const refusalAnswers = new Map<TrustError, FastAnswer>();
  const refusalAnswer = (e: TrustError): FastAnswer => {
    let a = refusalAnswers.get(e);
    if (a === undefined) {
      const { body, headers } = errorResponse(e, extra);
      a = { status: e.httpStatus, headers, body };
      refusalAnswers.set(e, a);
    }
    return a;
  };
  /**
   * counted: connections whose next request node:http sees was already counted against the limits by the fast path
   * (it asked the read path, which could not answer it, and handed the connection over at that request).
   */
  const counted = new WeakSet<Socket>();
  const quick: FastAnswerer = (method, target, socket) => {
    // Counted before the read path is asked: a small blob not in memory is read from disk for the request, and a
    // client over its limit must cause no read (nor evict from memory what others are being sent).
    if (limiter !== undefined) {
      const refused = limiter.checkAddress(socket.remoteAddress ?? '');
      if (refused !== undefined) {
        if (o.counts !== undefined) {
          o.counts.add('front', method, refused.httpStatus);
          o.counts.rateLimited[limiter.scopeOf(refused)]++;
        }
        return refusalAnswer(refused);
      }
    }
    const a = o.readPath.quick(target);
    if (a === undefined) return passOn(socket);
    if (a instanceof Promise) return a.then((got) => (got === undefined ? passOn(socket) : answerOf(method, got)), () => passOn(socket));
    return answerOf(method, a);
  };
  /** passOn marks a request the fast path counted and gives to node:http, whose handler then does not count it again. */
  const passOn = (socket: Socket): undefined => {
    if (limiter !== undefined) counted.add(socket);
    return undefined;
  };
  const answerOf = (method: 'GET' | 'HEAD', a: QuickAnswer): FastAnswer => ({
    status: a.status,
    headers: a.headers,
    body: a.body,
    sent: o.readPath.sending(method, a, a.body !== undefined && a.body.length <= SMALL_BODY_MAX_BYTES),
  });
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (limiter !== undefined && !counted.delete(req.socket)) {
      const refused = limiter.checkAddress(req.socket.remoteAddress ?? '');
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
  const server = o.tls ? createHttpsServer({ cert: Buffer.from(o.tls.cert), key: Buffer.from(o.tls.key), handshakeTimeout: FRONT_TIMEOUTS.handshakeMs }, handler) : createHttpServer(handler);
  // Before anything else listens for connections (server/fast-http takes node:http's own listener over).
  if (!o.tls && o.fastPath !== false) attachFastPath(server, quick, { keepAliveMs: FRONT_TIMEOUTS.keepAliveMs });
  server.keepAliveTimeout = FRONT_TIMEOUTS.keepAliveMs;
  server.requestTimeout = FRONT_TIMEOUTS.requestMs;
  server.setTimeout(FRONT_TIMEOUTS.idleMs);
  server.maxConnections = o.maxConnections;
  const perIp = o.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP;
  if (perIp > 0) capConnectionsPerAddress(server, perIp);
  return server;
}
