/**
 * server/provider/read-path — the provider's read routes on plain `node:http`, ahead of fastify: what a boot storm
 * asks for, answered from responses prepared once (body + header list) instead of going through a framework's
 * routing, hooks and serializers for every request.
 * ```
 * GET|HEAD /<channel>/<arch>/manifest.json             the current signed manifest (ETag = its digest; no-cache)
 * GET|HEAD /<channel>/<arch>/manifest.json.tlog-proof  its c2sp.org/tlog-proof@v1 inclusion proof
 * GET|HEAD /<channel>/<arch>/attestations              its in-toto attestations (.intoto.jsonl), when it has some
 * GET|HEAD /<channel>/<arch>/<filename>                an artifact of the current release (Range, ETag, X-Artifact-Hash)
 * GET|HEAD /blobs/sha256/<64 hex>                      any stored artifact by digest (Range; immutable, cached a year)
 * GET|HEAD /manifest.json                              the default channel/arch, when configured
 * GET|HEAD /trust/root.json, /trust/<N>.root.json      the trust root and its versions, for rotation
 * GET|HEAD /tuf/…                                       the TUF repository (server/provider/tuf-repo): root versions,
 *                                                       timestamp.json, <N>.snapshot.json, <N>.targets.json from
 *                                                       DATA/tuf/, targets/<channel>/<arch>/<sha256>.<name> by digest
 * ```
 * Everything else (info, health, admin, the log) is passed on: to fastify in one process, to the leader from a
 * worker (server/cluster).
 *
 * Measured (bench/sections/provider, wrk -t2 -c64 against nginx in one run): fastify's routing, reply decoration and
 * hooks cost about half of a small response's CPU; a prepared header list written with one `writeHead` does not.
 * Small blobs (≤ 16 MiB: kernels, initramfs) are kept in memory with their headers; larger ones are streamed in
 * chunks sized so that all streams of a process together hold about STREAM_MEMORY_BUDGET_BYTES.
 *
 * Trust boundary: the URL and headers are attacker-controlled. Segments are matched against the in-memory release
 * (never joined into a path) and blob names must be 64 lowercase hex; Range is parsed strictly (RFC 9110 §14.2) and
 * anything unusual sends the whole artifact.
 */
import { promises as fsp, read } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { IoError, type TrustError } from '../../errors.ts';
import { readFileIfExists } from '../../io/files.ts';
import { ROOT_MAX_BYTES } from '../../trust/root.ts';
import { TUF_TARGETS_MAX_BYTES } from '../../trust/tuf-metadata.ts';
import type { HttpCounts } from '../ui/counts.ts';
import { onConnectionGone } from '../http.ts';
import type { FastAnswer } from '../fast-http.ts';
import { TUF_FILE_NAME } from './tuf-repo.ts';
import { BlobCache, SHA256_HEX, type BlobStore } from './blobs.ts';
import { StreamBuffers } from './stream-buffers.ts';
import { ATTESTATIONS_FILENAME, RESERVED_CHANNEL_NAMES, type Release } from './releases.ts';

/** BLOB_CACHE_ENTRY_MAX_BYTES: blobs up to this size are served from memory (a kernel, an initramfs). */
export const BLOB_CACHE_ENTRY_MAX_BYTES = 16 * 1024 * 1024;
/** BLOB_MAX_AGE_S: blobs are immutable by construction. */
const BLOB_MAX_AGE_S = 365 * 86_400;
/**
 * STREAM_MEMORY_BUDGET_BYTES is what the streams of large artifacts of one process may hold in read buffers
 * together: each stream reads chunks of budget / active streams, between STREAM_CHUNK_MIN_BYTES and
 * STREAM_CHUNK_MAX_BYTES. A few clients get big reads (few syscalls); a thousand share the budget.
 *
 * A stream starts at STREAM_CHUNK_MIN_BYTES and doubles its chunk after each one the socket took (a slow start, as
 * TCP's), up to its share, in blocks of one slab of the budget's size (server/provider/stream-buffers): the buffers
 * of all streams together stay within the budget, or STREAM_CHUNK_MIN_BYTES each when there are more streams than
 * that allows, and a resize allocates nothing. Sizing each stream by its share when it started, with a fresh
 * Buffer per size, as this did before, let the first streams of a thousand that arrive together (a boot storm) take
 * budget / (streams so far) each, and left every buffer a stream gave up to the garbage collector: 20–40 MiB per
 * process of garbage under a 1,000-download storm, which set the peak resident size
 * (bench/sections/provider-memory).
 */
