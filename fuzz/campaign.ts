/**
 * fuzz/campaign — the campaign record: every completed run of `npm run fuzz` appended to fuzz/campaign.json, and
 * fuzz/RESULTS.md regenerated from it (docs/fuzzing.md, "A campaign over several sessions"; issue 16's figures).
 *
 * The ≥ 1,000,000-inputs-per-target campaign does not fit one session on a small machine, so it is split by
 * `--target` (and `--until N`) over as many sessions as it takes; each run is kept with its inputs, time, findings,
 * seed, the git commit it ran at and a **code hash**: SHA-256 over the target's own module and every project file it
 * imports, transitively (src/, fuzz/, test/support/), plus package-lock.json. A target's total is the sum of its
 * runs whose code hash equals today's; runs at another hash are **stale** (the parser or the target changed since)
 * and are shown, not counted. Runs at one code hash with a repeated seed are the same inputs again and count once.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sha256 } from '../src/crypto/index.ts';
import type { TargetReport } from './engine.ts';
import type { FuzzTarget } from './target.ts';

/** CAMPAIGN_GOAL is issue 16's inputs per target. */
export const CAMPAIGN_GOAL = 1_000_000;
/** CAMPAIGN_FORMAT names the file's format; a file of another format is refused, not overwritten. */
export const CAMPAIGN_FORMAT = 'custody-fuzz-campaign/v1';
/** NOTES_MARKER separates RESULTS.md's generated part from the hand-written notes kept below it. */
export const NOTES_MARKER = '<!-- Hand-written notes below this line are kept when RESULTS.md is regenerated. -->';

/** RunRecord is one completed (or stopped) run of one target. */
export interface RunRecord {
  target: string;
  /** date is when the run started (ISO 8601). */
  date: string;
  inputs: number;
  ms: number;
  accepted: number;
  seed: number;
  /** codeHash is {@link targetCodeHash} when the run started. */
  codeHash: string;
  /** commit is `git rev-parse HEAD`, with `+dirty` when the covered files differed from it. */
  commit: string;
  machine: string;
  findings: Array<{ kind: string; name: string; frame: string; file?: string }>;
  unconfirmed: number;
  /**
   * stopped: the run ended before its planned inputs (its inputs still count); stopReason says why (TargetReport):
   * 'signal' (SIGINT/SIGTERM), 'stalls', 'restarts' or 'error'. Records written before stopReason existed have none.
   */
  stopped?: boolean;
  stopReason?: 'signal' | 'stalls' | 'restarts' | 'error';
}

/**
 * RecheckRecord is a recorded hang's or memory death's input replayed again later (`npm run fuzz -- --recheck`,
 * engine recheckFinding), at the code hash the finding was recorded at.
 */
export interface RecheckRecord {
  target: string;
  /** file is the finding's regression input (relative to the repository). */
  file: string;
  kind: string;
  name: string;
  codeHash: string;
  date: string;
  machine: string;
  replays: number;
  reproduced: number;
  worstMs: number;
}

/** CampaignFile is fuzz/campaign.json. */
export interface CampaignFile {
  format: typeof CAMPAIGN_FORMAT;
  goal: number;
  runs: RunRecord[];
  /** rechecks: findings replayed again later (absent in files written before it existed). */
  rechecks?: RecheckRecord[];
}

/** TargetStatus is one row of the regenerated table. */
export interface TargetStatus {
  target: string;
  parses: string;
  /** inputs, ms, accepted: sums over the current runs (today's code hash, distinct seeds). */
  inputs: number;
  ms: number;
  accepted: number;
  runs: number;
  findings: RunRecord['findings'];
  /**
   * rechecked: hang and memory findings at this code that no later replay reproduced ({@link RecheckRecord}): not
   * counted in `findings`, but in `unconfirmed`, the stalls of a busy machine.
   */
  rechecked: Array<RunRecord['findings'][number] & { replays: number; worstMs: number }>;
  unconfirmed: number;
  /** staleInputs: inputs run at another code hash (not counted). */
  staleInputs: number;
  /** repeatedInputs: inputs of runs at today's hash that repeated an earlier run's seed (not counted). */
  repeatedInputs: number;
  lastDate: string;
  commits: string[];
  state: 'done' | 'partial' | 'stale' | 'not run';
}

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

/** importClosure returns the project files `entry` imports, transitively (relative specifiers only), itself included. */
export function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const stack = [resolve(entry)];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (seen.has(f) || !existsSync(f)) continue;
    seen.add(f);
    if (!/\.[cm]?[jt]s$/.test(f)) continue;
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) stack.push(resolve(dirname(f), m[2]!));
  }
  return [...seen].sort();
}

