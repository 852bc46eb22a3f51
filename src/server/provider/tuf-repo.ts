/**
 * server/provider/tuf-repo — the provider's releases as one standard TUF repository (The Update Framework
 * specification v1.0.x: §4.4–4.6 metadata, §6.2 "consistent snapshots"), written by the leader into DATA/tuf/ and
 * served under `/tuf/` by every process (server/provider/read-path):
 * ```
 * /tuf/<N>.root.json               the daemon's trust root versions (DATA/trust/<N>.root.json), /tuf/root.json the current
 * /tuf/timestamp.json              timestamp role: online key, expires after 1 day by default
 * /tuf/<N>.snapshot.json           snapshot role: online key, 7 days
 * /tuf/<N>.targets.json            targets role: the manifest signing key (the root's targets role), 30 days
 * /tuf/targets/<channel>/<arch>/<sha256>.<filename>   a target's bytes (TUF §5.7.3: hash-prefixed basename)
 * ```
 * One repository for every channel/arch: target paths are `<channel>/<arch>/<filename>`, and each target's `custom`
 * names `channel`, `arch`, `sequence`, `version`, `artifact` (the manifest's artifact name) and `manifest_digest`.
 * We chose one repository over one per channel/arch because TUF clients are configured with one metadata URL and
 * one trusted root, and the root here is the daemon's single trust root.
 *
 * Versions only grow: each change of the target set, and each re-signing before expiry, writes version N+1, in
 * the order targets → snapshot → timestamp (temp + fsync + rename each), so a client that reads the new timestamp
 * finds every file it names. The last TUF_KEEP_VERSIONS snapshot and targets versions stay, for clients that read
 * the previous timestamp a moment ago. Re-signing: timestamp and snapshot when less than half their validity is
 * left, targets when less than a third is (checked at start, after each release and by the leader's timer).
 *
 * Trust boundary: nothing here is read from clients. At start the files in DATA/tuf/ are re-checked against the
 * current root (a rotation of the online keys, or a file edited by hand, makes the daemon re-sign everything under
 * higher versions); versions on disk, verified or not, only raise the next version.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Signer } from '../../crypto/index.ts';
import { canonicalizeTuf } from '../../encoding/canonical.ts';
import type { JsonObject } from '../../encoding/json.ts';
import { ConfigError, isTrustError, toIoError } from '../../errors.ts';
import { readFileIfExists, writeFileAtomic } from '../../io/files.ts';
import type { TrustRoot } from '../../trust/root.ts';
import {
  TUF_SNAPSHOT_MAX_BYTES,
  TUF_TARGETS_MAX_BYTES,
  TUF_TIMESTAMP_MAX_BYTES,
  checkMetaFile,
  createSnapshot,
  createTargets,
  createTimestamp,
  metaFileFor,
  parseTufMetadata,
  signTufMetadata,
  verifyTufSignatures,
  type TargetFile,
  type TufDocument,
} from '../../trust/tuf-metadata.ts';
import type { Release } from './releases.ts';

/** TufExpiry holds the validity of each role's metadata, in milliseconds. */
export interface TufExpiry {
  timestampMs: number;
  snapshotMs: number;
  targetsMs: number;
}

/** DEFAULT_TUF_EXPIRY: timestamp 1 day, snapshot 7 days, targets 30 days (like manifests). */
export const DEFAULT_TUF_EXPIRY: Readonly<TufExpiry> = { timestampMs: 86_400_000, snapshotMs: 7 * 86_400_000, targetsMs: 30 * 86_400_000 };
/** TUF_KEEP_VERSIONS old snapshot and targets versions are kept for clients between two reads. */
export const TUF_KEEP_VERSIONS = 16;
/** TUF_FILE_NAME matches the metadata files of DATA/tuf/ (what the read path serves from it). */
export const TUF_FILE_NAME = /^(?:timestamp|[1-9][0-9]{0,15}\.(?:snapshot|targets))\.json$/;

/** TufRepositoryOptions configures a {@link TufRepository}. */
export interface TufRepositoryOptions {
  /** dir is DATA/tuf (created 0755: everything in it is public). */
  dir: string;
  root: TrustRoot;
  /** signers: targets is the manifest signing key; snapshot and timestamp the online keys (server/provider/identity). */
  signers: { targets: Signer; snapshot: Signer; timestamp: Signer };
  expiry?: Partial<TufExpiry> | undefined;
  now: () => Date;
}

interface Signed<D extends TufDocument> {
  doc: D;
  bytes: Uint8Array;
}

interface Current {
  timestamp: Signed<Extract<TufDocument, { type: 'timestamp' }>>;
  snapshot: Signed<Extract<TufDocument, { type: 'snapshot' }>>;
  targets: Signed<Extract<TufDocument, { type: 'targets' }>>;
}

