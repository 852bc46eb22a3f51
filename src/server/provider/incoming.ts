/**
 * server/provider/incoming — publishing by directory: the operator drops files in
 * `INCOMING/<channel>/<arch>/<file>` (Phase's `<artifacts>/<channel>/<arch>/<file>` layout) and the daemon, at start,
 * on SIGHUP and on `POST /admin/v1/rescan`, imports each changed channel/arch into the blob store and releases it.
 *
 * Rules: regular files only (symlinks, devices and sub-directories are skipped with a warning: the incoming directory
 * may be writable by a less trusted process); hidden files are skipped, except `.version`, whose first line names the
 * release version. Artifact names follow Phase's normalization (manifest/create `artifactNameFor`). A channel/arch is
 * released only when its set of (name, filename, SHA-256) differs from the current release. Each file is hashed
 * where it lies first and copied only when the store lacks that digest; the copy is hashed again and must match,
 * so a file changed during the scan is not published half-old, half-new.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { FormatError, LimitError, VerificationError, isTrustError, toIoError, type TrustError } from '../../errors.ts';
import { openRegularFile, readFileIfExists } from '../../io/files.ts';
import { hashOpenFile } from '../../io/hash-file.ts';
import { artifactNameFor } from '../../manifest/create.ts';
import { MANIFEST_MAX_ARTIFACTS, isSafeName } from '../../manifest/manifest.ts';
import type { BlobStore } from './blobs.ts';
import { CHANNEL_NAME, VERSION_TEXT, type Release, type ReleaseArtifact, type ReleaseStore } from './releases.ts';

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
  const problem = (path: string, e: TrustError): void => {
    out.problems.push({ path, code: e.code, message: e.message });
  };
  for (const ch of await entries(incomingDir)) {
    if (!ch.isDirectory() || ch.name.startsWith('.')) continue;
    if (!CHANNEL_NAME.test(ch.name)) {
      problem(join(incomingDir, ch.name), new FormatError('ERR_PROVIDER_NAME', `channel directory ${JSON.stringify(ch.name)} is not a valid channel name`));
      continue;
    }
    for (const ar of await entries(join(incomingDir, ch.name))) {
      if (!ar.isDirectory() || ar.name.startsWith('.')) continue;
      const dir = join(incomingDir, ch.name, ar.name);
      if (!CHANNEL_NAME.test(ar.name)) {
        problem(dir, new FormatError('ERR_PROVIDER_NAME', `arch directory ${JSON.stringify(ar.name)} is not a valid arch name`));
        continue;
      }
      try {
        const r = await scanOne(dir, ch.name, ar.name, blobs, releases, (p, e) => problem(p, e));
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

async function scanOne(
  dir: string,
  channel: string,
  arch: string,
  blobs: BlobStore,
  releases: ReleaseStore,
  problem: (path: string, e: TrustError) => void,
): Promise<Release | undefined> {
  const files = (await entries(dir)).filter((e) => !e.name.startsWith('.'));
  const artifacts = new Map<string, ReleaseArtifact>();
  const paths = new Map<string, string>();
  for (const f of files) {
    const path = join(dir, f.name);
    if (!f.isFile()) {
      problem(path, new FormatError('ERR_PROVIDER_NAME', `${path} is not a regular file; skipped`));
      continue;
    }
    if (!isSafeName(f.name)) {
      problem(path, new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `file name ${JSON.stringify(f.name)} is not a safe artifact name; skipped`));
      continue;
    }
    const name = artifactNameFor(f.name);
    if (artifacts.has(name)) {
      throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `${paths.get(name)} and ${f.name} both map to artifact name ${JSON.stringify(name)}; keep one`);
    }
    const { fh, size } = await openRegularFile(path);
    let sha256: string;
    try {
      sha256 = (await hashOpenFile(fh, size, ['sha256'], path)).sha256;
    } finally {
      await fh.close();
    }
    if ((await blobs.stat(sha256)) === undefined) {
      const copied = await blobs.importFile(path);
      if (copied.sha256 !== sha256) {
        throw new VerificationError('ERR_PROVIDER_BLOB_MISMATCH', `${path} changed while it was imported; scan again once it is complete`);
      }
    }
    artifacts.set(name, { filename: f.name, sha256 });
    paths.set(name, f.name);
    if (artifacts.size > MANIFEST_MAX_ARTIFACTS) throw new LimitError('ERR_LIMIT_COUNT', `${dir} has more than ${MANIFEST_MAX_ARTIFACTS} artifacts`);
  }
  if (artifacts.size === 0) return undefined;
  const versionRaw = await readFileIfExists(join(dir, '.version'), { maxBytes: 1024, what: '.version file' });
  const version = versionRaw?.toString('utf8').split(/\r?\n/)[0]?.trim();
  if (version !== undefined && !VERSION_TEXT.test(version)) {
    throw new FormatError('ERR_PROVIDER_NAME', `${join(dir, '.version')}: expected 1–64 visible ASCII characters on the first line`);
  }
  const current = releases.get(channel, arch);
  if (sameArtifacts(releases.artifactsOf(channel, arch), artifacts) && current !== undefined && (version === undefined || version === current.manifest.manifest.version)) {
    return undefined;
  }
  return releases.release(channel, arch, artifacts, { version }, 'incoming');
}