/**
 * targetCodeHash is the SHA-256 (hex) of the files a target's code covers: the import closure of its module, each
 * file named by its path relative to the checkout (src/errors.ts without its table of codes: withoutCodeTable), and
 * package-lock.json (the parsers' dependencies).
 */
export function targetCodeHash(repoRoot: string, targetModule: string): { hash: string; files: string[] } {
  const cached = hashCache.get(`${repoRoot}\0${targetModule}`);
  if (cached !== undefined) return cached;
  const files = importClosure(targetModule).map((f) => relative(repoRoot, f));
  if (existsSync(join(repoRoot, 'package-lock.json'))) files.push('package-lock.json');
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const rel of files) {
    const raw = readFileSync(join(repoRoot, rel));
    const body = rel === ERRORS_MODULE ? withoutCodeTable(raw) : raw;
    parts.push(enc.encode(`${rel}\0${body.length}\0`), body);
  }
  const out = { hash: Buffer.from(sha256(Buffer.concat(parts))).toString('hex'), files };
  hashCache.set(`${repoRoot}\0${targetModule}`, out);
  return out;
}

/** ERRORS_MODULE is in every target's closure; its table of codes is left out of the hash (withoutCodeTable). */
const ERRORS_MODULE = 'src/errors.ts';

/**
 * withoutCodeTable drops the body of `ERROR_CODES` from src/errors.ts: every target imports errors.ts, and the table
 * grows with every feature, but a code's kind, status and hint decide nothing a parser does (the oracle asks only
 * whether an error is coded). Without this, any new code anywhere would make every recorded run stale. The rest of
 * errors.ts (the classes, isTrustError) is hashed as written.
 */
export function withoutCodeTable(body: Buffer): Buffer {
  const text = body.toString('utf8');
  const start = text.indexOf('export const ERROR_CODES = {');
  const end = start < 0 ? -1 : text.indexOf('\n} as const', start);
  if (start < 0 || end < 0) return body;
  return Buffer.from(`${text.slice(0, start)}export const ERROR_CODES = {${text.slice(end)}`, 'utf8');
}

// Targets defined in one module share its hash: computed once per module and process.
const hashCache = new Map<string, { hash: string; files: string[] }>();

/**
 * targetModules maps each registered target's name to the module that defines it (the fuzz/targets/ module one of
 * whose exports is that very target object).
 */
export async function targetModules(targets: readonly FuzzTarget[], dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts')).sort()) {
    const path = join(dir, f);
    const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      const t = targets.find((x) => x === v);
      if (t !== undefined && !out.has(t.name)) out.set(t.name, path);
    }
  }
  return out;
}

/**
 * gitState reads HEAD's commit and the paths that differ from it (one `git status` for the whole checkout);
 * {@link commitOf} then says, per target, whether its covered files were among them. Outside a checkout: ''.
 */
export function gitState(repoRoot: string): { head: string; changed: Set<string> } {
  try {
    const git = (args: string[]): string => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const head = git(['rev-parse', 'HEAD']).trim();
    // -z: NUL-separated "XY path" entries; a rename adds its source as the next entry.
    const changed = new Set(git(['status', '--porcelain', '-z', '--untracked-files=all']).split('\0').filter((e) => e.length > 3).map((e) => (/^.. /.test(e) ? e.slice(3) : e)));
    return { head, changed };
  } catch {
    return { head: '', changed: new Set() };
  }
}

/** commitOf is the commit a run is recorded at: HEAD, with `+dirty` when any of `files` differs from it. */
export function commitOf(git: { head: string; changed: Set<string> }, files: readonly string[]): string {
  if (git.head === '') return '';
  return files.some((f) => git.changed.has(f)) ? `${git.head}+dirty` : git.head;
}

