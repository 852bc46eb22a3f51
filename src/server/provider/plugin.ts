/**
 * server/provider/plugin — the provider's HTTP face (Phase Boot Provider API, ../shared/reference/seed-systems.md
 * §1.4, made real) as an encapsulated fastify plugin. It holds no module-level state.
 *
 * Read routes (no authentication: everything served is either signed or verifiable against something signed):
 * ```
 * GET /                                     info: channels, trust-root fingerprint, log verifier key
 * GET /health                               {"status": "healthy", …} (503 "unhealthy" when the log stopped)
 * GET /trust/root.json, /trust/<N>.root.json  the trust root (TUF root.json) and every version, for rotation
 * GET /<channel>/<arch>/manifest.json       the current signed manifest (ETag = its digest; no-cache)
 * GET /<channel>/<arch>/manifest.json.tlog-proof   its c2sp.org/tlog-proof@v1 inclusion proof
 * GET /<channel>/<arch>/<filename>          an artifact of the current release (Range, ETag, X-Artifact-Hash)
 * GET /blobs/sha256/<64 hex>                any stored artifact by digest (Range; immutable, cached for a year)
 * GET /manifest.json                        the default channel/arch, when configured
 * GET /audit/anchor                         the newest audit-log head anchored in the log, with its proof
 * ```
 * Write routes (`Authorization: Bearer <admin token>`, checked before the body is read):
 * ```
 * PUT  /admin/v1/blobs/sha256/<64 hex>      upload an artifact; stored only if the bytes hash to the name
 * POST /admin/v1/releases/<channel>/<arch>  {"artifacts": {"<name>": {"filename": "…", "sha256": "<hex>"}},
 *                                            "version"?: "…", "validity_s"?: n} → sign, log, publish
 * POST /admin/v1/rescan                     import the incoming directory now
 * ```
 * Refusals are the coded JSON of server/http. Rate limits: per client address (@fastify/rate-limit) and global
 * (a token bucket), both answering 429 ERR_PROVIDER_RATE_LIMITED with Retry-After.
 *
 * Trust boundary: paths, headers and bodies are attacker-controlled. Channel/arch/filename segments are matched
 * against the in-memory release (never joined into a path); blob names must be 64 lowercase hex. Range headers are
 * parsed strictly (RFC 9110 §14.2); anything unusual is ignored and the whole artifact is sent.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseJsonObject, type JsonObject } from '../../encoding/json.ts';
import { FormatError, IoError, isTrustError, LimitError, type TrustError } from '../../errors.ts';
import { readFileIfExists } from '../../io/files.ts';
import { ROOT_MAX_BYTES } from '../../trust/root.ts';
import { authorizeBeforeBody, bearerCheck, sendError, toHttpError } from '../http.ts';
import { BlobCache, SHA256_HEX, type BlobStore } from './blobs.ts';
import type { ScanResult } from './incoming.ts';
import { assertValidity, checkChannelName, type Release, type ReleaseArtifact, type ReleaseStore } from './releases.ts';

/** ProviderPluginOptions are the options of {@link providerPlugin}. */
export interface ProviderPluginOptions {
  releases: ReleaseStore;
  blobs: BlobStore;
  tokens: readonly Uint8Array[];
  trust: { rootBytes: Uint8Array; fingerprint: string; rootDir: string | undefined };
  log: { vkey: string; prefix: string; healthy: () => boolean; treeSize: () => number };
  rescan: () => Promise<ScanResult>;
  /** defaultRelease serves GET /manifest.json (Phase's default channel/arch). */
  defaultRelease?: { channel: string; arch: string } | undefined;
  /** maxBlobBytes caps one upload (default 8 GiB). */
  maxBlobBytes?: number;
  /** blobCacheBytes caps the memory that keeps small blobs (default 64 MiB; 0 disables). */
  blobCacheBytes?: number;
  /** manifestMaxAgeS is the Cache-Control max-age of manifests and proofs (default 0: always revalidate). */
  manifestMaxAgeS?: number;
  /** audit is told about admin actions and refusals (never secrets). */
  audit?: (event: string, fields: JsonObject) => void;
  /** auditAnchor returns the newest audit anchor file (audit/anchor), served at /audit/anchor. */
  auditAnchor?: () => string | undefined;
  version: string;
}

