/**
 * server/mirror/mirror-daemon — `custody serve --mirror URL…`: a verifying mirror (server/mirror/mirror) behind the
 * provider's public listener (server/provider/front: rate limits, then the read path of server/provider/read-path,
 * which serves manifests, proofs, artifacts, blobs and the trust root exactly as custody serve does). The few other
 * routes are answered here:
 * ```
 * GET /        {"name": "custody-mirror", "trust": {…}, "upstreams": […], "releases": [{channel, arch, version, sequence, digest, …}]}
 *              (the same "releases" list as custody serve's GET /, so a mirror can mirror a mirror)
 * GET /health  {"status": "healthy" | "degraded", "checks": {"releases": n}, "mirror": {"last_poll", "problems": […]}}
 * ```
 * `degraded` (still 200: the mirror keeps serving what it verified) means some upstream answer was refused or an
 * upstream could not be reached at the last poll; `problems` names each one with its code. Everything else is a coded
 * 404. A mirror takes no uploads, signs nothing and serves no log.
 */
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AuditLog } from '../../audit/audit-log.ts';
import { IoError, toIoError } from '../../errors.ts';
import { ConnectionTracker, DRAIN_MS } from '../http.ts';
import { createDaemonLogger, type LogFormat } from '../log-format.ts';
import { createFrontServer } from '../provider/front.ts';
import { ReadPath, writeError } from '../provider/read-path.ts';
import { Mirror, type MirrorOptions, type PollReport } from './mirror.ts';
import { promises as fsp } from 'node:fs';

/** MirrorDaemonOptions configures {@link startMirror}. */
export interface MirrorDaemonOptions extends Omit<MirrorOptions, 'logger' | 'now' | 'audit'> {
  host: string;
  port: number;
  /** intervalMs between polls (default 30 s; 0: poll only when asked). */
  intervalMs?: number;
  rateLimitPerIp?: number;
  rateLimitGlobal?: number;
  maxConnections?: number;
  /** maxConnectionsPerIp: server/provider/front (default 256; 0 = off). */
  maxConnectionsPerIp?: number;
  tls?: { cert: Uint8Array; key: Uint8Array } | undefined;
  logger?: Logger;
  logLevel?: string;
  logFormat?: LogFormat | undefined;
  now?: () => Date;
  version?: string;
}

/** RunningMirror is a started mirror. */
export interface RunningMirror {
  url: string;
  mirror: Mirror;
  dataDir: string;
  audit: AuditLog;
  /** poll asks the upstreams now (SIGHUP in the CLI); resolves with what changed. */
  poll(): Promise<PollReport>;
  close(): Promise<void>;
}

/** DEFAULT_MIRROR_INTERVAL_MS is how often upstreams are asked for new releases. */
export const DEFAULT_MIRROR_INTERVAL_MS = 30_000;

/** startMirror opens the mirror (trust root, stored releases), listens, and starts polling. */
export async function startMirror(o: MirrorDaemonOptions): Promise<RunningMirror> {
  const logger = o.logger ?? createDaemonLogger(o.logLevel, o.logFormat);
  const now = o.now ?? ((): Date => new Date());
  await fsp.mkdir(o.dataDir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw toIoError(e, o.dataDir, 'write');
  });
  const audit = await AuditLog.open(join(o.dataDir, 'audit.jsonl'), { now });
  let server: Server | undefined;
  let mirror: Mirror | undefined;
  try {
    mirror = new Mirror({ ...o, logger, now, audit: (event, fields) => audit.append(event, fields) });
    await mirror.open();
    const m = mirror;
    const readPath = new ReadPath({
      releases: m,
      blobs: m.blobs,
      trust: { rootBytes: m.rootBytes, rootDir: undefined },
      onError: (e) => logger.error({ err: e }, 'mirror read failed'),
    });
    server = createFrontServer({
      readPath,
      fallback: (req, res) => answer(req, res, m, o),
      rateLimitPerIp: o.rateLimitPerIp ?? 50,
      rateLimitGlobal: o.rateLimitGlobal ?? 0,
      maxConnections: o.maxConnections ?? 4096,
      maxConnectionsPerIp: o.maxConnectionsPerIp,
      tls: o.tls,
    });
    const connections = new ConnectionTracker(server);
    server.listen(o.port, o.host);
    try {
      await once(server, 'listening');
    } catch (e) {
      throw new IoError('ERR_IO_NETWORK', `cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`, { hint: 'choose another --port or --host, or stop the process that uses it', cause: e });
    }
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const url = `${o.tls ? 'https' : 'http'}://${host}:${addr.port}`;
    await audit.append('mirror.start', { url, upstreams: [...o.upstreams], fingerprint: o.fingerprint, releases: m.list().length });
    // intervalMs 0: no timer, polls only on request (SIGHUP, tests).
    if (o.intervalMs !== 0) m.start(o.intervalMs ?? DEFAULT_MIRROR_INTERVAL_MS);
    logger.info({ url, upstreams: o.upstreams }, 'mirror listening');
    const s = server;
    return {
      url,
      mirror: m,
      dataDir: o.dataDir,
      audit,
      poll: () => m.poll(),
      close: async () => {
        await m.close();
        // Requests in flight finish, for at most DRAIN_MS (a slow download does not hold SIGTERM up).
        await connections.closeWithin(DRAIN_MS, () => new Promise<void>((r) => s.close(() => r())));
        await audit.append('mirror.stop', {}).catch(() => undefined);
        await audit.close();
      },
    };
  } catch (e) {
    await mirror?.close();
    server?.close();
    await audit.close();
    throw e;
  }
}

function send(res: ServerResponse, status: number, body: unknown, cache: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, ['content-type', 'application/json; charset=utf-8', 'cache-control', cache, 'content-length', String(Buffer.byteLength(text))]);
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** answer serves GET / and GET /health; everything else is a coded 404. */
function answer(req: IncomingMessage, res: ServerResponse, m: Mirror, o: MirrorDaemonOptions): void {
  const path = (req.url ?? '/').split('?')[0];
  if ((req.method === 'GET' || req.method === 'HEAD') && path === '/') {
    send(
      res,
      200,
      {
        name: 'custody-mirror',
        version: o.version ?? '0.0.0',
        trust: { fingerprint: o.fingerprint, root_url: '/trust/root.json' },
        log: o.requireLog === undefined ? null : { vkey: o.requireLog },
        upstreams: [...o.upstreams],
        releases: m.list().map((r) => ({
          channel: r.channel,
          arch: r.arch,
          version: r.manifest.manifest.version,
          sequence: r.manifest.manifest.sequence,
          digest: r.manifest.digest,
          expires_at: r.manifest.manifest.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
          log_index: r.index < 0 ? null : r.index,
          manifest_url: `/${r.channel}/${r.arch}/manifest.json`,
        })),
      },
      'no-cache',
    );
    return;
  }
  if ((req.method === 'GET' || req.method === 'HEAD') && path === '/health') {
    const s = m.status();
    send(res, 200, { status: s.problems.length === 0 ? 'healthy' : 'degraded', checks: { releases: s.releases }, mirror: s }, 'no-store');
    return;
  }
  writeError(res, new IoError('ERR_PROVIDER_NOT_FOUND', `no such resource on a mirror: ${String(req.method)} ${(path ?? '').slice(0, 200)}`));
}
