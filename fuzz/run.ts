/**
 * fuzz/run — `npm run fuzz [-- --target NAME] [--runs N] [--seconds S] [--jobs J] [--seed X]`: the fuzz campaign of
 * issue 16 (docs/fuzzing.md). Runs each target for N inputs (default 20,000) or S seconds, writes minimized findings
 * to test/fuzz-regressions/<target>/, and, when every target ran, fuzz/RESULTS.md. Exit 1 when something was found.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_REGRESSIONS_DIR, pct, rate, REPO_ROOT, runCampaign, type TargetReport } from './engine.ts';
import { TARGETS } from './registry.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    runs: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '0' },
    jobs: { type: 'string', default: '1' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    list: { type: 'boolean', default: false },
    'no-results': { type: 'boolean', default: false },
  },
});

if (values.list) {
  for (const t of TARGETS) process.stdout.write(`${t.name.padEnd(22)} ${t.parses}\n`);
  process.exit(0);
}
const names = values.target?.flatMap((t) => t.split(',')) ?? TARGETS.map((t) => t.name);
for (const n of names) {
  if (!TARGETS.some((t) => t.name === n)) {
    process.stderr.write(`fuzz: no target ${n}; run with --list\n`);
    process.exit(2);
  }
}
const runs = Number(values.runs);
const seconds = Number(values.seconds);
const seed = Number(values.seed);
const jobs = Number(values.jobs);
if (![runs, seconds, seed, jobs].every((x) => Number.isSafeInteger(x) && x >= 0) || jobs < 1) {
  process.stderr.write('fuzz: --runs, --seconds, --jobs and --seed take non-negative integers\n');
  process.exit(2);
}
const started = new Date();
const t0 = performance.now();
process.stderr.write(`fuzz: ${names.length} target(s), ${runs} inputs each${seconds ? ` or ${seconds} s` : ''}, seed ${seed}, ${jobs} job(s)\n`);
const reports = await runCampaign({ targets: names, runs, seconds, seed, jobs, regressionsDir: DEFAULT_REGRESSIONS_DIR });
const wallS = (performance.now() - t0) / 1000;
const total = reports.reduce((n, r) => n + r.findings.length, 0);

function table(rs: readonly TargetReport[]): string {
  const rows = rs.map((r) => {
    const parses = TARGETS.find((t) => t.name === r.target)?.parses ?? '';
    const f = r.findings.map((x) => `${x.kind} ${x.name}${x.frame ? ` at ${x.frame}` : ''}`).join('; ') || '0';
    return `| ${r.target} | ${parses} | ${r.runs} | ${rate(r)} | ${pct(r)} | ${f} | ${r.unconfirmed} |`;
  });
  return ['| target | parses | inputs | inputs/s | accepted | findings | unconfirmed stalls |', '|---|---|---:|---:|---:|---|---:|', ...rows].join('\n');
}

process.stdout.write(table(reports) + '\n');
if (!values['no-results'] && values.target === undefined) {
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    /* keep os.cpus() */
  }
  const md = [
    '# Fuzz campaign results',
    '',
    'Written by `npm run fuzz` (fuzz/run.ts); see docs/fuzzing.md. Findings are minimized into test/fuzz-regressions/, which `npm test` replays.',
    '',
    `- date: ${started.toISOString()}`,
    `- machine: nproc ${nproc}, ${cpus()[0]?.model ?? 'unknown cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    `- campaign: ${runs} inputs per target${seconds ? ` (or ${seconds} s)` : ''}, seed ${seed}, ${jobs} job(s), ${Math.round(wallS)} s wall`,
    `- findings: ${total}`,
    '',
    table(reports),
    '',
  ].join('\n');
  writeFileSync(join(REPO_ROOT, 'fuzz', 'RESULTS.md'), md);
  process.stderr.write('fuzz: wrote fuzz/RESULTS.md\n');
}
process.exit(total > 0 ? 1 : 0);
