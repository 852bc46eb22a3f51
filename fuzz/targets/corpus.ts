/** fuzz/targets/corpus — seed files from the repository: test/vectors and test fixtures, filtered and capped. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

/** corpusFiles returns up to `max` files under test/ whose path passes `want`, each at most maxBytes. */
export async function corpusFiles(repoRoot: string, want: (path: string) => boolean, max: number, maxBytes: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const all = (await fsp.readdir(join(repoRoot, 'test'), { recursive: true })).sort();
  for (const rel of all) {
    if (out.length >= max) break;
    if (rel.includes('fuzz-regressions') || !want(rel)) continue;
    const p = join(repoRoot, 'test', rel);
    const st = await fsp.stat(p);
    if (!st.isFile() || st.size > maxBytes) continue;
    out.push(new Uint8Array(await fsp.readFile(p)));
  }
  return out;
}