/** TufVersions are the versions currently served. */
export interface TufVersions {
  timestamp: number;
  snapshot: number;
  targets: number;
}

/** targetsOf lists the artifacts of every current release as TUF targets `<channel>/<arch>/<filename>`. */
export function targetsOf(releases: readonly Release[]): Map<string, TargetFile> {
  const out = new Map<string, TargetFile>();
  for (const r of releases) {
    const m = r.manifest.manifest;
    for (const [name, a] of m.artifacts) {
      out.set(`${r.channel}/${r.arch}/${a.filename}`, {
        length: a.size_bytes,
        hashes: { sha256: a.hash.replace(/^sha256:/, '') },
        custom: { channel: r.channel, arch: r.arch, sequence: m.sequence, version: m.version, artifact: name, manifest_digest: r.manifest.digest },
      });
    }
  }
  return out;
}

/** TufRepository keeps DATA/tuf/ in step with the releases; every method runs after the previous one finished. */
export class TufRepository {
  readonly #o: TufRepositoryOptions;
  readonly #expiry: TufExpiry;
  #cur: Current | undefined;
  /** #floor holds the highest version of each role found on disk or written (the next one is above it). */
  readonly #floor: TufVersions;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(o: TufRepositoryOptions, cur: Current | undefined, floor: TufVersions) {
    this.#o = o;
    this.#expiry = { ...DEFAULT_TUF_EXPIRY, ...o.expiry };
    this.#cur = cur;
    this.#floor = floor;
  }

  /** open reads DATA/tuf/ (creating it) and re-checks what is served under the current root. */
  static async open(o: TufRepositoryOptions): Promise<TufRepository> {
    try {
      await fsp.mkdir(o.dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw toIoError(e, o.dir, 'write');
    }
    const floor: TufVersions = { timestamp: 0, snapshot: 0, targets: 0 };
    let names: string[];
    try {
      names = await fsp.readdir(o.dir);
    } catch (e) {
      throw toIoError(e, o.dir, 'read');
    }
    for (const name of names) {
      const m = /^([1-9][0-9]{0,15})\.(snapshot|targets)\.json$/.exec(name);
      if (m) floor[m[2] as 'snapshot' | 'targets'] = Math.max(floor[m[2] as 'snapshot' | 'targets'], Number(m[1]));
    }
    let cur: Current | undefined;
    try {
      cur = await readCurrent(o.dir, o.root, o.now(), floor);
    } catch (e) {
      // A file that does not verify (the online keys rotated, an edit by hand): everything is signed again.
      if (!isTrustError(e)) throw e;
      cur = undefined;
    }
    return new TufRepository(o, cur, floor);
  }

  /** versions are the versions served now (undefined before the first sync). */
  get versions(): TufVersions | undefined {
    const c = this.#cur;
    return c === undefined ? undefined : { timestamp: c.timestamp.doc.version, snapshot: c.snapshot.doc.version, targets: c.targets.doc.version };
  }

  /** expiry is the validity of each role. */
  get expiry(): Readonly<TufExpiry> {
    return this.#expiry;
  }

  /**
   * sync makes DATA/tuf/ describe `releases`: new targets when the target set changed or targets near expiry, then
   * a new snapshot and timestamp as needed. Returns the roles written (empty when nothing was due).
   */
  sync(releases: readonly Release[]): Promise<string[]> {
    const next = this.#chain.then(() => this.#sync(releases));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** idle resolves when no sync is running. */
  idle(): Promise<unknown> {
    return this.#chain;
  }

  async #sync(releases: readonly Release[]): Promise<string[]> {
    const now = this.#o.now();
    const at = (ms: number): Date => new Date(Math.floor((now.getTime() + ms) / 1000) * 1000);
    const soon = (d: TufDocument, ms: number, part: number): boolean => d.expires.getTime() - now.getTime() < ms / part;
    const cur = this.#cur;
    const written: string[] = [];
    const want = targetsOf(releases);
    const wantJson = createTargets({ version: 1, expires: now, targets: want }).targets as JsonObject;
    const same = cur !== undefined && Buffer.from(canonicalizeTuf(cur.targets.doc.signed.targets as JsonObject)).equals(canonicalizeTuf(wantJson));

    let targets = cur?.targets;
    if (targets === undefined || !same || soon(targets.doc, this.#expiry.targetsMs, 3)) {
      const version = Math.max(this.#floor.targets, targets?.doc.version ?? 0) + 1;
      const text = signTufMetadata(createTargets({ version, expires: at(this.#expiry.targetsMs), targets: want }), [this.#o.signers.targets]);
      targets = await this.#write(`${version}.targets.json`, text, 'targets');
      this.#floor.targets = version;
      written.push('targets');
    }
    let snapshot = cur?.snapshot;
    if (snapshot === undefined || written.length > 0 || soon(snapshot.doc, this.#expiry.snapshotMs, 2)) {
      const version = Math.max(this.#floor.snapshot, snapshot?.doc.version ?? 0) + 1;
      const meta = new Map([['targets.json', metaFileFor(targets.bytes, targets.doc.version)]]);
      const text = signTufMetadata(createSnapshot({ version, expires: at(this.#expiry.snapshotMs), meta }), [this.#o.signers.snapshot]);
      snapshot = await this.#write(`${version}.snapshot.json`, text, 'snapshot');
      this.#floor.snapshot = version;
      written.push('snapshot');
    }
    let timestamp = cur?.timestamp;
    if (timestamp === undefined || written.length > 0 || soon(timestamp.doc, this.#expiry.timestampMs, 2)) {
      const version = Math.max(this.#floor.timestamp, timestamp?.doc.version ?? 0) + 1;
      const text = signTufMetadata(
        createTimestamp({ version, expires: at(this.#expiry.timestampMs), snapshot: metaFileFor(snapshot.bytes, snapshot.doc.version) }),
        [this.#o.signers.timestamp],
      );
      // The timestamp goes last: once it names the new snapshot, that snapshot and its targets are on disk.
      timestamp = await this.#write('timestamp.json', text, 'timestamp');
      this.#floor.timestamp = version;
      written.push('timestamp');
    }
    this.#cur = { timestamp, snapshot, targets };
    if (written.includes('snapshot')) await this.#prune();
    return written;
  }

  async #write<R extends 'timestamp' | 'snapshot' | 'targets'>(name: string, text: string, role: R): Promise<Signed<Extract<TufDocument, { type: R }>>> {
    const bytes = Buffer.from(text, 'utf8');
    // Check our own work as a client would before it is served.
    const doc = parseTufMetadata(bytes, role);
    verifyTufSignatures(doc, this.#o.root, role, this.#o.now());
    await writeFileAtomic(join(this.#o.dir, name), bytes, { mode: 0o644 });
    return { doc, bytes };
  }

  /** #prune removes snapshot and targets versions more than TUF_KEEP_VERSIONS behind the current ones. */
  async #prune(): Promise<void> {
    const v = this.versions;
    if (v === undefined) return;
    for (const name of await fsp.readdir(this.#o.dir)) {
      const m = /^([1-9][0-9]{0,15})\.(snapshot|targets)\.json$/.exec(name);
      if (m && Number(m[1]) <= v[m[2] as 'snapshot' | 'targets'] - TUF_KEEP_VERSIONS) await fsp.rm(join(this.#o.dir, name), { force: true });
    }
  }
}

/** readCurrent reads the served timestamp → snapshot → targets chain and checks it (signatures, versions, bytes). */
async function readCurrent(dir: string, root: TrustRoot, now: Date, floor: TufVersions): Promise<Current | undefined> {
  const tsBytes = await readFileIfExists(join(dir, 'timestamp.json'), { maxBytes: TUF_TIMESTAMP_MAX_BYTES, what: 'tuf timestamp' });
  if (tsBytes === undefined) return undefined;
  const ts = parseTufMetadata(tsBytes, 'timestamp');
  floor.timestamp = Math.max(floor.timestamp, ts.version);
  verifyTufSignatures(ts, root, 'timestamp', now);
  const snName = `${ts.snapshot.version}.snapshot.json`;
  const snBytes = await readFileIfExists(join(dir, snName), { maxBytes: TUF_SNAPSHOT_MAX_BYTES, what: 'tuf snapshot' });
  if (snBytes === undefined) return undefined;
  checkMetaFile(snBytes, ts.snapshot, snName);
  const sn = parseTufMetadata(snBytes, 'snapshot');
  verifyTufSignatures(sn, root, 'snapshot', now);
  const tm = sn.meta.get('targets.json')!;
  const tgName = `${tm.version}.targets.json`;
  const tgBytes = await readFileIfExists(join(dir, tgName), { maxBytes: TUF_TARGETS_MAX_BYTES, what: 'tuf targets' });
  if (tgBytes === undefined) return undefined;
  checkMetaFile(tgBytes, tm, tgName);
  const tg = parseTufMetadata(tgBytes, 'targets');
  verifyTufSignatures(tg, root, 'targets', now);
  return { timestamp: { doc: ts, bytes: tsBytes }, snapshot: { doc: sn, bytes: snBytes }, targets: { doc: tg, bytes: tgBytes } };
}

/** checkTufExpiry checks a role validity option: 1 minute to 1 year. */
export function checkTufExpiry(ms: number, what: string): number {
  if (!Number.isSafeInteger(ms) || ms < 60_000 || ms > 365 * 86_400_000) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${what}: expected 1 minute to 365 days, got ${ms} ms`);
  }
  return ms;
}
