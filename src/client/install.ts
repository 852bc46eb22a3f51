/**
 * client/install — installing verified releases into a target directory (`custody install`, `custody rollback`,
 * `custody status`): the update step of CANIDAE's UpdateManager and of TUF's client workflow (TUF specification
 * §5.7, "fetch target" then hand it to the application), done with an atomic switch, a health check and automatic
 * rollback. docs/install.md tells the whole story; this comment is the contract.
 *
 * Target layout (DIR):
 *   current                 symlink → releases/<sequence>  (absent until a release passed; replaced by rename(2))
 *   releases/<sequence>/    the artifacts, manifest.json, manifest.json.tlog-proof and release.json (what verified it)
 *   releases/.incoming-*    a download in progress; releases/.prune-* a release being deleted (both removed on start)
 *   install.json            state + journal (client/install-state): rollback protection, history, the pending step
 *   install.lock            O_EXCL lock file holding the owner's pid (a dead owner's lock is broken)
 *
 * Every download and verification is `fetchRelease` (client/provider-client): threshold, expiry, rollback
 * (against install.json's highest sequence), log proof, every artifact's size and SHA-256 while it streams.
 *
 * Crash safety. A release directory is complete (renamed from its staging name after every file and release.json
 * were fsynced) before anything names it. Each change of `current` is journaled first: install.json records
 * `pending` (atomic write), then the symlink is created under a temporary name and renamed over `current`, the
 * directory fsynced, and then `pending` cleared. So a kill -9 anywhere leaves `current` at the old or the new
 * release, both complete, and `pending` says which operation was under way; the next install, rollback or status
 * (under the lock) settles it: an install without a health check is finished (its release verified before it was
 * journaled), an install with one is undone (the check never said yes; the next install tries again), a rollback is
 * finished. DIR and releases/ must be one file system: fsync order only means something within one, and a staged
 * release is renamed, never copied, into place.
 *
 * CUSTODY_TEST_CRASH_AT (read from the command's environment, passed here as `crashAt`) names a step at which the
 * process SIGKILLs itself: the crash-point tests (test/client/install-crash.test.ts) use it; unset, it does nothing.
 */
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject } from '../encoding/json.ts';
import { ConfigError, FormatError, IoError, PolicyError, UsageError, VerificationError, isTrustError, toIoError } from '../errors.ts';
import { pathExists, readFileIfExists, syncDir, writeFileAtomic } from '../io/files.ts';
import { acquirePidLock, pidLockOwner } from '../io/pid-lock.ts';
import { hashOpenFile } from '../io/hash-file.ts';
import { MANIFEST_MAX_BYTES, parseManifest } from '../manifest/manifest.ts';
import { stateKey, type VerifierState } from '../manifest/state.ts';
import { manifestDigest, type VerifiedManifest } from '../manifest/verify.ts';
import { runCheck, type CheckOutcome } from './health-check.ts';
import { emptyInstallState, formatInstallState, INSTALL_STATE_MAX_BYTES, parseInstallState, type InstallState, type PendingStep } from './install-state.ts';
import { fetchRelease, type FetchedRelease, type FetchReleaseOptions } from './provider-client.ts';

export const STATE_FILE = 'install.json';
export const LOCK_FILE = 'install.lock';
export const RELEASE_RECORD = 'release.json';
const RELEASE_RECORD_MAX_BYTES = 64 * 1024;
/** DEFAULT_KEEP is how many releases --keep keeps by default (besides the active and the previous one). */
export const DEFAULT_KEEP = 3;
/** DEFAULT_CHECK_TIMEOUT_MS is the default --check-timeout. */
export const DEFAULT_CHECK_TIMEOUT_MS = 60_000;

/** INSTALL_CRASH_POINTS are the steps of an install at which CUSTODY_TEST_CRASH_AT can kill the process. */
export const INSTALL_CRASH_POINTS = ['fetched', 'staged', 'journaled', 'symlinked', 'switched', 'checking', 'checked', 'undoing', 'undo-symlinked', 'undo-switched', 'committed'] as const;
/** ROLLBACK_CRASH_POINTS are the steps of a rollback at which CUSTODY_TEST_CRASH_AT can kill the process. */
export const ROLLBACK_CRASH_POINTS = ['rollback-journaled', 'rollback-symlinked', 'rollback-switched', 'rollback-committed'] as const;

