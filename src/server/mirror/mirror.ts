/**
 * server/mirror/mirror — a verifying mirror (`custody serve --mirror URL…`): it pulls every channel/arch of its
 * upstream providers, verifies each release exactly as `custody fetch` does (client/provider-client
 * `fetchRelease`: trust root pinned by fingerprint, signature threshold, expiry, channel/arch, rollback against the
 * release it serves, `--require-log` inclusion proof, every artifact's size and SHA-256), and serves the
 * upstream-signed manifest, proof and artifacts byte for byte. A mirror never signs and has no log of its own.
 *
 * Trust boundary: upstreams are untrusted. Their channel index (server/mirror/channel-index) only says what to ask
 * for. A release is served only after fetchRelease returned it verified, its artifacts were copied into the blob
 * store (hashed again on the way in) and its record was written durably; until then the previous verified release
 * stays served. A release that fails verification (a tampered upstream, a rollback, another channel's manifest) is
 * refused and reported — log line, `/health`, audit event `mirror.refused` — and the previous release stays.
 * Without `requireLog` no proof is verified, so none is served (the proof route answers 404).
 *
 * Polling: every `intervalMs`, for each channel/arch, a conditional GET of the manifest (`If-None-Match` with the
 * served manifest's digest, the ETag custody serve gives it) on each upstream; only when one answers with
 * something else is the release fetched. An upstream that is down changes nothing that is served.
 *
 * Files (DATA is the mirror's data directory):
 * ```
 * DATA/mirror/root.json                           the upstream trust root (bytes that hash to the pinned fingerprint)
 * DATA/mirror/releases/<channel>/<arch>/current.json   {"manifest": "<text>", "proof"?: "<text>", "upstream": "<url>"}
 * DATA/mirror/staging/                            fetchRelease's output while a release is verified (then removed)
 * DATA/blobs/sha256/<aa>/<hex>                    artifacts (server/provider/blobs)
 * ```
 * Records are written with temp + fsync + rename, after every blob they name is stored, and re-verified at start.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fetchRelease } from '../../client/provider-client.ts';
import { constantTimeEqual } from '../../crypto/index.ts';
import { decodeHex } from '../../encoding/bytes.ts';
import { parseJsonObject, type JsonObject } from '../../encoding/json.ts';
import { printable } from '../../encoding/text.ts';
import { FormatError, IoError, VerificationError, isTrustError, toIoError } from '../../errors.ts';
import { openRegularFile, readFileIfExists, writeFileAtomic } from '../../io/files.ts';
import { httpGet, readCapped } from '../../io/http-client.ts';
import { verifyManifestInclusion } from '../../manifest/log.ts';
import { MANIFEST_MAX_BYTES, parseManifest } from '../../manifest/manifest.ts';
import { stateKey } from '../../manifest/state.ts';
import { verifyManifest } from '../../manifest/verify.ts';
import { MAX_PROOF_FILE_BYTES } from '../../note/proof.ts';
import { ROOT_MAX_BYTES, parseRoot, rootFingerprint, verifyPinnedRoot, type TrustRoot } from '../../trust/root.ts';
import { BlobStore } from '../provider/blobs.ts';
import type { ReleaseView } from '../provider/read-path.ts';
import { RELEASE_RECORD_MAX_BYTES, checkChannelName, listChannels, type Release } from '../provider/releases.ts';
import { CHANNEL_INDEX_MAX_BYTES, parseChannelIndex, type ChannelArch } from './channel-index.ts';

/** MIRROR_MAX_UPSTREAMS bounds the upstream URLs of one mirror (fetchRelease's own provider cap). */
export const MIRROR_MAX_UPSTREAMS = 16;
/** MIRROR_STALL_MS: an upstream silent this long is given up for this poll. */
const MIRROR_STALL_MS = 30_000;
/** MIRROR_FETCH_MS bounds the fetch and verification of one release (artifacts included). */
const MIRROR_FETCH_MS = 30 * 60_000;

