/**
 * manifest/create — building an unsigned manifest from a directory of artifacts.
 *
 * Every regular file directly in the directory becomes an artifact (hidden files are skipped; symlinks, devices and
 * unsafe names are refused rather than silently followed). Artifact names follow the normalization of Phase (the
 * network-boot provider github.com/msitarzewski/phase, whose manifest shape Custody's follows):
 * `vmlinuz*`, `bzImage`, `kernel*` → `kernel`; `initramfs*`, `initrd*` → `initramfs`; `rootfs*` → `rootfs`; any
 * other file keeps its filename. Files are hashed while streaming.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { HashAlgorithm } from '../crypto/index.ts';
import type { JsonObject } from '../encoding/json.ts';
import { formatTimestamp } from '../encoding/time.ts';
import { FormatError, IoError, LimitError, toIoError } from '../errors.ts';
import { openRegularFile } from '../io/files.ts';
import { hashOpenFile } from '../io/hash-file.ts';
import { MANIFEST_MAX_ARTIFACTS, isSafeName, toManifest, type Manifest } from './manifest.ts';

export interface CreateManifestOptions {
  artifactsDir: string;
  channel: string;
  arch: string;
  version?: string;
  now: Date;
  /** expiresInMs is the validity period (default 30 days, Phase's default). */
  expiresInMs?: number;
  sequence?: number;
  /** hashes to compute; sha256 is always included. */
  hashes?: readonly HashAlgorithm[];
  /** downloadUrls adds Phase's `/<channel>/<arch>/<filename>` download_url (default true). */
  downloadUrls?: boolean;
}

export const DEFAULT_MANIFEST_VALIDITY_MS = 30 * 86400 * 1000;

/** artifactNameFor maps a filename to Phase's artifact name. */
export function artifactNameFor(filename: string): string {
  if (/^(vmlinuz|kernel)/.test(filename) || filename === 'bzImage') return 'kernel';
  if (/^(initramfs|initrd)/.test(filename)) return 'initramfs';
  if (/^rootfs/.test(filename)) return 'rootfs';
  return filename;
}

/** createManifest hashes every artifact in the directory and returns the unsigned manifest. */
export async function createManifest(o: CreateManifestOptions): Promise<Manifest> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(o.artifactsDir, { withFileTypes: true });
  } catch (e) {
    throw toIoError(e, o.artifactsDir, 'read');
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files = entries.filter((e) => !e.name.startsWith('.') && !e.isDirectory());
  if (files.length === 0) throw new IoError('ERR_IO_NOT_FOUND', `no artifact files in ${o.artifactsDir}`);
  if (files.length > MANIFEST_MAX_ARTIFACTS) {
    throw new LimitError('ERR_LIMIT_COUNT', `${files.length} files, over the cap of ${MANIFEST_MAX_ARTIFACTS} artifacts`);
  }
  const algorithms: HashAlgorithm[] = ['sha256', ...(o.hashes ?? []).filter((a) => a !== 'sha256')];
  const artifacts: JsonObject = {};
  for (const e of files) {
    if (!isSafeName(e.name)) {
      throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `file name ${JSON.stringify(e.name)} is not a safe artifact name`);
    }
    const path = join(o.artifactsDir, e.name);
    const { fh, size } = await openRegularFile(path); // refuses symlinks and non-regular files
    let digests: Record<HashAlgorithm, string>;
    try {
      digests = await hashOpenFile(fh, size, algorithms, path);
    } finally {
      await fh.close();
    }
    const name = artifactNameFor(e.name);
    if (artifacts[name] !== undefined) {
      throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `two files map to artifact name ${JSON.stringify(name)}; keep one`);
    }
    const a: JsonObject = { filename: e.name, size_bytes: size, hash: `sha256:${digests.sha256}` };
    if (algorithms.length > 1) {
      const hashes: JsonObject = {};
      for (const alg of algorithms) hashes[alg] = digests[alg];
      a.hashes = hashes;
    }
    if (o.downloadUrls !== false) a.download_url = `/${o.channel}/${o.arch}/${e.name}`;
    artifacts[name] = a;
  }
  const created = new Date(Math.floor(o.now.getTime() / 1000) * 1000);
  const body: JsonObject = {
    manifest_version: 1,
    version: o.version ?? '0.1.0',
    channel: o.channel,
    arch: o.arch,
    created_at: formatTimestamp(created),
    expires_at: formatTimestamp(new Date(created.getTime() + (o.expiresInMs ?? DEFAULT_MANIFEST_VALIDITY_MS))),
    sequence: o.sequence ?? Math.floor(created.getTime() / 1000),
    artifacts,
  };
  return toManifest({ ...body, signatures: [] });
}
