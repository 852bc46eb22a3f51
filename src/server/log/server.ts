/**
 * server/log/server — `custody log serve` as a library: one log (SQLite storage, note key, sequencer, optional
 * witnesses) behind a fastify instance of its own, mounted at `/log/`. The future `custody serve` mounts the same
 * {@link logPlugin} beside the provider's routes instead.
 *
 * Data directory layout (created 0700):
 * ```
 * DIR/log.key     the Ed25519 note signer key, PRIVATE+KEY+<origin>+<id>+<base64> (0600, created on first start)
 * DIR/log.db      SQLite database (WAL: also log.db-wal, log.db-shm), unless the state lives in PostgreSQL
 * ```
 * Logging: pino to stderr (stdout carries only data), the Authorization header redacted wherever it appears.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Signer } from '../../crypto/index.ts';
import { IoError, toIoError, type TrustError } from '../../errors.ts';
import type { Ed25519NoteSigner } from '../../note/note.ts';
import { openSqliteStorage } from '../../log/storage-sqlite.ts';
import type { LogStorage } from '../../log/storage.ts';
import { resolveLogConfig, type LogServiceConfig, type LogServiceOptions } from './config.ts';
import { ConnectionTracker, DRAIN_MS } from '../http.ts';
import { createLogger } from '../log-format.ts';
import { logPlugin } from './plugin.ts';
import { LogService } from './service.ts';
import { loadOrCreateLogKey, loadOrCreateLogKeyFrom, logKeyFromSigner, noteCheckpointSigner, type LogKey, type LogKeySource } from './signer.ts';
import { WitnessPool, type WitnessEndpoint } from './witness-client.ts';

export { REDACT_PATHS, createLogger, loggerOptions } from '../log-format.ts';

/** LogServerOptions configures {@link startLogServer}. */
export interface LogServerOptions {
  dataDir: string;
  origin: string;
  /** tokens are the accepted bearer tokens. */
  tokens: readonly Uint8Array[];
  host: string;
  /** port 0 picks a free port (printed in the URL). */
  port: number;
  witnesses?: readonly WitnessEndpoint[];
  witnessThreshold?: number;
  service?: LogServiceOptions;
  /** logLevel of the pino logger (default 'info'); 'debug' also logs every request. */
  logLevel?: string;
  /** logger replaces the default pino-to-stderr logger (tests). */
  logger?: Logger;
  /** onFatal is told when the log stops on its own (lost lease, conflict, corrupt state). */
  onFatal?: (e: TrustError) => void;
  /** postgres keeps the log's state in PostgreSQL (see {@link OpenLogOptions}). */
  postgres?: { url: string; schema?: string | undefined; shared?: boolean | undefined } | undefined;
  /** signer replaces DIR/log.key (see {@link OpenLogOptions}). */
  signer?: Signer | undefined;
}

/** RunningLogServer is a started log server. */
export interface RunningLogServer {
  app: FastifyInstance;
  service: LogService;
  /** url is the log prefix, e.g. http://127.0.0.1:8080/log */
  url: string;
  vkey: string;
  keyCreated: boolean;
  close(): Promise<void>;
}

/** OpenLogOptions configures {@link openLogService}. */
export interface OpenLogOptions {
  dataDir: string;
  origin: string;
  witnesses?: readonly WitnessEndpoint[] | undefined;
  witnessThreshold?: number | undefined;
  service?: LogServiceOptions | undefined;
  logger: Logger;
  onFatal?: ((e: TrustError) => void) | undefined;
  /** postgres keeps the log's state in PostgreSQL instead of DIR/log.db (the note key stays in DIR/log.key). */
  postgres?: { url: string; schema?: string | undefined; shared?: boolean | undefined } | undefined;
  /** signer replaces DIR/log.key: the checkpoint key held elsewhere (a PKCS#11 token), named `origin`. */
  signer?: Signer | undefined;
  /** keySource supplies the note key text instead of DIR/log.key (the daemon's --secrets store); `where` names it. */
  keySource?: { load: LogKeySource; where: string } | undefined;
  /** wrapSigner wraps the checkpoint signer once (the daemon records each signature: server/key-use). */
  wrapSigner?: ((s: Ed25519NoteSigner) => Ed25519NoteSigner) | undefined;
  /** observeCommit is told the duration of each group commit (seconds; the daemon's /metrics). */
  observeCommit?: ((seconds: number) => void) | undefined;
}

