/**
 * fuzz/run — `npm run fuzz [-- --target NAME] [--runs N | --until N] [--seconds S] [--jobs J] [--seed X]` (also
 * `--list`, `--status`, `--hashes`, `--recheck [--replays N]`): the fuzz campaign of issue 16 (docs/fuzzing.md). Runs each target for N
 * inputs (default 20,000) or S seconds, writes minimized findings to test/fuzz-regressions/<target>/, records each
 * target's run in fuzz/campaign.json as it
 * finishes and regenerates fuzz/RESULTS.md from every recorded run (fuzz/campaign.ts), so a campaign split over
 * several sessions adds up to one table. `--until N` runs each target only for what it lacks to reach N inputs at
 * its current code. SIGINT/SIGTERM stop the running targets after their input in flight; what they ran is recorded.
 * Exit 1 when something was found, 130 when stopped.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_REGRESSIONS_DIR, pct, rate, recheckFinding, REPO_ROOT, runCampaign, type TargetReport } from './engine.ts';
import { appendRecheck, appendRun, CAMPAIGN_GOAL, freshSeed, FUZZ_DIR, commitOf, gitState, keptNotes, machineLine, readCampaign, remaining, renderResults, runRecord, status, targetCodeHash, targetModules, writeFileDurable, type CampaignFile } from './campaign.ts';
import { TARGETS } from './registry.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    runs: { type: 'string' },
    until: { type: 'string' },
    seconds: { type: 'string', default: '0' },
    jobs: { type: 'string', default: '1' },
    seed: { type: 'string' },
    list: { type: 'boolean', default: false },
    status: { type: 'boolean', default: false },
    hashes: { type: 'boolean', default: false },
    recheck: { type: 'boolean', default: false },
    replays: { type: 'string', default: '10' },
    campaign: { type: 'string', default: join(FUZZ_DIR, 'campaign.json') },
    results: { type: 'string', default: join(FUZZ_DIR, 'RESULTS.md') },
    'no-results': { type: 'boolean', default: false },
  },
});

function fail(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\n`);
  process.exit(2);
}

if (values.list) {
  for (const t of TARGETS) process.stdout.write(`${t.name.padEnd(22)} ${t.parses}\n`);
  process.exit(0);
}
const names = values.target?.flatMap((t) => t.split(',')) ?? TARGETS.map((t) => t.name);
for (const n of names) if (!TARGETS.some((t) => t.name === n)) fail(`no target ${n}; run with --list`);
if (values.runs !== undefined && values.until !== undefined) fail('--runs and --until do not go together');
const num = (s: string | undefined, d: number): number => (s === undefined ? d : /^\d+$/.test(s) ? Number(s) : NaN);
const runs = num(values.runs, 20_000);
const until = num(values.until, 0);
const seconds = num(values.seconds, 0);
const jobs = num(values.jobs, 1);
const baseSeed = num(values.seed, Date.now() % 2 ** 31);
if (![runs, until, seconds, baseSeed, jobs].every((x) => Number.isSafeInteger(x) && x >= 0) || jobs < 1) {
  fail('--runs, --until, --seconds, --jobs and --seed take non-negative integers');
}
const record = !values['no-results'];

// Today's code hash of every target (what its runs are counted against).
const modules = await targetModules(TARGETS, join(FUZZ_DIR, 'targets'));
const hashes = new Map<string, { hash: string; files: string[] }>();
for (const t of TARGETS) {
  const m = modules.get(t.name);
  hashes.set(t.name, m === undefined ? { hash: 'unknown-module', files: [] } : targetCodeHash(REPO_ROOT, m));
}
let campaign: CampaignFile;
try {
  campaign = readCampaign(values.campaign);
} catch (e) {
  fail((e as Error).message);
}

function regenerate(c: CampaignFile): void {
  const rows = TARGETS.map((t) => status(c, t.name, t.parses, hashes.get(t.name)!.hash));
  writeFileDurable(values.results, renderResults(c, rows, keptNotes(values.results)));
}

// `--hashes`: each target's code hash at this checkout, one per line. Compare two checkouts' lists to see which
// targets a change makes stale, including those with no run at current code yet (which `--status` cannot show).
if (values.hashes) {
  for (const t of TARGETS) process.stdout.write(`${t.name} ${hashes.get(t.name)!.hash}\n`);
  process.exit(0);
}

if (values.status) {
  const rows = TARGETS.map((t) => status(campaign, t.name, t.parses, hashes.get(t.name)!.hash));
  for (const r of rows) process.stdout.write(`${r.target.padEnd(22)} ${String(r.inputs).padStart(9)} inputs  ${r.state}${r.staleInputs ? `  (${r.staleInputs} stale)` : ''}\n`);
  if (record) regenerate(campaign);
  process.exit(0);
}

// `--recheck`: each hang or memory finding recorded at a target's current code is replayed again, alone in a fresh
// worker (`--replays` times after a warm-up), and what that saw is recorded: one no recheck reproduces is counted
// with the unconfirmed stalls of a busy machine (docs/fuzzing.md). Run it on a quiet machine.
if (values.recheck) {
  const times = num(values.replays, 10);
  if (!(times >= 1)) fail('--replays takes a whole number of at least 1');
  let checked = 0;
  for (const n of names) {
    const h = hashes.get(n)!.hash;
    const t = TARGETS.find((x) => x.name === n)!;
    for (const f of status(campaign, n, t.parses, h).findings) {
      if ((f.kind !== 'hang' && f.kind !== 'memory') || f.file === undefined) continue;
      const r = await recheckFinding({}, n, new Uint8Array(readFileSync(join(REPO_ROOT, f.file))), { kind: f.kind, name: f.name, frame: f.frame }, times);
      checked++;
      process.stdout.write(`${n} ${f.kind} ${f.file}: reproduced ${r.reproduced} of ${r.replays + 1}, worst other replay ${r.worstMs.toFixed(1)} ms\n`);
      const rec = { target: n, file: f.file, kind: f.kind, name: f.name, codeHash: h, date: new Date().toISOString(), machine: machineLine(), ...r };
      if (record) campaign = appendRecheck(values.campaign, rec, regenerate);
    }
  }
  process.stderr.write(`fuzz: ${checked} finding(s) rechecked${record && checked > 0 ? `; recorded in ${values.campaign}` : ''}\n`);
  process.exit(0);
}

// The plan: how many inputs and which seed each target gets. With --until, targets already there are skipped.
const plan = new Map<string, { runs: number; seed: number }>();
for (const n of names) {
  const h = hashes.get(n)!.hash;
  const want = values.until !== undefined ? remaining(campaign, n, h, until) : runs;
  if (want === 0) continue;
  // A seed given with --seed is used as given (to repeat a run); otherwise each target gets one its runs at this
  // code have not used, so runs split over sessions are different inputs.
  plan.set(n, { runs: want, seed: values.seed !== undefined ? baseSeed : freshSeed(campaign, n, h, baseSeed) });
}
const todo = names.filter((n) => plan.has(n));
if (todo.length === 0) {
  process.stderr.write(`fuzz: every chosen target already has ${until} inputs at its current code\n`);
  if (record) regenerate(campaign);
  process.exit(0);
}

const controller = new AbortController();
let signals = 0;
const onSignal = (sig: string): void => {
  if (++signals > 1) process.exit(130);
  process.stderr.write(`fuzz: ${sig}: stopping after the inputs in flight (again to quit at once)\n`);
  controller.abort();
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

const started = new Date().toISOString();
const machine = machineLine();
// The commit (and whether the covered files differed from it) when the run started.
const git = record ? gitState(REPO_ROOT) : { head: '', changed: new Set<string>() };
const commits = new Map(todo.map((n) => [n, commitOf(git, hashes.get(n)!.files)] as const));
const t0 = performance.now();
process.stderr.write(
  `fuzz: ${todo.length} target(s), ${values.until !== undefined ? `until ${until} inputs each at current code` : `${runs} inputs each`}${seconds ? ` or ${seconds} s` : ''}, seed ${values.seed !== undefined ? baseSeed : `${baseSeed}+`}, ${jobs} job(s)${record ? `, recorded in ${values.campaign}` : ''}\n`,
);
const reports = await runCampaign({
  targets: todo,
  runs: runs,
  seconds,
  seed: baseSeed,
  jobs,
  regressionsDir: DEFAULT_REGRESSIONS_DIR,
  plan: (t) => plan.get(t)!,
  signal: controller.signal,
  onReport(r: TargetReport) {
    if (!record || r.runs === 0) return;
    const h = hashes.get(r.target)!;
    const commit = commits.get(r.target) ?? '';
    campaign = appendRun(values.campaign, runRecord(r, { date: started, seed: r.seed, codeHash: h.hash, commit, machine }, REPO_ROOT), regenerate);
  },
});
const wallS = (performance.now() - t0) / 1000;
const total = reports.reduce((k, r) => k + r.findings.length, 0);

const rows = reports.map((r) => {
  const parses = TARGETS.find((t) => t.name === r.target)?.parses ?? '';
  const f = r.findings.map((x) => `${x.kind} ${x.name}${x.frame ? ` at ${x.frame}` : ''}`).join('; ') || '0';
  return `| ${r.target} | ${parses} | ${r.runs} | ${rate(r)} | ${pct(r)} | ${f} | ${r.unconfirmed} | ${r.seed} |`;
});
process.stdout.write(['| target | parses | inputs | inputs/s | accepted | findings | unconfirmed stalls | seed |', '|---|---|---:|---:|---:|---|---:|---:|', ...rows].join('\n') + '\n');
process.stderr.write(`fuzz: ${Math.round(wallS)} s wall${record ? `; recorded in ${values.campaign}, ${values.results} regenerated (goal ${CAMPAIGN_GOAL})` : ''}\n`);
process.exit(total > 0 ? 1 : controller.signal.aborted ? 130 : 0);
