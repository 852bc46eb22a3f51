/**
 * server/provider/releases — what the provider publishes: for each channel/arch, the current signed manifest and
 * its transparency-log inclusion proof (c2sp.org/tlog-proof@v1), built from blobs in the content-addressed store.
 *
 * A release is made in this order, so that nothing is ever served that was not signed AND logged:
 *  1. the manifest body is built from stored blobs (digests computed by the store, never supplied by a caller);
 *  2. it is signed with the daemon's key;
 *  3. its log entry (manifest/log `manifestLogEntry`) is appended to the daemon's own log and awaited until durable
 *     and covered by a signed checkpoint — the provider logs every manifest it signs;
 *  4. the manifest and its proof are written together, atomically, as one record (below), then served.
 * A crash after 3 and before 4 leaves a logged manifest that was never served (the next start signs a new one with a
 * higher sequence); a crash never leaves a served manifest without a proof, or a proof for another manifest.
 *
 * Record file (JSON, written with temp + fsync + rename): `DIR/<channel>/<arch>/current.json`, and the same record
 * as `DIR/<channel>/<arch>/history/<sequence>.json` for every release ever made:
 * ```
 * {"manifest": "<manifest.json text>", "proof": "<tlog-proof text>", "attestations": "<64 hex>"}
 * ```
 * `attestations` (optional) names a stored blob: the release's in-toto attestations, one DSSE envelope per line
 * (.intoto.jsonl), checked as well-formed when released and served at `/<channel>/<arch>/attestations`. The provider
 * does not vouch for them: clients verify each envelope and judge it under their own policy (`custody fetch
 * --policy`). The manifest does not cover them; they are signed by their own keys.
 * Sequences are strictly increasing per channel/arch: max(previous + 1, created_at in Unix seconds).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Signer } from '../../crypto/index.ts';
import { parseJsonObject, type JsonObject } from '../../encoding/json.ts';
import { formatTimestamp } from '../../encoding/time.ts';
import { ConfigError, FormatError, LimitError, isTrustError, toIoError } from '../../errors.ts';
import { readFileBounded, readFileIfExists, writeFileAtomic } from '../../io/files.ts';
import { parseJsonl } from '../../attest/dsse.ts';
import { manifestLogEntry, verifyManifestInclusion } from '../../manifest/log.ts';
import { MANIFEST_MAX_ARTIFACTS, MANIFEST_MAX_BYTES, formatManifest, isSafeName, parseManifest, toManifest, type Manifest } from '../../manifest/manifest.ts';
import { signManifest } from '../../manifest/sign.ts';
import { verifyManifest, type VerifiedManifest } from '../../manifest/verify.ts';
import { MAX_PROOF_FILE_BYTES, formatProofFile } from '../../note/proof.ts';
import type { TrustRoot } from '../../trust/root.ts';
import { SHA256_HEX, type BlobStore } from './blobs.ts';

/** ATTESTATIONS_FILENAME is the path segment serving a release's attestations: /<channel>/<arch>/attestations. */
export const ATTESTATIONS_FILENAME = 'attestations';
/** ATTESTATIONS_MAX_BYTES caps a release's attestations file (provenance, SBOMs of a few artifacts). */
export const ATTESTATIONS_MAX_BYTES = 16 * 1024 * 1024;
/** CHANNEL_NAME is what a channel or arch may be called: it becomes a URL segment and a directory name. */
export const CHANNEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** VERSION_TEXT bounds a release version string. */
export const VERSION_TEXT = /^[\x21-\x7e]{1,64}$/;
/** RESERVED_FILENAMES are served by the provider itself at /<channel>/<arch>/<name>: no artifact may use them. */
export const RESERVED_FILENAMES: ReadonlySet<string> = new Set(['manifest.json', 'manifest.json.tlog-proof', ATTESTATIONS_FILENAME]);
/** RELEASE_RECORD_MAX_BYTES caps a record file before it is read. */
export const RELEASE_RECORD_MAX_BYTES = MANIFEST_MAX_BYTES + MAX_PROOF_FILE_BYTES + 1024;

