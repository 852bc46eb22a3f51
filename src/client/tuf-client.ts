/**
 * client/tuf-client — `custody fetch --tuf URL`: a TUF client (The Update Framework specification v1.0.x, §5
 * "Detailed client workflow") of the repository `custody serve` publishes under `/tuf/` (server/provider/tuf-repo),
 * or of any TUF repository with consistent snapshots whose targets name `<channel>/<arch>/<file>` with `custom`
 * channel, arch and sequence.
 *
 * Trust comes only from the caller: a pinned root (`--trust`), or the SHA-256 fingerprint of the repository's
 * `root.json` (bootstrap), and then the persistent metadata directory (`--state DIR`: root.json, timestamp.json,
 * snapshot.json, targets.json — the newest trusted of each, written atomically once verified). The repository
 * supplies bytes only; each step is the spec's:
 *  §5.3 root: fetch <N+1>.root.json while it exists (at most MAX_ROOT_STEPS), each signed by a threshold of the old
 *       and of the new root role, version N+1 (trust/root `updateRoot`); the final root must be unexpired (freeze
 *       attack); when the timestamp or snapshot keys rotated, the trusted timestamp/snapshot are dropped (§5.3.11).
 *  §5.4 timestamp: signed by the timestamp role; not older than the trusted one (an equal version keeps the trusted
 *       copy); the snapshot version it names not older than the trusted timestamp's; unexpired.
 *  §5.5 snapshot: <V>.snapshot.json, at most the length and with the hash the timestamp gives; signed by the
 *       snapshot role; exactly the version the timestamp names (mix-and-match); no targets file rolled back or
 *       removed since the trusted snapshot; unexpired.
 *  §5.6 targets: <V>.targets.json, length and hash as the snapshot gives; signed by the targets role; exactly the
 *       version the snapshot names; unexpired.
 *  §5.7 targets of channel/arch: downloaded from `targets/<dir>/<sha256>.<basename>` (consistent snapshots), refused
 *       beyond the signed length, hashed while streaming, and renamed into the output directory only when length
 *       and SHA-256 match (constant-time compare); nothing unverified is left in it.
 * Every body is read with a cap (root 1 MiB, timestamp 16 KiB, snapshot 2 MB, targets 5 MB, or less when the
 * referring metadata gives a length); redirects are refused. Delegated targets are not followed.
 */
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { constantTimeEqual, createMultiHasher, sha256 } from '../crypto/index.ts';
import { decodeHex } from '../encoding/bytes.ts';
import { FormatError, IoError, PolicyError, UsageError, VerificationError, isTrustError, toIoError } from '../errors.ts';
import { parseJsonObject } from '../encoding/json.ts';
import { readFileIfExists, syncDir, tempPath, writeFileAtomic, writevFully } from '../io/files.ts';
import { bodyError, httpGet, readCapped, type HttpAnswer } from '../io/http-client.ts';
import { ROOT_MAX_BYTES, formatRoot, parseRoot, rootFingerprint, updateRoot, verifyPinnedRoot, type TrustRoot } from '../trust/root.ts';
import {
  TUF_SNAPSHOT_MAX_BYTES,
  TUF_TARGETS_MAX_BYTES,
  TUF_TIMESTAMP_MAX_BYTES,
  checkMetaFile,
  parseTufMetadata,
  requireTufUnexpired,
  verifyTufSignatures,
  type SnapshotDocument,
  type TargetFile,
  type TargetsDocument,
  type TimestampDocument,
} from '../trust/tuf-metadata.ts';
import { providerError } from './provider-client.ts';

/** MAX_ROOT_STEPS bounds the root versions one run walks forward (tuf-js: maxRootRotations 256). */
export const TUF_MAX_ROOT_STEPS = 256;
/** WRITE_BATCH_BYTES: a download is written in batches of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** ERROR_BODY_MAX_BYTES caps a refusal's body. */
const ERROR_BODY_MAX_BYTES = 64 * 1024;

