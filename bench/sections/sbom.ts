/**
 * bench/sections/sbom — `custody sbom DIR` (walk, SHA-1 + SHA-256 of every file in one read, SPDX 2.3 rendering,
 * atomic write) next to `find DIR -type f -exec sha256sum {} +` (SHA-256 only, no document) on the same tree of
 * 10,000 files (1,000 with --quick) of 1–16 KiB in 100 directories. Ours runs in-process through the CLI entry
 * (`runCli`, no Node start-up); the anchor is a real `sh -c` pipeline. Interleaved runs, the best of each; the page
 * cache is warm for both sides. CycloneDX is shown beside it, unrecorded.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/run.ts';
import type { BenchContext, BenchSection } from '../types.ts';

function makeTree(root: string, files: number): number {
  let bytes = 0;
  let seed = 7;
  for (let i = 0; i < files; i++) {
    const dir = join(root, `pkg-${i % 100}`, i % 3 === 0 ? 'lib' : 'src');
    if (i < 300) mkdirSync(dir, { recursive: true });
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const size = 1024 * (1 + (seed % 16));
    const b = Buffer.alloc(size);
    for (let j = 0; j < size; j += 4) b.writeUInt32LE((seed ^ (j * 2654435761)) >>> 0, j);
    writeFileSync(join(dir, `file-${i}.js`), b);
    bytes += size;
  }
  return bytes;
}

const section: BenchSection = {
  title: 'SBOM of a tree (custody sbom vs find | sha256sum)',
  async run(ctx: BenchContext) {
    const files = ctx.quick ? 1_000 : 10_000;
    const runs = ctx.quick ? 2 : 5;
    const dir = join(ctx.scratch, 'sbom');
    const tree = join(dir, 'tree');
    ctx.log(`making a tree of ${files} files`);
    const bytes = makeTree(tree, files);
    const io = { stdout: () => undefined, stderr: (s: string) => process.stderr.write(s), env: { SOURCE_DATE_EPOCH: '1700000000' }, cwd: dir, now: () => new Date() };
    const ours = async (format: string): Promise<number> => {
      const t0 = performance.now();
      const code = await runCli(['sbom', 'tree', '--format', format, '--output', `out.${format}.json`], io);
      if (code !== 0) throw new Error(`custody sbom exited ${code}`);
      return performance.now() - t0;
    };
    const anchor = (): number => {
      const t0 = performance.now();
      execFileSync('sh', ['-c', 'find tree -type f -exec sha256sum {} + > /dev/null'], { cwd: dir });
      return performance.now() - t0;
    };
    // Warm the page cache and the JIT for both sides.
    anchor();
    await ours('spdx');
    await ours('cyclonedx');
    let a = Infinity;
    let s = Infinity;
    let c = Infinity;
    for (let i = 0; i < runs; i++) {
      a = Math.min(a, anchor());
      s = Math.min(s, await ours('spdx'));
      c = Math.min(c, await ours('cyclonedx'));
    }
    const ratio = s / a;
    ctx.record('sbom.tree10k.ratio', ratio, `${s.toFixed(0)} ms vs ${a.toFixed(0)} ms, ${files} files, best of ${runs}${ctx.quick ? ', quick' : ''}`);
    const size = (f: string): string => `${(statSync(join(dir, f)).size / 1024 / 1024).toFixed(1)} MiB`;
    return [
      `A tree of ${files.toLocaleString('en-US')} files (${(bytes / 1024 / 1024).toFixed(1)} MiB, 1–16 KiB each, 100 directories), best of ${runs} interleaved runs:`,
      '',
      '| command | best | ratio |',
      '|---|---|---|',
      `| \`find tree -type f -exec sha256sum {} +\` (SHA-256 only) | ${a.toFixed(0)} ms | 1.00× |`,
      `| \`custody sbom tree --output out.spdx.json\` (SHA-1 + SHA-256, SPDX 2.3, ${size('out.spdx.json')}) | ${s.toFixed(0)} ms | ${ratio.toFixed(2)}× |`,
      `| \`custody sbom tree --format cyclonedx\` (CycloneDX 1.6, ${size('out.cyclonedx.json')}) | ${c.toFixed(0)} ms | ${(c / a).toFixed(2)}× |`,
      '',
      `Target: SPDX ≤ 1.2× the anchor — ${ratio <= 1.2 ? 'met' : 'NOT met'}.`,
    ].join('\n');
  },
};

export default section;
