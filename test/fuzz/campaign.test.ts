/**
 * The campaign record (fuzz/campaign.ts, issue 16): runs split over sessions add up per target at its current code,
 * a change to the code a target covers makes its runs stale, a repeated seed counts once, the hand-written notes of
 * RESULTS.md survive regeneration, and `npm run fuzz` (fuzz/run.ts, a real child process) records each run,
 * resumes with `--until`, and records what a target ran when it is stopped by SIGINT.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  appendRun,
  commitOf,
  emptyCampaign,
  freshSeed,
  importClosure,
  keptNotes,
  NOTES_MARKER,
  readCampaign,
  remaining,
  renderResults,
  status,
  targetCodeHash,
  targetModules,
  writeFileDurable,
  type CampaignFile,
  type RunRecord,
} from '../../fuzz/campaign.ts';
import { REPO_ROOT } from '../../fuzz/engine.ts';
import { TARGETS } from '../../fuzz/registry.ts';

function tmp(t: { after: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'custody-fuzz-campaign-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function run(target: string, inputs: number, seed: number, codeHash: string, extra: Partial<RunRecord> = {}): RunRecord {
  return { target, date: '2026-12-02T00:00:00.000Z', inputs, ms: inputs / 10, accepted: inputs / 2, seed, codeHash, commit: 'c0ffee', machine: 'test', findings: [], unconfirmed: 0, ...extra };
}

test('the code hash covers the target module and what it imports, transitively, and nothing else', (t) => {
  const root = tmp(t);
  mkdirSync(join(root, 'fuzz', 'targets'), { recursive: true });
  mkdirSync(join(root, 'src', 'a'), { recursive: true });
  writeFileSync(join(root, 'fuzz', 'targets', 'x.ts'), "import { f } from '../../src/a/f.ts';\nimport type { T } from '../../src/a/types.ts';\nexport const x = f;\n");
  writeFileSync(join(root, 'src', 'a', 'f.ts'), "export { g as f } from './g.ts';\nconst lazy = () => import('./lazy.ts');\nimport 'node:fs';\n");
  writeFileSync(join(root, 'src', 'a', 'g.ts'), 'export const g = 1;\n');
  writeFileSync(join(root, 'src', 'a', 'lazy.ts'), 'export const l = 1;\n');
  writeFileSync(join(root, 'src', 'a', 'types.ts'), 'export type T = 1;\n');
  writeFileSync(join(root, 'src', 'a', 'other.ts'), 'export const o = 1;\n');
  writeFileSync(join(root, 'package-lock.json'), '{}\n');
  const entry = join(root, 'fuzz', 'targets', 'x.ts');
  assert.deepEqual(
    importClosure(entry).map((f) => f.slice(root.length + 1)),
    ['fuzz/targets/x.ts', 'src/a/f.ts', 'src/a/g.ts', 'src/a/lazy.ts', 'src/a/types.ts'],
  );
  // targetCodeHash caches per module and process: each check below uses a fresh copy of the tree.
  const hashOf = (mutate: (dir: string) => void): string => {
    const copy = mkdtempSync(join(root, 'copy-'));
    for (const rel of ['fuzz/targets/x.ts', 'src/a/f.ts', 'src/a/g.ts', 'src/a/lazy.ts', 'src/a/types.ts', 'src/a/other.ts', 'package-lock.json']) {
      mkdirSync(join(copy, rel, '..'), { recursive: true });
      writeFileSync(join(copy, rel), readFileSync(join(root, rel)));
    }
    mutate(copy);
    return targetCodeHash(copy, join(copy, 'fuzz', 'targets', 'x.ts')).hash;
  };
  const base = hashOf(() => undefined);
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(hashOf(() => undefined), base, 'the hash depends on contents and relative paths only');
  assert.equal(hashOf((d) => writeFileSync(join(d, 'src', 'a', 'other.ts'), 'export const o = 2;\n')), base, 'a file the target does not import');
  assert.notEqual(hashOf((d) => writeFileSync(join(d, 'src', 'a', 'lazy.ts'), 'export const l = 2;\n')), base, 'a dynamically imported file');
  assert.notEqual(hashOf((d) => writeFileSync(join(d, 'src', 'a', 'g.ts'), 'export const g = 2;\n')), base, 'a re-exported file');
  assert.notEqual(hashOf((d) => writeFileSync(join(d, 'package-lock.json'), '{"x":1}\n')), base, 'the dependencies');
  const errors = "export class E {}\nexport const ERROR_CODES = {\n  ERR_A_B: ['io', 500, 'hint'],\n} as const satisfies X;\nexport const after = 1;\n";
  const withErrors = (d: string, text: string): void => {
    writeFileSync(join(d, 'src', 'errors.ts'), text);
    writeFileSync(join(d, 'src', 'a', 'g.ts'), "import '../errors.ts';\nexport const g = 1;\n");
  };
  const withTable = hashOf((d) => withErrors(d, errors));
  assert.notEqual(withTable, base, 'errors.ts is covered');
  assert.equal(hashOf((d) => withErrors(d, errors.replace("  ERR_A_B: ['io', 500, 'hint'],\n", "  ERR_A_B: ['io', 500, 'hint'],\n  ERR_C_D: ['format', 400, 'new'],\n"))), withTable, 'a new error code');
  assert.notEqual(hashOf((d) => withErrors(d, errors.replace('export class E {}', 'export class E { x = 1; }'))), withTable, 'the error classes');
  assert.notEqual(hashOf((d) => withErrors(d, errors.replace('after = 1', 'after = 2'))), withTable, 'what follows the table');
  const h = targetCodeHash(REPO_ROOT, join(REPO_ROOT, 'fuzz', 'targets', 'pkg.ts'));
  assert.ok(h.files.includes('src/pkg/reader.ts') && h.files.includes('fuzz/targets/pkg.ts') && !h.files.includes('src/server/app.ts'), 'the pkg targets cover src/pkg, not the daemon');
});

test('runs add up per target at its current code; older code is stale; a repeated seed counts once', () => {
  const c: CampaignFile = emptyCampaign();
  c.goal = 1000;
  c.runs.push(run('a', 300, 1, 'old'), run('a', 400, 2, 'new'), run('a', 400, 2, 'new'), run('a', 500, 3, 'new', { findings: [{ kind: 'crash', name: 'TypeError', frame: 'src/x.ts:1' }] }), run('b', 50, 1, 'old'));
  const a = status(c, 'a', 'parses a', 'new');
  assert.equal(a.inputs, 900);
  assert.equal(a.ms, 90);
  assert.equal(a.accepted, 450);
  assert.equal(a.runs, 2);
  assert.equal(a.staleInputs, 300);
  assert.equal(a.repeatedInputs, 400);
  assert.equal(a.findings.length, 1);
  assert.equal(a.state, 'partial');
  assert.equal(remaining(c, 'a', 'new', 1000), 100);
  assert.equal(remaining(c, 'a', 'new', 800), 0);
  assert.equal(remaining(c, 'a', 'newer', 1000), 1000, 'a code change starts the count again');
  assert.equal(status(c, 'b', '', 'new').state, 'stale');
  assert.equal(status(c, 'c', '', 'new').state, 'not run');
  c.runs.push(run('a', 100, 4, 'new'));
  assert.equal(status(c, 'a', '', 'new').state, 'done');
  assert.equal(freshSeed(c, 'a', 'new', 2), 5, 'seeds 2, 3 and 4 are taken at this code');
  assert.equal(freshSeed(c, 'a', 'old', 2), 2);
  assert.equal(commitOf({ head: 'abc', changed: new Set(['src/x.ts']) }, ['src/y.ts']), 'abc');
  assert.equal(commitOf({ head: 'abc', changed: new Set(['src/x.ts']) }, ['src/x.ts']), 'abc+dirty');
});

test('a hang no later recheck at the same code reproduces is counted with the unconfirmed stalls; one reproduced stays', () => {
  const c: CampaignFile = emptyCampaign();
  const hang = (file: string): RunRecord['findings'][number] => ({ kind: 'hang', name: 'Hang', frame: '', file });
  const crash = { kind: 'crash', name: 'TypeError', frame: 'src/x.ts:1', file: 'r/c.bin' };
  c.runs.push(run('a', 500, 1, 'new', { findings: [hang('r/noise.bin'), hang('r/real.bin'), hang('r/unchecked.bin'), crash], unconfirmed: 2 }), run('a', 500, 2, 'old', { findings: [hang('r/old.bin')] }));
  const recheck = (file: string, codeHash: string, reproduced: number): NonNullable<CampaignFile['rechecks']>[number] => ({ target: 'a', file, kind: 'hang', name: 'Hang', codeHash, date: '2026-12-02T00:00:00.000Z', machine: 'test', replays: 10, reproduced, worstMs: 12.5 });
  c.rechecks = [recheck('r/noise.bin', 'new', 0), recheck('r/noise.bin', 'new', 0), recheck('r/real.bin', 'new', 0), recheck('r/real.bin', 'new', 11), recheck('r/unchecked.bin', 'old', 0)];
  const a = status(c, 'a', 'parses a', 'new');
  assert.deepEqual(a.findings.map((f) => f.file), ['r/real.bin', 'r/unchecked.bin', 'r/c.bin'], 'reproduced once, rechecked at other code only, and a crash stay');
  assert.deepEqual(a.rechecked.map((f) => [f.file, f.replays, f.worstMs]), [['r/noise.bin', 20, 12.5]]);
  assert.equal(a.unconfirmed, 3);
  const table = renderResults(c, [a], '');
  assert.match(table, /finding\(s\) at current code/);
  assert.match(table, /hang r\/noise\.bin not reproduced in 20 later replays \(worst 13 ms\)/);
  assert.match(table, /3 finding\(s\) at current code/);
});

test('RESULTS.md is regenerated from the record and keeps the notes below the marker', (t) => {
  const dir = tmp(t);
  const results = join(dir, 'RESULTS.md');
  writeFileSync(results, `# old\n\n| old table |\n\n${NOTES_MARKER}\n\n## Findings by hand\n\nkept text\n`);
  const c = emptyCampaign();
  c.runs.push(run('a', 1_000_000, 1, 'h'), run('b', 10, 1, 'old'));
  const rows = [status(c, 'a', 'parses a', 'h'), status(c, 'b', 'parses b', 'h')];
  const md = renderResults(c, rows, keptNotes(results));
  assert.match(md, /\| a \| parses a \| 1,000,000 \| 10,000 \| 50\.0% \| 0 \| 0 \| done \|/);
  assert.match(md, /\| b \| parses b \| 0 \| - \| - \| - \| 0 \| \*\*stale\*\* \(10 inputs at older code\) \|/);
  assert.match(md, /1 of 2 targets there/);
  assert.ok(!md.includes('| old table |'));
  assert.ok(md.endsWith(`${NOTES_MARKER}\n\n## Findings by hand\n\nkept text\n`));
  writeFileSync(results, md);
  assert.equal(renderResults(c, rows, keptNotes(results)).split(NOTES_MARKER)[1], md.split(NOTES_MARKER)[1], 'regenerating twice keeps the notes once');
  writeFileSync(join(dir, 'bad.json'), '{"runs": []}');
  assert.throws(() => readCampaign(join(dir, 'bad.json')), /not a custody-fuzz-campaign\/v1 file/);
  assert.deepEqual(readCampaign(join(dir, 'missing.json')).runs, []);
});

interface Done {
  code: number | null;
  stderr: string;
}

function fuzz(args: string[], onStderr?: (text: string, kill: () => void) => void): Promise<Done> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'fuzz', 'run.ts'), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('npm run fuzz records each run, resumes with --until, and records a run stopped by SIGINT', { timeout: 600_000 }, async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'campaign.json');
  const results = join(dir, 'RESULTS.md');
  const common = ['--campaign', file, '--results', results, '--target', 'sums'];
  const first = await fuzz([...common, '--runs', '150', '--seed', '11']);
  assert.equal(first.code, 0, first.stderr);
  let c = readCampaign(file);
  assert.equal(c.runs.length, 1);
  const r0 = c.runs[0]!;
  assert.equal(r0.target, 'sums');
  assert.equal(r0.inputs, 150);
  assert.equal(r0.seed, 11);
  assert.match(r0.codeHash, /^[0-9a-f]{64}$/);
  assert.match(r0.commit, /^[0-9a-f]{40}(\+dirty)?$/);
  assert.match(readFileSync(results, 'utf8'), /\| sums \| [^|]+ \| 150 \|/);

  // --until runs only what is missing, with a seed the first run did not use.
  const second = await fuzz([...common, '--until', '400']);
  assert.equal(second.code, 0, second.stderr);
  c = readCampaign(file);
  assert.equal(c.runs.length, 2);
  assert.equal(c.runs[1]!.inputs, 250);
  assert.notEqual(c.runs[1]!.seed, 11);
  assert.match(readFileSync(results, 'utf8'), /\| sums \| [^|]+ \| 400 \|/);
  const third = await fuzz([...common, '--until', '400']);
  assert.equal(third.code, 0);
  assert.match(third.stderr, /already has 400 inputs/);
  assert.equal(readCampaign(file).runs.length, 2);

  // SIGINT once the target runs: it stops after the input in flight and what it ran is recorded.
  let sent = false;
  const stopped = await fuzz([...common, '--runs', '100000000'], (text, kill) => {
    if (!sent && text.includes('sums: running')) {
      sent = true;
      setTimeout(kill, 1500);
    }
  });
  assert.equal(stopped.code, 130, stopped.stderr);
  c = readCampaign(file);
  assert.equal(c.runs.length, 3);
  const r2 = c.runs[2]!;
  assert.equal(r2.stopped, true);
  assert.equal(r2.stopReason, 'signal');
  assert.ok(r2.inputs > 0 && r2.inputs < 100000000);
});

test('two fuzz processes appending to one campaign file at once lose no run (the campaign lock)', async (t) => {
  const file = join(tmp(t), 'campaign.json');
  const campaignModule = new URL('../../fuzz/campaign.ts', import.meta.url).href;
  // Both start appending at the same moment (after their imports), so their read-modify-writes interleave.
  const at = Date.now() + 3000;
  const script = (who: string): string =>
    `const { appendRun } = await import(${JSON.stringify(campaignModule)});
     while (Date.now() < ${at});
     for (let i = 0; i < 300; i++) appendRun(${JSON.stringify(file)}, { target: ${JSON.stringify(who)}, date: '2026-12-02T00:00:00.000Z', inputs: 1, ms: 1, accepted: 0, seed: i, codeHash: 'h', commit: 'c', machine: 'test', findings: [], unconfirmed: 0 });`;
  const child = (who: string): Promise<number | null> =>
    new Promise((resolve) => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(who)], { stdio: 'inherit', cwd: REPO_ROOT }).once('exit', resolve));
  assert.deepEqual(await Promise.all([child('a'), child('b')]), [0, 0]);
  const runs = readCampaign(file).runs;
  assert.equal(runs.filter((r) => r.target === 'a').length, 300);
  assert.equal(runs.filter((r) => r.target === 'b').length, 300);
});

test('a lock left by a process that died is taken over once stale, and a waiter does not give up before that', (t) => {
  const file = join(tmp(t), 'campaign.json');
  mkdirSync(`${file}.lock`);
  // Left 8 s ago: stale at 30 s, so the waiter waits about 22 s, then takes it over (it gave up after 20 s before).
  const then = new Date(Date.now() - 8_000);
  utimesSync(`${file}.lock`, then, then);
  const c = appendRun(file, run('x', 1, 1, 'h'));
  assert.equal(c.runs.length, 1);
  assert.equal(readCampaign(file).runs.length, 1);
});

test('writeFileDurable replaces a file whole, and a failed replacement leaves neither a temp file nor a change', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-durable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'campaign.json');
  writeFileDurable(path, 'first\n');
  writeFileDurable(path, 'second\n');
  assert.equal(readFileSync(path, 'utf8'), 'second\n');
  assert.deepEqual(readdirSync(dir), ['campaign.json']);
  // The rename fails (the destination is a non-empty directory): the error comes out, the temp file is gone and
  // what was there is untouched.
  const blocked = join(dir, 'RESULTS.md');
  mkdirSync(blocked);
  writeFileSync(join(blocked, 'keep'), 'x');
  assert.throws(() => writeFileDurable(blocked, 'new\n'), (e: NodeJS.ErrnoException) => e.code === 'EISDIR' || e.code === 'ENOTEMPTY' || e.code === 'EEXIST');
  assert.deepEqual(readdirSync(dir).sort(), ['RESULTS.md', 'campaign.json']);
  assert.deepEqual(readdirSync(blocked), ['keep']);
  // And so does a failed write: a directory that cannot be written to.
  assert.throws(() => writeFileDurable(join(dir, 'missing', 'x.json'), 'y'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  assert.deepEqual(readdirSync(dir).sort(), ['RESULTS.md', 'campaign.json']);
});

test('npm run fuzz -- --hashes lists every target with the code hash its runs are counted at', async () => {
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'fuzz', 'run.ts'), '--hashes'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (b: Buffer) => (text += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
  });
  const lines = out.trimEnd().split('\n').map((l) => l.split(' '));
  assert.deepEqual(
    lines.map((l) => l[0]),
    TARGETS.map((t) => t.name),
  );
  for (const [name, hash] of lines) assert.match(hash ?? '', /^[0-9a-f]{64}$/, name);
  // The same hash `--status` counts runs at: the JSON parser's target, computed here.
  const modules = await targetModules(TARGETS, join(REPO_ROOT, 'fuzz', 'targets'));
  assert.equal(lines.find((l) => l[0] === 'json')?.[1], targetCodeHash(REPO_ROOT, modules.get('json')!).hash);
});

test('npm run fuzz -- --recheck replays a recorded hang at current code and records that it did not give again', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'campaign.json');
  const results = join(dir, 'RESULTS.md');
  const modules = await targetModules(TARGETS, join(REPO_ROOT, 'fuzz', 'targets'));
  const hash = targetCodeHash(REPO_ROOT, modules.get('json')!).hash;
  // A "hang" recorded for an input the JSON parser reads at once (a busy machine's stall): package.json.
  const c = emptyCampaign();
  c.runs.push(run('json', 1000, 1, hash, { findings: [{ kind: 'hang', name: 'Hang', frame: '', file: 'package.json' }] }), run('json', 1000, 2, 'old', { findings: [{ kind: 'hang', name: 'Hang', frame: '', file: 'README.md' }] }));
  writeFileSync(file, JSON.stringify(c));
  const r = await fuzz(['--recheck', '--target', 'json', '--replays', '2', '--campaign', file, '--results', results]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 finding\(s\) rechecked/, 'only the finding at current code');
  const after = readCampaign(file);
  assert.equal(after.rechecks?.length, 1);
  assert.deepEqual({ ...after.rechecks[0], date: '', machine: '', worstMs: 0 }, { target: 'json', file: 'package.json', kind: 'hang', name: 'Hang', codeHash: hash, date: '', machine: '', replays: 2, reproduced: 0, worstMs: 0 });
  const table = readFileSync(results, 'utf8');
  assert.match(table, /0 finding\(s\) at current code/);
  assert.match(table, /hang package\.json not reproduced in 2 later replays/);
});