/** crashPoint kills the process with SIGKILL when `at` is the step named by the test hook (inert otherwise). */
async function crashPoint(crashAt: string | undefined, at: string): Promise<void> {
  if (crashAt !== at) return;
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => undefined);
}

/** ReleaseRecord is DIR/releases/<sequence>/release.json: what verified the release when it was installed. */
export interface ReleaseRecord {
  format: 'custody.release/v1';
  channel: string;
  arch: string;
  version: string;
  sequence: number;
  /** digest is the manifest's digest (its signed bytes); manifest_sha256 that of the manifest.json file kept. */
  digest: string;
  manifest_sha256: string;
  signers: string[];
  threshold: number;
  root_version: number;
  log: { vkey: string; index: number } | null;
  provider: string;
  installed_at: string;
  files: Array<{ name: string; filename: string; size: number }>;
}

/** Target is an opened, locked install target. */
interface Target {
  dir: string;
  releases: string;
  state: InstallState;
  crashAt: string | undefined;
}

const releaseDir = (t: { releases: string }, seq: number): string => join(t.releases, String(seq));
const active = (s: InstallState): number | null => s.history.at(-1) ?? null;
const previous = (s: InstallState): number | null => s.history.at(-2) ?? null;

async function saveState(t: Target): Promise<void> {
  await writeFileAtomic(join(t.dir, STATE_FILE), formatInstallState(t.state), { mode: 0o644 });
}

/** loadInstallState reads DIR/install.json (undefined when there is none). */
async function loadInstallState(dir: string): Promise<InstallState | undefined> {
  const bytes = await readFileIfExists(join(dir, STATE_FILE), { maxBytes: INSTALL_STATE_MAX_BYTES, what: 'install.json' }).catch((e: unknown) => {
    if (isTrustError(e) && e.code === 'ERR_LIMIT_SIZE') throw new FormatError('ERR_INSTALL_JOURNAL_INVALID', `${join(dir, STATE_FILE)}: ${e.message}`);
    throw e;
  });
  return bytes === undefined ? undefined : parseInstallState(bytes);
}

/**
 * acquireLock takes DIR/install.lock (io/pid-lock: the holder's pid, taken over when that process is gone).
 * `beforeBreak` is a test hook run between the staleness check and the takeover. Returns the release function.
 */
export function acquireLock(dir: string, hooks: { beforeBreak?: () => Promise<void> } = {}): Promise<() => Promise<void>> {
  return acquirePidLock(join(dir, LOCK_FILE), {
    beforeBreak: hooks.beforeBreak,
    refused: (r) =>
      r.reason === 'held'
        ? new IoError('ERR_INSTALL_LOCKED', `${dir} is locked by process ${r.pid} (another install, rollback or status is running)`, { details: { pid: r.pid } })
        : new IoError('ERR_INSTALL_LOCKED', `${dir}: could not take ${LOCK_FILE} (it keeps reappearing)`),
  });
}

/**
 * checkSameFileSystem refuses a target whose releases/ lives on another file system than DIR (a mount point, or a
 * symlink to another disk): `current` and the journal would be made durable independently of the releases they
 * name, and a release could not be renamed into place from its staging directory in one step.
 */
async function checkSameFileSystem(dir: string, releases: string): Promise<void> {
  const [a, b] = await Promise.all([fsp.stat(dir), fsp.stat(releases)]).catch((e: unknown) => {
    throw toIoError(e, releases, 'read');
  });
  if (a.dev !== b.dev) {
    throw new ConfigError('ERR_INSTALL_CROSS_DEVICE', `${releases} is on another file system than ${dir} (device ${b.dev}, not ${a.dev}): the switch of ${join(dir, 'current')} could not be atomic and durable with the releases it names`, {
      details: { target_dev: a.dev, releases_dev: b.dev },
    });
  }
}

/** openTarget creates (when asked) and locks DIR, checks it, reads its state and settles a half-done step. */
async function openTarget(dir: string, o: { create: boolean; crashAt?: string | undefined; now: () => Date }): Promise<{ t: Target; unlock: () => Promise<void>; recovered: Recovery | undefined }> {
  const releases = join(dir, 'releases');
  if (o.create) {
    await fsp.mkdir(releases, { recursive: true, mode: 0o755 }).catch((e: unknown) => {
      throw toIoError(e, releases, 'write');
    });
  } else if (!(await pathExists(join(dir, STATE_FILE)))) {
    throw new IoError('ERR_IO_NOT_FOUND', `${dir} is not an install target (no ${STATE_FILE}); install a release with custody install first`);
  }
  const unlock = await acquireLock(dir);
  try {
    await checkSameFileSystem(dir, releases);
    const state = (await loadInstallState(dir)) ?? emptyInstallState();
    const t: Target = { dir, releases, state, crashAt: o.crashAt };
    const recovered = await recover(t, o.now);
    return { t, unlock, recovered };
  } catch (e) {
    await unlock();
    throw e;
  }
}

