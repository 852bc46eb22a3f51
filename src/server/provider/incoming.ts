/**
 * server/provider/incoming — publishing by directory: the operator drops files in
 * `INCOMING/<channel>/<arch>/<file>` (the `<artifacts>/<channel>/<arch>/<file>` layout of
 * Phase, the network-boot provider github.com/msitarzewski/phase) and the daemon, at start,
 * on SIGHUP and on `POST /admin/v1/rescan`, imports each changed channel/arch into the blob store and releases it.
 *
 * Rules: regular files only (symlinks, devices and sub-directories are skipped with a warning: the incoming directory
 * may be writable by a less trusted process); hidden files are skipped, except `.version`, whose first line names the
 * release version. Artifact names follow Phase's normalization (manifest/create `artifactNameFor`). A channel/arch is
 * released only when its (name, filename, SHA-256) set or version differs from what this directory released last
 * (releases/<channel>/<arch>/incoming.json), so files left here never re-release over an uploaded release. Each file
 * is opened once (no symlink, no FIFO, and the descriptor's real path must lie inside the incoming directory),
 * hashed, and copied from that same descriptor only when the store lacks the digest; the copy is hashed again and
 * must match, so a file changed during the scan is not published half-old, half-new.
 *
 * Attestations: files named `*.intoto.jsonl` are not artifacts. They are joined (in name order, one envelope per
 * line) into the release's attestations, checked as well-formed DSSE (at most ATTESTATIONS_MAX_BYTES together),
 * stored as a blob and served at /<channel>/<arch>/attestations. `custody promote --to INCOMING` writes this layout.
 */
import { promises as fsp } from 'node:fs';
import { join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { FormatError, IoError, LimitError, PolicyError, VerificationError, isTrustError, toIoError, type TrustError } from '../../errors.ts';
import { openRegularFile } from '../../io/files.ts';
import { hashOpenFile } from '../../io/hash-file.ts';
import { artifactNameFor } from '../../manifest/create.ts';
import { MANIFEST_MAX_ARTIFACTS, isSafeName } from '../../manifest/manifest.ts';
import type { BlobStore } from './blobs.ts';
import { parseJsonl } from '../../attest/dsse.ts';
import { ATTESTATION_FILE_SUFFIX } from '../../policy/evidence.ts';
import { ATTESTATIONS_MAX_BYTES, CHANNEL_NAME, RESERVED_FILENAMES, VERSION_TEXT, type Release, type ReleaseArtifact, type ReleaseStore } from './releases.ts';

/** ScanResult reports one scan of the incoming directory. */
export interface ScanResult {
  released: Release[];
  unchanged: string[];
  /** problems are channel/arch directories (or files) that were skipped, with the reason. */
  problems: Array<{ path: string; code: string; message: string }>;
}

async function entries(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw toIoError(e, dir, 'read');
  }
}

function sameArtifacts(a: ReadonlyMap<string, ReleaseArtifact> | undefined, b: ReadonlyMap<string, ReleaseArtifact>): boolean {
  if (a === undefined || a.size !== b.size) return false;
  for (const [name, x] of b) {
    const y = a.get(name);
    if (y === undefined || y.filename !== x.filename || y.sha256 !== x.sha256) return false;
  }
  return true;
}