const STREAM_MEMORY_BUDGET_BYTES = 8 * 1024 * 1024;
const STREAM_CHUNK_MIN_BYTES = 16 * 1024;
const STREAM_CHUNK_MAX_BYTES = 1024 * 1024;

/** chunkFor is the power of two in [STREAM_CHUNK_MIN_BYTES, STREAM_CHUNK_MAX_BYTES] nearest to `bytes`. */
function chunkFor(bytes: number): number {
  return Math.max(STREAM_CHUNK_MIN_BYTES, Math.min(STREAM_CHUNK_MAX_BYTES, 2 ** Math.round(Math.log2(Math.max(1, bytes)))));
}

/**
 * FIRST_SEGMENTS_PASSED_ON are never channels here: fastify (or the leader) routes them. They are the reserved channel
 * names (one list, server/provider/releases) but the two this read path serves itself.
 */
const FIRST_SEGMENTS_PASSED_ON: ReadonlySet<string> = new Set([...RESERVED_CHANNEL_NAMES].filter((s) => s !== 'blobs' && s !== 'trust' && s !== 'tuf'));
/** TUF_METADATA_MAX_BYTES caps a metadata file read from DATA/tuf/ (the targets cap, the largest). */
const TUF_METADATA_MAX_BYTES = TUF_TARGETS_MAX_BYTES;

/** ReleaseView is what the read path needs of the releases: the current one of a channel/arch. */
export interface ReleaseView {
  get(channel: string, arch: string): Release | undefined;
}

/** ReadPathOptions configures a {@link ReadPath}. */
export interface ReadPathOptions {
  releases: ReleaseView;
  blobs: Pick<BlobStore, 'pathOf'>;
  trust: { rootBytes: Uint8Array; rootDir: string | undefined };
  defaultRelease?: { channel: string; arch: string } | undefined;
  /**
   * tuf serves the TUF repository: metadata files from `dir` (DATA/tuf/, written by the leader), root versions from
   * `trust` (`rootVersion` names the current root's version, served as <N>.root.json when there is no rootDir).
   * Undefined: /tuf/ answers 404.
   */
  tuf?: { dir: string; rootVersion: number } | undefined;
  /** manifestMaxAgeS is the Cache-Control max-age of manifests and proofs (default 0: always revalidate). */
  manifestMaxAgeS?: number | undefined;
  /** blobCacheBytes caps the memory that keeps small blobs (default 64 MiB; 0 disables). */
  blobCacheBytes?: number | undefined;
  /**
   * blobInFlightBytes caps the small blobs held in memory for responses in flight and loads under way, each buffer
   * counted once however many responses send it (default 64 MiB). A small blob that would go over it is streamed
   * from its file instead (the slab's bounded buffers): without the cap, clients that ask for more distinct blobs
   * than the cache holds and read slowly kept one loaded copy each, without bound.
   */
  blobInFlightBytes?: number | undefined;
  /** headers are added to every response (a worker names itself). */
  headers?: readonly string[] | undefined;
  /** onError is told about failures that are not refusals (storage errors), for the daemon's log. */
  onError?: ((e: unknown) => void) | undefined;
  /** counts counts every response of the read path (handler "read" in /metrics; server/ui/metrics). */
  counts?: HttpCounts | undefined;
}

/** Prepared is a whole 200 response: the body and the flat header list given to writeHead. */
interface Prepared {
  etag: string;
  body: Buffer;
  headers: string[];
}

/** QuickAnswer is an answer of {@link ReadPath.quick}: `pinned` is the small blob's buffer its body is. */
export type QuickAnswer = FastAnswer & { pinned?: Buffer };

/** PreparedBlob is a cached small blob and its header lists, one per Content-Disposition filename. */
interface PreparedBlob {
  data: Buffer;
  byName: Map<string, string[]>;
  /** last is the header list asked for last, and what it was asked for by (a storm asks for one over and over). */
  last?: { cc: string; filename: string | undefined; headers: string[] } | undefined;
}

