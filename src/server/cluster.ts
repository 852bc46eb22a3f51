/**
 * server/cluster — `custody serve --workers N` (N > 1): one leader and N workers sharing the public port
 * (`node:cluster`, connections handed out round-robin by the leader process).
 *
 * The leader is the daemon of server/daemon with everything that writes: the identity, the transparency log and its
 * sequencer, the release store, incoming scans, the audit log, the admin API. It listens on a private Unix socket
 * (DATA/leader.sock, or a 0700 temporary directory when that path is too long for a socket) instead of the port.
 * Workers (server/worker) serve the read routes from the shared data directory and forward everything else to that
 * socket. Why forward rather than route by port: clients, proxies and `custody publish` keep one URL, and the log's
 * single writer stays the leader without a second public listener.
 *
 * Releases: after the leader writes a release record (atomically), it sends every worker
 * `{type: "release", channel, arch}`; workers re-read and re-verify that record. A worker never sees a half-written
 * record, and never serves a release the leader has not made durable.
 *
 * Supervision: a worker that exits unexpectedly (a crash, kill -9) is replaced after WORKER_RESTART_DELAY_MS; close()
 * (SIGTERM or SIGINT to the leader) stops the workers, waits for them, then closes the leader. The provider's rate
 * limits are per worker (docs/provider.md).
 *
 * The signing API: workers answer POST /v1/verify themselves (server/signing/worker-verify) and send here what only
 * the leader holds: limit checks, answered from the one set of signing-API counters (so a per-token or per-address
 * limit holds across workers), and audit events, appended to the one audit log.
 */
import cluster, { type Worker } from 'node:cluster';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IoError } from '../errors.ts';
import { startDaemon, type DaemonOptions, type RunningDaemon } from './daemon.ts';
import { createDaemonLogger, defaultLogFormat } from './log-format.ts';
import type { Release } from './provider/releases.ts';
import { MetricsRelay, isMetricsAnswer } from './ui/counts.ts';
import { answerLimitChecks, type LimitCheck, type WorkerToLeader } from './signing/worker-verify.ts';
import type { JsonObject } from '../encoding/json.ts';
import type { LeaderMessage, WorkerConfig, WorkerFailed } from './worker.ts';

/** ClusterOptions configures {@link startCluster}: the daemon's options and the number of workers. */
export interface ClusterOptions extends DaemonOptions {
  workers: number;
}

/** RunningCluster is a started leader with its workers. */
export interface RunningCluster {
  daemon: RunningDaemon;
  /** url is the public URL the workers share. */
  url: string;
  /** workerPids lists the current workers' process ids. */
  workerPids(): number[];
  close(): Promise<void>;
}

/** WORKER_RESTART_DELAY_MS spaces replacements of a worker that keeps failing. */
const WORKER_RESTART_DELAY_MS = 250;
/** RELEASE_ACK_TIMEOUT_MS bounds how long a release waits for the workers to serve it before it is answered. */
const RELEASE_ACK_TIMEOUT_MS = 5_000;
/** WORKER_STOP_MS bounds the wait for a stopping worker before it is killed. */
const WORKER_STOP_MS = 15_000;
/**
 * WORKER_EXEC_ARGV are V8 flags added for workers: a small young generation. A worker's per-request garbage is small
 * (responses are prepared once), and with the default semi-space a thousand concurrent downloads let each worker's
 * RSS grow by about 15 MiB more (bench/sections/provider-memory).
 */
const WORKER_EXEC_ARGV = ['--max-semi-space-size=2'];
/** SOCKET_PATH_MAX_BYTES: sun_path holds 108 bytes on Linux, 104 on BSDs. */
const SOCKET_PATH_MAX_BYTES = 100;