/** ManifestLog is the log the provider appends to (its own LogService in `custody serve`). */
export interface ManifestLog {
  add(entry: Uint8Array): Promise<{ index: number; checkpoint: string; proof: Uint8Array[] }>;
  /** vkey is the log's verifier key: every record is checked against it when loaded. */
  readonly vkey: string;
}

/** ReleaseArtifact names one blob in a release. */
export interface ReleaseArtifact {
  filename: string;
  sha256: string;
}

/** Release is one published channel/arch. */
export interface Release {
  channel: string;
  arch: string;
  manifest: VerifiedManifest;
  /** manifestText is the manifest.json served, proofText its tlog-proof. */
  manifestText: string;
  proofText: string;
  /** index is the manifest's position in the log. */
  index: number;
  /** attestations is the sha256 of the stored blob holding the release's .intoto.jsonl, if it has one. */
  attestations?: string | undefined;
}

/** ReleaseOptions tunes one release. */
export interface ReleaseOptions {
  version?: string | undefined;
  /** validityMs is how long the manifest is valid (default: the store's). */
  validityMs?: number | undefined;
  /** attestations is the sha256 of a stored blob holding the release's attestations (.intoto.jsonl). */
  attestations?: string | undefined;
}

/** ReleaseStoreOptions configures a {@link ReleaseStore}. */
export interface ReleaseStoreOptions {
  dir: string;
  blobs: BlobStore;
  signer: Signer;
  /**
   * previousSigners also sign every manifest during a key rotation (docs/keys.md, "Rotating the daemon's key"): the
   * old key still in the root, so clients that have not yet moved to the root naming the new key keep accepting.
   */
  previousSigners?: readonly Signer[];
  root: TrustRoot;
  log: ManifestLog;
  /** validityMs is the default manifest validity (30 days, Phase's default). */
  validityMs: number;
  now: () => Date;
  /** onRelease is told about every release made (audit). */
  onRelease?: ((r: Release, reason: string) => void | Promise<void>) | undefined;
}

function channelKey(channel: string, arch: string): string {
  return `${channel}/${arch}`;
}

/** checkChannelName refuses a channel or arch that cannot be a URL segment and directory name. */
export function checkChannelName(s: string, what: 'channel' | 'arch'): string {
  if (!CHANNEL_NAME.test(s)) {
    throw new FormatError('ERR_PROVIDER_CHANNEL_NAME', `expected a ${what} of 1–64 characters a-z 0-9 . _ - (starting with a letter or digit), got ${JSON.stringify(s.slice(0, 80))}`);
  }
  // A channel is the first path segment of its URLs: the daemon's own routes can never be one (it would be
  // published but never served).
  if (what === 'channel' && RESERVED_CHANNEL_NAMES.has(s)) {
    throw new FormatError('ERR_PROVIDER_CHANNEL_NAME', `the channel name ${JSON.stringify(s)} is reserved for the daemon's own routes`, {
      hint: `choose a channel name other than ${[...RESERVED_CHANNEL_NAMES].join(', ')}`,
    });
  }
  return s;
}

/** RESERVED_CHANNEL_NAMES are the first path segments of the daemon's own routes (v1: the signing API, server/signing; tuf: the TUF repository; ui and metrics: the dashboard). */
export const RESERVED_CHANNEL_NAMES: ReadonlySet<string> = new Set(['log', 'admin', 'audit', 'health', 'blobs', 'trust', 'v1', 'tuf', 'ui', 'metrics']);

/** ReleaseStore keeps, makes and serves releases. */
export class ReleaseStore {
  readonly #o: ReleaseStoreOptions;
  readonly #current = new Map<string, Release>();
  /** #locks serializes releases per channel/arch (a promise chain each). */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(o: ReleaseStoreOptions) {
    this.#o = o;
  }

