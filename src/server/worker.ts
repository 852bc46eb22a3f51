/**
 * server/worker — one worker of `custody serve --workers N` (server/cluster): it serves the read routes
 * (server/provider/read-path) from the data directory the leader writes, on the shared public port, and forwards
 * everything else (info, health, admin, the log) to the leader over its private Unix socket — except POST /v1/verify,
 * which it answers itself from its own handle on the auth store (server/signing/worker-verify).
 *
 * What a worker serves is only what the leader durably released: it reads the release records (written atomically:
 * whole or not at all) and verifies each one as a client would before serving it; it learns of a new release from
 * the leader's message, sent after the record is on disk (server/provider/release-mirror). It holds no signing key
 * and writes nothing.
 *
 * Forwarded requests carry the client address in X-Forwarded-For (replacing any the client sent), which the leader
 * trusts because nothing but its own workers can reach its socket (DATA is 0700).
 *
 * Lifecycle: SIGTERM, or the leader going away (IPC disconnect), closes the listener and the connections with nothing
 * in flight, lets requests in flight finish for up to DRAIN_MS (server/http ConnectionTracker), and exits. SIGINT
 * and SIGHUP (sent to the whole process group by a terminal) are left to the leader, which stops or rescans for
 * everyone.
 */
import { Agent, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { IoError } from '../errors.ts';
import { ConnectionTracker, DRAIN_MS, onConnectionGone } from './http.ts';
import { parseRoot, verifyPinnedRoot } from '../trust/root.ts';
import { createDaemonLogger, type LogFormat } from './log-format.ts';
import { BlobStore } from './provider/blobs.ts';
import { createFrontServer } from './provider/front.ts';
import { ReadPath, writeError } from './provider/read-path.ts';
import { ReleaseMirror } from './provider/release-mirror.ts';
import { COUNTED_HEADER } from './signing/limits.ts';
import { HttpCounts, answerMetrics, type MetricsRequest } from './ui/counts.ts';

/** WorkerConfig is what the leader sends a worker when it starts (over IPC: the TLS key never goes in argv/env). */
export interface WorkerConfig {
  type: 'config';
  /** index numbers the worker from 1 (X-Custody-Worker on its responses). */
  index: number;
  host: string;
  port: number;
  tls?: { cert: string; key: string } | undefined;
  rateLimitPerIp: number;
  rateLimitGlobal: number;
  maxConnections: number;
  /** maxConnectionsPerIp: server/provider/front (undefined: its default). */
  maxConnectionsPerIp?: number | undefined;
  releasesDir: string;
  blobsDir: string;
  /** rootBytes is root.json (base64); rootDir holds its versions. */
  rootBytes: string;
  rootDir: string | undefined;
  /** tuf is where the leader writes the TUF repository's metadata (DATA/tuf), when it serves one. */
  tuf?: { dir: string; rootVersion: number } | undefined;
  vkey: string;
  defaultRelease?: { channel: string; arch: string } | undefined;
  socketPath: string;
  logLevel: string;
  logFormat: LogFormat;
  /**
   * signing: the worker answers POST /v1/verify itself (server/signing/worker-verify) from its own handle on the
   * auth store (DATA/auth.db, or the PostgreSQL schema beside the log's); `limits` tells it to ask the leader to count.
   */
  signing?:
    | {
        dataDir: string;
        postgres?: { url: string; schema?: string | undefined } | undefined;
        mode: 'production' | 'development';
        limits: boolean;
        /** tokenKey (base64) is the --secrets token HMAC key (auth/token-key), sent over this IPC channel only. */
        tokenKey?: string | undefined;
      }
    | undefined;
}

/**
 * LeaderMessage is what the leader sends a running worker. A worker answers each release with
 * `{type: 'released', id}` once its mirror has reloaded that channel/arch (or failed to), so the leader can answer
 * the publisher only when every worker serves the new release (read-your-writes through any worker).
 */
export type LeaderMessage = WorkerConfig | { type: 'release'; id: number; channel: string; arch: string } | MetricsRequest;

/**
 * WorkerFailed is a worker's last message when it cannot start (or its listener fails): the error's code (ours, or
 * Node's errno code such as EADDRINUSE) and message, so the leader reports the cause rather than guessing one.
 */
export interface WorkerFailed {
  type: 'failed';
  code: string;
  message: string;
}

/** HOP_BY_HOP headers describe one connection and are not forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'trailer']);

/** FORWARDED_AWAY are client headers a worker never passes on: the leader trusts forwarding headers only from it. */
const FORWARDED_AWAY: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded', 'expect', COUNTED_HEADER]);

/**
 * forwarder returns the handler that passes a request to the leader and its answer back.
 *
 * A request with a body goes up as `Expect: 100-continue`, and its body only after the leader's "100 Continue"
 * (which the leader withholds from a request it refuses before reading, server/daemon): a refusal then never races
 * a body still being written (which would lose the leader's answer to a broken pipe), and a client that trickles
 * the body of a refused request holds no connection to the leader. The upstream pool is not capped, so slow
 * clients of one route cannot queue everyone else's requests behind them.
 *
 * A body the worker already read (`read`: a /v1/verify request it leaves to the leader, server/signing/worker-verify)
 * goes up whole, marked as counted against the signing API's limits.
 *
 * A client that leaves before its answer is complete takes the upstream request with it: the leader stops working
 * for nobody (a slow sign, a long audit query), and its connection is not reused half-read.
 */
function forwarder(socketPath: string, extra: readonly string[], onError: (e: unknown, req: IncomingMessage) => void): (req: IncomingMessage, res: ServerResponse, read?: Buffer) => void {
  const agent = new Agent({ keepAlive: true });
  return (req, res, read) => {
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && !FORWARDED_AWAY.has(k)) headers[k] = v;
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
    if (read !== undefined) {
      delete headers['transfer-encoding'];
      headers['content-length'] = String(read.length);
      headers[COUNTED_HEADER] = '1';
    }
    const cl = req.headers['content-length'];
    const hasBody = read === undefined && (req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0'));
    if (hasBody) headers.expect = '100-continue';
    let bodySent = !hasBody;
    let left = false;
    const up = request({ socketPath, agent, method: req.method, path: req.url, headers }, (ur) => {
      const out: string[] = [];
      let close = false;
      for (let i = 0; i + 1 < ur.rawHeaders.length; i += 2) {
        const k = ur.rawHeaders[i]!.toLowerCase();
        const v = ur.rawHeaders[i + 1]!;
        if (k === 'connection') close ||= /\bclose\b/i.test(v);
        if (!HOP_BY_HOP.has(k)) out.push(k, v);
      }
      // Answered before the body went up (a refusal): the client's body stays unread, so its connection closes,
      // and the upstream request, never completed, is not reused.
      const refusedEarly = !bodySent;
      if (refusedEarly) ur.on('end', () => up.destroy());
      // The leader closes after refusing a request whose body it did not read: so does the worker, to its client.
      if (close || refusedEarly) out.push('connection', 'close');
      res.writeHead(ur.statusCode ?? 502, [...out, ...extra]);
      pipeline(ur, res, () => undefined);
    });
    onConnectionGone(res, () => {
      if (res.writableFinished) return;
      left = true;
      up.destroy();
    });
    up.on('error', (e) => {
      if (left) return; // the client left first (above): nobody to answer, nothing to report
      if (res.headersSent) {
        res.destroy();
        return;
      }
      onError(e, req);
      writeError(res, new IoError('ERR_IO_NETWORK', 'the provider could not reach its leader process', { hint: 'retry; the operator finds the cause in the provider log' }), [
        ...extra,
        'connection',
        'close',
      ]);
    });
    if (hasBody) {
      up.on('continue', () => {
        bodySent = true;
        // A client that asked first (Expect: 100-continue) is told to send now, as the leader told us.
        if (/^100-continue$/i.test(req.headers.expect ?? '') && !res.headersSent) res.writeContinue();
        pipeline(req, up, () => undefined);
      });
      up.flushHeaders();
    } else if (read !== undefined) {
      up.end(read);
    } else {
      pipeline(req, up, () => undefined);
    }
  };
}

/** failure is what a worker tells the leader about the error that stops it ({@link WorkerFailed}). */
function failure(e: unknown): WorkerFailed {
  const err: Error & { code?: unknown } = e instanceof Error ? e : new Error(String(e));
  return { type: 'failed', code: typeof err.code === 'string' ? err.code.slice(0, 64) : 'ERR_INTERNAL', message: err.message.slice(0, 500) };
}

/** exitFailed tells the leader why this worker stops ({@link WorkerFailed}), then exits 1 (once the message is sent). */
function exitFailed(e: unknown): void {
  if (process.send === undefined || !process.connected) process.exit(1);
  process.send(failure(e), undefined, {}, () => process.exit(1));
}

/**
 * runWorker asks the leader for its configuration, loads the releases, listens, and serves until told to stop. An
 * error before it listens (or of its listener) is logged, told to the leader ({@link WorkerFailed}) and ends it.
 */
export async function runWorker(): Promise<void> {
  const send = (m: unknown): void => {
    process.send?.(m);
  };
  const pending: Array<{ id: number; channel: string; arch: string }> = [];
  const released = (id: number): void => send({ type: 'released', id });
  const loaded: { mirror?: ReleaseMirror } = {};
  // Plain numbers, sent to the leader on request: a worker never loads prom-client (server/ui/counts).
  const counts = new HttpCounts();
  const config = await new Promise<WorkerConfig>((resolve) => {
    process.on('message', (m: LeaderMessage) => {
      if (m.type === 'config') resolve(m);
      else if (m.type === 'metrics') answerMetrics(counts, m, send);
      else if (m.type === 'release') {
        if (loaded.mirror === undefined) pending.push(m);
        else
          void loaded.mirror
            .reload(m.channel, m.arch)
            .catch(() => undefined)
            .finally(() => released(m.id));
      }
    });
    send({ type: 'hello' });
  });
  let logger: ReturnType<typeof createDaemonLogger> | undefined;
  try {
    logger = createDaemonLogger(config.logLevel, config.logFormat).child({ worker: config.index });
    await serveAsWorker(config, logger, { send, counts, loaded, pending, released });
  } catch (e) {
    logger?.error({ err: e }, 'worker could not start');
    exitFailed(e);
  }
}

/** WorkerState is what {@link runWorker} set up before its configuration came, for {@link serveAsWorker}. */
interface WorkerState {
  send: (m: unknown) => void;
  counts: HttpCounts;
  loaded: { mirror?: ReleaseMirror };
  pending: Array<{ id: number; channel: string; arch: string }>;
  released: (id: number) => void;
}

async function serveAsWorker(config: WorkerConfig, logger: ReturnType<typeof createDaemonLogger>, st: WorkerState): Promise<void> {
  const { send, counts, loaded, pending, released } = st;
  // The leader verified these exact bytes when it started, and serves with them until it stops: a replacement
  // worker started after the root's expiry serves with the same root rather than refusing to start.
  const root = verifyPinnedRoot(parseRoot(Buffer.from(config.rootBytes, 'base64')), { now: new Date(), allowExpired: true });
  const m = new ReleaseMirror({
    dir: config.releasesDir,
    root,
    vkey: config.vkey,
    now: () => new Date(),
    onRefused: (channel, arch, code) => logger.warn({ channel, arch, code }, 'release record does not verify; not served'),
  });
  // Messages that come during the load are replayed after it (a reload only ever moves a sequence forward).
  await m.loadAll();
  loaded.mirror = m;
  for (const p of pending.splice(0)) {
    await m.reload(p.channel, p.arch).catch(() => undefined);
    released(p.id);
  }

  const extra = ['x-custody-worker', String(config.index)];
  const forward = forwarder(config.socketPath, extra, (e, req) => {
    counts.add('front', req.method, 502);
    logger.error({ err: e }, 'leader unreachable');
  });
  let fallback: (req: IncomingMessage, res: ServerResponse) => void = forward;
  if (config.signing !== undefined) {
    // POST /v1/verify is answered here (server/signing/worker-verify); everything else of /v1 goes to the leader.
    const v = await import('./signing/worker-verify.ts');
    const store = await v.openWorkerStore(config.signing);
    const link = new v.LeaderLink((m) => send(m));
    process.on('message', (msg: { type?: unknown }) => link.receive(msg));
    const verify = v.workerVerifyHandler({
      store,
      root,
      index: config.index,
      mode: config.signing.mode,
      headers: extra,
      link,
      limits: config.signing.limits,
      forward,
      onError: (e) => logger.error({ err: e }, 'signing API verify failed'),
      counts,
    });
    fallback = (req, res) => {
      if (req.method === 'POST' && (req.url === v.VERIFY_ROUTE || req.url?.startsWith(`${v.VERIFY_ROUTE}?`) === true)) verify(req, res);
      else forward(req, res);
    };
  }
  const readPath = new ReadPath({
    releases: m,
    blobs: new BlobStore(config.blobsDir),
    trust: { rootBytes: Buffer.from(config.rootBytes, 'base64'), rootDir: config.rootDir },
    tuf: config.tuf,
    defaultRelease: config.defaultRelease,
    headers: extra,
    onError: (e) => logger.error({ err: e }, 'provider read failed'),
    counts,
  });
  const server = createFrontServer({
    readPath,
    fallback,
    rateLimitPerIp: config.rateLimitPerIp,
    rateLimitGlobal: config.rateLimitGlobal,
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    tls: config.tls === undefined ? undefined : { cert: Buffer.from(config.tls.cert, 'base64'), key: Buffer.from(config.tls.key, 'base64') },
    headers: extra,
    counts,
  });

  // "100 Continue" is the leader's to give (the forwarder relays it): a client that asks first sends no body for a
  // request the leader refuses. The read path reads no bodies.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));

  const connections = new ConnectionTracker(server);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void connections.closeWithin(DRAIN_MS, () => new Promise<void>((r) => server.close(() => r()))).then(() => process.exit(0));
    // Whatever else might hold the process (a leader request that never answers), it exits past the drain.
    setTimeout(() => process.exit(0), DRAIN_MS + 1_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  server.on('error', (e) => {
    // Cannot listen (or the listener failed): the leader is told why, and replaces this worker.
    logger.error({ err: e }, 'worker listener failed');
    exitFailed(e);
  });
  server.listen({ host: config.host, port: config.port }, () => {
    logger.debug({ releases: m.size }, 'worker listening');
  });
}