/** scanIncoming imports and releases every changed channel/arch under `incomingDir`. */
export async function scanIncoming(incomingDir: string, blobs: BlobStore, releases: ReleaseStore): Promise<ScanResult> {
  const out: ScanResult = { released: [], unchanged: [], problems: [] };
  let real: string;
  try {
    real = await fsp.realpath(incomingDir);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return out;
    throw toIoError(e, incomingDir, 'read');
  }
  const root = { dir: incomingDir, real };
  const problem = (path: string, e: TrustError): void => {
    out.problems.push({ path, code: e.code, message: e.message });
  };
  for (const ch of await entries(incomingDir)) {
    if (!ch.isDirectory() || ch.name.startsWith('.')) continue;
    if (!CHANNEL_NAME.test(ch.name)) {
      problem(join(incomingDir, ch.name), new FormatError('ERR_PROVIDER_CHANNEL_NAME', `channel directory ${JSON.stringify(ch.name)} is not a valid channel name`));
      continue;
    }
    for (const ar of await entries(join(incomingDir, ch.name))) {
      if (!ar.isDirectory() || ar.name.startsWith('.')) continue;
      const dir = join(incomingDir, ch.name, ar.name);
      if (!CHANNEL_NAME.test(ar.name)) {
        problem(dir, new FormatError('ERR_PROVIDER_CHANNEL_NAME', `arch directory ${JSON.stringify(ar.name)} is not a valid arch name`));
        continue;
      }
      try {
        const r = await scanOne(root, ch.name, ar.name, blobs, releases, (p, e) => problem(p, e));
        if (r === undefined) out.unchanged.push(`${ch.name}/${ar.name}`);
        else out.released.push(r);
      } catch (e) {
        if (!isTrustError(e)) throw e;
        problem(dir, e);
      }
    }
  }
  return out;
}

/**
 * openInside opens a regular file (no symlink, no FIFO) and checks that the file actually opened lies inside
 * `rootReal`. Checking paths before opening is not enough: whoever can write the incoming directory could swap a
 * channel or arch directory for a symlink (to DATA/keys, say) between the listing and the open. On Linux the open
 * descriptor's own path (/proc/self/fd) is checked; elsewhere every directory on the way is re-checked with lstat
 * after the open.
 */
export async function openInside(path: string, rootReal: string, relDirs: readonly string[]): Promise<{ fh: fsp.FileHandle; size: number }> {
  const opened = await openRegularFile(path);
  try {
    let inside: boolean;
    const viaProc = await fsp.realpath(`/proc/self/fd/${opened.fh.fd}`).catch(() => undefined);
    if (viaProc !== undefined) {
      inside = viaProc.startsWith(rootReal + sep);
    } else {
      inside = true;
      let dir = rootReal;
      for (const d of relDirs) {
        dir = join(dir, d);
        const st = await fsp.lstat(dir).catch(() => undefined);
        if (st === undefined || !st.isDirectory()) inside = false;
      }
    }
    if (!inside) {
      throw new PolicyError('ERR_PROVIDER_INCOMING_ESCAPE', `${path} resolves outside the incoming directory (a symlinked directory?); skipped`);
    }
    return opened;
  } catch (e) {
    await opened.fh.close();
    throw e;
  }
}

