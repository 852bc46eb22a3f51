/**
 * server/provider/sample — the sample release a first start publishes, so that a newcomer is one paste away from a
 * verified fetch: a few small generated files on channel `sample`, for the machine's architecture, signed and logged
 * like any release. It is made only when the data directory was new and nothing else was released; the operator
 * replaces it by publishing, or ignores it (nothing else depends on it).
 */
import { arch as osArch } from 'node:process';
import { Readable } from 'node:stream';
import type { BlobStore } from './blobs.ts';
import type { Release, ReleaseArtifact, ReleaseStore } from './releases.ts';

/** SAMPLE_CHANNEL names the channel of the sample release. */
export const SAMPLE_CHANNEL = 'sample';
/** SAMPLE_VERSION labels the sample release. */
export const SAMPLE_VERSION = 'sample-1';

/** hostArch is the machine's architecture as boot channels name it (x86_64, aarch64, …). */
export function hostArch(): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686', arm: 'armv7', ppc64: 'ppc64le', riscv64: 'riscv64', s390x: 's390x' };
  return map[osArch] ?? 'any';
}

/** sampleFiles are the generated files: name → bytes (deterministic, so two first starts publish the same files). */
export function sampleFiles(): Array<[string, string, Buffer]> {
  const readme = [
    'This is the SAMPLE release that custody serve publishes on its first start, with an empty data directory.',
    'It shows a verified fetch end to end: the manifest is signed under the trust root you pinned by fingerprint,',
    'logged in the provider\'s transparency log (its inclusion proof is checked), and every file below is checked',
    'against its SHA-256 in the manifest before it is kept.',
    '',
    'Publish your own files in DATA/incoming/<channel>/<arch>/ (then SIGHUP) or with `custody publish`.',
    '',
  ].join('\n');
  // 4 KiB of a simple byte pattern: something binary to download.
  const blob = Buffer.alloc(4096);
  let x = 0x2545f491;
  for (let i = 0; i < blob.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    blob[i] = x & 0xff;
  }
  return [
    ['readme', 'README.txt', Buffer.from(readme, 'utf8')],
    ['payload', 'payload.bin', blob],
  ];
}

/** publishSample stores the sample files and releases them on channel `sample` for the host architecture. */
export async function publishSample(blobs: BlobStore, releases: ReleaseStore): Promise<Release> {
  const artifacts = new Map<string, ReleaseArtifact>();
  for (const [name, filename, data] of sampleFiles()) {
    const info = await blobs.importStream(Readable.from([data]), data.length);
    artifacts.set(name, { filename, sha256: info.sha256 });
  }
  return releases.release(SAMPLE_CHANNEL, hostArch(), artifacts, { version: SAMPLE_VERSION }, 'sample on first start');
}