/** TufFetchOptions configures {@link tufFetch}. */
export interface TufFetchOptions {
  /** url is the repository's metadata base (`http://host:8080/tuf`). */
  url: string;
  /** targetsUrl is where targets are (default `<url>/targets`). */
  targetsUrl?: string | undefined;
  channel: string;
  arch: string;
  /** trust: a pinned root (verified by the caller; may be expired, see §5.3), or the fingerprint of `<url>/root.json`. */
  trust: { root: TrustRoot } | { fingerprint: string };
  /** stateDir keeps the trusted metadata between runs (created 0700). */
  stateDir: string;
  outputDir: string;
  /** artifacts limits the download to these file names (default: every target of channel/arch). */
  artifacts?: readonly string[] | undefined;
  now: () => Date;
  /** stallMs abandons a request silent this long (default 60 s); totalMs bounds the run (default 300 s). */
  stallMs?: number | undefined;
  totalMs?: number | undefined;
}

/** TufFetched reports a verified fetch. */
export interface TufFetched {
  channel: string;
  arch: string;
  /** sequence and version are the targets' `custom` fields (the release they come from). */
  sequence: number;
  version: string | undefined;
  versions: { root: number; timestamp: number; snapshot: number; targets: number };
  files: Array<{ target: string; filename: string; size: number; sha256: string }>;
  requests: number;
}

const STATE = { root: 'root.json', timestamp: 'timestamp.json', snapshot: 'snapshot.json', targets: 'targets.json', bootstrap: 'bootstrap.json' } as const;
/** BOOTSTRAP_MAX_BYTES caps the state's bootstrap record (a URL and a fingerprint). */
const BOOTSTRAP_MAX_BYTES = 16 * 1024;
/** ROOT_FINGERPRINT is the form of a bootstrap fingerprint: the SHA-256 of the repository's root.json. */
const ROOT_FINGERPRINT = /^sha256:[0-9a-f]{64}$/;

