/**
 * test/support/vectors — locates the external vectors committed under test/vectors/ (provenance, commits and
 * licenses in test/vectors/README.md).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VECTORS_DIR = fileURLToPath(new URL('../vectors', import.meta.url));

/** vectorPath joins parts under the vectors dir. */
export function vectorPath(...parts: string[]): string {
  return join(VECTORS_DIR, ...parts);
}
