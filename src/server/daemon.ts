/**
 * server/daemon — `custody serve`: the provider daemon. One data directory holds everything (files + SQLite):
 * ```
 * DIR/keys/, DIR/trust/, DIR/admin.token   identity (server/provider/identity)
 * DIR/incoming/<channel>/<arch>/<file>     artifacts to publish (server/provider/incoming)
 * DIR/blobs/sha256/…                        every artifact signed, by digest (server/provider/blobs)
 * DIR/releases/<channel>/<arch>/…           current manifest + tlog-proof, and history (server/provider/releases)
 * DIR/log/log.key, DIR/log/log.db          the transparency log every manifest is logged in, served under /log/
 * DIR/audit.jsonl                          hash-chained audit log of what the daemon did (audit/audit-log)
 * DIR/audit.anchor                         the newest audit head anchored in the log, with its proof (audit/anchor)
 * ```
 * Lifecycle: identity → log → blob and release stores (own releases re-checked) → incoming scan → listen. A timer
 * re-signs manifests nearing expiry; {@link RunningDaemon.rescan} (SIGHUP in the CLI) imports the incoming directory.
 * Every signed manifest's digest and log index, uploads, refused admin requests, start and stop go to the audit log.
 * Shutdown: stop accepting and drain requests, stop the timer, wait for scans and releases, record the stop, then
 * close the log and the audit log.
 */
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AUDIT_ANCHOR_MAX_BYTES, formatAuditAnchorEntry, formatAuditAnchorFile } from '../audit/anchor.ts';
import { AuditLog } from '../audit/audit-log.ts';
import type { JsonObject } from '../encoding/json.ts';
import { IoError, UsageError, isTrustError, toIoError, type TrustError } from '../errors.ts';
import { readFileIfExists, writeFileAtomic } from '../io/files.ts';
import { formatProofFile } from '../note/proof.ts';
import type { PassphraseSource } from '../keys/key-file.ts';
import { parseSignerKey } from '../note/note.ts';
import { addGlobalRateLimit, sendError } from './http.ts';
import { logPlugin } from './log/plugin.ts';
import { createLogger, openLogService } from './log/server.ts';
import type { LogServiceOptions } from './log/config.ts';
import { KEY_TEXT_MAX_BYTES } from './log/key-file.ts';
import { BlobStore } from './provider/blobs.ts';
import { loadOrCreateIdentity, type ProviderIdentity } from './provider/identity.ts';
import { scanIncoming, type ScanResult } from './provider/incoming.ts';
import { providerPlugin } from './provider/plugin.ts';
import { ReleaseStore, assertValidity, checkChannelName, type Release } from './provider/releases.ts';

/** DaemonOptions configures {@link startDaemon}. */
export interface DaemonOptions {
  dataDir: string;
  host: string;
  /** port 0 picks a free port. */
  port: number;
  /** incomingDir replaces DIR/incoming. */
  incomingDir?: string | undefined;
  /** origin names the log (default: the name in DIR/log/log.key, else `<hostname>/custody/log`). */
  origin?: string | undefined;
  keyFile?: string | undefined;
  trustFile?: string | undefined;
  tokenFile?: string | undefined;
  passphrase?: PassphraseSource;
  tls?: { cert: Uint8Array; key: Uint8Array } | undefined;
  /** validityMs of manifests the daemon signs (default 30 days). */
  validityMs?: number;
  /** refreshIntervalMs between expiry checks (default 10 minutes). */
  refreshIntervalMs?: number;
  /** rateLimitPerIp is requests per second per client address, every route (default 50; 0 = off). */
  rateLimitPerIp?: number;
  /** rateLimitGlobal is requests per second for all clients together (default 0 = off). */
  rateLimitGlobal?: number;
  /** maxBlobBytes caps one upload (default 8 GiB); a larger Content-Length is refused 413 before reading. */
  maxBlobBytes?: number;
  /** maxConnections caps concurrent TCP connections (default 4,096). */
  maxConnections?: number;
  defaultRelease?: { channel: string; arch: string } | undefined;
  log?: LogServiceOptions;
  /** postgres keeps the transparency log's state in PostgreSQL instead of DATA/log/log.db. */
  postgres?: { url: string; schema?: string | undefined } | undefined;
  logLevel?: string;
  logger?: Logger;
  now?: () => Date;
  /** onFatal is told when the daemon must stop (the log stopped on its own). */
  onFatal?: (e: TrustError) => void;
  version?: string;
}