/** Recovery says what the last run left half done and what was done about it. */
export interface Recovery {
  op: 'install' | 'rollback';
  from: number | null;
  to: number;
  action: 'finished' | 'undone';
}

/** currentTarget reads DIR/current: the sequence it names, null when absent. */
async function currentTarget(dir: string): Promise<number | null> {
  let link: string;
  try {
    link = await fsp.readlink(join(dir, 'current'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EINVAL') throw new FormatError('ERR_INSTALL_JOURNAL_INVALID', `${join(dir, 'current')} is not a symlink: it is not ours to replace`);
    throw toIoError(e, join(dir, 'current'), 'read');
  }
  const m = /^releases\/(0|[1-9][0-9]{0,15})$/.exec(link);
  if (!m) throw new FormatError('ERR_INSTALL_JOURNAL_INVALID', `${join(dir, 'current')} points to ${JSON.stringify(link.slice(0, 200))}, not releases/<sequence>`);
  return Number(m[1]);
}

/**
 * recover settles what a killed run left: staging and pruning leftovers are removed; a pending step is finished or
 * undone (module doc); without one, `current` must name the active release of the history.
 */
async function recover(t: Target, now: () => Date): Promise<Recovery | undefined> {
  for (const name of await fsp.readdir(t.releases)) {
    if (name.startsWith('.incoming-') || name.startsWith('.prune-')) await fsp.rm(join(t.releases, name), { recursive: true, force: true });
  }
  for (const name of await fsp.readdir(t.dir)) {
    if (name.startsWith('.current.') && name.endsWith('.tmp')) await fsp.rm(join(t.dir, name), { force: true });
  }
  const p = t.state.pending;
  if (p === null) {
    const cur = await currentTarget(t.dir);
    if (cur !== active(t.state)) {
      throw new FormatError('ERR_INSTALL_JOURNAL_INVALID', `${join(t.dir, 'current')} names ${cur ?? 'nothing'} but ${STATE_FILE} says the active release is ${active(t.state) ?? 'none'}; nothing was switched`);
    }
    return undefined;
  }
  for (const seq of [p.from, p.to]) {
    if (seq !== null && !(await pathExists(join(releaseDir(t, seq), RELEASE_RECORD)))) {
      throw new FormatError('ERR_INSTALL_JOURNAL_INVALID', `${STATE_FILE} names release ${seq}, which is not in ${t.releases}; nothing was switched`);
    }
  }
  if (p.op === 'rollback') {
    await switchCurrent(t, p.to, 'rollback-');
    t.state.history = t.state.history.filter((s) => s !== p.from);
    if (p.from !== null) t.state.rejected.push({ sequence: p.from, reason: 'rollback', at: now().toISOString() });
    t.state.pending = null;
    await saveState(t);
    return { op: p.op, from: p.from, to: p.to, action: 'finished' };
  }
  if (!p.check && p.step === 'switch') {
    await switchCurrent(t, p.to, '');
    commitInstall(t.state, p.to);
    await saveState(t);
    return { op: p.op, from: p.from, to: p.to, action: 'finished' };
  }
  await switchCurrent(t, p.from, 'undo-');
  if (p.step === 'undo') t.state.rejected.push({ sequence: p.to, reason: 'check', at: now().toISOString() });
  t.state.pending = null;
  await saveState(t);
  return { op: p.op, from: p.from, to: p.to, action: 'undone' };
}

function commitInstall(s: InstallState, seq: number): void {
  s.history = [...s.history.filter((x) => x !== seq), seq];
  s.rejected = s.rejected.filter((r) => r.sequence !== seq);
  s.pending = null;
}

/** switchCurrent points DIR/current at releases/<seq> (or removes it, for null) by symlink + rename + directory fsync. */
async function switchCurrent(t: Target, seq: number | null, crashPrefix: string): Promise<void> {
  const current = join(t.dir, 'current');
  try {
    if (seq === null) {
      await fsp.rm(current, { force: true });
    } else {
      const tmp = join(t.dir, `.current.${process.pid}.${Date.now()}.tmp`);
      await fsp.symlink(`releases/${seq}`, tmp);
      await crashPoint(t.crashAt, `${crashPrefix}symlinked`);
      // rename(2) replaces the old link in one step: a reader sees the old release or the new one, never neither.
      await fsp.rename(tmp, current);
    }
    await syncDir(t.dir);
  } catch (e) {
    throw toIoError(e, current, 'write');
  }
  await crashPoint(t.crashAt, `${crashPrefix}switched`);
}

/** readReleaseRecord reads DIR/releases/<seq>/release.json. */
async function readReleaseRecord(dir: string): Promise<ReleaseRecord> {
  const path = join(dir, RELEASE_RECORD);
  const bytes = await readFileIfExists(path, { maxBytes: RELEASE_RECORD_MAX_BYTES, what: path });
  if (bytes === undefined) throw new VerificationError('ERR_INSTALL_RELEASE_CORRUPT', `${path} is missing`);
  const doc = parseJsonObject(bytes, { maxBytes: RELEASE_RECORD_MAX_BYTES, what: path });
  const ok =
    doc.format === 'custody.release/v1' &&
    typeof doc.channel === 'string' &&
    typeof doc.arch === 'string' &&
    typeof doc.version === 'string' &&
    typeof doc.sequence === 'number' &&
    typeof doc.digest === 'string' &&
    typeof doc.manifest_sha256 === 'string' &&
    Array.isArray(doc.signers) &&
    typeof doc.threshold === 'number' &&
    typeof doc.root_version === 'number' &&
    (doc.log === null || (isJsonObject(doc.log) && typeof doc.log.vkey === 'string' && typeof doc.log.index === 'number')) &&
    typeof doc.provider === 'string' &&
    typeof doc.installed_at === 'string' &&
    Array.isArray(doc.files);
  if (!ok) throw new VerificationError('ERR_INSTALL_RELEASE_CORRUPT', `${path} is not a release record`);
  return doc as unknown as ReleaseRecord;
}

/**
 * verifyReleaseDir re-checks a kept release: manifest.json must be the bytes that were verified (their SHA-256 is in
 * release.json), its signed-bytes digest must be the record's `digest`, and each artifact file must have the size and
 * SHA-256 that manifest signs. With `expect` (an install reusing the directory), the digest must also be that of the
 * manifest verified now and every artifact in `expect.artifacts` must be among the files checked: release.json is not
 * signed, so without this a directory with a rewritten manifest.json and record would pass. Throws
 * ERR_INSTALL_RELEASE_CORRUPT otherwise.
 */
export async function verifyReleaseDir(dir: string, expect?: { digest: string; artifacts: readonly string[] }): Promise<ReleaseRecord> {
  const rec = await readReleaseRecord(dir);
  const corrupt = (msg: string): never => {
    throw new VerificationError('ERR_INSTALL_RELEASE_CORRUPT', `${dir}: ${msg}`);
  };
  const text = await readFileIfExists(join(dir, 'manifest.json'), { maxBytes: MANIFEST_MAX_BYTES, what: 'manifest.json' });
  if (text === undefined || `sha256:${encodeHex(sha256(text))}` !== rec.manifest_sha256) corrupt('manifest.json is not the manifest that was verified');
  const m = parseManifest(text!);
  if (manifestDigest(m) !== rec.digest) corrupt('manifest.json is not the manifest release.json names');
  if (expect !== undefined) {
    if (rec.digest !== expect.digest) corrupt(`it holds manifest ${rec.digest}, not ${expect.digest}`);
    for (const name of expect.artifacts) if (!rec.files.some((f) => f.name === name)) corrupt(`${name} is not among its files`);
  }
  for (const f of rec.files) {
    const a = m.artifacts.get(f.name);
    const hex = a === undefined ? null : /^sha256:([0-9a-f]{64})$/.exec(a.hash);
    if (a === undefined || !hex || a.filename !== f.filename) corrupt(`${f.name} is not in its manifest`);
    const path = join(dir, a!.filename);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return corrupt(`${a!.filename} is missing`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size !== a!.size_bytes) corrupt(`${a!.filename} has ${st.size} bytes, the manifest signs ${a!.size_bytes}`);
      if ((await hashOpenFile(fh, st.size, ['sha256'], path)).sha256 !== hex![1]) corrupt(`${a!.filename} does not hash to what the manifest signs`);
    } finally {
      await fh.close();
    }
  }
  return rec;
}

/** InstallOptions configures {@link installRelease}; the fetch options are fetchRelease's (its outputDir is ours). */
export interface InstallOptions extends Omit<FetchReleaseOptions, 'outputDir' | 'state' | 'onManifest'> {
  target: string;
  /** check is the health check's argv (client/health-check splitCommand), run with the new release active. */
  check?: readonly string[] | undefined;
  checkTimeoutMs?: number | undefined;
  /** checkEnv is the environment the check inherits (CUSTODY_* variables are added). */
  checkEnv?: Record<string, string | undefined>;
  /** checkOutput receives the check's stdout and stderr. */
  checkOutput?: (s: string) => void;
  /** keep: how many releases to keep besides the active and the previous one (default 3). */
  keep?: number | undefined;
  /** retry installs a release again although it was rolled back before. */
  retry?: boolean | undefined;
  /** crashAt is the CUSTODY_TEST_CRASH_AT test hook (module doc). */
  crashAt?: string | undefined;
}

export type InstallAction = 'installed' | 'reactivated' | 'unchanged' | 'skipped-rejected';

/** InstallResult tells what an install did. */
export interface InstallResult {
  action: InstallAction;
  sequence: number;
  version: string;
  previous: number | null;
  fetched: FetchedRelease;
  record: ReleaseRecord | undefined;
  recovered: Recovery | undefined;
  check: CheckOutcome | undefined;
  pruned: number[];
}

/**
 * installRelease fetches, verifies and activates the newest release of a channel/arch in `target`, runs the health
 * check and rolls back when it fails (ERR_INSTALL_CHECK_FAILED, after `current` names the old release again).
 */
export async function installRelease(o: InstallOptions): Promise<InstallResult> {
  const { t, unlock, recovered } = await openTarget(o.target, { create: true, crashAt: o.crashAt, now: o.now });
  try {
    const s = t.state;
    if (s.channel !== null && (s.channel !== o.channel || s.arch !== o.arch)) {
      throw new UsageError('ERR_INSTALL_TARGET_MISMATCH', `${o.target} follows ${s.channel}/${s.arch}, not ${o.channel}/${o.arch}; use one target directory per channel/arch`);
    }
    const state: VerifierState = { manifests: new Map(s.highest) };
    let reuse: ReleaseRecord | undefined;
    let rejected = false;
    const staging = join(t.releases, `.incoming-${process.pid}-${Date.now()}`);
    const fetched = await fetchRelease({
      ...o,
      state,
      outputDir: staging,
      onManifest: async (vm: VerifiedManifest) => {
        const seq = vm.manifest.sequence;
        if (!o.retry && s.rejected.some((r) => r.sequence === seq)) {
          rejected = true;
          return false;
        }
        const dir = releaseDir(t, seq);
        if (await pathExists(dir)) {
          // Kept from an earlier run: used again only if it is this very manifest and its files still hash right.
          const rec = await verifyReleaseDir(dir, { digest: vm.digest, artifacts: o.artifacts ?? [...vm.manifest.artifacts.keys()] }).catch(() => undefined);
          if (rec !== undefined) {
            reuse = rec;
            return false;
          }
          if (seq === active(s) || seq === previous(s)) throw new VerificationError('ERR_INSTALL_RELEASE_CORRUPT', `${dir} (an active or previous release) no longer verifies; repair it or remove the target`);
          await fsp.rm(dir, { recursive: true, force: true });
        }
        return true;
      },
    }).catch(async (e: unknown) => {
      await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    });
    const vm = fetched.manifest;
    const seq = vm.manifest.sequence;
    const base = { sequence: seq, version: vm.manifest.version, fetched, recovered, pruned: [] as number[] };
    if (rejected) return { ...base, action: 'skipped-rejected', previous: previous(s), record: undefined, check: undefined };
    let record = reuse;
    if (record === undefined) {
      await crashPoint(t.crashAt, 'fetched');
      record = {
        format: 'custody.release/v1',
        channel: vm.manifest.channel,
        arch: vm.manifest.arch,
        version: vm.manifest.version,
        sequence: seq,
        digest: vm.digest,
        manifest_sha256: `sha256:${encodeHex(sha256(fetched.manifestBytes))}`,
        signers: [...vm.signers],
        threshold: vm.threshold,
        root_version: fetched.root.version,
        log: o.requireLog !== undefined && fetched.logIndex !== undefined ? { vkey: o.requireLog, index: fetched.logIndex } : null,
        provider: fetched.manifestProvider,
        installed_at: o.now().toISOString(),
        files: fetched.files.map((f) => ({ name: f.name, filename: f.filename, size: f.size })),
      };
      try {
        await writeFileAtomic(join(staging, RELEASE_RECORD), JSON.stringify(record, null, 2) + '\n');
        await syncDir(staging);
        // Complete before it gets its name: a directory releases/<seq> is always a whole, verified release.
        await fsp.rename(staging, releaseDir(t, seq));
        await syncDir(t.releases);
      } catch (e) {
        await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
        throw toIoError(e, releaseDir(t, seq), 'write');
      }
      await crashPoint(t.crashAt, 'staged');
    }
    s.channel = o.channel;
    s.arch = o.arch;
    const k = stateKey(o.channel, o.arch);
    if ((s.highest.get(k)?.sequence ?? -1) < seq) s.highest.set(k, { sequence: seq, digest: vm.digest });
    const from = active(s);
    if (from === seq) {
      await saveState(t);
      return { ...base, action: 'unchanged', previous: previous(s), record, check: undefined };
    }
    const pending: PendingStep = { op: 'install', from, to: seq, step: 'switch', check: o.check !== undefined };
    s.pending = pending;
    await saveState(t);
    await crashPoint(t.crashAt, 'journaled');
    await switchCurrent(t, seq, '');
    let outcome: CheckOutcome | undefined;
    if (o.check !== undefined) {
      s.pending = { ...pending, step: 'check' };
      await saveState(t);
      await crashPoint(t.crashAt, 'checking');
      const dir = releaseDir(t, seq);
      outcome = await runCheck(o.check, {
        cwd: dir,
        timeoutMs: o.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
        output: o.checkOutput ?? (() => undefined),
        env: {
          ...(o.checkEnv ?? {}),
          CUSTODY_TARGET: t.dir,
          CUSTODY_RELEASE_DIR: dir,
          CUSTODY_RELEASE_SEQUENCE: String(seq),
          CUSTODY_RELEASE_VERSION: vm.manifest.version,
          CUSTODY_CHANNEL: o.channel,
          CUSTODY_ARCH: o.arch,
          CUSTODY_PREVIOUS_RELEASE_DIR: from === null ? '' : releaseDir(t, from),
        },
      });
      await crashPoint(t.crashAt, 'checked');
      if (!outcome.ok) {
        s.pending = { ...pending, step: 'undo' };
        await saveState(t);
        await crashPoint(t.crashAt, 'undoing');
        await switchCurrent(t, from, 'undo-');
        s.rejected.push({ sequence: seq, reason: 'check', at: o.now().toISOString() });
        s.pending = null;
        await saveState(t);
        const how = outcome.timedOut
          ? `did not finish within ${(o.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS) / 1000} s and was killed`
          : outcome.spawnError !== undefined
            ? `could not start (${outcome.spawnError})`
            : outcome.signal !== null
              ? `was killed by ${outcome.signal}`
              : `exited with status ${outcome.exitCode}`;
        throw new PolicyError('ERR_INSTALL_CHECK_FAILED', `the health check of ${o.channel}/${o.arch} sequence ${seq} ${how}; rolled back to ${from === null ? 'no release' : `sequence ${from}`}`, {
          details: { sequence: seq, restored: from, exit_code: outcome.exitCode, signal: outcome.signal, timed_out: outcome.timedOut },
        });
      }
    }
    commitInstall(s, seq);
    await saveState(t);
    await crashPoint(t.crashAt, 'committed');
    const pruned = await prune(t, o.keep ?? DEFAULT_KEEP);
    return { ...base, pruned, action: reuse === undefined ? 'installed' : 'reactivated', previous: from, record, check: outcome };
  } finally {
    await unlock();
  }
}

/** keptReleases lists the release directories of a target (by sequence, ascending). */
async function keptReleases(releases: string): Promise<number[]> {
  return (await fsp.readdir(releases))
    .filter((n) => /^(0|[1-9][0-9]{0,15})$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

/** prune removes releases beyond the `keep` newest, never the active or the previous one (renamed aside first). */
async function prune(t: Target, keep: number): Promise<number[]> {
  const all = await keptReleases(t.releases);
  const protect = new Set([active(t.state), previous(t.state), ...all.slice(-keep)]);
  const gone = all.filter((s) => !protect.has(s));
  if (gone.length === 0) return [];
  t.state.history = t.state.history.filter((s) => !gone.includes(s));
  await saveState(t);
  for (const s of gone) {
    const aside = join(t.releases, `.prune-${s}`);
    await fsp.rename(releaseDir(t, s), aside);
    await fsp.rm(aside, { recursive: true, force: true });
  }
  await syncDir(t.releases);
  return gone;
}

/** RollbackResult tells what a rollback did. */
export interface RollbackResult {
  from: number;
  to: number;
  record: ReleaseRecord;
  recovered: Recovery | undefined;
}

/** rollbackRelease makes the previous release active again (verified on disk first) and marks the one left rejected. */
export async function rollbackRelease(o: { target: string; now: () => Date; crashAt?: string | undefined }): Promise<RollbackResult> {
  const { t, unlock, recovered } = await openTarget(o.target, { create: false, crashAt: o.crashAt, now: o.now });
  try {
    const from = active(t.state);
    const to = previous(t.state);
    if (from === null || to === null) throw new UsageError('ERR_INSTALL_NO_PREVIOUS', `${o.target} has no previous release to return to (active: ${from ?? 'none'})`);
    const record = await verifyReleaseDir(releaseDir(t, to));
    t.state.pending = { op: 'rollback', from, to, step: 'switch', check: false };
    await saveState(t);
    await crashPoint(t.crashAt, 'rollback-journaled');
    await switchCurrent(t, to, 'rollback-');
    t.state.history = t.state.history.filter((s) => s !== from);
    t.state.rejected.push({ sequence: from, reason: 'rollback', at: o.now().toISOString() });
    t.state.pending = null;
    await saveState(t);
    await crashPoint(t.crashAt, 'rollback-committed');
    return { from, to, record, recovered };
  } finally {
    await unlock();
  }
}

/** TargetStatus is what `custody status` reports. */
export interface TargetStatus {
  target: string;
  channel: string | null;
  arch: string | null;
  active: { sequence: number; dir: string; record: ReleaseRecord } | null;
  previous: number | null;
  highest: number | null;
  releases: Array<{ sequence: number; version: string | null; state: 'active' | 'previous' | 'rejected' | 'kept' }>;
  rejected: InstallState['rejected'];
  /** inProgress names the pid of a running install or rollback (the state shown is as it left it so far). */
  inProgress: number | null;
  recovered: Recovery | undefined;
}

/** targetStatus reports a target, settling a half-done step first unless another process holds the lock. */
export async function targetStatus(o: { target: string; now: () => Date }): Promise<TargetStatus> {
  let state: InstallState;
  let recovered: Recovery | undefined;
  let inProgress: number | null = null;
  const owner = await pidLockOwner(join(o.target, LOCK_FILE));
  if (owner?.alive) {
    inProgress = owner.pid;
    const s = await loadInstallState(o.target);
    if (s === undefined) throw new IoError('ERR_IO_NOT_FOUND', `${o.target} is not an install target (no ${STATE_FILE})`);
    state = s;
  } else {
    const opened = await openTarget(o.target, { create: false, now: o.now });
    await opened.unlock();
    state = opened.t.state;
    recovered = opened.recovered;
  }
  const releases = join(o.target, 'releases');
  const act = active(state);
  const prev = previous(state);
  const list: TargetStatus['releases'] = [];
  for (const seq of await keptReleases(releases)) {
    const rec = await readReleaseRecord(join(releases, String(seq))).catch(() => undefined);
    const st = seq === act ? 'active' : seq === prev ? 'previous' : state.rejected.some((r) => r.sequence === seq) ? 'rejected' : 'kept';
    list.push({ sequence: seq, version: rec?.version ?? null, state: st });
  }
  const key = state.channel === null || state.arch === null ? undefined : stateKey(state.channel, state.arch);
  return {
    target: o.target,
    channel: state.channel,
    arch: state.arch,
    active: act === null ? null : { sequence: act, dir: join(releases, String(act)), record: await readReleaseRecord(join(releases, String(act))) },
    previous: prev,
    highest: key === undefined ? null : (state.highest.get(key)?.sequence ?? null),
    releases: list,
    rejected: state.rejected,
    inProgress,
    recovered,
  };
}
