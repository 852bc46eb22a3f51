/**
 * bench/sections/vuln — the offline vulnerability database and the rebuild check: `vulndb import` of a ZIP of
 * generated OSV records (records/s), `scan` of an SBOM against it (components/s), and `rebuild-check` of two copies
 * of a tree of small files next to `diff -r` on the same trees (the anchor: a byte comparison without hashing or
 * metadata). Figures go to RESULTS.md only (no compare.md target exists for them yet).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareOutputs } from '../../src/rebuild/index.ts';
import { importOsv, openVulnDb, scanComponents } from '../../src/vuln/index.ts';
import { buildZip } from '../../test/support/zip.ts';
import type { BenchContext, BenchSection } from '../types.ts';

function osvRecord(i: number): string {
  return JSON.stringify({
    id: `BENCH-${i}`,
    modified: '2026-01-01T00:00:00Z',
    aliases: [`CVE-2026-${i}`],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
    affected: [{ package: { ecosystem: 'npm', name: `pkg-${i % 5000}` }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: `${1 + (i % 7)}.0.0` }] }] }],
  });
}

const section: BenchSection = {
  title: 'Offline vulnerabilities and rebuild check',
  async run(ctx: BenchContext) {
    const dir = join(ctx.scratch, 'vuln');
    mkdirSync(dir, { recursive: true });
    const records = ctx.quick ? 2_000 : 50_000;
    const components = ctx.quick ? 500 : 5_000;
    const files = ctx.quick ? 1_000 : 10_000;

    ctx.log(`zip of ${records} OSV records`);
    writeFileSync(join(dir, 'all.zip'), buildZip(Array.from({ length: records }, (_, i) => ({ name: `BENCH-${i}.json`, data: osvRecord(i) }))));
    let t0 = performance.now();
    const s = await importOsv(join(dir, 'all.zip'), join(dir, 'v.sqlite'));
    const importMs = performance.now() - t0;

    const comps = Array.from({ length: components }, (_, i) => ({ name: `pkg-${i}`, purl: `pkg:npm/pkg-${i}@${1 + (i % 9)}.0.0` }));
    const db = openVulnDb(join(dir, 'v.sqlite'));
    t0 = performance.now();
    const r = scanComponents(db, comps);
    const scanMs = performance.now() - t0;
    db.close();

    ctx.log(`two trees of ${files} files`);
    const a = join(dir, 'a');
    for (let i = 0; i < files; i++) {
      const sub = join(a, `d${i % 100}`);
      if (i < 100) mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, `f${i}`), `file ${i}\n`.repeat(50));
    }
    // cp -a keeps directory mtimes too (Node's cpSync does not): the copy is identical in every compared fact.
    execFileSync('cp', ['-a', a, join(dir, 'b')]);
    await compareOutputs(a, join(dir, 'b')); // warm: module loading and JIT are not the figure
    t0 = performance.now();
    const cmp = await compareOutputs(a, join(dir, 'b'));
    const oursMs = performance.now() - t0;
    if (cmp.differences.length !== 0) throw new Error('copies differ');
    execFileSync('diff', ['-r', a, join(dir, 'b')]);
    t0 = performance.now();
    execFileSync('diff', ['-r', a, join(dir, 'b')]);
    const diffMs = performance.now() - t0;

    return [
      '| operation | size | time | rate |',
      '|---|---|---|---|',
      `| \`vulndb import\` (ZIP, one transaction) | ${s.imported} records | ${importMs.toFixed(0)} ms | ${((s.imported / importMs) * 1000).toFixed(0)} records/s |`,
      `| \`scan\` | ${components} components, ${r.findings.length} findings | ${scanMs.toFixed(0)} ms | ${((components / scanMs) * 1000).toFixed(0)} components/s |`,
      `| \`rebuild-check\` (SHA-256, mode, mtime of every entry) | ${cmp.entriesA} entries × 2 | ${oursMs.toFixed(0)} ms | ${(oursMs / diffMs).toFixed(2)}× \`diff -r\` (${diffMs.toFixed(0)} ms) |`,
    ].join('\n');
  },
};

export default section;