/** RunningDaemon is a started daemon. */
export interface RunningDaemon {
  app: FastifyInstance;
  url: string;
  identity: ProviderIdentity;
  vkey: string;
  origin: string;
  releases: ReleaseStore;
  audit: AuditLog;
  dataDir: string;
  incomingDir: string;
  /** startup reports the first scan of the incoming directory. */
  startup: ScanResult;
  rescan(): Promise<ScanResult>;
  close(): Promise<void>;
}

/** RESIGNABLE are the codes a stored release may fail with and still be re-signed at start: expiry, rotation. */
const RESIGNABLE: ReadonlySet<string> = new Set(['ERR_MANIFEST_EXPIRED', 'ERR_MANIFEST_THRESHOLD_UNMET']);

/** defaultOrigin derives a log origin from the host name: `<host>/custody/log`, schema-less as C2SP asks. */
function defaultOrigin(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'localhost';
  return `${host}/custody/log`;
}

async function existingOrigin(path: string): Promise<string | undefined> {
  const raw = await readFileIfExists(path, { maxBytes: KEY_TEXT_MAX_BYTES, what: 'log key' });
  if (raw === undefined) return undefined;
  try {
    return parseSignerKey(raw.toString('utf8').replace(/\r?\n$/, '')).name;
  } finally {
    raw.fill(0);
  }
}