/** MirrorOptions configures a {@link Mirror}. */
export interface MirrorOptions {
  dataDir: string;
  /** upstreams are the providers' base URLs (custody serve, or other mirrors). */
  upstreams: readonly string[];
  /** fingerprint pins the upstream trust root: `sha256:<hex>` of its /trust/root.json bytes. */
  fingerprint: string;
  /** requireLog: refuse releases without an inclusion proof under this log key (and serve the proof). */
  requireLog?: string | undefined;
  /** channels / archs, when given, restrict what is mirrored. */
  channels?: readonly string[] | undefined;
  archs?: readonly string[] | undefined;
  now: () => Date;
  logger: Logger;
  /** audit records what the mirror did (mirror.release, mirror.refused); awaited. */
  audit?: ((event: string, fields: JsonObject) => Promise<unknown>) | undefined;
  /** stallMs / fetchMs override the timeouts (tests). */
  stallMs?: number | undefined;
  fetchMs?: number | undefined;
}

/** MirrorProblem is the last refusal of a channel/arch (or of an upstream's index), reported on /health. */
export interface MirrorProblem {
  channel?: string;
  arch?: string;
  upstream?: string;
  code: string;
  message: string;
  at: string;
}

/** PollReport says what one poll did. */
export interface PollReport {
  /** updated are the channel/arch pairs that now serve a newer verified release. */
  updated: string[];
  /** unchanged answered 304 (or the same release). */
  unchanged: string[];
  /** refused failed verification (or could not be fetched); the previous release stays served. */
  refused: Array<{ key: string; code: string }>;
}

/** Mirror holds the verified releases a mirror serves and polls its upstreams for new ones. */
export class Mirror implements ReleaseView {
  readonly #o: MirrorOptions;
  readonly blobs: BlobStore;
  readonly #dir: string;
  readonly #current = new Map<string, Release & { upstream: string }>();
  readonly #problems = new Map<string, MirrorProblem>();
  #root: TrustRoot | undefined;
  #rootBytes: Uint8Array | undefined;
  #polling: Promise<PollReport> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastPoll: Date | undefined;
  #closed = false;

  constructor(o: MirrorOptions) {
    if (o.upstreams.length === 0 || o.upstreams.length > MIRROR_MAX_UPSTREAMS) {
      throw new FormatError('ERR_FORMAT_SCHEMA', `expected 1 to ${MIRROR_MAX_UPSTREAMS} upstream URLs, got ${o.upstreams.length}`);
    }
    if (!/^sha256:[0-9a-f]{64}$/.test(o.fingerprint)) {
      throw new FormatError('ERR_FORMAT_HEX', `expected a trust fingerprint sha256:<64 hex>, got ${JSON.stringify(o.fingerprint.slice(0, 80))}`);
    }
    for (const c of o.channels ?? []) checkChannelName(c, 'channel');
    for (const a of o.archs ?? []) checkChannelName(a, 'arch');
    this.#o = o;
    this.blobs = new BlobStore(join(o.dataDir, 'blobs'));
    this.#dir = join(o.dataDir, 'mirror');
  }

  get(channel: string, arch: string): Release | undefined {
    return this.#current.get(stateKey(channel, arch));
  }

