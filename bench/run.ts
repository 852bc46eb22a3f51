/**
 * bench/run — `npm run bench [-- --quick] [-- --only NAME]`: runs every section of bench/sections and writes
 * bench/RESULTS.md with the date and the machine, and bench/compare.md (one table of every headline ratio and its
 * target, from what the sections record through `ctx.record`; see bench/compare.ts). Benchmarks never run in
 * `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderCompare, type Recorded } from './compare.ts';
import { SECTIONS } from './sections/index.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

function opensslVersion(): string {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'openssl not installed';
  }
}

const machine = [
  `- date: ${new Date().toISOString()}`,
  `- cpu: ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
  `- memory: ${Math.round(totalmem() / 2 ** 30)} GiB`,
  `- node: ${process.version} (OpenSSL ${process.versions.openssl}); system: ${opensslVersion()}`,
  `- mode: ${quick ? 'quick (smaller inputs)' : 'full'}`,
].join('\n');

const parts: string[] = ['# Benchmark results', '', 'Written by `npm run bench`; each figure is measured next to its anchor in the same run.', '', machine, ''];
const scratch = mkdtempSync(join(tmpdir(), 'custody-bench-'));
const recorded: Record<string, Recorded> = {};
const record = (id: string, value: number, note?: string): void => {
  recorded[id] = { value, date: new Date().toISOString(), ...(note ? { note } : {}) };
  process.stderr.write(`   figure ${id} = ${value}${note ? ` (${note})` : ''}\n`);
};
try {
  for (const s of SECTIONS) {
    if (only && s.name !== only) continue;
    const section = await s.load();
    process.stderr.write(`== ${section.title}\n`);
    const md = await section.run({ scratch, quick, log: (l) => process.stderr.write(`   ${l}\n`), record });
    parts.push(`## ${section.title}`, '', md.trimEnd(), '');
    process.stdout.write(`## ${section.title}\n\n${md.trimEnd()}\n\n`);
  }
} finally {
  // Retries: a child a section stopped may still be removing its own files (ENOTEMPTY) for a moment.
  rmSync(scratch, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}
const out = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
if (!quick && !only) writeFileSync(out, parts.join('\n'));
else if (!quick && only && parts.length > 6) {
  // A full run of one section replaces (or appends) that section only, stamped with its own date and machine.
  const title = parts[6]!;
  const body = parts[8]!;
  const stamped = `${title}\n\n_Re-measured alone by \`npm run bench -- --only ${only}\`:_\n${machine.replace(/^- mode: .*$/m, '').trimEnd()}\n\n${body.trimEnd()}\n\n`;
  const old = existsSync(out) ? readFileSync(out, 'utf8') : parts.slice(0, 6).join('\n');
  const start = old.indexOf(`${title}\n`);
  const next = start < 0 ? -1 : old.indexOf('\n## ', start + title.length);
  const merged = start < 0 ? `${old.trimEnd()}\n\n${stamped}` : old.slice(0, start) + stamped + (next < 0 ? '' : old.slice(next + 1));
  writeFileSync(out, merged.trimEnd() + '\n');
  process.stderr.write(`bench/RESULTS.md: section "${title.slice(3)}" replaced\n`);
} else process.stderr.write('quick run: bench/RESULTS.md left unchanged\n');

// bench/figures.json keeps every recorded figure by id, so a run of one section updates only its rows.
const figuresFile = fileURLToPath(new URL('./figures.json', import.meta.url));
if (!quick) {
  const all = { ...(existsSync(figuresFile) ? (JSON.parse(readFileSync(figuresFile, 'utf8')) as Record<string, Recorded>) : {}), ...recorded };
  writeFileSync(figuresFile, JSON.stringify(all, null, 2) + '\n');
  writeFileSync(fileURLToPath(new URL('./compare.md', import.meta.url)), renderCompare(all, machine));
  process.stderr.write('bench/compare.md written\n');
} else {
  process.stdout.write(renderCompare(recorded, machine));
}