/** OpenedLog is a running log service with its key and resolved configuration. */
export interface OpenedLog {
  service: LogService;
  key: LogKey;
  config: LogServiceConfig;
}

/**
 * openLogService opens (creating on first use) the log in a data directory — `log.key`, `log.db` — and starts its
 * sequencer. `custody log serve` puts it behind a fastify instance of its own; `custody serve` mounts it under /log.
 */
export async function openLogService(o: OpenLogOptions): Promise<OpenedLog> {
  try {
    await fsp.mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw toIoError(e, o.dataDir, 'write');
  }
  const key =
    o.signer !== undefined
      ? logKeyFromSigner(o.origin, o.signer)
      : o.keySource === undefined
        ? await loadOrCreateLogKey(join(o.dataDir, 'log.key'), o.origin)
        : await loadOrCreateLogKeyFrom(o.keySource.load, o.origin, o.keySource.where);
  const witnesses = o.witnesses ?? [];
  const config = resolveLogConfig(o.service ?? {}, witnesses.length > 0);
  const shared = o.postgres?.shared === true;
  const storage: LogStorage =
    o.postgres === undefined
      ? await openSqliteStorage(join(o.dataDir, 'log.db'))
      : // Loaded only for a PostgreSQL log: pg stays out of a daemon that never uses it (issue 9, daemon memory).
        await (await import('../../log/storage-postgres.ts')).openPostgresStorage(o.postgres.url, o.postgres.schema === undefined ? {} : { schema: o.postgres.schema });
  const seqLogger = o.logger.child({ component: 'sequencer' });
  try {
    const service = await LogService.start({
      storage,
      signer: noteCheckpointSigner(o.origin, o.wrapSigner === undefined ? key.signer : o.wrapSigner(key.signer), key.verifier),
      cosigner:
        witnesses.length === 0
          ? undefined
          : new WitnessPool({
              witnesses,
              threshold: o.witnessThreshold ?? witnesses.length,
              timeoutMs: config.witnessTimeoutMs,
              now: config.now,
              logger: seqLogger,
            }),
      config,
      logger: seqLogger,
      onFatal: o.onFatal,
      shared,
      observeCommit: o.observeCommit,
    });
    return { service, key, config };
  } catch (e) {
    await storage.close();
    throw e;
  }
}

/** startLogServer opens the data directory, starts the log and listens. */
export async function startLogServer(o: LogServerOptions): Promise<RunningLogServer> {
  const logger = o.logger ?? createLogger(o.logLevel);
  const { service, key, config } = await openLogService({ ...o, logger });
  const verbose = logger.isLevelEnabled('debug');
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: !verbose }),
    // Bodies are at most one entry; connections idle longer than this are closed.
    keepAliveTimeout: 72_000,
    requestTimeout: config.addTimeoutMs + 5_000,
  });
  const connections = new ConnectionTracker(app.server);
  await app.register(logPlugin, {
    prefix: '/log',
    backend: service,
    tokens: o.tokens,
    config,
  });
  let address: string;
  try {
    address = await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    await service.close();
    throw new IoError('ERR_IO_NETWORK', `cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`, {
      cause: e,
      hint: 'choose another --port, or stop the process that uses it',
    });
  }
  logger.info({ url: `${address}/log`, origin: o.origin, treeSize: service.sequencer.treeSize }, 'log listening');
  let closed = false;
  return {
    app: app as unknown as FastifyInstance,
    service,
    url: `${address}/log`,
    vkey: key.vkey,
    keyCreated: key.created,
    async close() {
      if (closed) return;
      closed = true;
      await connections.closeWithin(DRAIN_MS, () => app.close());
      await service.close();
      logger.info({ treeSize: service.sequencer.treeSize, ...service.sequencer.stats }, 'log stopped');
      logger.flush();
    },
  };
}