/** Requests of one run: stall timer per request, one deadline for all; no retries (a TUF run is cheap to repeat). */
class Http {
  requests = 0;
  readonly #stallMs: number;
  readonly #deadline: number;
  constructor(stallMs: number, totalMs: number) {
    this.#stallMs = stallMs;
    this.#deadline = Date.now() + totalMs;
  }
  async open(url: URL): Promise<HttpAnswer> {
    this.requests++;
    return httpGet(url, { stallMs: this.#stallMs, deadline: this.#deadline });
  }
  /** get returns a 200 body (at most maxBytes), undefined for 404 when `optional`, or throws. */
  async get(url: URL, maxBytes: number, what: string, optional = false): Promise<Buffer | undefined> {
    const a = await this.open(url);
    if (a.status === 404 && optional) {
      a.close();
      return undefined;
    }
    if (a.status !== 200) {
      const body = await readCapped(a, ERROR_BODY_MAX_BYTES, url, 'error answer').catch(() => new Uint8Array());
      throw providerError(url.href, a.status, body);
    }
    return readCapped(a, maxBytes, url, what);
  }
}

function base(u: string): URL {
  let url: URL;
  try {
    url = new URL(u.endsWith('/') ? u : u + '/');
  } catch (e) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `expected a TUF repository URL such as http://host:8080/tuf, got ${JSON.stringify(u.slice(0, 200))}`, { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FormatError('ERR_FORMAT_SCHEMA', `expected an http or https URL, got ${url.protocol}`);
  return url;
}

/** trustedOr parses a state file and returns it only if it still verifies under `root` (else it is ignored). */
function trustedOr<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (isTrustError(e)) return undefined;
    throw e;
  }
}

function sameKeys(a: TrustRoot, b: TrustRoot, role: 'timestamp' | 'snapshot'): boolean {
  const x = [...a.roles[role].keyIds].sort();
  const y = [...b.roles[role].keyIds].sort();
  return a.roles[role].threshold === b.roles[role].threshold && x.length === y.length && x.every((k, i) => k === y[i]);
}

/** tufFetch runs the client workflow of the module doc and downloads channel/arch's targets into outputDir. */
export async function tufFetch(o: TufFetchOptions): Promise<TufFetched> {
  const repo = base(o.url);
  const targetsBase = base(o.targetsUrl ?? new URL('targets', repo).href);
  // Checked on every run, not only on a first one: a mistyped pin must not pass unnoticed while the state has a root.
  if ('fingerprint' in o.trust && !ROOT_FINGERPRINT.test(o.trust.fingerprint)) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `expected a root fingerprint sha256:<64 lowercase hex>, got ${JSON.stringify(o.trust.fingerprint.slice(0, 80))}`);
  }
  const http = new Http(o.stallMs ?? 60_000, o.totalMs ?? 300_000);
  const now = o.now();
  const state = o.stateDir;
  try {
    await fsp.mkdir(state, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw toIoError(e, state, 'write');
  }
  const readState = (name: string, max: number): Promise<Buffer | undefined> => readFileIfExists(join(state, name), { maxBytes: max, what: `tuf state ${name}` });
  const persist = (name: string, bytes: Uint8Array): Promise<void> => writeFileAtomic(join(state, name), bytes, { mode: 0o644 });

  // The state belongs to one repository and one bootstrap: its record (written at first use) must match this run.
  const fingerprint = 'fingerprint' in o.trust ? o.trust.fingerprint : null;
  const bootstrap = await readBootstrap(state);
  if (bootstrap !== undefined) {
    if (bootstrap.url !== repo.href) {
      throw new PolicyError('ERR_TUF_STATE_MISMATCH', `the state directory ${state} was made for ${printableUrl(bootstrap.url)}, not ${printableUrl(repo.href)}`);
    }
    if (fingerprint !== null && bootstrap.fingerprint !== fingerprint) {
      throw new PolicyError(
        'ERR_TUF_STATE_MISMATCH',
        `the state directory ${state} was bootstrapped ${bootstrap.fingerprint === null ? 'from a pinned root (--trust)' : `with --root-fingerprint ${bootstrap.fingerprint}`}, not ${fingerprint}`,
      );
    }
  }

  // §5.2: the trusted root — the state's (it was verified when written) unless the pin is newer.
  let root: TrustRoot | undefined;
  const stateRoot = await readState(STATE.root, ROOT_MAX_BYTES);
  if (stateRoot !== undefined) root = trustedOr(() => verifyPinnedRoot(parseRoot(stateRoot), { now, allowExpired: true }));
  if (root !== undefined && bootstrap === undefined && fingerprint !== null && rootFingerprint(stateRoot!) !== fingerprint) {
    // A state made before bootstrap records existed: its root must be the pinned one (else it came from elsewhere).
    throw new PolicyError('ERR_TUF_STATE_MISMATCH', `the state directory ${state} holds a root whose fingerprint is ${rootFingerprint(stateRoot!)}, not ${fingerprint}`);
  }
  if ('root' in o.trust) {
    if (root === undefined || root.version < o.trust.root.version) {
      root = o.trust.root;
      await persist(STATE.root, Buffer.from(formatRoot(root)));
    }
  } else if (root === undefined) {
    const fp = o.trust.fingerprint;
    const url = new URL('root.json', repo);
    const bytes = (await http.get(url, ROOT_MAX_BYTES, 'root'))!;
    if (!constantTimeEqual(sha256(bytes), decodeHex(fp.slice(7), 32))) {
      throw new VerificationError('ERR_PROVIDER_ROOT_FINGERPRINT', `${url.href} hashes to ${rootFingerprint(bytes)}, not the pinned ${fp}`);
    }
    root = verifyPinnedRoot(parseRoot(bytes), { now, allowExpired: true });
    await persist(STATE.root, bytes);
  }
  if (bootstrap === undefined) await persist(STATE.bootstrap, Buffer.from(JSON.stringify({ url: repo.href, fingerprint }) + '\n'));
  const first = root;

  // §5.3: walk root versions forward; each is signed by the old and the new root role.
  for (let step = 0; step < TUF_MAX_ROOT_STEPS; step++) {
    const url = new URL(`${root.version + 1}.root.json`, repo);
    const bytes = await http.get(url, ROOT_MAX_BYTES, 'root', true);
    if (bytes === undefined) break;
    root = updateRoot(root, parseRoot(bytes), now);
    await persist(STATE.root, bytes);
  }
  // §5.3.10: the final root must be current (a freeze attack serves an old repository forever).
  verifyPinnedRoot(root, { now });
  // §5.3.11: new timestamp or snapshot keys make the trusted copies of those roles worthless for rollback checks.
  const rotated = !sameKeys(first, root, 'timestamp') || !sameKeys(first, root, 'snapshot');
  if (rotated) {
    await fsp.rm(join(state, STATE.timestamp), { force: true });
    await fsp.rm(join(state, STATE.snapshot), { force: true });
  }
  const trustedRoot = root;

  // §5.4: timestamp.
  const oldTsBytes = await readState(STATE.timestamp, TUF_TIMESTAMP_MAX_BYTES);
  const oldTs = oldTsBytes === undefined ? undefined : trustedOr(() => verified(parseTufMetadata(oldTsBytes, 'timestamp'), trustedRoot, 'timestamp', now));
  const tsBytes = (await http.get(new URL('timestamp.json', repo), TUF_TIMESTAMP_MAX_BYTES, 'timestamp'))!;
  let ts = verified(parseTufMetadata(tsBytes, 'timestamp'), trustedRoot, 'timestamp', now);
  if (oldTs !== undefined) {
    rollback('timestamp', ts.version, oldTs.version);
    rollback('snapshot (named by the timestamp)', ts.snapshot.version, oldTs.snapshot.version);
    // §5.4.3.1: an equal version is not news: the trusted copy stays.
    if (ts.version === oldTs.version) ts = oldTs;
  }
  requireTufUnexpired(ts, now);
  if (ts !== oldTs) await persist(STATE.timestamp, tsBytes);

  // §5.5: snapshot, exactly the version and bytes the timestamp names.
  const oldSnBytes = await readState(STATE.snapshot, TUF_SNAPSHOT_MAX_BYTES);
  const oldSn = oldSnBytes === undefined ? undefined : trustedOr(() => verified(parseTufMetadata(oldSnBytes, 'snapshot'), trustedRoot, 'snapshot', now));
  const snName = `${ts.snapshot.version}.snapshot.json`;
  const snBytes = (await http.get(new URL(snName, repo), Math.min(ts.snapshot.length ?? TUF_SNAPSHOT_MAX_BYTES, TUF_SNAPSHOT_MAX_BYTES), 'snapshot'))!;
  checkMetaFile(snBytes, ts.snapshot, snName);
  const sn = verified(parseTufMetadata(snBytes, 'snapshot'), trustedRoot, 'snapshot', now);
  mixAndMatch('snapshot', sn.version, ts.snapshot.version, 'the timestamp');
  if (oldSn !== undefined) {
    // §5.5.5: no targets metadata rolled back or dropped since the trusted snapshot.
    for (const [name, m] of oldSn.meta) {
      const n = sn.meta.get(name);
      if (n === undefined) throw new PolicyError('ERR_TUF_ROLLBACK', `snapshot version ${sn.version} no longer lists ${name}`);
      rollback(name, n.version, m.version);
    }
  }
  requireTufUnexpired(sn, now);
  await persist(STATE.snapshot, snBytes);

  // §5.6: top-level targets, exactly the version and bytes the snapshot names.
  const tm = sn.meta.get('targets.json')!;
  const tgName = `${tm.version}.targets.json`;
  const tgBytes = (await http.get(new URL(tgName, repo), Math.min(tm.length ?? TUF_TARGETS_MAX_BYTES, TUF_TARGETS_MAX_BYTES), 'targets'))!;
  checkMetaFile(tgBytes, tm, tgName);
  const tg: TargetsDocument = verified(parseTufMetadata(tgBytes, 'targets'), trustedRoot, 'targets', now);
  mixAndMatch('targets', tg.version, tm.version, 'the snapshot');
  requireTufUnexpired(tg, now);
  await persist(STATE.targets, tgBytes);

  // §5.7: the targets of channel/arch.
  const picked = pickTargets(tg, o.channel, o.arch, o.artifacts);
  try {
    await fsp.mkdir(o.outputDir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw toIoError(e, o.outputDir, 'write');
  }
  // Every target lands in a fresh hidden staging directory of the output directory (mkdir refuses an existing name,
  // so nothing planted there is followed) and is renamed into place only when all of them verified: a failed run
  // leaves the previous release whole, never a mix of two.
  const staging = tempPath(o.outputDir, 'custody-tuf');
  try {
    await fsp.mkdir(staging, { mode: 0o700 });
  } catch (e) {
    throw toIoError(e, staging, 'write');
  }
  const files: TufFetched['files'] = [];
  try {
    const staged: Array<{ part: string; dest: string }> = [];
    for (const [path, t, filename] of picked) {
      const hex = t.hashes.sha256!;
      const segments = path.split('/');
      segments[segments.length - 1] = `${hex}.${segments[segments.length - 1]!}`;
      // TUF §5.7.3 (consistent snapshots): the basename is prefixed by the target's hash.
      const url = new URL(segments.map(encodeURIComponent).join('/'), targetsBase);
      const part = join(staging, `${staged.length}.part`);
      await downloadTarget(http, url, part, t.length, hex);
      staged.push({ part, dest: join(o.outputDir, filename) });
      files.push({ target: path, filename, size: t.length, sha256: hex });
    }
    try {
      for (const f of staged) await fsp.rename(f.part, f.dest);
      await syncDir(o.outputDir);
    } catch (e) {
      throw toIoError(e, o.outputDir, 'write');
    }
  } finally {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
  const custom = picked[0]![1].custom!;
  return {
    channel: o.channel,
    arch: o.arch,
    sequence: custom.sequence as number,
    version: typeof custom.version === 'string' ? custom.version : undefined,
    versions: { root: trustedRoot.version, timestamp: ts.version, snapshot: sn.version, targets: tg.version },
    files,
    requests: http.requests,
  };
}

/** readBootstrap reads the state's record of its repository and bootstrap fingerprint (undefined before first use). */
async function readBootstrap(state: string): Promise<{ url: string; fingerprint: string | null } | undefined> {
  const raw = await readFileIfExists(join(state, STATE.bootstrap), { maxBytes: BOOTSTRAP_MAX_BYTES, what: `tuf state ${STATE.bootstrap}` });
  if (raw === undefined) return undefined;
  const j = parseJsonObject(raw, { maxBytes: BOOTSTRAP_MAX_BYTES, maxDepth: 2, what: `tuf state ${STATE.bootstrap}` });
  const fp = j['fingerprint'];
  if (typeof j['url'] !== 'string' || !(fp === null || (typeof fp === 'string' && ROOT_FINGERPRINT.test(fp)))) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `${join(state, STATE.bootstrap)}: expected {"url": "…", "fingerprint": "sha256:…" | null}`);
  }
  return { url: j['url'], fingerprint: fp };
}