/** machineLine describes this machine for the records. */
export function machineLine(): string {
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    /* keep os.cpus() */
  }
  return `nproc ${nproc}, ${cpus()[0]?.model ?? 'unknown cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

/** emptyCampaign is a campaign with no runs. */
export function emptyCampaign(): CampaignFile {
  return { format: CAMPAIGN_FORMAT, goal: CAMPAIGN_GOAL, runs: [] };
}

/** readCampaign reads a campaign file; a missing file is an empty campaign, a file of another shape is an error. */
export function readCampaign(path: string): CampaignFile {
  if (!existsSync(path)) return emptyCampaign();
  const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<CampaignFile>;
  if (v.format !== CAMPAIGN_FORMAT || !Array.isArray(v.runs) || typeof v.goal !== 'number') {
    throw new Error(`${path} is not a ${CAMPAIGN_FORMAT} file; move it away or fix it`);
  }
  return v as CampaignFile;
}

/** writeCampaign writes the file whole (writeFileDurable), so a crash leaves the old or the new. */
export function writeCampaign(path: string, c: CampaignFile): void {
  writeFileDurable(path, JSON.stringify(c, null, 1) + '\n');
}

/**
 * writeFileDurable writes `text` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs the
 * directory: a crash or power cut leaves the old file or the new one, never a torn one. (Synchronous: it runs
 * under the campaign lock, which is synchronous too.)
 */
export function writeFileDurable(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const data = Buffer.from(text, 'utf8');
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * appendRun adds a run to the file at `path` (read again just before, so targets finishing one after the other
 * during one campaign all land) and returns the campaign.
 */
export function appendRun(path: string, run: RunRecord, then?: (c: CampaignFile) => void): CampaignFile {
  return withCampaignLock(path, () => {
    const c = readCampaign(path);
    c.runs.push(run);
    writeCampaign(path, c);
    // Under the lock too (RESULTS.md regenerated from this campaign): else a process finishing first could write
    // its older view after the other's newer one.
    then?.(c);
    return c;
  });
}

/** appendRecheck adds a recheck to the campaign file under its lock, as {@link appendRun} adds a run. */
export function appendRecheck(path: string, rec: RecheckRecord, then?: (c: CampaignFile) => void): CampaignFile {
  return withCampaignLock(path, () => {
    const c = readCampaign(path);
    (c.rechecks ??= []).push(rec);
    writeCampaign(path, c);
    then?.(c);
    return c;
  });
}

/** LOCK_STALE_MS: a lock directory older than this was left by a process that died between mkdir and rmdir. */
const LOCK_STALE_MS = 30_000;

/**
 * withCampaignLock runs fn holding `path.lock` (a directory: mkdir is atomic), so two `npm run fuzz` processes
 * (different targets at once, e.g. a slow target on its own next to the rest) never lose each other's runs between
 * a read and a write of the campaign file.
 */
export function withCampaignLock<T>(path: string, fn: () => T): T {
  const lock = `${path}.lock`;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  // Waiting gives up only after a stale lock would have been taken over (twice LOCK_STALE_MS).
  const giveUpAt = Date.now() + 2 * LOCK_STALE_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
      } catch {
        // Removed by its holder meanwhile: try again.
      }
      if (Date.now() > giveUpAt) throw new Error(`${lock}: held for over ${(2 * LOCK_STALE_MS) / 1000} s; remove it if no \`npm run fuzz\` is running`, { cause: e });
      Atomics.wait(pause, 0, 0, 10);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** runRecord turns an engine report into a record. */
export function runRecord(r: TargetReport, o: { date: string; seed: number; codeHash: string; commit: string; machine: string }, repoRoot: string): RunRecord {
  return {
    target: r.target,
    date: o.date,
    inputs: r.runs,
    ms: Math.round(r.ms),
    accepted: r.accepted,
    seed: o.seed,
    codeHash: o.codeHash,
    commit: o.commit,
    machine: o.machine,
    findings: r.findings.map((f) => ({ kind: f.kind, name: f.name, frame: f.frame, ...(f.file ? { file: relative(repoRoot, f.file) } : {}) })),
    unconfirmed: r.unconfirmed,
    ...(r.stopped ? { stopped: true, ...(r.stopReason ? { stopReason: r.stopReason } : {}) } : {}),
  };
}

/** status sums a target's runs at its current code hash (distinct seeds) and says where it stands. */
export function status(c: CampaignFile, target: string, parses: string, codeHash: string): TargetStatus {
  const mine = c.runs.filter((r) => r.target === target);
  const s: TargetStatus = { target, parses, inputs: 0, ms: 0, accepted: 0, runs: 0, findings: [], rechecked: [], unconfirmed: 0, staleInputs: 0, repeatedInputs: 0, lastDate: '', commits: [], state: 'not run' };
  const seeds = new Set<number>();
  for (const r of mine) {
    if (r.date > s.lastDate) s.lastDate = r.date;
    if (r.codeHash !== codeHash) {
      s.staleInputs += r.inputs;
      continue;
    }
    if (seeds.has(r.seed)) {
      s.repeatedInputs += r.inputs;
      continue;
    }
    seeds.add(r.seed);
    s.inputs += r.inputs;
    s.ms += r.ms;
    s.accepted += r.accepted;
    s.runs++;
    s.findings.push(...r.findings);
    s.unconfirmed += r.unconfirmed;
    const commit = r.commit.slice(0, 12) + (r.commit.endsWith('+dirty') ? '+dirty' : '');
    if (commit !== '' && !s.commits.includes(commit)) s.commits.push(commit);
  }
  // A hang or memory death that later replays at this code never gave again (and at least one did) was machine
  // noise: it moves to the unconfirmed stalls. One that any recheck reproduced stays a finding.
  s.findings = s.findings.filter((f) => {
    const seen = (c.rechecks ?? []).filter((k) => k.target === target && k.codeHash === codeHash && k.file === f.file && k.kind === f.kind && k.name === f.name);
    if ((f.kind !== 'hang' && f.kind !== 'memory') || seen.length === 0 || seen.some((k) => k.reproduced > 0)) return true;
    s.rechecked.push({ ...f, replays: seen.reduce((a, k) => a + k.replays, 0), worstMs: Math.max(...seen.map((k) => k.worstMs)) });
    s.unconfirmed++;
    return false;
  });
  if (s.runs > 0) s.state = s.inputs >= c.goal ? 'done' : 'partial';
  else if (s.staleInputs > 0) s.state = 'stale';
  return s;
}

