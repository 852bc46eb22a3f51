/**
 * test/support/vectors — locates the external vectors in ../shared/vectors (never copied into the repo; see
 * test/vectors/README.md for provenance). CUSTODY_VECTORS overrides the location.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VECTORS_DIR = process.env.CUSTODY_VECTORS
  ? resolve(process.env.CUSTODY_VECTORS)
  : fileURLToPath(new URL('../../../shared/vectors', import.meta.url));

/** vectorPath joins parts under the vectors dir. */
export function vectorPath(...parts: string[]): string {
  return join(VECTORS_DIR, ...parts);
}

/** vectorsSkip is a skip reason (printed loudly) when the vectors are not present, or false. */
export function vectorsSkip(...parts: string[]): string | false {
  const p = vectorPath(...parts);
  if (existsSync(p)) return false;
  const msg = `!!! SKIPPED: external vectors not found at ${p} (set CUSTODY_VECTORS) !!!`;
  process.stderr.write(msg + '\n');
  return msg;
}