  /** list returns every release served, sorted by channel then arch. */
  list(): Array<Release & { upstream: string }> {
    return [...this.#current.values()].sort((a, b) => (stateKey(a.channel, a.arch) < stateKey(b.channel, b.arch) ? -1 : 1));
  }

  /** rootBytes is the upstream root.json served at /trust/root.json (after {@link open}). */
  get rootBytes(): Uint8Array {
    if (this.#rootBytes === undefined) throw new Error('mirror: open() first');
    return this.#rootBytes;
  }

  /** status is what /health reports: the last poll and the standing refusals. */
  status(): { last_poll: string | null; releases: number; problems: MirrorProblem[] } {
    return { last_poll: this.#lastPoll?.toISOString() ?? null, releases: this.#current.size, problems: [...this.#problems.values()] };
  }

  /**
   * open gets the trust root (stored, or from the first upstream whose /trust/root.json hashes to the fingerprint)
   * and loads the stored records, each verified again; a record that no longer verifies is not served.
   */
  async open(): Promise<void> {
    await fsp.mkdir(join(this.#dir, 'releases'), { recursive: true, mode: 0o755 }).catch((e: unknown) => {
      throw toIoError(e, this.#dir, 'write');
    });
    await this.blobs.removeTemporaries();
    await fsp.rm(join(this.#dir, 'staging'), { recursive: true, force: true }).catch(() => undefined);
    const rootPath = join(this.#dir, 'root.json');
    const stored = await readFileIfExists(rootPath, { maxBytes: ROOT_MAX_BYTES, what: 'mirrored trust root' });
    if (stored !== undefined && this.#matches(stored)) this.#setRoot(stored);
    else {
      const bytes = await this.#fetchRoot();
      this.#setRoot(bytes);
      await writeFileAtomic(rootPath, bytes);
    }
    for (const { channel, arch } of await listChannels(join(this.#dir, 'releases'))) {
      const raw = await readFileIfExists(join(this.#dir, 'releases', channel, arch, 'current.json'), { maxBytes: RELEASE_RECORD_MAX_BYTES, what: 'mirror record' });
      if (raw === undefined) continue;
      try {
        const r = this.#checkRecord(channel, arch, raw);
        for (const a of r.manifest.manifest.artifacts.values()) {
          if ((await this.blobs.stat(a.hash.slice('sha256:'.length))) === undefined) throw new FormatError('ERR_PROVIDER_BLOB_MISSING', `${a.filename}: blob missing`);
        }
        this.#current.set(stateKey(channel, arch), r);
      } catch (e) {
        if (!isTrustError(e)) throw e;
        this.#o.logger.warn({ channel, arch, code: e.code }, 'stored mirror record no longer verifies; not served until fetched again');
      }
    }
  }

  #matches(bytes: Uint8Array): boolean {
    return constantTimeEqual(decodeHex(rootFingerprint(bytes).slice(7)), decodeHex(this.#o.fingerprint.slice(7)));
  }

  #setRoot(bytes: Uint8Array): void {
    this.#root = verifyPinnedRoot(parseRoot(bytes), { now: this.#o.now(), allowExpired: true });
    this.#rootBytes = bytes;
  }

  async #fetchRoot(): Promise<Uint8Array> {
    let last: unknown;
    for (const up of this.#o.upstreams) {
      const url = new URL('trust/root.json', base(up));
      try {
        const a = await httpGet(url, { stallMs: this.#o.stallMs ?? MIRROR_STALL_MS, deadline: Date.now() + (this.#o.stallMs ?? MIRROR_STALL_MS) });
        if (a.status !== 200) {
          a.close();
          throw new IoError('ERR_PROVIDER_RESPONSE', `${url.href}: HTTP ${a.status}`);
        }
        const bytes = await readCapped(a, ROOT_MAX_BYTES, url, 'trust root');
        if (!this.#matches(bytes)) {
          throw new VerificationError('ERR_PROVIDER_ROOT_FINGERPRINT', `${url.href} hashes to ${rootFingerprint(bytes)}, not the pinned ${this.#o.fingerprint}`);
        }
        return bytes;
      } catch (e) {
        last = e;
        this.#o.logger.warn({ upstream: url.href, code: isTrustError(e) ? e.code : undefined }, 'upstream trust root refused');
      }
    }
    throw last;
  }

  #checkRecord(channel: string, arch: string, raw: Uint8Array): Release & { upstream: string } {
    const rec = parseJsonObject(raw, { maxBytes: RELEASE_RECORD_MAX_BYTES, what: 'mirror record' });
    if (typeof rec.manifest !== 'string' || typeof rec.upstream !== 'string' || (rec.proof !== undefined && typeof rec.proof !== 'string')) {
      throw new FormatError('ERR_FORMAT_SCHEMA', `mirror record ${channel}/${arch}: expected manifest and upstream strings`);
    }
    const m = parseManifest(rec.manifest);
    if (m.channel !== channel || m.arch !== arch) throw new FormatError('ERR_FORMAT_SCHEMA', `mirror record ${channel}/${arch} holds ${m.channel}/${m.arch}`);
    const vm = verifyManifest(m, this.#root!, { now: this.#o.now() });
    let index = -1;
    let proofText = '';
    if (this.#o.requireLog !== undefined) {
      if (typeof rec.proof !== 'string') throw new FormatError('ERR_FORMAT_SCHEMA', `mirror record ${channel}/${arch} has no proof`);
      index = verifyManifestInclusion(vm, rec.proof, this.#o.requireLog).index;
      proofText = rec.proof;
    }
    return { channel, arch, manifest: vm, manifestText: rec.manifest, proofText, index, upstream: rec.upstream };
  }

  /** start polls now and then every intervalMs (polls never overlap). */
  start(intervalMs: number): void {
    const tick = (): void => {
      if (this.#closed) return;
      void this.poll()
        .catch((e: unknown) => this.#o.logger.error({ err: e }, 'mirror poll failed'))
        .finally(() => {
          if (!this.#closed) this.#timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  /** close stops polling and waits for a poll in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#polling?.catch(() => undefined);
  }

  /** poll asks every upstream for what it serves and mirrors what changed; a poll already running is joined. */
  poll(): Promise<PollReport> {
    this.#polling ??= this.#poll().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  async #poll(): Promise<PollReport> {
    const report: PollReport = { updated: [], unchanged: [], refused: [] };
    const wanted = new Map<string, ChannelArch>();
    for (const r of this.#current.values()) wanted.set(stateKey(r.channel, r.arch), { channel: r.channel, arch: r.arch });
    for (const up of this.#o.upstreams) {
      try {
        for (const ca of await this.#index(up)) wanted.set(stateKey(ca.channel, ca.arch), ca);
        this.#problems.delete(`upstream ${up}`);
      } catch (e) {
        if (!isTrustError(e)) throw e;
        this.#problem(`upstream ${up}`, { upstream: up, code: e.code, message: e.message }, e.kind !== 'io');
      }
    }
    for (const [key, ca] of wanted) {
      if (this.#closed) break;
      if (this.#o.channels !== undefined && !this.#o.channels.includes(ca.channel)) continue;
      if (this.#o.archs !== undefined && !this.#o.archs.includes(ca.arch)) continue;
      try {
        if (await this.#mirrorOne(ca)) report.updated.push(key);
        else report.unchanged.push(key);
        this.#problems.delete(key);
      } catch (e) {
        if (!isTrustError(e)) throw e;
        report.refused.push({ key, code: e.code });
        // An upstream that is merely unreachable is not news for the audit log; a refused release is.
        this.#problem(key, { channel: ca.channel, arch: ca.arch, code: e.code, message: e.message }, e.kind !== 'io');
      }
    }
    // A problem of a channel/arch no upstream lists any more, or of an upstream no longer configured, is over: the
    // list stays bounded by what the upstreams list now (an upstream naming new channels on every poll would grow it).
    for (const key of [...this.#problems.keys()]) {
      const upstream = key.startsWith('upstream ') ? key.slice('upstream '.length) : undefined;
      if (upstream !== undefined ? !this.#o.upstreams.includes(upstream) : !wanted.has(key)) this.#problems.delete(key);
    }
    this.#lastPoll = this.#o.now();
    return report;
  }

  #problem(key: string, p: Omit<MirrorProblem, 'at'>, refusal: boolean): void {
    const prev = this.#problems.get(key);
    this.#problems.set(key, { ...p, message: printable(p.message, 300), at: this.#o.now().toISOString() });
    const served = p.channel === undefined ? undefined : this.#current.get(key)?.manifest.manifest.sequence;
    const fields = { ...p, message: printable(p.message, 300), ...(served === undefined ? {} : { still_serving_sequence: served }) };
    if (refusal) this.#o.logger.error(fields, 'mirror refused what an upstream served; the previous verified release stays served');
    else this.#o.logger.warn(fields, 'mirror could not reach an upstream; the previous verified release stays served');
    // Audited once per change of code, not on every poll of a standing problem.
    if (refusal && prev?.code !== p.code) void this.#o.audit?.('mirror.refused', fields)?.catch(() => undefined);
  }

  async #index(up: string): Promise<ChannelArch[]> {
    const url = base(up);
    const stall = this.#o.stallMs ?? MIRROR_STALL_MS;
    const a = await httpGet(url, { stallMs: stall, deadline: Date.now() + stall, headers: { accept: 'application/json' } });
    if (a.status !== 200) {
      a.close();
      throw new IoError('ERR_PROVIDER_RESPONSE', `${url.href}: HTTP ${a.status}`);
    }
    return parseChannelIndex(await readCapped(a, CHANNEL_INDEX_MAX_BYTES, url, 'channel index'));
  }

  /** #changed asks each upstream whether its manifest differs from the one served (If-None-Match). */
  async #changed(ca: ChannelArch, cur: Release | undefined): Promise<boolean> {
    if (cur === undefined) return true;
    const stall = this.#o.stallMs ?? MIRROR_STALL_MS;
    for (const up of this.#o.upstreams) {
      const url = new URL(`${encodeURIComponent(ca.channel)}/${encodeURIComponent(ca.arch)}/manifest.json`, base(up));
      try {
        const a = await httpGet(url, { stallMs: stall, deadline: Date.now() + stall, headers: { 'if-none-match': `"${cur.manifest.digest}"` } });
        if (a.status === 304 || a.status === 404) {
          a.close();
          continue;
        }
        if (a.status !== 200) {
          a.close();
          continue;
        }
        // An upstream that ignores If-None-Match: compare the bytes.
        const body = await readCapped(a, MANIFEST_MAX_BYTES, url, 'manifest');
        if (!body.equals(Buffer.from(cur.manifestText, 'utf8'))) return true;
      } catch {
        /* unreachable: asked again next poll */
      }
    }
    return false;
  }

  /** #mirrorOne fetches and verifies a channel/arch when it changed upstream; true when a newer release is served. */
  async #mirrorOne(ca: ChannelArch): Promise<boolean> {
    const key = stateKey(ca.channel, ca.arch);
    const cur = this.#current.get(key);
    if (!(await this.#changed(ca, cur))) return false;
    const staging = join(this.#dir, 'staging', `${ca.channel}~${ca.arch}`);
    try {
      const r = await fetchRelease({
        providers: this.#o.upstreams,
        channel: ca.channel,
        arch: ca.arch,
        trust: { fingerprint: this.#o.fingerprint },
        // Rollback protection against the release served: an upstream can never take the mirror backwards.
        state: { manifests: new Map(cur === undefined ? [] : [[key, { sequence: cur.manifest.manifest.sequence, digest: cur.manifest.digest }]]) },
        requireLog: this.#o.requireLog,
        outputDir: staging,
        now: this.#o.now,
        timeoutMs: this.#o.stallMs ?? MIRROR_STALL_MS,
        totalTimeoutMs: this.#o.fetchMs ?? MIRROR_FETCH_MS,
      });
      if (cur !== undefined && r.manifest.digest === cur.manifest.digest) return false;
      // The verified files go into the blob store, hashed again; each must hash to what the manifest signs.
      for (const f of r.files) {
        const want = r.manifest.manifest.artifacts.get(f.name)!.hash.slice('sha256:'.length);
        const { fh, size } = await openRegularFile(join(staging, f.filename));
        try {
          const got = await this.blobs.importHandle(fh, size, size, f.filename);
          if (got.sha256 !== want) throw new VerificationError('ERR_ARTIFACT_HASH_MISMATCH', `${f.filename}: changed on disk after verification`);
        } finally {
          await fh.close();
        }
      }
      const manifestText = (await fsp.readFile(join(staging, 'manifest.json'))).toString('utf8');
      const proofText = this.#o.requireLog === undefined ? undefined : (await readFileIfExists(join(staging, 'manifest.json.tlog-proof'), { maxBytes: MAX_PROOF_FILE_BYTES, what: 'proof' }))?.toString('utf8');
      const record = JSON.stringify({ manifest: manifestText, ...(proofText === undefined ? {} : { proof: proofText }), upstream: r.manifestProvider }) + '\n';
      // Checked again from the very bytes about to be served (the record), then made durable, then served.
      const rel = this.#checkRecord(ca.channel, ca.arch, Buffer.from(record));
      const dir = join(this.#dir, 'releases', ca.channel, ca.arch);
      await fsp.mkdir(dir, { recursive: true, mode: 0o755 }).catch((e: unknown) => {
        throw toIoError(e, dir, 'write');
      });
      await writeFileAtomic(join(dir, 'current.json'), record);
      this.#current.set(key, rel);
      const m = rel.manifest.manifest;
      this.#o.logger.info({ channel: ca.channel, arch: ca.arch, sequence: m.sequence, upstream: r.manifestProvider }, 'mirrored a verified release');
      // The release is served from here on: an audit append that fails is logged as that, not as a refusal of it.
      try {
        await this.#o.audit?.('mirror.release', {
          channel: ca.channel,
          arch: ca.arch,
          version: m.version,
          sequence: m.sequence,
          digest: rel.manifest.digest,
          upstream: r.manifestProvider,
          artifacts: Object.fromEntries([...m.artifacts].map(([n, a]) => [n, a.hash])),
        });
      } catch (e) {
        this.#o.logger.error({ err: e, channel: ca.channel, arch: ca.arch, sequence: m.sequence }, 'mirrored release served, but its audit event could not be written');
      }
      return true;
    } finally {
      await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

function base(u: string): URL {
  let url: URL;
  try {
    url = new URL(u.endsWith('/') ? u : u + '/');
  } catch (e) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `expected an upstream URL such as http://host:8080, got ${JSON.stringify(u.slice(0, 200))}`, { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FormatError('ERR_FORMAT_SCHEMA', `expected an http or https URL, got ${url.protocol}`);
  return url;
}