function printableUrl(u: string): string {
  return JSON.stringify(u.slice(0, 200));
}

function verified<D extends TimestampDocument | SnapshotDocument | TargetsDocument>(doc: D, root: TrustRoot, role: D['type'], now: Date): D {
  verifyTufSignatures(doc, root, role, now);
  return doc;
}

function rollback(what: string, got: number, trusted: number): void {
  if (got < trusted) {
    throw new PolicyError('ERR_TUF_ROLLBACK', `${what} version ${got} is older than the trusted version ${trusted}`, { details: { got, trusted } });
  }
}

function mixAndMatch(role: string, got: number, named: number, by: string): void {
  if (got !== named) {
    throw new VerificationError('ERR_TUF_MIX_AND_MATCH', `${role} version ${got} is not the version ${named} that ${by} names`, { details: { got, named } });
  }
}

/**
 * pickTargets returns the targets `<channel>/<arch>/<file>` whose custom fields name that channel and arch, all from
 * one sequence (the highest), as [path, target, filename]. Throws ERR_TUF_TARGET_NOT_FOUND when there are none (or a
 * wanted file is missing) and ERR_TUF_SCHEMA for a target without sha256 or sequence, or named '', '.' or '..'.
 * Exported for tests.
 */
export function pickTargets(tg: TargetsDocument, channel: string, arch: string, wanted: readonly string[] | undefined): Array<[string, TargetFile, string]> {
  const prefix = `${channel}/${arch}/`;
  const all: Array<[string, TargetFile, string]> = [];
  for (const [path, t] of tg.targets) {
    if (!path.startsWith(prefix) || path.slice(prefix.length).includes('/')) continue;
    // The name becomes a path in the output directory: '', '.' and '..' would be the directory or its parent.
    if (['', '.', '..'].includes(path.slice(prefix.length))) throw new FormatError('ERR_TUF_SCHEMA', `target ${JSON.stringify(path.slice(0, 200))} names no file`);
    const c = t.custom;
    if (c === undefined || c.channel !== channel || c.arch !== arch) continue;
    if (typeof c.sequence !== 'number' || !Number.isSafeInteger(c.sequence) || c.sequence < 0) {
      throw new FormatError('ERR_TUF_SCHEMA', `target ${path}: custom.sequence must be a non-negative integer`);
    }
    if (t.hashes.sha256 === undefined) throw new FormatError('ERR_TUF_SCHEMA', `target ${path} has no sha256 hash`);
    all.push([path, t, path.slice(prefix.length)]);
  }
  if (all.length === 0) {
    throw new IoError('ERR_TUF_TARGET_NOT_FOUND', `targets version ${tg.version} lists nothing for ${channel.slice(0, 64)}/${arch.slice(0, 64)}`);
  }
  const top = Math.max(...all.map(([, t]) => t.custom!.sequence as number));
  let picked = all.filter(([, t]) => t.custom!.sequence === top);
  if (wanted !== undefined && wanted.length > 0) {
    for (const w of wanted) {
      if (!picked.some(([, , f]) => f === w)) throw new IoError('ERR_TUF_TARGET_NOT_FOUND', `${channel}/${arch} has no target ${JSON.stringify(w.slice(0, 255))}`);
    }
    picked = picked.filter(([, , f]) => wanted.includes(f));
  }
  return picked;
}