  /**
   * load reads every current.json and checks it as a client would (signature under the root, inclusion proof under
   * the log key). A record that no longer verifies (e.g. expired, or a root rotation dropped the key) is not served;
   * its channel/arch is listed in the result so the caller re-signs it.
   */
  async load(): Promise<{ loaded: string[]; stale: Array<{ channel: string; arch: string; code: string }> }> {
    const loaded: string[] = [];
    const stale: Array<{ channel: string; arch: string; code: string }> = [];
    for (const { channel, arch } of await listChannels(this.#o.dir)) {
      const raw = await readCurrentRecord(this.#o.dir, channel, arch);
      if (raw === undefined) continue;
      try {
        const r = this.#checkRecord(channel, arch, raw);
        this.#current.set(channelKey(channel, arch), r);
        loaded.push(channelKey(channel, arch));
      } catch (e) {
        if (!isTrustError(e)) throw e;
        stale.push({ channel, arch, code: e.code });
        // Keep its (unverified) manifest for its artifact list and sequence — never to serve it.
        const m = unverifiedManifest(raw);
        if (m !== undefined) this.#stale.set(channelKey(channel, arch), m);
      }
    }
    return { loaded, stale };
  }

  /** #stale holds the parsed, UNVERIFIED manifests of records that failed load(): used for re-signing, not served. */
  readonly #stale = new Map<string, Manifest>();

  #checkRecord(channel: string, arch: string, raw: Uint8Array): Release {
    return checkReleaseRecord(channel, arch, raw, { root: this.#o.root, vkey: this.#o.log.vkey, now: this.#o.now() });
  }

  /** get returns the current release of a channel/arch, if any. */
  get(channel: string, arch: string): Release | undefined {
    return this.#current.get(channelKey(channel, arch));
  }

  /** list returns every current release, sorted by channel then arch. */
  list(): Release[] {
    return [...this.#current.values()].sort((a, b) => (channelKey(a.channel, a.arch) < channelKey(b.channel, b.arch) ? -1 : 1));
  }

  /** artifactsOf returns the artifact set of the current (or stale) release, for change detection. */
  artifactsOf(channel: string, arch: string): Map<string, ReleaseArtifact> | undefined {
    const key = channelKey(channel, arch);
    const m = this.#current.get(key)?.manifest.manifest ?? this.#stale.get(key);
    if (m === undefined) return undefined;
    const out = new Map<string, ReleaseArtifact>();
    for (const [name, a] of m.artifacts) out.set(name, { filename: a.filename, sha256: a.hash.replace(/^sha256:/, '') });
    return out;
  }

  /**
   * release signs, logs and publishes a new manifest for channel/arch listing `artifacts` (name → blob). Every blob
   * must be in the store. Releases of one channel/arch run one at a time, in call order.
   */
  release(channel: string, arch: string, artifacts: ReadonlyMap<string, ReleaseArtifact>, options: ReleaseOptions = {}, reason = 'release'): Promise<Release> {
    checkChannelName(channel, 'channel');
    checkChannelName(arch, 'arch');
    return this.#enqueue(channelKey(channel, arch), () => this.#release(channel, arch, artifacts, options, reason));
  }

  /** #enqueue runs fn after every earlier task of the same channel/arch (a promise chain per key). */
  #enqueue<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.#locks.set(key, next);
    return next;
  }

  /** idle resolves once every queued release has finished (for an orderly shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#locks.values()]);
  }

  async #release(channel: string, arch: string, artifacts: ReadonlyMap<string, ReleaseArtifact>, options: ReleaseOptions, reason: string): Promise<Release> {
    if (artifacts.size === 0) throw new FormatError('ERR_PROVIDER_RELEASE_EMPTY', `a release of ${channel}/${arch} needs at least one artifact`);
    if (artifacts.size > MANIFEST_MAX_ARTIFACTS) {
      throw new LimitError('ERR_LIMIT_COUNT', `${artifacts.size} artifacts, over the cap of ${MANIFEST_MAX_ARTIFACTS}`);
    }
    const now = this.#o.now();
    const created = new Date(Math.floor(now.getTime() / 1000) * 1000);
    if (options.version !== undefined && !VERSION_TEXT.test(options.version)) {
      throw new FormatError('ERR_PROVIDER_VERSION_INVALID', 'expected a version of 1–64 visible ASCII characters');
    }
    const body: JsonObject = {};
    const names = [...artifacts.keys()].sort();
    const filenames = new Set<string>();
    for (const name of names) {
      const a = artifacts.get(name)!;
      if (!isSafeName(name) || !isSafeName(a.filename)) {
        throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `artifact ${JSON.stringify(name)} (${JSON.stringify(a.filename)}) is not a safe name`);
      }
      if (RESERVED_FILENAMES.has(a.filename)) {
        throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `${JSON.stringify(a.filename)} is reserved: the manifest and its proof are served under that name`);
      }
      if (filenames.has(a.filename)) throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `two artifacts use the filename ${JSON.stringify(a.filename)}`);
      filenames.add(a.filename);
      const info = /^[0-9a-f]{64}$/.test(a.sha256) ? await this.#o.blobs.stat(a.sha256) : undefined;
      if (info === undefined) {
        throw new FormatError('ERR_PROVIDER_BLOB_MISSING', `artifact ${name.slice(0, 64)}: blob sha256:${a.sha256.slice(0, 64)} is not stored`, {
          hint: 'upload it first: PUT /admin/v1/blobs/sha256/<hex> (custody publish does this)',
        });
      }
      body[name] = { filename: a.filename, size_bytes: info.size, hash: `sha256:${a.sha256}`, download_url: `/blobs/sha256/${a.sha256}` };
    }
    if (options.attestations !== undefined) await this.#checkAttestations(options.attestations);
    const dir = join(this.#o.dir, channel, arch);
    try {
      await fsp.mkdir(join(dir, 'history'), { recursive: true, mode: 0o755 });
    } catch (e) {
      throw toIoError(e, dir, 'write');
    }
    // The sequence is reserved durably BEFORE the manifest is logged: a release that fails after logging (or a
    // crash) never lets a later one reuse its sequence, so the log never shows two bodies with one sequence.
    const prevSeq = Math.max(
      this.get(channel, arch)?.manifest.manifest.sequence ?? 0,
      this.#stale.get(channelKey(channel, arch))?.sequence ?? 0,
      await readSequenceMark(join(dir, SEQUENCE_MARK)),
    );
    const sequence = Math.max(prevSeq + 1, Math.floor(created.getTime() / 1000));
    await writeFileAtomic(join(dir, SEQUENCE_MARK), `${sequence}\n`);
    // No version given: the release is named by its sequence (a new artifact set never inherits the last version).
    const version = options.version ?? String(sequence);
    const validity = options.validityMs ?? this.#o.validityMs;
    const unsigned = toManifest({
      manifest_version: 1,
      version,
      channel,
      arch,
      created_at: formatTimestamp(created),
      expires_at: formatTimestamp(new Date(created.getTime() + validity)),
      sequence,
      artifacts: body,
      signatures: [],
    });
    let signed = signManifest(unsigned, this.#o.signer, { now: created });
    for (const prev of this.#o.previousSigners ?? []) signed = signManifest(signed, prev, { now: created });
    // Check our own work as a client will, before anything is logged or served.
    const vm = verifyManifest(signed, this.#o.root, { now });
    const entry = manifestLogEntry(signed);
    const r = await this.#o.log.add(entry);
    const proofText = formatProofFile({ index: r.index, proof: r.proof, checkpoint: r.checkpoint });
    const manifestText = formatManifest(signed);
    verifyManifestInclusion(vm, proofText, this.#o.log.vkey);
    const attestations = options.attestations;
    const record = JSON.stringify({ manifest: manifestText, proof: proofText, ...(attestations === undefined ? {} : { attestations }) }) + '\n';
    await writeFileAtomic(join(dir, 'history', `${sequence}.json`), record);
    await writeFileAtomic(join(dir, 'current.json'), record);
    const release: Release = { channel, arch, manifest: vm, manifestText, proofText, index: r.index, attestations };
    this.#current.set(channelKey(channel, arch), release);
    this.#stale.delete(channelKey(channel, arch));
    await this.#o.onRelease?.(release, reason);
    return release;
  }



  /**
   * #checkAttestations refuses an attestations blob that is missing, over ATTESTATIONS_MAX_BYTES, or not an
   * .intoto.jsonl of well-formed DSSE envelopes (ERR_DSSE_SCHEMA, …). Signatures are the clients' to judge.
   */
  async #checkAttestations(sha256: string): Promise<void> {
    const info = SHA256_HEX.test(sha256) ? await this.#o.blobs.stat(sha256) : undefined;
    if (info === undefined) {
      throw new FormatError('ERR_PROVIDER_BLOB_MISSING', `attestations: blob sha256:${sha256.slice(0, 64)} is not stored`, {
        hint: 'upload the .intoto.jsonl first: PUT /admin/v1/blobs/sha256/<hex> (custody promote does this)',
      });
    }
    if (info.size > ATTESTATIONS_MAX_BYTES) throw new LimitError('ERR_LIMIT_SIZE', `attestations are ${info.size} bytes, over the cap of ${ATTESTATIONS_MAX_BYTES}`);
    const bytes = await readFileBounded(this.#o.blobs.pathOf(sha256), { maxBytes: ATTESTATIONS_MAX_BYTES, what: 'attestations' });
    parseJsonl(bytes);
  }

  /**
   * refreshExpiring re-signs (same artifacts, same version, new sequence) every release whose remaining validity is
   * under a third of the default validity, so clients never see an expired manifest from a running provider. The
   * decision is taken inside each channel/arch queue, on the release current at that moment; overlapping calls
   * (a slow log) do not pile up.
   */
  async refreshExpiring(): Promise<Release[]> {
    if (this.#refreshing) return [];
    this.#refreshing = true;
    try {
      const out: Release[] = [];
      for (const listed of this.list()) {
        const r = await this.#enqueue(channelKey(listed.channel, listed.arch), async () => {
          const cur = this.get(listed.channel, listed.arch);
          if (cur === undefined) return undefined;
          const left = cur.manifest.manifest.expiresAt.getTime() - this.#o.now().getTime();
          if (left >= this.#o.validityMs / 3) return undefined;
          const artifacts = this.artifactsOf(cur.channel, cur.arch)!;
          return this.#release(cur.channel, cur.arch, artifacts, { version: cur.manifest.manifest.version, attestations: cur.attestations }, 'refresh');
        });
        if (r !== undefined) out.push(r);
      }
      return out;
    } finally {
      this.#refreshing = false;
    }
  }

  #refreshing = false;

  /** importState is what the incoming directory last released for channel/arch (server/provider/incoming). */
  async importState(channel: string, arch: string): Promise<ImportState | undefined> {
    const raw = await readFileIfExists(join(this.#o.dir, channel, arch, IMPORT_STATE), { maxBytes: RELEASE_RECORD_MAX_BYTES, what: 'import state' });
    if (raw === undefined) return undefined;
    const j = parseJsonObject(raw, { maxBytes: RELEASE_RECORD_MAX_BYTES, what: 'import state' });
    const arts = j.artifacts;
    if (typeof arts !== 'object' || arts === null || Array.isArray(arts)) return undefined;
    const artifacts = new Map<string, ReleaseArtifact>();
    for (const [name, v] of Object.entries(arts)) {
      const a = v as JsonObject;
      if (typeof a.filename === 'string' && typeof a.sha256 === 'string') artifacts.set(name, { filename: a.filename, sha256: a.sha256 });
    }
    return { artifacts, version: typeof j.version === 'string' ? j.version : undefined, attestations: typeof j.attestations === 'string' ? j.attestations : undefined };
  }

  /** saveImportState records what the incoming directory released (written atomically). */
  async saveImportState(channel: string, arch: string, state: ImportState): Promise<void> {
    const artifacts: JsonObject = {};
    for (const [name, a] of [...state.artifacts].sort(([x], [y]) => (x < y ? -1 : 1))) artifacts[name] = { filename: a.filename, sha256: a.sha256 };
    const doc: JsonObject = {
      artifacts,
      ...(state.version === undefined ? {} : { version: state.version }),
      ...(state.attestations === undefined ? {} : { attestations: state.attestations }),
    };
    await writeFileAtomic(join(this.#o.dir, channel, arch, IMPORT_STATE), JSON.stringify(doc) + '\n');
  }
}

/**
 * checkReleaseRecord parses a release record and checks it as a client would: the manifest is for channel/arch,
 * signed under `root`, and its inclusion proof verifies under the log key `vkey`. Throws the coded error otherwise.
 */
export function checkReleaseRecord(channel: string, arch: string, raw: Uint8Array, check: { root: TrustRoot; vkey: string; now: Date }): Release {
  const rec = parseJsonObject(raw, { maxBytes: RELEASE_RECORD_MAX_BYTES, what: 'release record' });
  const manifestText = rec.manifest;
  const proofText = rec.proof;
  if (typeof manifestText !== 'string' || typeof proofText !== 'string') {
    throw new FormatError('ERR_FORMAT_SCHEMA', `release record ${channel}/${arch}: expected manifest and proof strings`);
  }
  const m = parseManifest(manifestText);
  if (m.channel !== channel || m.arch !== arch) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `release record ${channel}/${arch} holds a manifest for ${m.channel}/${m.arch}`);
  }
  const attestations = rec.attestations;
  if (attestations !== undefined && (typeof attestations !== 'string' || !SHA256_HEX.test(attestations))) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `release record ${channel}/${arch}: attestations must name a blob (64 hex)`);
  }
  const vm = verifyManifest(m, check.root, { now: check.now });
  const logged = verifyManifestInclusion(vm, proofText, check.vkey);
  return { channel, arch, manifest: vm, manifestText, proofText, index: logged.index, attestations };
}

/** readCurrentRecord reads the bytes of DIR/<channel>/<arch>/current.json (undefined when there is none). */
export function readCurrentRecord(dir: string, channel: string, arch: string): Promise<Uint8Array | undefined> {
  return readFileIfExists(join(dir, channel, arch, 'current.json'), { maxBytes: RELEASE_RECORD_MAX_BYTES, what: 'release record' });
}

/** listChannels lists the channel/arch directories of a release directory whose names are valid. */
export async function listChannels(dir: string): Promise<Array<{ channel: string; arch: string }>> {
  const out: Array<{ channel: string; arch: string }> = [];
  for (const channel of await listDirs(dir)) {
    if (!CHANNEL_NAME.test(channel)) continue;
    for (const arch of await listDirs(join(dir, channel))) if (CHANNEL_NAME.test(arch)) out.push({ channel, arch });
  }
  return out;
}

/** ImportState is the artifact set and version the incoming directory last released. */
export interface ImportState {
  artifacts: ReadonlyMap<string, ReleaseArtifact>;
  version: string | undefined;
  /** attestations is the sha256 of the attestations blob the directory's *.intoto.jsonl files made, if any. */
  attestations?: string | undefined;
}

/** SEQUENCE_MARK holds the highest sequence ever reserved for a channel/arch; IMPORT_STATE the last incoming import. */
const SEQUENCE_MARK = 'sequence';
const IMPORT_STATE = 'incoming.json';

async function readSequenceMark(path: string): Promise<number> {
  const raw = await readFileIfExists(path, { maxBytes: 64, what: 'sequence mark' });
  if (raw === undefined) return 0;
  const t = raw.toString('latin1').trim();
  if (!/^(0|[1-9][0-9]{0,15})$/.test(t) || !Number.isSafeInteger(Number(t))) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `${path}: expected a decimal sequence number`);
  }
  return Number(t);
}

/** unverifiedManifest parses the manifest of a release record without verifying it (undefined if malformed). */
function unverifiedManifest(raw: Uint8Array): Manifest | undefined {
  try {
    const rec = parseJsonObject(raw, { maxBytes: RELEASE_RECORD_MAX_BYTES });
    return typeof rec.manifest === 'string' ? parseManifest(rec.manifest) : undefined;
  } catch {
    return undefined;
  }
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw toIoError(e, dir, 'read');
  }
}

/** assertValidity checks a validity period option (1 minute to 1 year). */
export function assertValidity(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 60_000 || ms > 365 * 86_400_000) {
    throw new ConfigError('ERR_CONFIG_INVALID', `manifest validity: expected 1 minute to 365 days, got ${ms} ms`);
  }
  return ms;
}
