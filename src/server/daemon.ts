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
 * DIR/auth.db                              the signing API's tokens, identities, nonces, signed entries (auth/store)
 * DIR/tuf/                                 the TUF repository's timestamp, snapshot and targets metadata (provider/tuf-repo)
 * ```
 * Lifecycle: identity → log → blob and release stores (own releases re-checked) → incoming scan → the sample release
 * on a new, empty data directory (server/provider/sample) → listen. The public listener (server/provider/front)
 * applies the rate limits and answers the read routes itself; the rest goes to fastify (info, admin, the log). As
 * the leader of `--workers N` (server/cluster) the daemon listens on a private socket instead, and tells the
 * cluster about each release after its record is durably written. A timer
 * re-signs manifests nearing expiry; {@link RunningDaemon.rescan} (SIGHUP in the CLI) imports the incoming directory.
 * Every signed manifest's digest and log index, uploads, refused admin requests, start and stop go to the audit log,
 * and every signature (manifests, /v1/sign, checkpoints) as a `key.used` event (server/key-use, `daemonSigners`).
 * With `secrets` the admin token, the signer's passphrase and the log key live in a secret store
 * (server/daemon-secrets decides where each comes from).
 * Shutdown: stop accepting and drain requests, stop the timer, wait for scans and releases, record the stop, then
 * close the log and the audit log.
 */
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AUDIT_ANCHOR_MAX_BYTES, formatAuditAnchorEntry, formatAuditAnchorFile } from '../audit/anchor.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { openAuthStore } from '../auth/open.ts';
import { newTokenKeyText, parseTokenKeyText, withTokenKey } from '../auth/token-key.ts';
import type { AuthStore } from '../auth/store.ts';
import type { KeylessCa } from '../auth/keyless-ca.ts';
import type { OidcVerifier, OidcVerifierOptions } from '../auth/oidc.ts';
import { KEYLESS_CA_CERT_FILE } from '../auth/oidc-shape.ts';
import type { JsonObject } from '../encoding/json.ts';
import { RefusalBudget } from './audit-budget.ts';
import type { Signer } from '../crypto/index.ts';
import { signerHealth } from '../hsm/health.ts';
import { ConfigError, IoError, UsageError, isTrustError, toIoError, type TrustError } from '../errors.ts';
import { acquirePidLock } from '../io/pid-lock.ts';
import { pathExists, readFileIfExists, writeFileAtomic } from '../io/files.ts';
import { formatProofFile } from '../note/proof.ts';
import type { PassphraseSource } from '../keys/key-file.ts';
import { tufKeyId } from '../keys/key-id.ts';
import { parseSignerKey, type Ed25519NoteSigner } from '../note/note.ts';
import { openSecretStore } from '../secrets/open.ts';
import type { SecretStore } from '../secrets/store.ts';
import { DAEMON_SECRET_NAMES, describeSource, loadOrCreateStoredText, resolveSecretSource } from './daemon-secrets.ts';
import { recordingNoteSigner, recordingSigner, type RecordEvent } from './key-use.ts';
import { bearerMatcher, ConnectionTracker, DRAIN_MS, sendError } from './http.ts';
import { createDaemonLogger, type LogFormat } from './log-format.ts';
import { logPlugin } from './log/plugin.ts';
import { openLogService } from './log/server.ts';
import type { LogServiceConfig, LogServiceOptions } from './log/config.ts';
import { KEY_TEXT_MAX_BYTES } from './log/key-file.ts';
import type { LogService } from './log/service.ts';
import { BlobStore } from './provider/blobs.ts';
import { createFrontServer } from './provider/front.ts';
import { loadOrCreateIdentity, type ProviderIdentity } from './provider/identity.ts';
import { scanIncoming, type ScanResult } from './provider/incoming.ts';
import { DEFAULT_MAX_BLOB_BYTES, providerPlugin } from './provider/plugin.ts';
import { ReadPath } from './provider/read-path.ts';
import { loadUiAssets } from './ui/assets.ts';
import { createDaemonMetrics, metricsPlugin, type DaemonMetrics, type CountsSnapshot } from './ui/metrics.ts';
import { uiPlugin } from './ui/plugin.ts';
import { ReleaseStore, assertValidity, checkChannelName, type Release } from './provider/releases.ts';
import { signingLimits, type SigningLimits } from './signing/limits.ts';
import { AuthDecisions, continueAllowed, signingApiPlugin, type AuthOutcome } from './signing/plugin.ts';
import { openCertus, type CertusDaemonOptions } from './signing/certus-open.ts';
import { OpenApiCollector } from './signing/openapi.ts';
import { publishSample } from './provider/sample.ts';
import { TufRepository, checkTufExpiry, type TufExpiry } from './provider/tuf-repo.ts';

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
  /** signer replaces keyFile: the manifest signing key held in a PKCS#11 token (opened by the caller, hsm/pkcs11). */
  signer?: Signer | undefined;
  /**
   * logSigner is the transparency log's checkpoint key held in a PKCS#11 token (`serve --log-key pkcs11:…`), instead
   * of DATA/log/log.key or the secret store's `daemon.log-key`; the log's origin is `origin` (default as usual).
   */
  logSigner?: Signer | undefined;
  /** previousSigners dual-sign during a key rotation while the root still names them (provider/identity). */
  previousSigners?: readonly Signer[] | undefined;
  trustFile?: string | undefined;
  tokenFile?: string | undefined;
  passphrase?: PassphraseSource;
  /**
   * secrets keeps the admin token, the signer key's passphrase and the log key in an envelope-encrypted store
   * (server/daemon-secrets); its keyring (default DIR/keyring) is opened with `passphrase` and made on first use.
   */
  secrets?: { dir: string; keyringPath?: string | undefined } | undefined;
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
  /** maxConnectionsPerIp caps the connections of one client address, an IPv6 client's /64 (default 256; 0 = off). */
  maxConnectionsPerIp?: number;
  defaultRelease?: { channel: string; arch: string } | undefined;
  log?: LogServiceOptions;
  /**
   * postgres keeps the transparency log's state in PostgreSQL instead of DATA/log/log.db; with `shared` several
   * daemons with the same log key append to that one log (docs/log.md "Several writers on one PostgreSQL log").
   */
  postgres?: { url: string; schema?: string | undefined; shared?: boolean | undefined } | undefined;
  logLevel?: string;
  /** logFormat of the default logger (default: pretty on a terminal, JSON otherwise). */
  logFormat?: LogFormat | undefined;
  logger?: Logger;
  /** signingApi serves the signing API under /v1 (server/signing; default true, `--no-signing-api` turns it off). */
  signingApi?: boolean;
  /** signingRateLimitPerToken / signingRateLimitPerIp: sign and verify requests per second (defaults 20 / 50; 0 = off). */
  signingRateLimitPerToken?: number;
  signingRateLimitPerIp?: number;
  /** certus configures the Certus gatekeeper and upload routes of the signing API (server/signing/certus-open). */
  certus?: CertusDaemonOptions | undefined;
  /** oidc accepts OIDC bearer JWTs of these issuers on /v1 and makes their callers sign keyless (auth/oidc). */
  oidc?: OidcVerifierOptions | undefined;
  /** dev labels the daemon a development one (`custody serve --dev`): a `custody-mode: development` header on /v1. */
  dev?: boolean;
  /** tufExpiry is the validity of the TUF repository's metadata under /tuf/ (default 1 day, 7 days, 30 days). */
  tufExpiry?: Partial<TufExpiry> | undefined;
  /** tufRefreshIntervalMs between expiry checks of the TUF metadata (default a tenth of the timestamp's validity, ≤ 10 min). */
  tufRefreshIntervalMs?: number | undefined;
  /** sample publishes the sample release when the data directory is new and nothing else is released. */
  sample?: boolean;
  /**
   * leader makes this daemon the leader of a cluster (server/cluster): it listens on the Unix socket `socketPath`
   * (workers forward what they do not serve, with the client address in X-Forwarded-For) instead of host:port,
   * applies no per-address limits of its own, and calls onRelease after each release record is durably written.
   */
  leader?:
    | {
        socketPath: string;
        onRelease: (r: Release) => void | Promise<void>;
        /** workerMetrics collects the workers' /metrics counters (server/ui/metrics relay). */
        workerMetrics?: (() => Promise<CountsSnapshot[]>) | undefined;
      }
    | undefined;
  now?: () => Date;
  /** onFatal is told when the daemon must stop (the log stopped on its own). */
  onFatal?: (e: TrustError) => void;
  version?: string;
}

/** RunningDaemon is a started daemon. */
export interface RunningDaemon {
  app: FastifyInstance;
  /** url is where it listens: http(s)://host:port, or `unix:<path>` for a leader. */
  url: string;
  identity: ProviderIdentity;
  vkey: string;
  origin: string;
  releases: ReleaseStore;
  audit: AuditLog;
  /**
   * record appends an audit event without waiting (a failure goes to the daemon log), refusals of unauthenticated
   * requests within their budget (server/audit-budget): what the routes record, and the workers' events too.
   */
  record(event: string, fields: JsonObject): void;
  /** auth is the signing API's store (undefined with signingApi: false). */
  auth: AuthStore | undefined;
  /** signingLimits are the signing API's rate-limit counters (server/signing/limits; a leader's workers consult them). */
  signingLimits: SigningLimits | undefined;
  /**
   * workerTokenKey is the --secrets token HMAC key (auth/token-key), undefined without --secrets: server/cluster hands
   * it to its workers over their IPC channel, so their own auth store handles digest tokens as the leader's does.
   */
  workerTokenKey: Uint8Array | undefined;
  dataDir: string;
  incomingDir: string;
  /** tuf is the TUF repository served under /tuf/ (undefined when the root gives its online roles no key we hold). */
  tuf: TufRepository | undefined;
  /** startup reports the first scan of the incoming directory. */
  startup: ScanResult;
  /** sample is the sample release published by this start, if any. */
  sample: Release | undefined;
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

/** Closers run in reverse order of registration when the daemon stops, or when its start fails. */
class Closers {
  readonly #list: Array<() => Promise<void>> = [];
  readonly logger: Logger;
  constructor(logger: Logger) {
    this.logger = logger;
  }
  push(c: () => Promise<void>): void {
    this.#list.push(c);
  }
  async closeAll(): Promise<void> {
    for (const c of this.#list.reverse()) await c().catch((e: unknown) => this.logger.error({ err: e }, 'close failed'));
  }
}

/** SERVE_LOCK is the daemon's lock file in its data directory (io/pid-lock: its pid; taken over once that is gone). */
export const SERVE_LOCK = 'serve.lock';

/** prepareDirs creates the data and incoming directories; `fresh` tells whether the data directory was new and empty. */
async function prepareDirs(o: DaemonOptions): Promise<{ incomingDir: string; fresh: boolean }> {
  const dataDir = o.dataDir;
  const fresh = await fsp.readdir(dataDir).then(
    (names) => names.length === 0,
    (e: unknown) => {
      if ((e as { code?: string }).code === 'ENOENT') return true;
      throw toIoError(e, dataDir, 'read');
    },
  );
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
  return { incomingDir, fresh };
}

/**
 * AuditAnchors anchors audit heads in the log (audit/anchor): after the start record and after every signed
 * manifest, one at a time; the newest anchor file is kept in DATA/audit.anchor and served at /audit/anchor.
 */
class AuditAnchors {
  readonly #audit: AuditLog;
  readonly #service: LogService;
  readonly #path: string;
  readonly #logger: Logger;
  #text: string | undefined;
  #chain: Promise<void> = Promise.resolve();

  private constructor(audit: AuditLog, service: LogService, path: string, logger: Logger, text: string | undefined) {
    this.#audit = audit;
    this.#service = service;
    this.#path = path;
    this.#logger = logger;
    this.#text = text;
  }

  static async open(audit: AuditLog, service: LogService, path: string, logger: Logger): Promise<AuditAnchors> {
    const text = (await readFileIfExists(path, { maxBytes: AUDIT_ANCHOR_MAX_BYTES, what: 'audit anchor' }))?.toString('utf8');
    return new AuditAnchors(audit, service, path, logger, text);
  }

  /** text is the newest anchor file, if any. */
  get text(): string | undefined {
    return this.#text;
  }

  /** anchor appends the current audit head to the log (after any anchoring in progress). */
  anchor(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      const head = this.#audit.head;
      if (head.seq < 0) return;
      try {
        const a = { seq: head.seq, head: head.hash };
        const r = await this.#service.add(formatAuditAnchorEntry(a));
        const text = formatAuditAnchorFile(a, formatProofFile({ index: r.index, proof: r.proof, checkpoint: r.checkpoint }));
        await writeFileAtomic(this.#path, text);
        this.#text = text;
      } catch (e) {
        // Best effort: the audit record itself is durable; the next anchor covers it.
        this.#logger.error({ err: e }, 'audit anchor failed');
      }
    });
    return this.#chain;
  }

  /** idle resolves when no anchoring is in progress. */
  idle(): Promise<void> {
    return this.#chain;
  }
}

/** openReleases opens the blob and release stores and loads (re-checks) the stored releases. */
async function openReleases(
  o: DaemonOptions,
  ctx: {
    identity: ProviderIdentity;
    signer: Signer;
    previousSigners: readonly Signer[];
    service: LogService;
    vkey: string;
    audit: AuditLog;
    anchors: AuditAnchors;
    logger: Logger;
    now: () => Date;
    /** tuf holds the TUF repository once open: each release updates it before the release is announced. */
    tuf: { repo?: TufRepository };
  },
): Promise<{ blobs: BlobStore; releases: ReleaseStore; stale: Array<{ channel: string; arch: string; code: string }> }> {
  const { audit, anchors, logger } = ctx;
  const blobs = new BlobStore(join(o.dataDir, 'blobs'));
  const releases = new ReleaseStore({
    dir: join(o.dataDir, 'releases'),
    blobs,
    signer: ctx.signer,
    previousSigners: ctx.previousSigners,
    root: ctx.identity.root,
    log: { add: (entry) => ctx.service.add(entry), vkey: ctx.vkey },
    validityMs: assertValidity(o.validityMs ?? 30 * 86_400_000),
    now: ctx.now,
    onRelease: async (r: Release, reason: string) => {
      // The TUF metadata follows the release before anyone is told of it; a failure there does not undo the
      // release (it is durable and logged): the next sync, at the latest the timer's, catches up.
      await ctx.tuf.repo?.sync(releases.list()).catch((e: unknown) => logger.error({ err: e }, 'tuf metadata update failed'));
      // The record is durable (written atomically) before this runs: workers may read it now, and the release is
      // answered only once they do (or a bounded wait passes).
      await o.leader?.onRelease(r);
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
      await anchors.anchor();
      logger.info({ channel: r.channel, arch: r.arch, sequence: r.manifest.manifest.sequence, logIndex: r.index, reason }, 'manifest signed and logged');
    },
  });
  await blobs.removeTemporaries();
  const loaded = await releases.load();
  for (const s of loaded.stale) logger.warn({ ...s }, 'stored release no longer verifies; it is not served until re-signed');
  return { blobs, releases, stale: loaded.stale };
}

/** resignStale re-signs what no longer verifies (expired, or the trust root changed) from the blobs it referenced. */
async function resignStale(releases: ReleaseStore, stale: ReadonlyArray<{ channel: string; arch: string; code: string }>, logger: Logger): Promise<void> {
  for (const s of stale) {
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
}

/** Rescanner runs scans of the incoming directory one at a time; a request during a scan waits, then scans again. */
function rescanner(incomingDir: string, blobs: BlobStore, releases: ReleaseStore, logger: Logger): { rescan: () => Promise<ScanResult>; idle: () => Promise<unknown> } {
  let scanning: Promise<ScanResult> | undefined;
  const run = async (): Promise<ScanResult> => {
    const r = await scanIncoming(incomingDir, blobs, releases);
    for (const p of r.problems) logger.warn({ path: p.path, code: p.code }, p.message);
    return r;
  };
  return {
    rescan: () => {
      const next = (scanning ?? Promise.resolve()).catch(() => undefined).then(run);
      scanning = next;
      return next;
    },
    idle: () => scanning?.catch(() => undefined) ?? Promise.resolve(),
  };
}

/** AppParts are what the HTTP surface is built from. */
interface AppParts {
  identity: ProviderIdentity;
  /** signingApiSigner is the identity's key, recording each use (server/key-use). */
  signingApiSigner: Signer;
  service: LogService;
  config: LogServiceConfig;
  vkey: string;
  blobs: BlobStore;
  releases: ReleaseStore;
  anchors: AuditAnchors;
  rescan: () => Promise<ScanResult>;
  record: (event: string, fields: JsonObject) => void;
  logger: Logger;
  origin: string;
  /** auth is the signing API's store (undefined when the API is off). */
  auth: AuthStore | undefined;
  signingLimits: SigningLimits | undefined;
  certus?: Awaited<ReturnType<typeof openCertus>> | undefined;
  /** keyless: the OIDC verifier and keyless CA of the signing API (both undefined without --oidc-issuer). */
  keyless: { oidc: OidcVerifier | undefined; ca: KeylessCa | undefined };
  tuf: TufRepository | undefined;
  /** auditPath is DATA/audit.jsonl (read by the dashboard's audit route). */
  auditPath: string;
  metrics: DaemonMetrics;
}

/**
 * buildApp builds the fastify app (info, admin, the log) and, unless this is a cluster leader, the public front
 * server around it (rate limits, then the read path, then fastify).
 */
async function buildApp(o: DaemonOptions, p: AppParts): Promise<FastifyInstance> {
  const verbose = p.logger.isLevelEnabled('debug');
  const readPath = new ReadPath({
    releases: p.releases,
    blobs: p.blobs,
    trust: { rootBytes: p.identity.rootBytes, rootDir: p.identity.rootDir },
    tuf: p.tuf === undefined ? undefined : { dir: join(o.dataDir, 'tuf'), rootVersion: p.identity.root.version },
    defaultRelease: o.defaultRelease,
    onError: (e) => p.logger.error({ err: e }, 'provider read failed'),
    counts: p.metrics.counts,
  });
  const app = Fastify({
    loggerInstance: p.logger,
    logController: new LogController({ disableRequestLogging: !verbose }),
    keepAliveTimeout: 72_000,
    requestTimeout: 0,
    connectionTimeout: 60_000,
    // Artifact file names may be up to 255 characters (fastify's default cap on a path segment is 100).
    routerOptions: { maxParamLength: 256 },
    frameworkErrors: (err, _req, reply) => {
      // fastify's own refusals (a malformed URL, an over-long path segment) get the coded JSON body too.
      void sendError(reply, new UsageError('ERR_USAGE_ARGUMENT', `bad request: ${String(err.message).toLowerCase().slice(0, 200)}`));
    },
    // A leader is reached only through its private socket (DATA dir, 0700): the workers put the client address in
    // X-Forwarded-For, and nothing else can connect to it.
    ...(o.leader !== undefined
      ? { trustProxy: true }
      : {
          serverFactory: (handler: Parameters<typeof createFrontServer>[0]['fallback']): Server =>
            createFrontServer({
              readPath,
              fallback: handler,
              rateLimitPerIp: o.rateLimitPerIp ?? 50,
              rateLimitGlobal: o.rateLimitGlobal ?? 0,
              maxConnections: o.maxConnections ?? 4096,
              maxConnectionsPerIp: o.maxConnectionsPerIp,
              tls: o.tls,
              counts: p.metrics.counts,
            }),
        }),
  });
  // @fastify/rate-limit only for the routes that set their own limit (the log's POST /add, per minute); the
  // per-address and global limits are the front's.
  await app.register(rateLimit, { global: false });
  // Not encapsulated: its onResponse hook must see every route.
  p.metrics.setLogSize(() => p.service.checkpoint()?.size ?? 0);
  await metricsPlugin(app as unknown as FastifyInstance, { metrics: p.metrics, workers: o.leader?.workerMetrics });
  await app.register(providerPlugin, {
    releases: p.releases,
    blobs: p.blobs,
    tokens: [p.identity.token],
    trust: { fingerprint: p.identity.fingerprint },
    log: {
      vkey: p.vkey,
      prefix: '/log',
      healthy: () => p.service.sequencer.fatalError === undefined,
      treeSize: () => p.service.checkpoint()?.size ?? 0,
    },
    // A token-held log key counts too: checkpoints stop when its token fails.
    keyHealthy: () => signerHealth(p.identity.signer).ok && (o.logSigner === undefined || signerHealth(o.logSigner).ok),
    rescan: p.rescan,
    ...(o.maxBlobBytes === undefined ? {} : { maxBlobBytes: o.maxBlobBytes }),
    audit: p.record,
    auditAnchor: () => p.anchors.text,
    version: o.version ?? '0.0.0',
  });
  await app.register(logPlugin, { prefix: '/log', backend: p.service, tokens: [p.identity.token], config: p.config, registerRateLimit: false });
  const ui = await loadUiAssets();
  if ('error' in ui) p.logger.warn({ reason: ui.error }, 'dashboard not available at /ui/');
  else p.logger.debug({ from: ui.from }, 'dashboard at /ui/');
  await app.register(uiPlugin, {
    assets: 'error' in ui ? ui : ui.assets,
    log: {
      publishedSize: () => p.service.checkpoint()?.size ?? 0,
      readHashes: (ix) => p.service.sequencer.readHashes(ix),
      readEntries: (a, b) => p.service.readEntries(a, b),
    },
    auditPath: p.auditPath,
    tokens: [p.identity.token],
  });
  // A leader's "100 Continue" check authenticates a /v1 request once; its route uses that result (AuthDecisions).
  const decisions = o.leader !== undefined ? new AuthDecisions() : undefined;
  if (p.auth !== undefined) {
    // GET /openapi.json describes the /v1 routes from their own schemas (server/signing/openapi).
    const openapi = new OpenApiCollector();
    app.addHook('onRoute', openapi.onRoute);
    app.get('/openapi.json', (_req, reply) => reply.send(openapi.document({ title: 'Custody signing API', version: o.version ?? '0.0.0' })));
    await app.register(signingApiPlugin, {
      prefix: '/v1',
      store: p.auth,
      service: p.service,
      signer: p.signingApiSigner,
      root: p.identity.root,
      rootBytes: p.identity.rootBytes,
      vkey: p.vkey,
      origin: p.origin,
      audit: p.record,
      oidc: p.keyless.oidc,
      keyless: p.keyless.ca,
      mode: o.dev === true ? 'development' : 'production',
      limits: p.signingLimits,
      // Workers forward what they leave to the leader after counting it (server/signing/worker-verify).
      trustCountedHeader: o.leader !== undefined,
      decisions,
      ...(o.now === undefined ? {} : { now: o.now }),
      certus: p.certus,
    });
  }
  if (o.leader !== undefined) {
    // Workers forward a request with a body as `Expect: 100-continue` and send the body only after "100 Continue"
    // (server/worker). The leader withholds it from a request it will refuse before reading the body: one without
    // an accepted bearer token (every route that reads a body requires one), or an upload declaring more than the
    // cap. Such a request is answered without its body ever crossing the socket, so the worker always relays the
    // leader's own refusal (401/413) instead of a broken pipe.
    const tokenOk = bearerMatcher([p.identity.token]);
    const maxBlob = o.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (p.auth !== undefined && (req.url ?? '').startsWith('/v1/')) {
        // The signing API's tokens live in its store: the check is asynchronous (server/signing continueAllowed).
        const auth = p.auth;
        const authorization = req.headers.authorization;
        const remember = (outcome: AuthOutcome): void => decisions?.remember(req, authorization, outcome);
        void continueAllowed(auth, req.url ?? '', authorization, declared, p.keyless.oidc, remember).then((ok) => {
          if (ok) res.writeContinue();
          app.server.emit('request', req, res);
        });
        return;
      }
      const tooBig = req.method === 'PUT' && (req.url ?? '').startsWith('/admin/v1/blobs/') && declared > maxBlob;
      if (tokenOk(req.headers.authorization) && !tooBig) res.writeContinue();
      app.server.emit('request', req, res);
    });
  }
  return app as unknown as FastifyInstance;
}

async function listen(app: FastifyInstance, o: DaemonOptions): Promise<string> {
  try {
    if (o.leader !== undefined) {
      await fsp.rm(o.leader.socketPath, { force: true });
      await app.listen({ path: o.leader.socketPath });
      // Only this user may connect: the leader trusts X-Forwarded-For from whoever reaches the socket, and a data
      // directory made by someone else may be wider than the 0700 this daemon creates.
      await fsp.chmod(o.leader.socketPath, 0o600);
      return `unix:${o.leader.socketPath}`;
    }
    return await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    const where = o.leader !== undefined ? o.leader.socketPath : `${o.host}:${o.port}`;
    throw new IoError('ERR_IO_NETWORK', `cannot listen on ${where}: ${(e as Error).message}`, {
      cause: e,
      hint: 'choose another --port, or stop the process that uses it',
    });
  }
}

/**
 * daemonSigners is the one place the daemon's signers are assembled: each signature is recorded as a `key.used`
 * audit event with its purpose (server/key-use). The identity keeps the bare key for what is not a signature (ids).
 */
function daemonSigners(
  identity: ProviderIdentity,
  record: RecordEvent,
): { manifest: Signer; previousManifest: Signer[]; signingApi: Signer; checkpoint: (s: Ed25519NoteSigner) => Ed25519NoteSigner } {
  return {
    manifest: recordingSigner(identity.signer, 'manifest', record),
    previousManifest: identity.previousSigners.map((s) => recordingSigner(s, 'manifest', record)),
    signingApi: recordingSigner(identity.signer, 'signing-api', record),
    checkpoint: (s) => recordingNoteSigner(s, 'checkpoint', record),
  };
}

/** openDaemonSecretStore opens `--secrets` (its keyring made on first use, opened with the daemon's passphrase source). */
async function openDaemonSecretStore(s: { dir: string; keyringPath?: string | undefined }, passphrase: PassphraseSource, now: () => Date): Promise<SecretStore> {
  const { store } = await openSecretStore({ dir: s.dir, keyringPath: s.keyringPath, passphrase, create: true, now });
  return store;
}

/**
 * refuseOtherLogKey refuses a token log key (`--log-key`) when the data directory or the secret store already holds
 * a log key: the log would change identity under its clients (a checkpoint key is the log's name).
 */
async function refuseOtherLogKey(source: { kind: string; store?: SecretStore; name?: string }, logKeyFile: string): Promise<void> {
  const held = source.kind === 'store' ? await source.store!.has(source.name!) : await pathExists(logKeyFile);
  if (held) {
    throw new ConfigError('ERR_CONFIG_INVALID', `--log-key names a token key, but the log already has a key (${source.kind === 'store' ? `secrets:${source.name!}` : logKeyFile})`, {
      hint: 'a log keeps one key for life: start a new data directory for a token-held log key, or drop --log-key',
    });
  }
}

/** storedOrigin is the origin named by the log key in the store, if it holds one. */
async function storedOrigin(store: SecretStore): Promise<string | undefined> {
  if (!(await store.has(DAEMON_SECRET_NAMES.logKey))) return undefined;
  const raw = await store.get(DAEMON_SECRET_NAMES.logKey);
  try {
    return parseSignerKey(Buffer.from(raw).toString('utf8')).name;
  } finally {
    raw.fill(0);
  }
}

/** startDaemon starts `custody serve`: the steps of the module doc, in order. */
export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const now = o.now ?? (() => new Date());
  const logger = o.logger ?? createDaemonLogger(o.logLevel, o.logFormat);
  const dataDir = o.dataDir;
  const { incomingDir, fresh } = await prepareDirs(o);
  assertValidity(o.validityMs ?? 30 * 86_400_000);

  // One daemon per data directory, before anything in it is opened: a second one would append to the same audit
  // chain and, as a cluster's leader, replace the first's leader socket (the log's own lease comes later).
  const unlock = await acquirePidLock(join(dataDir, SERVE_LOCK), {
    refused: (r) =>
      new ConfigError('ERR_LOG_LOCKED', r.reason === 'held' ? `the data directory ${dataDir} is held by custody serve pid ${r.pid} (${SERVE_LOCK})` : `the data directory ${dataDir} is being taken by another process (${SERVE_LOCK})`),
  });
  const closers = new Closers(logger);
  closers.push(unlock);
  let audit: AuditLog;
  try {
    audit = await AuditLog.open(join(dataDir, 'audit.jsonl'), { now });
  } catch (e) {
    await closers.closeAll();
    throw e;
  }
  closers.push(() => audit.close());
  // Refusals of unauthenticated requests are recorded within a budget (server/audit-budget): a flood of bad tokens
  // must not become a flood of fsynced appends.
  const budget = new RefusalBudget();
  const record = (event: string, fields: JsonObject): void => {
    const admitted = budget.admit(event, fields);
    if (admitted === undefined) return;
    audit.append(event, admitted).catch((e: unknown) => logger.error({ err: e, event }, 'audit append failed'));
  };

  try {
    const secrets = o.secrets === undefined ? undefined : await openDaemonSecretStore(o.secrets, o.passphrase ?? {}, now);
    if (secrets !== undefined) closers.push(() => Promise.resolve(secrets.keyring.close()));
    const identity = await loadOrCreateIdentity({
      dataDir,
      keyFile: o.keyFile,
      signer: o.signer,
      previousSigners: o.previousSigners,
      trustFile: o.trustFile,
      tokenFile: o.tokenFile,
      passphrase: o.passphrase ?? {},
      secrets,
      now: now(),
    });
    for (const w of identity.warnings) logger.warn(w);
    const signers = daemonSigners(identity, record);

    const logDir = join(dataDir, 'log');
    const metrics = createDaemonMetrics();
    const logKeySource = await resolveSecretSource('logKey', { dataDir, secrets });
    if (o.logSigner !== undefined) await refuseOtherLogKey(logKeySource, join(logDir, 'log.key'));
    const origin =
      o.origin ??
      (o.logSigner !== undefined
        ? undefined
        : logKeySource.kind === 'store'
          ? await storedOrigin(logKeySource.store)
          : await existingOrigin(join(logDir, 'log.key'))) ??
      defaultOrigin();
    const { service, key, config } = await openLogService({
      dataDir: logDir,
      origin,
      service: o.log,
      postgres: o.postgres,
      ...(o.logSigner !== undefined ? { signer: o.logSigner } : {}),
      ...(o.logSigner === undefined && logKeySource.kind === 'store'
        ? {
            keySource: {
              where: describeSource(logKeySource),
              load: (create: () => string) => loadOrCreateStoredText(logKeySource.store, logKeySource.name, create, join(logDir, 'log.key')),
            },
          }
        : {}),
      wrapSigner: signers.checkpoint,
      logger,
      observeCommit: metrics.observeCommit,
      onFatal: (e) => {
        record('log.fatal', { code: e.code, message: e.message });
        o.onFatal?.(e);
      },
    });
    closers.push(() => service.close());

    const anchors = await AuditAnchors.open(audit, service, join(dataDir, 'audit.anchor'), logger);
    await audit.append('daemon.started', {
      pid: process.pid,
      created: identity.created,
      trust_fingerprint: identity.fingerprint,
      signer_key_id: tufKeyId(identity.signer.publicKey),
      key_custody: secrets === undefined ? 'files' : 'store',
      log_vkey: key.vkey,
      log_size: service.sequencer.treeSize,
    });
    await anchors.anchor();

    const tufHolder: { repo?: TufRepository } = {};
    const { blobs, releases, stale } = await openReleases(o, {
      identity,
      signer: signers.manifest,
      previousSigners: signers.previousManifest,
      service,
      vkey: key.vkey,
      audit,
      anchors,
      logger,
      now,
      tuf: tufHolder,
    });
    const tufExpiry = {
      timestampMs: checkTufExpiry(o.tufExpiry?.timestampMs ?? 86_400_000, 'tuf timestamp expiry'),
      snapshotMs: checkTufExpiry(o.tufExpiry?.snapshotMs ?? 7 * 86_400_000, 'tuf snapshot expiry'),
      targetsMs: checkTufExpiry(o.tufExpiry?.targetsMs ?? 30 * 86_400_000, 'tuf targets expiry'),
    };
    if (identity.tufKeys !== undefined) {
      tufHolder.repo = await TufRepository.open({
        dir: join(dataDir, 'tuf'),
        root: identity.root,
        // Each TUF signature is a key use on record too (server/key-use), as the manifests' are.
        signers: {
          targets: recordingSigner(identity.signer, 'tuf-targets', record),
          snapshot: recordingSigner(identity.tufKeys.snapshot, 'tuf-snapshot', record),
          timestamp: recordingSigner(identity.tufKeys.timestamp, 'tuf-timestamp', record),
        },
        expiry: tufExpiry,
        now,
      });
    }
    const tuf = tufHolder.repo;
    await resignStale(releases, stale, logger);
    await releases.refreshExpiring();

    const scans = rescanner(incomingDir, blobs, releases, logger);
    const startup = await scans.rescan();
    const sample = o.sample === true && fresh && releases.list().length === 0 ? await publishSample(blobs, releases) : undefined;
    const tufWritten = await tuf?.sync(releases.list());
    if (tufWritten !== undefined && tufWritten.length > 0) logger.info({ roles: tufWritten, versions: tuf?.versions }, 'tuf metadata signed');

    let auth: AuthStore | undefined;
    let workerTokenKey: Uint8Array | undefined;
    const keyless: AppParts['keyless'] = { oidc: undefined, ca: undefined };
    if (o.signingApi !== false) {
      const opened = await openAuthStore({ dataDir, postgres: o.postgres });
      closers.push(() => opened.close());
      // With --secrets, token digests are keyed by a key only the secret store holds (auth/token-key).
      let store = opened;
      if (secrets !== undefined) {
        const { text } = await loadOrCreateStoredText(secrets, DAEMON_SECRET_NAMES.tokenKey, newTokenKeyText);
        const key = parseTokenKeyText(text);
        store = withTokenKey(opened, key);
        // The copy server/cluster sends each worker it starts (restarts too), zeroed when the daemon closes.
        const copy = Uint8Array.from(key);
        workerTokenKey = copy;
        closers.push(() => {
          copy.fill(0);
          return Promise.resolve();
        });
        key.fill(0);
      }
      auth = store;
      // The keyless CA is made with the first OIDC issuer, and kept loaded afterwards so old certificates verify.
      // jose loads only then (issue 9: the daemon's memory and start-up). The keyless CA's ASN.1 libraries are loaded
      // anyway in the leader (the signing plugin's keyless routes import them); the lazy import spares the workers.
      if (o.oidc !== undefined) keyless.oidc = new (await import('../auth/oidc.ts')).OidcVerifier(o.oidc);
      if (o.oidc !== undefined || (await pathExists(join(dataDir, KEYLESS_CA_CERT_FILE)))) {
        keyless.ca = (await (await import('../auth/keyless-ca.ts')).KeylessCa.loadOrCreate(dataDir, now())).ca;
      }
    }
    const limits = auth === undefined ? undefined : signingLimits(o.signingRateLimitPerIp, o.signingRateLimitPerToken);
    const certus = auth === undefined ? undefined : await openCertus({ ...o.certus, dataDir, postgres: o.postgres });
    if (certus !== undefined) closers.push(() => certus.close());
    const app = await buildApp(o, {
      identity,
      signingApiSigner: signers.signingApi,
      service,
      config,
      vkey: key.vkey,
      blobs,
      releases,
      anchors,
      rescan: scans.rescan,
      record,
      logger,
      origin,
      auth,
      signingLimits: limits,
      certus,
      keyless,
      tuf,
      auditPath: audit.path,
      metrics,
    });
    // The leader answers its workers' `Expect: 100-continue` itself (buildApp): those requests count from there.
    const connections = new ConnectionTracker(app.server, { expectContinue: o.leader !== undefined });
    const address = await listen(app, o);

    const timer = setInterval(() => {
      releases.refreshExpiring().catch((e: unknown) => logger.error({ err: e }, 'manifest refresh failed'));
    }, o.refreshIntervalMs ?? 600_000);
    timer.unref();
    // The TUF timestamp lives a day by default: it is checked far more often than manifests, and re-signed when
    // half of its validity is left, so a client never meets an expired one from a running provider.
    const tufTimer =
      tuf === undefined
        ? undefined
        : setInterval(
            () => {
              tuf
                .sync(releases.list())
                .then((roles) => {
                  if (roles.length > 0) logger.info({ roles, versions: tuf.versions }, 'tuf metadata re-signed');
                })
                .catch((e: unknown) => logger.error({ err: e }, 'tuf metadata refresh failed'));
            },
            o.tufRefreshIntervalMs ?? Math.min(600_000, Math.floor(tufExpiry.timestampMs / 10)),
          );
    tufTimer?.unref();

    logger.info({ url: address, origin, releases: releases.list().length, logSize: service.sequencer.treeSize }, 'provider listening');
    let closed = false;
    return {
      app,
      url: address,
      identity,
      vkey: key.vkey,
      origin,
      releases,
      audit,
      record,
      auth,
      signingLimits: limits,
      workerTokenKey,
      tuf,
      dataDir,
      incomingDir,
      startup,
      sample,
      rescan: scans.rescan,
      async close() {
        if (closed) return;
        closed = true;
        // Stop taking requests and let the ones in flight finish (for at most DRAIN_MS; connections with nothing in
        // flight close at once), then let queued work finish, then record the stop while the audit log is still
        // open; the log and the audit file close last.
        await connections.closeWithin(DRAIN_MS, () => app.close()).catch((e: unknown) => logger.error({ err: e }, 'http close failed'));
        clearInterval(timer);
        clearInterval(tufTimer);
        await scans.idle();
        await releases.idle();
        await tuf?.idle();
        await anchors.idle();
        // Refusals the budget left out since its last record are not lost with the process: their counts first.
        const left = budget.flush();
        if (left !== undefined) await audit.append('audit.refusals_not_recorded', { refusals_not_recorded: left }).catch(() => undefined);
        await audit.append('daemon.stopped', { log_size: service.sequencer.treeSize }).catch(() => undefined);
        await closers.closeAll();
        logger.flush();
      },
    };
  } catch (e) {
    await closers.closeAll();
    throw e;
  }
}