/**
 * downloadTarget streams `url` into `tmp` (created, never opened if it exists or through a symlink), refusing more
 * than `length` bytes, and keeps it (synced) only when length and SHA-256 match (ERR_TUF_TARGET_MISMATCH otherwise;
 * the file is removed). The caller renames it into place.
 */
async function downloadTarget(http: Http, url: URL, tmp: string, length: number, sha256Hex: string): Promise<void> {
  const a = await http.open(url);
  let ok = false;
  let fh: fsp.FileHandle | undefined;
  try {
    if (a.status !== 200) {
      const body = await readCapped(a, ERROR_BODY_MAX_BYTES, url, 'error answer').catch(() => new Uint8Array());
      throw providerError(url.href, a.status, body);
    }
    const declared = a.headers['content-length'];
    if (declared !== undefined && Number(declared) > length) {
      throw new VerificationError('ERR_TUF_TARGET_MISMATCH', `${url.href}: the signed length is ${length} bytes, the server announces more`);
    }
    try {
      fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (e) {
      throw toIoError(e, tmp, 'write');
    }
    const hasher = await createMultiHasher(['sha256']);
    let n = 0;
    // Chunks are written in batches of about WRITE_BATCH_BYTES (one writev each), fewer system calls.
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const file = fh;
    const flush = async (): Promise<void> => {
      const b = batch;
      batch = [];
      batchBytes = 0;
      if (b.length === 0) return;
      try {
        await writevFully(file, b);
      } catch (e) {
        // A local write failure is ours (ENOSPC, EIO), not a network failure of the repository.
        throw toIoError(e, tmp, 'write');
      }
    };
    try {
      for await (const c of a.body as AsyncIterable<Buffer>) {
        n += c.length;
        // Stop at the first byte beyond the signed length: an endless answer costs nothing.
        if (n > length) throw new VerificationError('ERR_TUF_TARGET_MISMATCH', `${url.href}: more than the signed ${length} bytes`);
        hasher.update(c);
        batch.push(c);
        batchBytes += c.length;
        if (batchBytes >= WRITE_BATCH_BYTES) await flush();
      }
      await flush();
    } catch (e) {
      throw bodyError(a, url, e);
    }
    if (n !== length) throw new VerificationError('ERR_TUF_TARGET_MISMATCH', `${url.href}: expected ${length} bytes, got ${n}`);
    const got = hasher.digest().sha256;
    if (!constantTimeEqual(decodeHex(got), decodeHex(sha256Hex))) {
      throw new VerificationError('ERR_TUF_TARGET_MISMATCH', `${url.href}: sha256 does not match the signed targets metadata`, { details: { expected: sha256Hex, got } });
    }
    try {
      await fh.sync();
      await fh.close();
      fh = undefined;
    } catch (e) {
      throw toIoError(e, tmp, 'write');
    }
    ok = true;
  } finally {
    a.close();
    await fh?.close().catch(() => undefined);
    if (!ok) await fsp.unlink(tmp).catch(() => undefined);
  }
}