/** BLOB_CACHE_ENTRY_MAX_BYTES: blobs up to this size are served from memory (a kernel, an initramfs). */
const BLOB_CACHE_ENTRY_MAX_BYTES = 16 * 1024 * 1024;
/** STREAM_CHUNK_BYTES: larger reads mean fewer syscalls and writes for big artifacts. */
const STREAM_CHUNK_BYTES = 1024 * 1024;
/** AUDIT_REFUSALS_PER_MINUTE caps the admin.refused records written per minute. */
const AUDIT_REFUSALS_PER_MINUTE = 60;
/** BLOB_MAX_AGE_S: blobs are immutable by construction. */
const BLOB_MAX_AGE_S = 365 * 86_400;
const RELEASE_BODY_MAX_BYTES = 1024 * 1024;
/** DRAIN_MAX_BYTES: the body of an upload of an already-stored blob is read and dropped up to this size. */
const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

/** ByteRange is an inclusive byte range of a representation. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * parseRange reads a `Range` header for a representation of `size` bytes (RFC 9110 §14.1.2). Returns undefined to
 * send the whole representation (no header, another unit, several ranges, or invalid syntax — all of which RFC 9110
 * lets a server ignore), 'unsatisfiable' for a range starting at or past the end, or the one range.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(?:(\d{1,16})-(\d{0,16})|-(\d{1,16}))$/i.exec(header.trim());
  if (!m) return undefined;
  if (m[3] !== undefined) {
    const n = Number(m[3]);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]);
  if (end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/** etagMatches implements If-None-Match (RFC 9110 §13.1.2): `*` or a comma-separated list, weak tags compared weakly. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

function notFound(what: string): TrustError {
  return new IoError('ERR_PROVIDER_NOT_FOUND', what);
}

/** providerPlugin registers the provider routes (mount at the root; the log goes under /log beside it). */
export function providerPlugin(app: FastifyInstance, o: ProviderPluginOptions): Promise<void> {
  const maxBlob = o.maxBlobBytes ?? 8 * 1024 ** 3;
  const manifestCache = `public, max-age=${o.manifestMaxAgeS ?? 0}, must-revalidate`;
  // Refused admin requests are audited, at most AUDIT_REFUSALS_PER_MINUTE a minute (a flood must not turn into
  // unbounded fsynced writes); the next record after a quiet spell says how many were left out.
  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  const refused = (req: FastifyRequest, reason: string): void => {
    const now = Date.now();
    if (now - windowStart >= 60_000) {
      windowStart = now;
      inWindow = 0;
    }
    if (++inWindow > AUDIT_REFUSALS_PER_MINUTE) {
      suppressed++;
      return;
    }
    o.audit?.('admin.refused', {
      ip: req.ip,
      method: req.method,
      path: (req.url.split('?')[0] ?? '').slice(0, 200),
      reason,
      ...(suppressed > 0 ? { not_recorded_before: suppressed } : {}),
    });
    suppressed = 0;
  };
  const authorize = authorizeBeforeBody(bearerCheck(o.tokens, 'ERR_PROVIDER_UNAUTHORIZED', refused));

  // Bodies stay streams: uploads go to the blob store (capped by importStream), release requests are collected by
  // readSmallBody (capped there) and parsed by our strict JSON parser. fastify's bodyLimit does not apply to a
  // parser that passes the stream on, so the caps live in those two places.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => {
    done(null, payload);
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    let e = toHttpError(err, () => new LimitError('ERR_LIMIT_SIZE', `the request body is over the cap of ${RELEASE_BODY_MAX_BYTES} bytes`));
    if (e.httpStatus >= 500 && !isTrustError(err)) req.log.error({ err }, 'provider route failed');
    else req.log.debug({ code: e.code }, e.message);
    if (e.code.startsWith('ERR_IO_')) {
      // The provider's own file system: the details (absolute paths) are for its log, not for remote clients.
      req.log.error({ code: e.code, err: e.message }, 'provider storage error');
      e = new IoError(e.code === 'ERR_IO_NETWORK' ? 'ERR_IO_NETWORK' : 'ERR_IO_WRITE_FAILED', 'the provider could not complete the request on its storage', {
        hint: 'retry later; the operator finds the cause in the provider log',
      });
    }
    // A refused request may still be sending a body: close the connection rather than read it to the end.
    if (req.method !== 'GET' && req.method !== 'HEAD') reply.header('connection', 'close');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, notFound(`no such resource: ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}`)),
  );

  const describe = (r: Release): JsonObject => ({
    channel: r.channel,
    arch: r.arch,
    version: r.manifest.manifest.version,
    sequence: r.manifest.manifest.sequence,
    digest: r.manifest.digest,
    expires_at: r.manifest.manifest.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    log_index: r.index,
    manifest_url: `/${r.channel}/${r.arch}/manifest.json`,
  });

  app.get('/', (_req, reply) =>
    reply.header('cache-control', 'no-cache').send({
      name: 'custody-provider',
      version: o.version,
      trust: { fingerprint: o.trust.fingerprint, root_url: '/trust/root.json' },
      log: { url: o.log.prefix, vkey: o.log.vkey, tree_size: o.log.treeSize() },
      releases: o.releases.list().map(describe),
    }),
  );

  app.get('/health', (_req, reply) => {
    const logOk = o.log.healthy();
    return reply
      .code(logOk ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: logOk ? 'healthy' : 'unhealthy', checks: { log: logOk, releases: o.releases.list().length } });
  });

  app.get('/audit/anchor', (_req, reply) => {
    const text = o.auditAnchor?.();
    if (text === undefined) throw notFound('no audit anchor yet');
    return reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8').send(text);
  });

  app.get('/trust/:file', async (req, reply) => {
    const file = (req.params as { file: string }).file;
    let body: Uint8Array | undefined;
    if (file === 'root.json') body = o.trust.rootBytes;
    else if (/^[1-9][0-9]{0,8}\.root\.json$/.test(file) && o.trust.rootDir !== undefined) {
      body = await readFileIfExists(join(o.trust.rootDir, file), { maxBytes: ROOT_MAX_BYTES, what: 'trust root version' });
    }
    if (body === undefined) throw notFound(`no trust root ${file.slice(0, 40)}`);
    return reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8').send(Buffer.from(body));
  });

  const sendManifest = (req: FastifyRequest, reply: FastifyReply, r: Release, proof: boolean): FastifyReply => {
    const etag = `"${r.manifest.digest}${proof ? '.proof' : ''}"`;
    reply.header('cache-control', manifestCache).header('etag', etag);
    if (etagMatches(req.headers['if-none-match'], etag)) return reply.code(304).send();
    if (proof) return reply.type('text/plain; charset=utf-8').send(r.proofText);
    return reply.type('application/json; charset=utf-8').send(r.manifestText);
  };

  const release = (channel: string, arch: string): Release => {
    const r = o.releases.get(channel, arch);
    if (r === undefined) throw notFound(`no release for ${channel.slice(0, 64)}/${arch.slice(0, 64)}`);
    return r;
  };

  if (o.defaultRelease !== undefined) {
    const d = o.defaultRelease;
    app.get('/manifest.json', (req, reply) => sendManifest(req, reply, release(d.channel, d.arch), false));
  }

  const blobCache = new BlobCache(o.blobCacheBytes ?? 64 * 1024 * 1024, BLOB_CACHE_ENTRY_MAX_BYTES);

  /**
   * openBlob returns a small blob's bytes (from the cache, or read once and cached) or an open handle and size for a
   * large one (streamed). Blobs are immutable, so what is cached is what is on disk.
   */
  const loading = new Map<string, Promise<Buffer>>();
  const openBlob = async (sha256: string): Promise<{ data: Buffer; size: number } | { fh: fsp.FileHandle; size: number }> => {
    const hit = blobCache.get(sha256) ?? (await loading.get(sha256));
    if (hit !== undefined) return { data: hit, size: hit.length };
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(o.blobs.pathOf(sha256), 'r');
    } catch {
      throw notFound(`no blob sha256:${sha256}`);
    }
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    if (size > BLOB_CACHE_ENTRY_MAX_BYTES) return { fh, size };
    // One read per blob however many clients ask at once (a boot storm on a cold cache).
    const read = fh.readFile().finally(() => {
      loading.delete(sha256);
      return fh.close();
    });
    loading.set(sha256, read);
    const data = await read;
    blobCache.set(sha256, data);
    return { data, size: data.length };
  };

  const sendBlob = async (req: FastifyRequest, reply: FastifyReply, sha256: string, cache: string, filename?: string): Promise<FastifyReply> => {
    const blob = await openBlob(sha256);
    const size = blob.size;
    const release = async (): Promise<void> => {
      if ('fh' in blob) await blob.fh.close();
    };
    const etag = `"sha256:${sha256}"`;
    reply
      .header('cache-control', cache)
      .header('etag', etag)
      .header('accept-ranges', 'bytes')
      .header('x-artifact-hash', `sha256:${sha256}`)
      .type('application/octet-stream');
    if (filename !== undefined) reply.header('content-disposition', `attachment; filename="${filename.replace(/[^\x20-\x7e]|["\\]/g, '_')}"`);
    if (etagMatches(req.headers['if-none-match'], etag)) {
      await release();
      return reply.code(304).send();
    }
    // If-Range with another validator: the client's partial copy is stale, send everything (RFC 9110 §13.1.5).
    const ifRange = req.headers['if-range'];
    const range = ifRange !== undefined && ifRange !== etag ? undefined : parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      await release();
      reply.header('content-range', `bytes */${size}`);
      throw new IoError('ERR_PROVIDER_RANGE', `the artifact has ${size} bytes`);
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    if (range !== undefined) reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
    reply.header('content-length', String(end - start + 1));
    if ('data' in blob) return reply.send(blob.data.subarray(start, end + 1));
    if (req.method === 'HEAD') {
      // fastify's generated HEAD route drains a stream payload (reading the whole file) and sets content-length 0
      // for an empty one; an empty stream keeps the content-length above and reads nothing.
      await release();
      return reply.send(Readable.from([]));
    }
    return reply.send(createReadStream('', { fd: blob.fh, start, end, autoClose: true, highWaterMark: STREAM_CHUNK_BYTES }));
  };

  app.get('/blobs/sha256/:hex', async (req, reply) => {
    const hex = (req.params as { hex: string }).hex;
    if (!SHA256_HEX.test(hex)) throw notFound('a blob name is 64 lowercase hex characters');
    return sendBlob(req, reply, hex, `public, max-age=${BLOB_MAX_AGE_S}, immutable`);
  });

  app.get('/:channel/:arch/:file', async (req, reply) => {
    const { channel, arch, file } = req.params as { channel: string; arch: string; file: string };
    const r = release(channel, arch);
    if (file === 'manifest.json') return sendManifest(req, reply, r, false);
    if (file === 'manifest.json.tlog-proof') return sendManifest(req, reply, r, true);
    for (const a of r.manifest.manifest.artifacts.values()) {
      if (a.filename === file) return sendBlob(req, reply, a.hash.slice('sha256:'.length), manifestCache, a.filename);
    }
    throw notFound(`${channel}/${arch} has no artifact ${JSON.stringify(file.slice(0, 255))}`);
  });

  // --- admin ---

  app.put('/admin/v1/blobs/sha256/:hex', { preParsing: authorize }, async (req, reply) => {
    const hex = (req.params as { hex: string }).hex;
    if (!SHA256_HEX.test(hex)) throw new FormatError('ERR_FORMAT_HEX', 'a blob name is 64 lowercase hex characters');
    // Refused from the header, before a byte of the body is read (the error handler closes the connection).
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && declared > maxBlob) {
      throw new LimitError('ERR_LIMIT_SIZE', `the upload declares ${declared} bytes, over the cap of ${maxBlob}`, { details: { size: declared, cap: maxBlob } });
    }
    const existing = await o.blobs.stat(hex);
    if (existing !== undefined) {
      // Already stored (blobs are immutable). A small body is read and dropped, so a client still sending gets the
      // answer rather than a broken pipe; a large one is not worth reading: answer and close.
      if (declared !== undefined && declared <= DRAIN_MAX_BYTES) {
        for await (const _ of req.body as AsyncIterable<Uint8Array>) void _;
      } else reply.header('connection', 'close');
      return reply.code(200).send({ ok: true, sha256: hex, size: existing.size, created: false });
    }
    const info = await o.blobs.importStream(req.body as AsyncIterable<Uint8Array>, maxBlob, hex);
    o.audit?.('blob.stored', { sha256: info.sha256, size: info.size, ip: req.ip });
    return reply.code(201).send({ ok: true, sha256: info.sha256, size: info.size, created: true });
  });

  app.post('/admin/v1/releases/:channel/:arch', { preParsing: authorize }, async (req, reply) => {
    const { channel, arch } = req.params as { channel: string; arch: string };
    checkChannelName(channel, 'channel');
    checkChannelName(arch, 'arch');
    const body = parseJsonObject(await readSmallBody(req.body), { maxBytes: RELEASE_BODY_MAX_BYTES, what: 'release request' });
    const arts = body.artifacts;
    if (typeof arts !== 'object' || arts === null || Array.isArray(arts)) {
      throw new FormatError('ERR_FORMAT_SCHEMA', 'expected {"artifacts": {"<name>": {"filename": "…", "sha256": "<hex>"}}}');
    }
    const artifacts = new Map<string, ReleaseArtifact>();
    for (const [name, v] of Object.entries(arts)) {
      const a = v as JsonObject;
      if (typeof a !== 'object' || a === null || typeof a.filename !== 'string' || typeof a.sha256 !== 'string') {
        throw new FormatError('ERR_FORMAT_SCHEMA', `artifact ${JSON.stringify(name.slice(0, 64))}: expected {"filename", "sha256"}`);
      }
      artifacts.set(name, { filename: a.filename, sha256: a.sha256.replace(/^sha256:/, '') });
    }
    const version = body.version;
    if (version !== undefined && typeof version !== 'string') throw new FormatError('ERR_FORMAT_SCHEMA', 'version must be a string');
    const validityS = body.validity_s;
    if (validityS !== undefined && (typeof validityS !== 'number' || validityS < 60 || validityS > 365 * 86_400)) {
      throw new FormatError('ERR_FORMAT_SCHEMA', 'validity_s must be an integer from 60 (a minute) to 31536000 (a year)');
    }
    const r = await o.releases.release(
      channel,
      arch,
      artifacts,
      { version, validityMs: validityS === undefined ? undefined : assertValidity(validityS * 1000) },
      'admin',
    );
    return reply.header('cache-control', 'no-store').send({ ok: true, ...describe(r), manifest: r.manifestText, proof: r.proofText });
  });

  app.post('/admin/v1/rescan', { preParsing: authorize }, async (_req, reply) => {
    const r = await o.rescan();
    return reply.header('cache-control', 'no-store').send({
      ok: true,
      released: r.released.map(describe),
      unchanged: r.unchanged,
      problems: r.problems,
    });
  });
  return Promise.resolve();
}

/** readSmallBody collects a request stream into bytes, refusing more than RELEASE_BODY_MAX_BYTES. */
async function readSmallBody(body: unknown): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > RELEASE_BODY_MAX_BYTES) throw new LimitError('ERR_LIMIT_SIZE', `the request body is over the cap of ${RELEASE_BODY_MAX_BYTES} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