async function leaderSocket(dataDir: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const inData = join(dataDir, 'leader.sock');
  if (Buffer.byteLength(inData) <= SOCKET_PATH_MAX_BYTES) return { path: inData, cleanup: () => fsp.rm(inData, { force: true }) };
  const dir = await fsp.mkdtemp(join(tmpdir(), 'custody-'));
  await fsp.chmod(dir, 0o700);
  return { path: join(dir, 'leader.sock'), cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
}

/** startCluster starts the leader, then the workers, and resolves once every worker listens. */
export async function startCluster(o: ClusterOptions): Promise<RunningCluster> {
  const logger = o.logger ?? createDaemonLogger(o.logLevel, o.logFormat);
  const socket = await leaderSocket(o.dataDir);
  const workers = new Map<number, Worker>();
  const broadcast = (m: LeaderMessage): void => {
    for (const w of workers.values()) if (w.isConnected()) w.send(m);
  };
  // Releases wait for every connected worker's acknowledgement, bounded by RELEASE_ACK_TIMEOUT_MS (a stuck or
  // dying worker delays a publish, never blocks it: it is replaced and loads every record on start).
  let releaseId = 0;
  const acks = new Map<number, { left: Set<number>; done: () => void }>();
  const announce = (r: Release): Promise<void> =>
    new Promise<void>((resolve) => {
      const id = ++releaseId;
      const left = new Set<number>();
      for (const [index, w] of workers) if (w.isConnected()) left.add(index);
      if (left.size === 0) return resolve();
      const timer = setTimeout(() => finish(), RELEASE_ACK_TIMEOUT_MS);
      const finish = (): void => {
        clearTimeout(timer);
        acks.delete(id);
        resolve();
      };
      acks.set(id, { left, done: finish });
      broadcast({ type: 'release', id, channel: r.channel, arch: r.arch });
    });
  const acknowledged = (index: number, id: number): void => {
    const a = acks.get(id);
    if (a === undefined) return;
    a.left.delete(index);
    if (a.left.size === 0) a.done();
  };
  // GET /metrics on the leader sums the workers' counters, asked over IPC (server/ui/counts, server/ui/metrics).
  const relay = new MetricsRelay();
  const workerMetrics = (): ReturnType<MetricsRelay['collect']> =>
    relay.collect(new Map([...workers].filter(([, w]) => w.isConnected()).map(([i, w]) => [i, (m: LeaderMessage) => w.send(m)])));
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon({
      ...o,
      logger,
      leader: { socketPath: socket.path, onRelease: announce, workerMetrics },
    });
  } catch (e) {
    // Refused because another daemon holds the data directory: the socket there is that daemon's, left alone.
    if ((e as { code?: unknown }).code !== 'ERR_LOG_LOCKED') await socket.cleanup();
    throw e;
  }

  const id = daemon.identity;
  const config: Omit<WorkerConfig, 'index'> = {
    type: 'config',
    host: o.host,
    port: o.port,
    // Encoded for each worker as it starts (below), like the token key: a string kept here could not be erased.
    tls: undefined,
    rateLimitPerIp: o.rateLimitPerIp ?? 50,
    rateLimitGlobal: o.rateLimitGlobal ?? 0,
    maxConnections: o.maxConnections ?? 4096,
    maxConnectionsPerIp: o.maxConnectionsPerIp,
    releasesDir: join(o.dataDir, 'releases'),
    blobsDir: join(o.dataDir, 'blobs'),
    rootBytes: Buffer.from(id.rootBytes).toString('base64'),
    rootDir: id.rootDir,
    tuf: daemon.tuf === undefined ? undefined : { dir: join(o.dataDir, 'tuf'), rootVersion: id.root.version },
    vkey: daemon.vkey,
    defaultRelease: o.defaultRelease,
    socketPath: socket.path,
    logLevel: o.logLevel ?? 'info',
    logFormat: o.logFormat ?? defaultLogFormat(),
    // Workers answer POST /v1/verify themselves (server/signing/worker-verify), asking this process to count.
    signing:
      daemon.auth === undefined
        ? undefined
        : {
            dataDir: o.dataDir,
            postgres: o.postgres === undefined ? undefined : { url: o.postgres.url, schema: o.postgres.schema },
            mode: o.dev === true ? 'development' : 'production',
            limits: (o.signingRateLimitPerIp ?? 50) > 0 || (o.signingRateLimitPerToken ?? 20) > 0,
            // With --secrets, token digests are HMACs under the store's key: a worker's handle needs it too, or it
            // would refuse every token made under the key (and accept a plain SHA-256 row, which the leader refuses).
            // Encoded for each worker as it starts (below), not kept here as a string, which could not be erased.
            tokenKey: undefined,
          },
  };
  // The signing API's limits and audit log for the workers' own /v1/verify answers (server/signing/worker-verify).
  // A worker is this daemon's own process, but what it relays comes from clients: only the events a worker may
  // record, of the right shape, go into the audit log, attributed to the worker the message came from.
  const signingMessage = (w: Worker, index: number, m: WorkerToLeader): void => {
    if (m.type === 'v1-limit') {
      const checks = Array.isArray(m.checks) ? m.checks.filter(isLimitCheck) : [];
      if (daemon.signingLimits !== undefined && w.isConnected()) w.send(answerLimitChecks(daemon.signingLimits, { checks }));
    } else {
      const { accepted, dropped } = acceptWorkerEvents(m.events, index);
      for (const e of accepted) daemon.record(e.event, e.fields);
      if (dropped > 0) logger.warn({ worker: index, dropped }, 'worker sent audit events it may not record; dropped');
    }
  };
  const here = import.meta.url;
  cluster.setupPrimary({
    exec: fileURLToPath(new URL(here.endsWith('.ts') ? './cluster-worker.ts' : './cluster-worker.js', here)),
    args: [],
    execArgv: [...process.execArgv, ...WORKER_EXEC_ARGV],
  });

  let closing = false;
  let url = '';
  /** started: when each worker index was last forked (a worker's life is counted from its fork, listening or not). */
  const started = new Map<number, number>();
  const delay = new Map<number, number>();
  const fork = (index: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork();
      workers.set(index, w);
      started.set(index, Date.now());
      /** failed: what the worker said stopped it (server/worker WorkerFailed), if it said anything. */
      let failed: WorkerFailed | undefined;
      w.on('message', (m: { type?: string; id?: unknown }) => {
        try {
          if (m.type === 'hello') {
            const key = daemon.workerTokenKey;
            const signing = config.signing === undefined || key === undefined ? config.signing : { ...config.signing, tokenKey: Buffer.from(key).toString('base64') };
            const tls = o.tls === undefined ? undefined : { cert: Buffer.from(o.tls.cert).toString('base64'), key: Buffer.from(o.tls.key).toString('base64') };
            w.send({ ...config, tls, signing, index } satisfies WorkerConfig);
          } else if (m.type === 'released' && typeof m.id === 'number') acknowledged(index, m.id);
          else if (isMetricsAnswer(m)) relay.answer(index, m);
          else if (m.type === 'v1-limit' || m.type === 'v1-audit') signingMessage(w, index, m as WorkerToLeader);
          else if (m.type === 'failed') failed = workerFailed(m as { code?: unknown; message?: unknown });
        } catch (e) {
          // A message the leader cannot handle is the worker's fault, never a reason for the leader to stop.
          logger.error({ err: e, worker: index }, 'worker message not handled');
        }
      });
      w.once('listening', (a: { address: string | null; port: number }) => {
        // Replacements ask for the same address as the first workers (port 0 included): the cluster hands them the
        // listening socket the others share.
        if (url === '') {
          const host = o.host.includes(':') ? `[${o.host}]` : o.host;
          url = `${o.tls ? 'https' : 'http'}://${host}:${a.port}`;
        }
        logger.info({ worker: index, workerPid: w.process.pid }, 'worker started');
        resolve();
      });
      w.once('exit', (code, signal) => {
        if (workers.get(index) === w) workers.delete(index);
        // A worker that dies does not hold up releases waiting for its acknowledgement.
        for (const id of [...acks.keys()]) acknowledged(index, id);
        relay.gone(index);
        reject(startFailure(index, failed, signal ?? `code ${code}`));
        if (closing) return;
        // A worker that keeps failing soon after its start (listening or not) is replaced less and less often, up to
        // a minute apart; one that ran WORKER_STABLE_MS is replaced at once again.
        const wait = delay.get(index) ?? WORKER_RESTART_DELAY_MS;
        const lived = Date.now() - (started.get(index) ?? 0);
        delay.set(index, lived < WORKER_STABLE_MS ? Math.min(wait * 2, WORKER_RESTART_MAX_MS) : WORKER_RESTART_DELAY_MS);
        logger.warn({ worker: index, workerPid: w.process.pid, code, signal, ...(failed ? { failure: failed.code } : {}), restartInMs: wait }, 'worker exited; starting a replacement');
        setTimeout(() => {
          if (!closing) fork(index).catch((e: unknown) => logger.error({ err: e, worker: index }, 'worker replacement failed'));
        }, wait).unref();
      });
    });

  const stopWorkers = async (): Promise<void> => {
    closing = true;
    await Promise.all(
      [...workers.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const kill = setTimeout(() => w.process.kill('SIGKILL'), WORKER_STOP_MS);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    workers.clear();
  };

  try {
    const first = Array.from({ length: o.workers }, (_, i) => fork(i + 1));
    await Promise.all(first);
  } catch (e) {
    await stopWorkers();
    await daemon.close();
    await socket.cleanup();
    throw e;
  }

  let closed = false;
  return {
    daemon,
    url,
    workerPids: () => [...workers.values()].map((w) => w.process.pid).filter((p): p is number => p !== undefined),
    async close() {
      if (closed) return;
      closed = true;
      await stopWorkers();
      await daemon.close();
      await socket.cleanup();
    },
  };
}

/** WORKER_STABLE_MS: a worker that ran this long was healthy; its next replacement starts without back-off. */
const WORKER_STABLE_MS = 5_000;
/** WORKER_RESTART_MAX_MS caps the back-off between replacements of a worker that keeps failing. */
const WORKER_RESTART_MAX_MS = 60_000;
/** WORKER_EVENTS are the audit events a worker may ask the leader to record (server/signing/worker-verify). */
const WORKER_EVENTS: ReadonlySet<string> = new Set(['signapi.refused', 'signapi.verify_failed']);

function isLimitCheck(c: unknown): c is LimitCheck {
  if (typeof c !== 'object' || c === null) return false;
  const x = c as Partial<LimitCheck>;
  return typeof x.id === 'number' && typeof x.ip === 'string' && x.ip.length <= 64 && (x.token === undefined || (typeof x.token === 'string' && x.token.length <= 128));
}

/**
 * acceptWorkerEvents keeps the audit events a worker may record ({@link WORKER_EVENTS}, fields an object) from what
 * it sent, each attributed to the worker the message came from (whatever `worker` field it carried).
 */
export function acceptWorkerEvents(events: unknown, index: number): { accepted: Array<{ event: string; fields: JsonObject }>; dropped: number } {
  const all: unknown[] = Array.isArray(events) ? events : [];
  const accepted: Array<{ event: string; fields: JsonObject }> = [];
  for (const e of all) {
    if (typeof e !== 'object' || e === null) continue;
    const x = e as { event?: unknown; fields?: unknown };
    if (typeof x.event !== 'string' || !WORKER_EVENTS.has(x.event) || typeof x.fields !== 'object' || x.fields === null || Array.isArray(x.fields)) continue;
    accepted.push({ event: x.event, fields: { ...(x.fields as JsonObject), worker: index } });
  }
  return { accepted, dropped: all.length - accepted.length };
}

function workerFailed(m: { code?: unknown; message?: unknown }): WorkerFailed {
  return { type: 'failed', code: typeof m.code === 'string' ? m.code.slice(0, 64) : 'ERR_INTERNAL', message: typeof m.message === 'string' ? m.message.slice(0, 500) : '' };
}

/**
 * startFailure is the error of a worker that exited before it listened: the address is named only when the worker
 * said it could not have it (EADDRINUSE, EACCES); otherwise the worker's own error, as it told it.
 */
function startFailure(index: number, failed: WorkerFailed | undefined, how: string): IoError {
  if (failed === undefined || failed.code === 'EADDRINUSE' || failed.code === 'EACCES' || failed.code === 'EADDRNOTAVAIL') {
    const address = failed === undefined ? '' : ` (${failed.code})`;
    return new IoError('ERR_IO_NETWORK', `worker ${index} exited before listening${address} (${how})`, {
      hint: failed === undefined ? 'the daemon log has the worker\'s error' : 'choose another --port or --host, or stop the process that uses it',
    });
  }
  return new IoError('ERR_IO_NETWORK', `worker ${index} could not start: ${failed.message} [${failed.code}]`, { hint: 'the daemon log has the worker\'s error; fix its cause and start again' });
}
