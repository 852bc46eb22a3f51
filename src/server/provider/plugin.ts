/**
 * server/provider/plugin — the provider's HTTP face (the boot-provider API of Phase, the network-boot provider
 * github.com/msitarzewski/phase, made real; see docs/provider.md) as an encapsulated fastify plugin. It holds no
 * module-level state. The read routes of a boot (manifests, proofs, artifacts, blobs, trust roots) are answered
 * before fastify by server/provider/read-path; this plugin has the rest.
 *
 * Routes (info: no authentication; admin: `Authorization: Bearer <admin token>`, checked before the body is read):
 * ```
 * GET /                                     info: channels, trust-root fingerprint, log verifier key
 * GET /health                               {"status": "healthy", …} (503 "unhealthy" when the log stopped)
 * GET /audit/anchor                         the newest audit-log head anchored in the log, with its proof
 * PUT  /admin/v1/blobs/sha256/<64 hex>      upload an artifact; stored only if the bytes hash to the name
 * POST /admin/v1/releases/<channel>/<arch>  {"artifacts": {"<name>": {"filename": "…", "sha256": "<hex>"}},
 *                                            "version"?: "…", "validity_s"?: n, "attestations"?: "<hex>"}
 *                                            → sign, log, publish (attestations: an uploaded .intoto.jsonl blob)
 * POST /admin/v1/rescan                     import the incoming directory now
 * ```
 * Refusals are the coded JSON of server/http. Rate limits are applied in front of it (server/provider/front).
 *
 * Trust boundary: paths, headers and bodies are attacker-controlled. Channel/arch names are checked before use;
 * blob names must be 64 lowercase hex.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseJsonObject, type JsonObject } from '../../encoding/json.ts';
import { FormatError, IoError, isTrustError, LimitError, type TrustError } from '../../errors.ts';
import { authorizeBeforeBody, bearerCheck, clientAddress, sendError, toHttpError } from '../http.ts';
import { SHA256_HEX, type BlobStore } from './blobs.ts';
import type { ScanResult } from './incoming.ts';
import { assertValidity, checkChannelName, type Release, type ReleaseArtifact, type ReleaseStore } from './releases.ts';


/** DEFAULT_MAX_BLOB_BYTES caps one upload unless the daemon is told otherwise (8 GiB: boot images and root file systems). */
export const DEFAULT_MAX_BLOB_BYTES = 8 * 1024 ** 3;
/** ProviderPluginOptions are the options of {@link providerPlugin}. */
export interface ProviderPluginOptions {
  releases: ReleaseStore;
  blobs: BlobStore;
  tokens: readonly Uint8Array[];
  trust: { fingerprint: string };
  log: { vkey: string; prefix: string; healthy: () => boolean; treeSize: () => number };
  /** keyHealthy tells whether the signing key still signs (a PKCS#11 token can fail or be removed; default: yes). */
  keyHealthy?: () => boolean;
  rescan: () => Promise<ScanResult>;
  /** maxBlobBytes caps one upload (default 8 GiB). */
  maxBlobBytes?: number;
  /** audit is told about admin actions and refusals (never secrets). */
  audit?: (event: string, fields: JsonObject) => void;
  /** auditAnchor returns the newest audit anchor file (audit/anchor), served at /audit/anchor. */
  auditAnchor?: () => string | undefined;
  version: string;
}

/** AUDIT_REFUSALS_PER_MINUTE caps the admin.refused records written per minute. */
const AUDIT_REFUSALS_PER_MINUTE = 60;
const RELEASE_BODY_MAX_BYTES = 1024 * 1024;
/** DRAIN_MAX_BYTES: the body of an upload of an already-stored blob is read and dropped up to this size. */
const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

function notFound(what: string): TrustError {
  return new IoError('ERR_PROVIDER_NOT_FOUND', what);
}

/** describe is a release as the info route and the admin API list it. */
function describe(r: Release): JsonObject {
  return {
    channel: r.channel,
    arch: r.arch,
    version: r.manifest.manifest.version,
    sequence: r.manifest.manifest.sequence,
    digest: r.manifest.digest,
    expires_at: r.manifest.manifest.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    log_index: r.index,
    ...(r.attestations === undefined ? {} : { attestations_url: `/${r.channel}/${r.arch}/attestations` }),
    manifest_url: `/${r.channel}/${r.arch}/manifest.json`,
  };
}

/** providerPlugin registers the provider routes (mount at the root; the log goes under /log beside it). */
export function providerPlugin(app: FastifyInstance, o: ProviderPluginOptions): Promise<void> {
  installBodiesAndErrors(app);
  registerInfoRoutes(app, o);
  registerAdminRoutes(app, o);
  return Promise.resolve();
}

/**
 * refusalAuditor returns the hook told about refused admin requests: they are audited, at most
 * AUDIT_REFUSALS_PER_MINUTE a minute (a flood must not turn into unbounded fsynced writes); the next record after a
 * quiet spell says how many were left out.
 */
function refusalAuditor(o: ProviderPluginOptions): (req: FastifyRequest, reason: string) => void {
  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  return (req, reason) => {
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
      ip: clientAddress(req),
      method: req.method,
      path: (req.url.split('?')[0] ?? '').slice(0, 200),
      reason,
      ...(suppressed > 0 ? { not_recorded_before: suppressed } : {}),
    });
    suppressed = 0;
  };
}

/** installBodiesAndErrors sets how bodies are read and how refusals are rendered. */
function installBodiesAndErrors(app: FastifyInstance): void {
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
}

/** registerInfoRoutes: GET /, /health, /audit/anchor. */
function registerInfoRoutes(app: FastifyInstance, o: ProviderPluginOptions): void {
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
    // What is already signed keeps being served when the key fails; the status says new signatures are not possible.
    const keyOk = o.keyHealthy?.() ?? true;
    const ok = logOk && keyOk;
    return reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ok ? 'healthy' : 'unhealthy', checks: { log: logOk, key: keyOk, releases: o.releases.list().length } });
  });

  app.get('/audit/anchor', (_req, reply) => {
    const text = o.auditAnchor?.();
    if (text === undefined) throw notFound('no audit anchor yet');
    return reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8').send(text);
  });
}

/** registerAdminRoutes: uploads, releases and rescans, each behind the bearer check. */
function registerAdminRoutes(app: FastifyInstance, o: ProviderPluginOptions): void {
  const maxBlob = o.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  const authorize = authorizeBeforeBody(bearerCheck(o.tokens, 'ERR_PROVIDER_UNAUTHORIZED', refusalAuditor(o)));

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
    o.audit?.('blob.stored', { sha256: info.sha256, size: info.size, ip: clientAddress(req) });
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
    const attestations = body.attestations;
    if (attestations !== undefined && (typeof attestations !== 'string' || !SHA256_HEX.test(attestations))) {
      throw new FormatError('ERR_FORMAT_SCHEMA', 'attestations must be the 64-hex sha256 of an uploaded .intoto.jsonl blob');
    }
    const r = await o.releases.release(
      channel,
      arch,
      artifacts,
      { version, validityMs: validityS === undefined ? undefined : assertValidity(validityS * 1000), attestations },
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