/** remaining is how many inputs a target still needs to reach `until` at its current code. */
export function remaining(c: CampaignFile, target: string, codeHash: string, until: number): number {
  return Math.max(0, until - status(c, target, '', codeHash).inputs);
}

/** freshSeed picks a seed no run of this target at this code hash has used (base, then base+1, …). */
export function freshSeed(c: CampaignFile, target: string, codeHash: string, base: number): number {
  const used = new Set(c.runs.filter((r) => r.target === target && r.codeHash === codeHash).map((r) => r.seed));
  let s = base;
  while (used.has(s)) s = (s + 1) % 2 ** 31;
  return s;
}

const n = (x: number): string => x.toLocaleString('en-US');

/** renderResults writes RESULTS.md's generated part from the campaign and today's code hashes, then `notes`. */
export function renderResults(c: CampaignFile, rows: readonly TargetStatus[], notes: string): string {
  const done = rows.filter((r) => r.state === 'done').length;
  const findings = rows.reduce((k, r) => k + r.findings.length, 0);
  const stale = rows.filter((r) => r.staleInputs > 0 && r.state !== 'done').length;
  const machines = [...new Set(c.runs.map((r) => r.machine))];
  const lines = rows.map((r) => {
    const rate = r.ms > 0 ? n(Math.round((r.inputs / r.ms) * 1000)) : '-';
    const acc = r.inputs > 0 ? `${((100 * r.accepted) / r.inputs).toFixed(1)}%` : '-';
    const rechecked = r.rechecked.map((x) => `${x.kind} ${x.file ?? ''} not reproduced in ${x.replays} later replays (worst ${Math.round(x.worstMs)} ms)`);
    const f = [...r.findings.map((x) => `${x.kind} ${x.name}${x.frame ? ` at ${x.frame}` : ''}`), ...(r.findings.length === 0 && r.runs > 0 ? ['0'] : []), ...rechecked].join('; ') || (r.runs > 0 ? '0' : '-');
    const state = r.state === 'stale' ? `**stale** (${n(r.staleInputs)} inputs at older code)` : r.state === 'partial' && r.staleInputs > 0 ? `partial (+${n(r.staleInputs)} stale)` : r.state;
    return `| ${r.target} | ${r.parses} | ${n(r.inputs)} | ${rate} | ${acc} | ${f} | ${r.unconfirmed || 0} | ${state} | ${r.lastDate.slice(0, 16).replace('T', ' ')} | ${r.commits.join(' ')} |`;
  });
  return [
    '# Fuzz campaign results',
    '',
    'Generated by `npm run fuzz` (fuzz/run.ts) from fuzz/campaign.json, every run of every session; see docs/fuzzing.md.',
    `Inputs count only at a target's current code (a hash of its module, the project files it imports and package-lock.json):`,
    'a **stale** target has runs only at older code and must run again. Findings are minimized into test/fuzz-regressions/, which `npm test` replays.',
    '',
    `- goal: ${n(c.goal)} inputs per target; ${done} of ${rows.length} targets there, ${findings} finding(s) at current code${stale > 0 ? `, ${stale} target(s) with stale runs` : ''}`,
    `- runs recorded: ${c.runs.length}; machine(s): ${machines.join('; ') || '-'}`,
    `- generated: ${new Date().toISOString()}`,
    '',
    '| target | parses | inputs | inputs/s | accepted | findings | unconfirmed stalls | state | last run (UTC) | commit(s) |',
    '|---|---|---:|---:|---:|---|---:|---|---|---|',
    ...lines,
    '',
    NOTES_MARKER,
    notes.replace(/^\n+/, '\n'),
  ].join('\n');
}

/** keptNotes returns what follows {@link NOTES_MARKER} in an existing RESULTS.md ('' when there is none). */
export function keptNotes(resultsPath: string): string {
  if (!existsSync(resultsPath)) return '';
  const text = readFileSync(resultsPath, 'utf8');
  const i = text.indexOf(NOTES_MARKER);
  return i === -1 ? '' : text.slice(i + NOTES_MARKER.length);
}

/** FUZZ_DIR is this folder. */
export const FUZZ_DIR = dirname(fileURLToPath(import.meta.url));