/** startDaemon starts `custody serve`. */
export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const now = o.now ?? (() => new Date());
  const logger = o.logger ?? createLogger(o.logLevel);
  const dataDir = o.dataDir;
  try {
    await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw toIoError(e, dataDir, 'write');
  }
  const incomingDir = o.incomingDir ?? join(dataDir, 'incoming');
  await fsp.mkdir(incomingDir, { recursive: true, mode: 0o755 }).catch((e: unknown) => {
    throw toIoError(e, incomingDir, 'write');
  });
  if (o.defaultRelease !== undefined) {
    checkChannelName(o.defaultRelease.channel, 'channel');
    checkChannelName(o.defaultRelease.arch, 'arch');
  }
  const validityMs = assertValidity(o.validityMs ?? 30 * 86_400_000);

  const audit = await AuditLog.open(join(dataDir, 'audit.jsonl'), { now });
  const closers: Array<() => Promise<void>> = [() => audit.close()];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch((e: unknown) => logger.error({ err: e }, 'close failed'));
  };
  const record = (event: string, fields: JsonObject): void => {
    audit.append(event, fields).catch((e: unknown) => logger.error({ err: e, event }, 'audit append failed'));
  };

  try {
    const identity = await loadOrCreateIdentity({
      dataDir,
      keyFile: o.keyFile,
      trustFile: o.trustFile,
      tokenFile: o.tokenFile,
      passphrase: o.passphrase ?? {},
      now: now(),
    });
    for (const w of identity.warnings) logger.warn(w);

    const logDir = join(dataDir, 'log');
    const origin = o.origin ?? (await existingOrigin(join(logDir, 'log.key'))) ?? defaultOrigin();
    const { service, key, config } = await openLogService({
      dataDir: logDir,
      origin,
      service: o.log,
      postgres: o.postgres,
      logger,
      onFatal: (e) => {
        record('log.fatal', { code: e.code, message: e.message });
        o.onFatal?.(e);
      },
    });
    closers.push(() => service.close());

    // Audit heads are anchored in the log (audit/anchor): after the start record and after every signed manifest,
    // one at a time; the newest anchor file is kept in DATA/audit.anchor and served at /audit/anchor.
    const anchorPath = join(dataDir, 'audit.anchor');
    let anchorText = (await readFileIfExists(anchorPath, { maxBytes: AUDIT_ANCHOR_MAX_BYTES, what: 'audit anchor' }))?.toString('utf8');
    let anchoring: Promise<void> = Promise.resolve();
    const anchor = (): Promise<void> => {
      anchoring = anchoring.then(async () => {
        const head = audit.head;
        if (head.seq < 0) return;
        try {
          const a = { seq: head.seq, head: head.hash };
          const r = await service.add(formatAuditAnchorEntry(a));
          const text = formatAuditAnchorFile(a, formatProofFile({ index: r.index, proof: r.proof, checkpoint: r.checkpoint }));
          await writeFileAtomic(anchorPath, text);
          anchorText = text;
        } catch (e) {
          // Best effort: the audit record itself is durable; the next anchor covers it.
          logger.error({ err: e }, 'audit anchor failed');
        }
      });
      return anchoring;
    };
    await audit.append('daemon.started', {
      pid: process.pid,
      created: identity.created,
      trust_fingerprint: identity.fingerprint,
      signer_key_id: identity.signer.publicKey.keyId,
      log_vkey: key.vkey,
      log_size: service.sequencer.treeSize,
    });
    await anchor();

    const blobs = new BlobStore(join(dataDir, 'blobs'));
    const releases = new ReleaseStore({
      dir: join(dataDir, 'releases'),
      blobs,
      signer: identity.signer,
      root: identity.root,
      log: { add: (entry) => service.add(entry), vkey: key.vkey },
      validityMs,
      now,
      onRelease: async (r: Release, reason: string) => {
        await audit.append('manifest.signed', {
          reason,
          channel: r.channel,
          arch: r.arch,
          version: r.manifest.manifest.version,
          sequence: r.manifest.manifest.sequence,
          digest: r.manifest.digest,
          log_index: r.index,
          artifacts: Object.fromEntries([...r.manifest.manifest.artifacts].map(([n, a]) => [n, a.hash])),
        });
        await anchor();
        logger.info({ channel: r.channel, arch: r.arch, sequence: r.manifest.manifest.sequence, logIndex: r.index, reason }, 'manifest signed and logged');
      },
    });
    await blobs.removeTemporaries();
    const loaded = await releases.load();
    for (const s of loaded.stale) logger.warn({ ...s }, 'stored release no longer verifies; it is not served until re-signed');

    // Re-sign what no longer verifies (expired, or the trust root changed) from the blobs it referenced.
    const resignStale = async (): Promise<void> => {
      for (const s of loaded.stale) {
        // Only what time or a rotation invalidated is re-signed; a record that fails otherwise (a bad signature,
        // a malformed file: tampering?) is left for the operator, and not served.
        if (!RESIGNABLE.has(s.code)) {
          logger.error({ channel: s.channel, arch: s.arch, code: s.code }, 'stored release refused; not re-signed, not served');
          continue;
        }
        const arts = releases.artifactsOf(s.channel, s.arch);
        if (arts === undefined || releases.get(s.channel, s.arch) !== undefined) continue;
        try {
          await releases.release(s.channel, s.arch, arts, {}, `resign after ${s.code}`);
        } catch (e) {
          if (!isTrustError(e)) throw e;
          logger.warn({ channel: s.channel, arch: s.arch, code: e.code }, e.message);
        }
      }
    };
    await resignStale();
    await releases.refreshExpiring();

    let scanning: Promise<ScanResult> | undefined;
    const rescan = (): Promise<ScanResult> => {
      // One scan at a time; a request during a scan waits for it and then scans again (it may have new files).
      const run = async (): Promise<ScanResult> => {
        const r = await scanIncoming(incomingDir, blobs, releases);
        for (const p of r.problems) logger.warn({ path: p.path, code: p.code }, p.message);
        return r;
      };
      const next = (scanning ?? Promise.resolve()).catch(() => undefined).then(run);
      scanning = next;
      return next;
    };
    const startup = await rescan();

    const verbose = logger.isLevelEnabled('debug');
    const app = Fastify({
      loggerInstance: logger,
      logController: new LogController({ disableRequestLogging: !verbose }),
      keepAliveTimeout: 72_000,
      // Uploads of large artifacts may take long: no whole-request deadline, but a connection idle for a minute
      // (a slow-loris client, a stalled reader) is closed, and the number of connections is capped.
      requestTimeout: 0,
      connectionTimeout: 60_000,
      // Artifact file names may be up to 255 characters (fastify's default cap on a path segment is 100).
      routerOptions: { maxParamLength: 256 },
      frameworkErrors: (err, _req, reply) => {
        // fastify's own refusals (a malformed URL, an over-long path segment) get the coded JSON body too.
        void sendError(reply, new UsageError('ERR_USAGE_ARGUMENT', `bad request: ${String(err.message).toLowerCase().slice(0, 200)}`));
      },
      ...(o.tls ? { https: { cert: Buffer.from(o.tls.cert), key: Buffer.from(o.tls.key) } } : {}),
    });
    app.server.maxConnections = o.maxConnections ?? 4096;
    const root = app as unknown as FastifyInstance;
    // Rate limits for every route (the log's included): per client address, and for everyone together.
    const perIp = o.rateLimitPerIp ?? 50;
    await app.register(rateLimit, {
      global: perIp > 0,
      max: perIp > 0 ? perIp : 1_000_000_000,
      timeWindow: 1000,
      errorResponseBuilder: (_req, ctx) =>
        new IoError('ERR_PROVIDER_RATE_LIMITED', `rate limit of ${ctx.max} requests per ${ctx.after === '1 second' ? 'second' : 'window'} exceeded; retry in ${ctx.after}`),
    });
    if ((o.rateLimitGlobal ?? 0) > 0) addGlobalRateLimit(root, o.rateLimitGlobal!);
    await app.register(providerPlugin, {
      releases,
      blobs,
      tokens: [identity.token],
      trust: { rootBytes: identity.rootBytes, fingerprint: identity.fingerprint, rootDir: identity.rootDir },
      log: {
        vkey: key.vkey,
        prefix: '/log',
        healthy: () => service.sequencer.fatalError === undefined,
        treeSize: () => service.checkpoint()?.size ?? 0,
      },
      rescan,
      defaultRelease: o.defaultRelease,
      ...(o.maxBlobBytes === undefined ? {} : { maxBlobBytes: o.maxBlobBytes }),
      audit: record,
      auditAnchor: () => anchorText,
      version: o.version ?? '0.0.0',
    });
    await app.register(logPlugin, { prefix: '/log', backend: service, tokens: [identity.token], config, registerRateLimit: false });

    let address: string;
    try {
      address = await app.listen({ host: o.host, port: o.port });
    } catch (e) {
      throw new IoError('ERR_IO_NETWORK', `cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`, {
        cause: e,
        hint: 'choose another --port, or stop the process that uses it',
      });
    }

    const timer = setInterval(() => {
      releases.refreshExpiring().catch((e: unknown) => logger.error({ err: e }, 'manifest refresh failed'));
    }, o.refreshIntervalMs ?? 600_000);
    timer.unref();

    logger.info({ url: address, origin, releases: releases.list().length, logSize: service.sequencer.treeSize }, 'provider listening');
    let closed = false;
    return {
      app: app as unknown as FastifyInstance,
      url: address,
      identity,
      vkey: key.vkey,
      origin,
      releases,
      audit,
      dataDir,
      incomingDir,
      startup,
      rescan,
      async close() {
        if (closed) return;
        closed = true;
        // Stop taking requests and let the ones in flight finish, then let queued work finish, then record the
        // stop while the audit log is still open; the log and the audit file close last.
        await app.close().catch((e: unknown) => logger.error({ err: e }, 'http close failed'));
        clearInterval(timer);
        await scanning?.catch(() => undefined);
        await releases.idle();
        await anchoring;
        await audit.append('daemon.stopped', { log_size: service.sequencer.treeSize }).catch(() => undefined);
        await closeAll();
        logger.flush();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