async function scanOne(
  root: { dir: string; real: string },
  channel: string,
  arch: string,
  blobs: BlobStore,
  releases: ReleaseStore,
  problem: (path: string, e: TrustError) => void,
): Promise<Release | undefined> {
  const dir = join(root.dir, channel, arch);
  const files = (await entries(dir)).filter((e) => !e.name.startsWith('.'));
  const artifacts = new Map<string, ReleaseArtifact>();
  const paths = new Map<string, string>();
  const attestationParts: Buffer[] = [];
  let attestationBytes = 0;
  for (const f of files) {
    const path = join(dir, f.name);
    if (!f.isFile()) {
      problem(path, new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is not a regular file; skipped`));
      continue;
    }
    if (f.name.endsWith(ATTESTATION_FILE_SUFFIX)) {
      const { fh, size } = await openInside(path, root.real, [channel, arch]);
      try {
        attestationBytes += size + 1;
        if (attestationBytes > ATTESTATIONS_MAX_BYTES) {
          throw new LimitError('ERR_LIMIT_SIZE', `${dir}: the *${ATTESTATION_FILE_SUFFIX} files are over the cap of ${ATTESTATIONS_MAX_BYTES} bytes together`);
        }
        const buf = Buffer.alloc(size);
        const { bytesRead } = await fh.read(buf, 0, size, 0);
        const text = buf.subarray(0, bytesRead);
        parseJsonl(text);
        attestationParts.push(text, ...(text.at(-1) === 0x0a ? [] : [Buffer.from('\n')]));
      } finally {
        await fh.close();
      }
      continue;
    }
    if (!isSafeName(f.name) || RESERVED_FILENAMES.has(f.name)) {
      problem(path, new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `file name ${JSON.stringify(f.name)} is not a usable artifact name; skipped`));
      continue;
    }
    const name = artifactNameFor(f.name);
    if (artifacts.has(name)) {
      throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `${paths.get(name)} and ${f.name} both map to artifact name ${JSON.stringify(name)}; keep one`);
    }
    // One descriptor for hashing and copying: what is hashed is what is stored, whatever happens to the path.
    const { fh, size } = await openInside(path, root.real, [channel, arch]);
    let sha256: string;
    try {
      sha256 = (await hashOpenFile(fh, size, ['sha256'], path)).sha256;
      if ((await blobs.stat(sha256)) === undefined) {
        const copied = await blobs.importHandle(fh, size, Number.MAX_SAFE_INTEGER, path);
        if (copied.sha256 !== sha256) {
          throw new VerificationError('ERR_PROVIDER_BLOB_MISMATCH', `${path} changed while it was imported; scan again once it is complete`);
        }
      }
    } finally {
      await fh.close();
    }
    artifacts.set(name, { filename: f.name, sha256 });
    paths.set(name, f.name);
    if (artifacts.size > MANIFEST_MAX_ARTIFACTS) throw new LimitError('ERR_LIMIT_COUNT', `${dir} has more than ${MANIFEST_MAX_ARTIFACTS} artifacts`);
  }
  if (artifacts.size === 0) return undefined;
  const version = await readVersionFile(join(dir, '.version'), root.real, [channel, arch]);
  let attestations: string | undefined;
  if (attestationParts.length > 0) {
    const joined = Buffer.concat(attestationParts);
    attestations = (await blobs.importStream(Readable.from([joined]), ATTESTATIONS_MAX_BYTES)).sha256;
  }
  // Compare with what this directory released last (not with the current release, which an upload may have made:
  // stale files left here must not re-release over it).
  const last = (await releases.importState(channel, arch)) ?? currentAsImport(releases, channel, arch);
  if (last !== undefined && sameArtifacts(last.artifacts, artifacts) && last.version === version && last.attestations === attestations) return undefined;
  const r = await releases.release(channel, arch, artifacts, { version, attestations }, 'incoming');
  await releases.saveImportState(channel, arch, { artifacts, version, attestations });
  return r;
}

/** currentAsImport treats the current release as the last import when no import state was recorded yet. */
function currentAsImport(
  releases: ReleaseStore,
  channel: string,
  arch: string,
): { artifacts: ReadonlyMap<string, ReleaseArtifact>; version: string | undefined; attestations: string | undefined } | undefined {
  const artifacts = releases.artifactsOf(channel, arch);
  const cur = releases.get(channel, arch);
  if (artifacts === undefined || cur === undefined) return undefined;
  return { artifacts, version: cur.manifest.manifest.version, attestations: cur.attestations };
}

/** readVersionFile reads the first line of `.version` (1–64 visible ASCII characters), or undefined without one. */
async function readVersionFile(path: string, rootReal: string, relDirs: readonly string[]): Promise<string | undefined> {
  let opened: { fh: fsp.FileHandle; size: number };
  try {
    opened = await openInside(path, rootReal, relDirs);
  } catch (e) {
    if (isTrustError(e) && e.code === 'ERR_IO_NOT_FOUND') return undefined;
    throw e;
  }
  let text: string;
  try {
    if (opened.size > 1024) throw new FormatError('ERR_PROVIDER_VERSION_INVALID', `${path}: expected a short version file`);
    const buf = Buffer.alloc(opened.size);
    await opened.fh.read(buf, 0, opened.size, 0);
    text = buf.toString('utf8');
  } finally {
    await opened.fh.close();
  }
  const version = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (!VERSION_TEXT.test(version)) {
    throw new FormatError('ERR_PROVIDER_VERSION_INVALID', `${path}: expected 1–64 visible ASCII characters on the first line`);
  }
  return version;
}
