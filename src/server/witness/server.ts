/**
 * server/witness/server — `custody witness serve` as a library: a C2SP tlog-witness at `<url>/add-checkpoint`.
 *
 * Data directory layout (created 0700):
 * ```
 * DIR/witness.key   PRIVATE+KEY+<name>+<id>+base64(0x04 || seed)   (0600, created on first start)
 * DIR/witness.db    SQLite: the latest cosigned size and root per log origin
 * ```
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { IoError, isTrustError, toIoError } from '../../errors.ts';
import type { Signer } from '../../crypto/index.ts';
import type { NoteVerifier } from '../../note/note.ts';
import { DEFAULT_MAX_CONNECTIONS_PER_IP } from '../provider/front.ts';
import { capConnectionsPerAddress, clientAddress, ConnectionTracker, DRAIN_MS, RequestLimiter, sendError, toHttpError } from '../http.ts';
import { createLogger } from '../log/server.ts';
import { witnessPlugin } from './plugin.ts';
import { WitnessStore } from './store.ts';
import { DEFAULT_WITNESS_NAME, Witness, loadOrCreateWitnessKey, witnessKeyFromSigner } from './witness.ts';

/** WitnessServerOptions configures {@link startWitnessServer}. */
export interface WitnessServerOptions {
  dataDir: string;
  /** name is the witness key name (a schema-less URL); default: the existing key's, or custody-witness. */
  name?: string | undefined;
  logs: readonly NoteVerifier[];
  /** signer replaces DIR/witness.key: the witness key held elsewhere (a PKCS#11 token); `name` defaults as above. */
  signer?: Signer | undefined;
  host: string;
  port: number;
  /** prefix mounts the witness under a path (default: the root, so requests go to /add-checkpoint). */
  prefix?: string;
  logLevel?: string;
  logger?: Logger;
  now?: () => number;
  /** rateLimitPerIp is requests per second per client address (default 50, as the daemon; 0 = off). */
  rateLimitPerIp?: number;
  /** rateLimitGlobal is requests per second for all clients together (default 0 = off). */
  rateLimitGlobal?: number;
  /** idleTimeoutMs closes a connection silent this long (default 60,000, as the daemon: a slow-loris client). */
  idleTimeoutMs?: number;
  /** maxConnections caps open connections (default 4,096, as the daemon). */
  maxConnections?: number;
  /** maxConnectionsPerIp caps one client address's open connections (default 256, as the daemon; 0 = off). */
  maxConnectionsPerIp?: number;
}

/** RunningWitnessServer is a started witness. */
export interface RunningWitnessServer {
  app: FastifyInstance;
  witness: Witness;
  /** url is the submission prefix (requests go to `<url>/add-checkpoint`). */
  url: string;
  vkey: string;
  close(): Promise<void>;
}

/** startWitnessServer opens the data directory, loads or creates the key and listens. */
export async function startWitnessServer(o: WitnessServerOptions): Promise<RunningWitnessServer> {
  // The logger first: a level it does not know fails here, before a key or a database is created.
  const logger = o.logger ?? createLogger(o.logLevel);
  try {
    await fsp.mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw toIoError(e, o.dataDir, 'write');
  }
  const now = o.now ?? Date.now;
  const key =
    o.signer !== undefined
      ? witnessKeyFromSigner(o.name ?? DEFAULT_WITNESS_NAME, o.signer, now)
      : await loadOrCreateWitnessKey(join(o.dataDir, 'witness.key'), o.name, now);
  const store = WitnessStore.open(join(o.dataDir, 'witness.db'));
  const witness = new Witness({ cosigner: key.cosigner, logs: o.logs, store, now });
  // The daemon's protections: an idle connection is closed, the number of connections is capped, and requests are
  // rate limited per client address and (optionally) for everyone together, each refusal a 429 with Retry-After.
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: !logger.isLevelEnabled('debug') }),
    keepAliveTimeout: Math.min(72_000, o.idleTimeoutMs ?? 72_000),
    connectionTimeout: o.idleTimeoutMs ?? 60_000,
    requestTimeout: 30_000,
  });
  app.server.maxConnections = o.maxConnections ?? 4096;
  const connections = new ConnectionTracker(app.server);
  // nginx's limit_conn, as the daemon's front (server/http): one address cannot hold every connection slot.
  const perIpConnections = o.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP;
  if (perIpConnections > 0) capConnectionsPerAddress(app.server, perIpConnections);
  // Refusals outside the witness route (the rate limit's, an unknown path) are coded answers too, like the route's.
  app.setErrorHandler((err: unknown, req, reply) => {
    const e = toHttpError(err);
    if (e.httpStatus >= 500 && !isTrustError(err)) req.log.error({ err }, 'witness request failed');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new IoError('ERR_IO_NOT_FOUND', `no such witness resource: ${req.method} ${req.url.split('?')[0] ?? ''}`, { hint: 'the witness serves POST <url>/add-checkpoint (c2sp.org/tlog-witness)' })),
  );
  // The daemon's limits (server/http RequestLimiter): per client address and, optionally, for everyone together.
  const perIp = o.rateLimitPerIp ?? 50;
  const global = o.rateLimitGlobal ?? 0;
  if (perIp > 0 || global > 0) {
    const limiter = new RequestLimiter(perIp, global, 'ERR_HTTP_RATE_LIMITED');
    app.addHook('onRequest', (req, reply, done) => {
      const refused = limiter.checkAddress(clientAddress(req));
      if (refused === undefined) return done();
      void reply.header('retry-after', '1');
      done(refused);
    });
  }
  const prefix = (o.prefix ?? '').replace(/\/+$/, '');
  await app.register(witnessPlugin, { prefix, witness });
  let address: string;
  try {
    address = await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    store.close();
    throw new IoError('ERR_IO_NETWORK', `cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`, { cause: e });
  }
  logger.info({ url: address + prefix, logs: witness.origins }, 'witness listening');
  return {
    app: app as unknown as FastifyInstance,
    witness,
    url: address + prefix,
    vkey: key.vkey,
    async close() {
      await connections.closeWithin(DRAIN_MS, () => app.close());
      store.close();
      logger.flush();
    },
  };
}
