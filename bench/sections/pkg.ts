/**
 * bench/sections/pkg — PSPF/2025 packages next to their anchors, on the same tree in the same run:
 * - pack (tar.gz slot, gzip level 6, signed) vs `tar -czf`;
 * - extract (deep verification first, then safe extraction) vs `tar -xzf`;
 * - `verify --deep` throughput (every byte hashed once) vs `openssl dgst -sha256` over the same package file.
 * The tree is 200 MiB (20 MiB with --quick): 8 files of 8 MiB, then files of 1–16 KiB (70 %) and 64 KiB–1 MiB
 * (30 %), each half compressible text and half random bytes. Each figure is the best of its runs; the page cache
 * is warm for both sides.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { extractPackage, openPackage, verifyPackage, writePackage } from '../../src/pkg/index.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const MiB = 1024 * 1024;

function makeTree(root: string, totalBytes: number): { files: number; bytes: number } {
  const words = 'custody verifiable chain package slot launcher metadata signature tar gzip extract verify '.split(' ');
  const text = Buffer.alloc(4 * MiB);
  let p = 0;
  let seed = 1;
  while (p < text.length) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    p += text.write(words[seed % words.length]! + (seed % 7 === 0 ? '\n' : ' '), p);
  }
  const random = randomBytes(4 * MiB);
  let bytes = 0;
  let files = 0;
  const big = Math.min(8, Math.floor(totalBytes / 2 / (8 * MiB)));
  const write = (rel: string, size: number): void => {
    const parts: Buffer[] = [];
    for (let left = size, i = 0; left > 0; i++) {
      const n = Math.min(left, 64 * 1024);
      const pool = i % 2 === 0 ? text : random;
      const at = (files * 7919 + i * 104729) % (pool.length - n);
      parts.push(pool.subarray(at, at + n));
      left -= n;
    }
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), Buffer.concat(parts));
    bytes += size;
    files++;
  };
  for (let i = 0; i < big; i++) write(`assets/big-${i}.bin`, 8 * MiB);
  for (let i = 0; bytes < totalBytes; i++) {
    // 70 % small files (1–16 KiB), 30 % medium (64 KiB–1 MiB).
    const h = (i * 2654435761) % 4096;
    const size = i % 10 < 7 ? 1024 * (1 + (h % 16)) : 64 * 1024 * (1 + (h % 16));
    write(`src/m${i % 50}/d${i % 7}/file-${i}.dat`, Math.min(size, totalBytes - bytes));
  }
  return { files, bytes };
}

async function best(runs: number, fn: () => unknown): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t0);
  }
  return min / 1000;
}

function tool(cmd: string, args = ['--version']): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const section: BenchSection = {
  title: 'Signed packages (PSPF/2025): pack, extract, verify --deep',
  run: async (ctx: BenchContext): Promise<string> => {
    const total = (ctx.quick ? 20 : 200) * MiB;
    const runs = ctx.quick ? 3 : 2;
    const root = join(ctx.scratch, 'pkg-bench');
    const tree = join(root, 'tree');
    ctx.log(`writing a ${total / MiB} MiB tree`);
    const made = makeTree(tree, total);
    const key = PrivateKey.fromSeed(sha256('custody-bench'));
    // Package trust is required (fail-closed): the bench pins its own signing key, as a deployment would.
    const trust = { keys: [key.publicKey] };
    const pkg = join(root, 'tree.psp');
    const tgz = join(root, 'tree.tgz');
    if (!tool('tar')) return 'skipped: tar is not installed';

    ctx.log('pack');
    const packS = await best(runs, async () => {
      rmSync(pkg, { force: true });
      await writePackage({ output: pkg, name: 'bench', version: '1', key, sourceDateEpoch: 0, slots: [{ id: 'tree', source: { kind: 'directory', path: tree }, operations: 'tar.gz', target: '{workenv}' }] });
    });
    const tarCzS = await best(runs, () => {
      rmSync(tgz, { force: true });
      execFileSync('tar', ['-czf', tgz, '-C', root, 'tree']);
    });

    ctx.log('extract');
    let n = 0;
    const extractS = await best(runs, async () => {
      const out = join(root, `x${n++}`);
      const r = await openPackage(pkg);
      try {
        await verifyPackage(r, { level: 'deep', trust });
        await extractPackage(r, out, { trust, contentsVerified: true });
      } finally {
        await r.close();
      }
      rmSync(out, { recursive: true, force: true });
    });
    const tarXzS = await best(runs, () => {
      const out = join(root, `t${n++}`);
      mkdirSync(out);
      execFileSync('tar', ['-xzf', tgz, '-C', out]);
      rmSync(out, { recursive: true, force: true });
    });

    ctx.log('verify --deep');
    const size = statSync(pkg).size;
    const tgzSize = statSync(tgz).size;
    const verifyS = await best(runs + 1, async () => {
      const r = await openPackage(pkg);
      try {
        await verifyPackage(r, { level: 'deep', trust });
      } finally {
        await r.close();
      }
    });
    const opensslS = tool('openssl', ['version']) ? await best(runs + 1, () => execFileSync('openssl', ['dgst', '-sha256', pkg])) : NaN;
    rmSync(root, { recursive: true, force: true });

    const mibs = (s: number): string => `${(size / MiB / s).toFixed(0)} MiB/s`;
    const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
    const verdict = (a: number, b: number, target: number): string => (a / b <= target ? `✅ ≤ ${target}×` : `❌ > ${target}×`);
    return [
      `Tree: ${made.files} files, ${(made.bytes / MiB).toFixed(0)} MiB; package ${(size / MiB).toFixed(1)} MiB, tar.gz ${(tgzSize / MiB).toFixed(1)} MiB (gzip -6 both); best of ${runs} runs.`,
      '',
      '| operation | custody | anchor | custody / anchor | target |',
      '|---|---|---|---|---|',
      `| pack (tar.gz slot, signed) | ${packS.toFixed(2)} s | \`tar -czf\` ${tarCzS.toFixed(2)} s | ${ratio(packS, tarCzS)} | ${verdict(packS, tarCzS, 1.2)} |`,
      `| extract (deep verify + safe extraction) | ${extractS.toFixed(2)} s | \`tar -xzf\` ${tarXzS.toFixed(2)} s | ${ratio(extractS, tarXzS)} | ${verdict(extractS, tarXzS, 1.2)} |`,
      `| verify --deep (${(size / MiB).toFixed(0)} MiB) | ${verifyS.toFixed(3)} s, ${mibs(verifyS)} | \`openssl dgst -sha256\` ${opensslS.toFixed(3)} s, ${mibs(opensslS)} | ${ratio(verifyS, opensslS)} | ${verdict(verifyS, opensslS, 1.2)} |`,
    ].join('\n');
  },
};

export default section;
