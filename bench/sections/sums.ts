/**
 * bench/sections/sums — `custody sums check SHA256SUMS` next to `sha256sum -c SHA256SUMS` over the same files
 * (16 × 64 MiB = 1 GiB; --quick: 4 × 4 MiB), page cache warm, both as fresh processes (custody through the tsx
 * development entry, so its loader is counted against it), interleaved, best of N. The figure is our wall time over
 * theirs (target ≤ 1.0×).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from '../../src/crypto/index.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const SHA256SUM = '/usr/bin/sha256sum';
const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

function wallMs(cmd: string, args: string[], cwd: string): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString() ?? ''}`);
  return ms;
}

function measure(ctx: BenchContext): string {
    if (!existsSync(SHA256SUM)) return `Not measured: ${SHA256SUM} is not installed.`;
    const files = ctx.quick ? 4 : 16;
    const mib = ctx.quick ? 4 : 64;
    const dir = join(ctx.scratch, 'sums');
    mkdirSync(dir, { recursive: true });
    ctx.log(`writing ${files} × ${mib} MiB`);
    const block = randomBytes(1024 * 1024);
    const names: string[] = [];
    for (let i = 0; i < files; i++) {
      const name = `part-${String(i).padStart(2, '0')}.bin`;
      const fd = openSync(join(dir, name), 'w');
      for (let m = 0; m < mib; m++) {
        block[0] = i;
        block[1] = m & 0xff;
        writeSync(fd, block);
      }
      closeSync(fd);
      names.push(name);
    }
    const sums = spawnSync(SHA256SUM, names, { cwd: dir, encoding: 'utf8' });
    if (sums.status !== 0) throw new Error('sha256sum failed');
    writeFileSync(join(dir, 'SHA256SUMS'), sums.stdout);

    const ours = (): number => wallMs(process.execPath, ['--import', TSX, CLI_MAIN, 'sums', 'check', 'SHA256SUMS', '--quiet'], dir);
    const theirs = (): number => wallMs(SHA256SUM, ['-c', '--quiet', 'SHA256SUMS'], dir);
    ours(); // warm the page cache and both programs
    theirs();
    const n = ctx.quick ? 3 : 5;
    const o: number[] = [];
    const t: number[] = [];
    for (let i = 0; i < n; i++) {
      o.push(ours());
      t.push(theirs());
    }
    const bo = Math.min(...o);
    const bt = Math.min(...t);
    const total = files * mib;
    const ratio = bo / bt;
    ctx.record('sums.check.ratio', ratio, `${bo.toFixed(0)} ms vs ${bt.toFixed(0)} ms over ${files} × ${mib} MiB, best of ${n}`);
    return [
      `${files} files × ${mib} MiB (${total} MiB), page cache warm, fresh processes, best of ${n} interleaved runs:`,
      '',
      '| command | wall | MiB/s | ratio |',
      '|---|---|---|---|',
      `| \`sha256sum -c --quiet SHA256SUMS\` | ${bt.toFixed(0)} ms | ${((total / bt) * 1000).toFixed(0)} | 1.00× |`,
      `| \`custody sums check SHA256SUMS --quiet\` (tsx entry) | ${bo.toFixed(0)} ms | ${((total / bo) * 1000).toFixed(0)} | ${ratio.toFixed(2)}× |`,
      '',
      `Target: ≤ 1.0× sha256sum's time — ${ratio <= 1.0 ? 'met' : 'NOT met'}.`,
    ].join('\n');
}

const section: BenchSection = {
  title: 'SHA256SUMS check (custody sums check vs sha256sum -c)',
  run: (ctx) => Promise.resolve(measure(ctx)),
};

export default section;