/** errorResponse is a coded error's JSON refusal body (server/http's) and its header list. */
export function errorResponse(e: TrustError, extra: readonly string[] = []): { body: Buffer; headers: string[] } {
  const body = Buffer.from(JSON.stringify(e.toJSON()), 'utf8');
  const headers = ['content-type', 'application/json; charset=utf-8', 'cache-control', 'no-store', 'content-length', String(body.length), ...extra];
  if (e.httpStatus === 429) headers.push('retry-after', '1');
  return { body, headers };
}

/** writeError renders a coded error as the JSON refusal body of server/http, on a plain response. */
export function writeError(res: ServerResponse, e: TrustError, extra: readonly string[] = []): void {
  const { body, headers } = errorResponse(e, extra);
  res.writeHead(e.httpStatus, headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

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

/** ReadPath answers the read routes; {@link ReadPath.handle} tells whether a request was one of them. */
export class ReadPath {
  readonly #o: ReadPathOptions;
  readonly #manifestCache: string;
  readonly #extra: readonly string[];
  /** #prepared holds each release's manifest and proof responses; a new release is a new key. */
  readonly #prepared = new WeakMap<Release, { manifest: Prepared; proof: Prepared; files: Map<string, string> }>();
  readonly #cache: BlobCache;
  readonly #blobs = new Map<string, PreparedBlob>();
  /** #large: digests of blobs too large for memory (a digest names its bytes, so this never goes stale). */
  readonly #large = new Set<string>();
  /** #loading: one read per small blob however many clients ask at once (a boot storm on a cold cache). */
  readonly #loading = new Map<string, Promise<PreparedBlob | undefined | 'missing'>>();
  #streams = 0;
  /** #pinned counts, per small-blob buffer, the responses sending it; #pinnedBytes sums the distinct buffers. */
  readonly #pinned = new Map<Buffer, number>();
  #pinnedBytes = 0;
  /** #loadingBytes is the size of the small-blob loads under way. */
  #loadingBytes = 0;
  readonly #inFlightCap: number;
  readonly #streamBuffers = new StreamBuffers({ slabBytes: STREAM_MEMORY_BUDGET_BYTES, minBytes: STREAM_CHUNK_MIN_BYTES, maxBytes: STREAM_CHUNK_MAX_BYTES });
  readonly #counts: HttpCounts | undefined;
  /** #rootAnswer is GET /trust/root.json, prepared once. */
  readonly #rootAnswer: FastAnswer;
  readonly #blobCache = `public, max-age=${BLOB_MAX_AGE_S}, immutable`;

  constructor(o: ReadPathOptions) {
    this.#counts = o.counts;
    this.#o = o;
    this.#manifestCache = `public, max-age=${o.manifestMaxAgeS ?? 0}, must-revalidate`;
    this.#extra = o.headers ?? [];
    this.#cache = new BlobCache(o.blobCacheBytes ?? 64 * 1024 * 1024, BLOB_CACHE_ENTRY_MAX_BYTES);
    this.#inFlightCap = o.blobInFlightBytes ?? 64 * 1024 * 1024;
    const root = Buffer.from(o.trust.rootBytes.buffer, o.trust.rootBytes.byteOffset, o.trust.rootBytes.byteLength);
    this.#rootAnswer = { status: 200, headers: this.#rootHeaders(root.length), body: root };
  }

  /** #rootHeaders is the header list of a trust root (or TUF metadata) of `size` bytes. */
  #rootHeaders(size: number): string[] {
    return ['content-type', 'application/json; charset=utf-8', 'cache-control', 'no-cache', 'content-length', String(size), ...this.#extra];
  }

  /**
   * streamStats counts the streams running now and the bytes of their read buffers, and the bytes of the small blobs
   * held for responses in flight (each buffer once).
   */
  get streamStats(): { streams: number; bufferBytes: number; pinnedBytes: number } {
    return { streams: this.#streams, bufferBytes: this.#streamBuffers.inUse, pinnedBytes: this.#pinnedBytes };
  }

  /**
   * #send ends `res` with (part of) a small blob's buffer, which stays counted in #pinnedBytes until the response
   * or its connection closes (a pipelined response queued behind another gets no 'close' of its own).
   */
  #send(res: ServerResponse, data: Buffer, body: Buffer): void {
    if (res.req.socket.destroyed) {
      res.destroy();
      return;
    }
    this.#pin(data);
    onConnectionGone(res, () => this.#unpin(data));
    res.end(body);
  }

  /** #pin holds a small blob's buffer for one response more ({@link ReadPath.#send}). */
  #pin(data: Buffer): void {
    const n = this.#pinned.get(data) ?? 0;
    this.#pinned.set(data, n + 1);
    if (n === 0) this.#pinnedBytes += data.length;
  }

  /** #unpin drops one response's hold on a pinned small blob ({@link ReadPath.#send}). */
  #unpin(data: Buffer): void {
    const n = (this.#pinned.get(data) ?? 1) - 1;
    if (n > 0) this.#pinned.set(data, n);
    else {
      this.#pinned.delete(data);
      this.#pinnedBytes -= data.length;
    }
  }

  /** handle answers a read route and returns true, or returns false (nothing written) for anything else. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const parts = path.split('/');
    // parts[0] is the empty string before the leading slash.
    if (parts.length === 2 && parts[1] === 'manifest.json' && this.#o.defaultRelease !== undefined) {
      const d = this.#o.defaultRelease;
      this.#guard(res, this.#channelFile(req, res, d.channel, d.arch, 'manifest.json'));
      return true;
    }
    if (parts.length === 3 && parts[1] === 'trust') {
      this.#guard(res, this.#trust(req, res, parts[2]!));
      return true;
    }
    if (parts[1] === 'tuf') {
      this.#guard(res, this.#tuf(req, res, parts.slice(2)));
      return true;
    }
    if (parts.length !== 4) return false;
    const first = parts[1]!;
    if (first === 'blobs' && parts[2] === 'sha256') {
      const hex = parts[3]!;
      if (!SHA256_HEX.test(hex)) this.#error(res, notFound('a blob name is 64 lowercase hex characters'), this.#extra);
      else this.#guard(res, this.#blob(req, res, hex, undefined, undefined));
      return true;
    }
    if (FIRST_SEGMENTS_PASSED_ON.has(first)) return false;
    let channel: string, arch: string, file: string;
    try {
      channel = decodeURIComponent(first);
      arch = decodeURIComponent(parts[2]!);
      file = decodeURIComponent(parts[3]!);
    } catch {
      return false; // malformed percent-encoding: the framework's coded 400
    }
    this.#guard(res, this.#channelFile(req, res, channel, arch, file));
    return true;
  }

  /**
   * quick returns the whole 200 answer to a GET or HEAD of a manifest, its proof, the trust root or a small blob,
   * for server/fast-http — a promise of it for a small blob not yet in memory (read once, however many wait) — or
   * undefined for anything else (another route, a refusal, a large blob: {@link ReadPath.handle} answers those). It
   * counts and pins nothing; the caller that sends the answer calls {@link ReadPath.sending}. `target` is the request
   * target (path and query).
   */
  quick(target: string): QuickAnswer | Promise<QuickAnswer | undefined> | undefined {
    const q = target.indexOf('?');
    const parts = (q < 0 ? target : target.slice(0, q)).split('/');
    if (parts.length === 2 && parts[1] === 'manifest.json') {
      const d = this.#o.defaultRelease;
      return d === undefined ? undefined : this.#quickChannel(d.channel, d.arch, 'manifest.json');
    }
    if (parts.length === 3 && parts[1] === 'trust' && parts[2] === 'root.json') return this.#rootAnswer;
    if (parts.length !== 4) return undefined;
    const first = parts[1]!;
    if (first === 'blobs' && parts[2] === 'sha256') return SHA256_HEX.test(parts[3]!) ? this.#quickBlob(parts[3]!, undefined, undefined) : undefined;
    if (FIRST_SEGMENTS_PASSED_ON.has(first) || first === 'trust' || first === 'tuf') return undefined;
    try {
      return this.#quickChannel(decodeURIComponent(first), decodeURIComponent(parts[2]!), decodeURIComponent(parts[3]!));
    } catch {
      return undefined;
    }
  }

  /**
   * sending counts an answer of {@link ReadPath.quick} that is being sent and, for the body of a small blob written
   * from its own buffer (not `copied`), pins that buffer; the function returned unpins it once the answer is written
   * (or its connection is gone).
   */
  sending(method: 'GET' | 'HEAD', a: QuickAnswer, copied: boolean): (() => void) | undefined {
    this.#counts?.add('read', method, a.status);
    const data = a.pinned;
    if (data === undefined || method === 'HEAD' || copied) return undefined;
    this.#pin(data);
    return () => this.#unpin(data);
  }

  #quickChannel(channel: string, arch: string, file: string): QuickAnswer | Promise<QuickAnswer | undefined> | undefined {
    const r = this.#o.releases.get(channel, arch);
    if (r === undefined) return undefined;
    const p = this.#preparedOf(r);
    if (file === 'manifest.json') return { status: 200, headers: p.manifest.headers, body: p.manifest.body };
    if (file === 'manifest.json.tlog-proof') return r.proofText === '' ? undefined : { status: 200, headers: p.proof.headers, body: p.proof.body };
    if (file === ATTESTATIONS_FILENAME) return r.attestations === undefined ? undefined : this.#quickBlob(r.attestations, this.#manifestCache, `${channel}-${arch}.intoto.jsonl`);
    const sha256 = p.files.get(file);
    return sha256 === undefined ? undefined : this.#quickBlob(sha256, this.#manifestCache, file);
  }

  #quickBlob(sha256: string, cache: string | undefined, filename: string | undefined): QuickAnswer | Promise<QuickAnswer | undefined> | undefined {
    const whole = (small: PreparedBlob): QuickAnswer => ({ status: 200, headers: this.#wholeHeaders(small, sha256, cache ?? this.#blobCache, filename), body: small.data, pinned: small.data });
    if (this.#cache.get(sha256) !== undefined) {
      const small = this.#blobs.get(sha256);
      if (small !== undefined) return whole(small);
    }
    // Not in memory: read once (shared with every request waiting for it); large, missing or over the in-flight cap
    // is for handle() (streamed, or refused).
    if (this.#large.has(sha256)) return undefined;
    return this.#cached(sha256).then((small) => (small === undefined || small === 'missing' ? undefined : whole(small)));
  }

  /** #wholeHeaders is the header list of a whole small blob, prepared once per (blob, name, cache policy). */
  #wholeHeaders(small: PreparedBlob, sha256: string, cc: string, filename: string | undefined): string[] {
    const last = small.last;
    if (last !== undefined && last.cc === cc && last.filename === filename) return last.headers;
    const key = `${cc}\n${filename ?? ''}`;
    let h = small.byName.get(key);
    if (h === undefined) {
      h = [...this.#headers(sha256, cc, filename), 'content-length', String(small.data.length)];
      if (small.byName.size < 64) small.byName.set(key, h);
    }
    small.last = { cc, filename, headers: h };
    return h;
  }

  /** #head writes a response's status line and headers, and counts it (one typed-array increment). */
  #head(res: ServerResponse, status: number, headers: string[]): void {
    this.#counts?.add('read', res.req.method, status);
    res.writeHead(status, headers);
  }

  /** #error writes a refusal (server/http's coded JSON body) and counts it. */
  #error(res: ServerResponse, e: TrustError, extra: readonly string[]): void {
    this.#counts?.add('read', res.req.method, e.httpStatus);
    writeError(res, e, extra);
  }

  /** #guard renders a refusal thrown by a route, or drops the connection if the response already started. */
  #guard(res: ServerResponse, p: Promise<void> | void): void {
    if (p === undefined) return;
    p.catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const refusal = e instanceof IoError && e.code.startsWith('ERR_PROVIDER_');
      if (!refusal) this.#o.onError?.(e);
      const te = refusal
          ? e
          : new IoError('ERR_IO_READ_FAILED', 'the provider could not complete the request on its storage', {
              hint: 'retry later; the operator finds the cause in the provider log',
            });
      this.#error(res, te, te.code === 'ERR_PROVIDER_RANGE' ? [...this.#extra, ...this.#rangeHeader(e)] : this.#extra);
    });
  }

  #rangeHeader(e: unknown): string[] {
    const size = (e as TrustError).details?.size;
    return typeof size === 'number' ? ['content-range', `bytes */${size}`] : [];
  }

  #channelFile(req: IncomingMessage, res: ServerResponse, channel: string, arch: string, file: string): Promise<void> | void {
    const r = this.#o.releases.get(channel, arch);
    if (r === undefined) {
      this.#error(res, notFound(`no release for ${channel.slice(0, 64)}/${arch.slice(0, 64)}`), this.#extra);
      return;
    }
    const p = this.#preparedOf(r);
    if (file === 'manifest.json' || file === 'manifest.json.tlog-proof') {
      // A mirror without --require-log verified no proof, so it serves none (server/mirror).
      if (file !== 'manifest.json' && r.proofText === '') {
        this.#error(res, notFound(`${channel}/${arch}: this mirror serves no inclusion proof`), this.#extra);
        return;
      }
      this.#sendPrepared(req, res, file === 'manifest.json' ? p.manifest : p.proof);
      return;
    }
    if (file === ATTESTATIONS_FILENAME) {
      // Not covered by the manifest: each envelope is signed by its own keys and judged by the client's policy.
      if (r.attestations === undefined) {
        this.#error(res, notFound(`${channel}/${arch} has no attestations`), this.#extra);
        return;
      }
      return this.#blob(req, res, r.attestations, this.#manifestCache, `${channel}-${arch}.intoto.jsonl`);
    }
    const sha256 = p.files.get(file);
    if (sha256 === undefined) {
      this.#error(res, notFound(`${channel}/${arch} has no artifact ${JSON.stringify(file.slice(0, 255))}`), this.#extra);
      return;
    }
    return this.#blob(req, res, sha256, this.#manifestCache, file);
  }

  #preparedOf(r: Release): { manifest: Prepared; proof: Prepared; files: Map<string, string> } {
    let p = this.#prepared.get(r);
    if (p === undefined) {
      const prep = (text: string, etag: string, type: string): Prepared => {
        const body = Buffer.from(text, 'utf8');
        const headers = ['content-type', type, 'cache-control', this.#manifestCache, 'etag', etag, 'content-length', String(body.length), ...this.#extra];
        return { etag, body, headers };
      };
      const files = new Map<string, string>();
      for (const a of r.manifest.manifest.artifacts.values()) files.set(a.filename, a.hash.slice('sha256:'.length));
      p = {
        manifest: prep(r.manifestText, `"${r.manifest.digest}"`, 'application/json; charset=utf-8'),
        proof: prep(r.proofText, `"${r.manifest.digest}.proof"`, 'text/plain; charset=utf-8'),
        files,
      };
      this.#prepared.set(r, p);
    }
    return p;
  }

  #sendPrepared(req: IncomingMessage, res: ServerResponse, p: Prepared): void {
    if (req.headers['if-none-match'] !== undefined && etagMatches(req.headers['if-none-match'], p.etag)) {
      this.#head(res, 304, ['cache-control', this.#manifestCache, 'etag', p.etag, ...this.#extra]);
      res.end();
      return;
    }
    this.#head(res, 200, p.headers);
    res.end(req.method === 'HEAD' ? undefined : p.body);
  }

  async #trust(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
    let body: Uint8Array | undefined;
    if (file === 'root.json') body = this.#o.trust.rootBytes;
    else if (/^[1-9][0-9]{0,8}\.root\.json$/.test(file) && this.#o.trust.rootDir !== undefined) {
      body = await readFileIfExists(join(this.#o.trust.rootDir, file), { maxBytes: ROOT_MAX_BYTES, what: 'trust root version' });
    }
    if (body === undefined) throw notFound(`no trust root ${file.slice(0, 40)}`);
    this.#head(res, 200, this.#rootHeaders(body.length));
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * #tuf answers /tuf/…: metadata by exact name (never a path joined from the URL but a name matched whole), and
   * targets by the digest in their hash-prefixed name (TUF §5.7.3); a blob's bytes are named by their digest, so
   * serving a stored blob under any target name gives nothing away that /blobs/sha256/ does not.
   */
  async #tuf(req: IncomingMessage, res: ServerResponse, rest: string[]): Promise<void> {
    const tuf = this.#o.tuf;
    if (tuf === undefined) throw notFound('this provider serves no TUF repository');
    if (rest.length === 1) {
      const name = rest[0]!;
      let body: Uint8Array | undefined;
      if (name === 'root.json' || name === `${tuf.rootVersion}.root.json`) body = this.#o.trust.rootBytes;
      else if (/^[1-9][0-9]{0,8}\.root\.json$/.test(name) && this.#o.trust.rootDir !== undefined) {
        body = await readFileIfExists(join(this.#o.trust.rootDir, name), { maxBytes: ROOT_MAX_BYTES, what: 'trust root version' });
      } else if (TUF_FILE_NAME.test(name)) {
        body = await readFileIfExists(join(tuf.dir, name), { maxBytes: TUF_METADATA_MAX_BYTES, what: 'tuf metadata' });
      }
      if (body === undefined) throw notFound(`no TUF metadata ${name.slice(0, 40)}`);
      this.#head(res, 200, this.#rootHeaders(body.length));
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    // targets/<channel>/<arch>/<sha256>.<filename>
    const m = rest.length === 4 && rest[0] === 'targets' ? /^([0-9a-f]{64})\.(.+)$/.exec(rest[3]!) : null;
    if (m === null) throw notFound('a TUF target is /tuf/targets/<channel>/<arch>/<sha256>.<filename>');
    return this.#blob(req, res, m[1]!, undefined, undefined);
  }

  /** #headers is the header list of a whole blob (no Content-Length: added by the caller). */
  #headers(sha256: string, cache: string, filename: string | undefined): string[] {
    const h = [
      'content-type', 'application/octet-stream',
      'cache-control', cache,
      'etag', `"sha256:${sha256}"`,
      'accept-ranges', 'bytes',
      'x-artifact-hash', `sha256:${sha256}`,
      ...this.#extra,
    ];
    if (filename !== undefined) h.push('content-disposition', `attachment; filename="${filename.replace(/[^\x20-\x7e]|["\\]/g, '_')}"`);
    return h;
  }

  /** #cached returns a small blob from memory, reading it once if needed; undefined for a large one. */
  async #cached(sha256: string): Promise<PreparedBlob | undefined | 'missing'> {
    if (this.#cache.get(sha256) !== undefined) {
      const b = this.#blobs.get(sha256);
      if (b !== undefined) return b;
    }
    // A blob is immutable by its digest: once seen too large for memory, it is streamed without opening it here.
    if (this.#large.has(sha256)) return undefined;
    const pending = this.#loading.get(sha256);
    if (pending !== undefined) return pending;
    // The load is registered before its first await, so requests arriving meanwhile share this one read.
    const read = (async (): Promise<PreparedBlob | undefined | 'missing'> => {
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(this.#o.blobs.pathOf(sha256), 'r');
      } catch {
        return 'missing';
      }
      try {
        const size = (await fh.stat()).size;
        if (size > BLOB_CACHE_ENTRY_MAX_BYTES) {
          this.#large.add(sha256);
          return undefined;
        }
        // Over the in-flight cap: this request streams it instead (a later one loads it when there is room).
        if (this.#pinnedBytes + this.#loadingBytes + size > this.#inFlightCap) return undefined;
        this.#loadingBytes += size;
        let data: Buffer;
        try {
          data = await fh.readFile();
        } finally {
          this.#loadingBytes -= size;
        }
        const b: PreparedBlob = { data, byName: new Map(), last: undefined };
        this.#cache.set(sha256, data);
        // The cache decides what stays; prepared entries follow it (dropped when it evicted them). `has` leaves
        // the cache's use order alone.
        for (const k of this.#blobs.keys()) if (!this.#cache.has(k)) this.#blobs.delete(k);
        if (this.#cache.has(sha256)) this.#blobs.set(sha256, b);
        return b;
      } finally {
        await fh.close().catch(() => undefined);
      }
    })();
    this.#loading.set(sha256, read);
    const done = (): void => {
      if (this.#loading.get(sha256) === read) this.#loading.delete(sha256);
    };
    read.then(done, done);
    return read;
  }

  async #blob(req: IncomingMessage, res: ServerResponse, sha256: string, cache: string | undefined, filename: string | undefined): Promise<void> {
    const cc = cache ?? this.#blobCache;
    const small = await this.#cached(sha256);
    if (small === 'missing') throw notFound(`no blob sha256:${sha256}`);
    const etag = `"sha256:${sha256}"`;
    const conditional = req.headers['if-none-match'] !== undefined || req.headers.range !== undefined;
    if (small !== undefined && !conditional) {
      // The hot path: a whole small artifact, headers prepared once per (blob, name, cache policy).
      this.#head(res, 200, this.#wholeHeaders(small, sha256, cc, filename));
      if (req.method === 'HEAD') res.end();
      else this.#send(res, small.data, small.data);
      return;
    }
    const headers = this.#headers(sha256, cc, filename);
    if (etagMatches(req.headers['if-none-match'], etag)) {
      this.#head(res, 304, headers.slice(2));
      res.end();
      return;
    }
    let fh: fsp.FileHandle | undefined;
    let size: number;
    if (small !== undefined) size = small.data.length;
    else {
      try {
        fh = await fsp.open(this.#o.blobs.pathOf(sha256), 'r');
      } catch {
        throw notFound(`no blob sha256:${sha256}`);
      }
      try {
        size = (await fh.stat()).size;
      } catch (e) {
        await fh.close().catch(() => undefined);
        throw e;
      }
    }
    // If-Range with another validator: the client's partial copy is stale, send everything (RFC 9110 §13.1.5).
    const ifRange = req.headers['if-range'];
    const range = ifRange !== undefined && ifRange !== etag ? undefined : parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      await fh?.close().catch(() => undefined);
      throw new IoError('ERR_PROVIDER_RANGE', `the artifact has ${size} bytes`, { details: { size } });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    if (range !== undefined) headers.push('content-range', `bytes ${start}-${end}/${size}`);
    headers.push('content-length', String(end - start + 1));
    this.#head(res, range === undefined ? 200 : 206, headers);
    if (req.method === 'HEAD' || end < start) {
      await fh?.close().catch(() => undefined);
      res.end();
      return;
    }
    if (small !== undefined) {
      this.#send(res, small.data, small.data.subarray(start, end + 1));
      return;
    }
    this.#stream(res, fh!, start, end);
  }

  /**
   * #stream sends bytes start..end of an open file, in chunks sized by the memory budget (see the module doc): one
   * buffer per stream, read into again once the socket has taken the previous chunk (no read-ahead beyond one chunk
   * for a slow client); it is replaced by one twice as large while the stream is below its share and the slab has
   * a block for it, and by a smaller one when more streams started (the module doc, and server/provider/stream-buffers).
   */
  #stream(res: ServerResponse, fh: fsp.FileHandle, start: number, end: number): void {
    // Callbacks rather than promises: a thousand streams take tens of thousands of chunks a second, and per chunk
    // this allocates one read request and one write request; a promise loop allocated several promises, closures
    // and listener entries more, which with a small young generation went to the old space and grew the heap.
    // The connection may have closed while the file was opened (a pipelined request reset at once): its 'close' has
    // been and gone, so nothing below would ever end the stream.
    if (res.req.socket.destroyed || res.destroyed) {
      void fh.close().catch(() => undefined);
      return;
    }
    this.#streams++;
    const pool = this.#streamBuffers;
    let buf = pool.take();
    let pos = start;
    let reading = false;
    let gone = false;
    let done = false;
    // A client that goes away may leave the write's callback uncalled: closing ends the stream (once a read in
    // flight has landed, so the descriptor is not closed under it). The connection's own 'close' too: a pipelined
    // response queued behind another never emits 'close' when the client hangs up (its write never calls back).
    const detach = onConnectionGone(res, () => {
      gone = true;
      if (!reading) finish();
    });
    // The buffer goes back only when no read into it is in flight and no write from it can still go out: the last
    // chunk's write called back, or the connection is closed (destroyed here, or 'close': a closed socket writes
    // nothing more).
    const finish = (): void => {
      if (done) return;
      done = true;
      detach();
      this.#streams--;
      pool.give(buf);
      void fh.close().catch(() => undefined);
    };
    const fail = (): void => {
      res.destroy(); // a read or write error: the connection is dropped
      if (!reading) finish();
    };
    const next = (): void => {
      if (gone || done) return;
      if (pos > end) {
        res.end();
        finish();
        return;
      }
      // The socket took the last chunk. More streams started since: shrink to the current share. Below it: grow,
      // if the slab has a block for it.
      const share = chunkFor(STREAM_MEMORY_BUDGET_BYTES / this.#streams);
      if (buf.length > 2 * share) buf = pool.resize(buf, share);
      else if (pos > start && buf.length < share && pos + buf.length <= end) buf = pool.resize(buf, 2 * buf.length);
      reading = true;
      read(fh.fd, buf, 0, Math.min(buf.length, end - pos + 1), pos, onRead);
    };
    const onRead = (e: Error | null, n: number): void => {
      reading = false;
      if (gone) return finish();
      if (e !== null || n === 0) return fail(); // n = 0: the blob is shorter than its size
      pos += n;
      res.write(n === buf.length ? buf : buf.subarray(0, n), onWritten);
    };
    const onWritten = (e: Error | null | undefined): void => {
      if (e) fail();
      else next();
    };
    next();
  }
}
