/**
 * fuzz/profile — `node --import tsx fuzz/profile.ts NAME [RUNS] [SEED]`: runs one target in process (the campaign
 * loop and oracle of fuzz/loop.ts, no worker, no watchdog) and prints its inputs/s and where the time goes: the
 * V8 CPU profile (node:inspector) summed by self time per function and per file. This is how the slow targets were
 * made fast (docs/fuzzing.md, "Speed"): time spent outside the parser under test is the harness's to remove.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { FUZZ_TMP, MAX_INPUT_BYTES, REPO_ROOT } from './engine.ts';
import { campaignLoop, runOnce } from './loop.ts';
import { TARGETS } from './registry.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const [name, runsArg = '2000', seedArg = '1'] = process.argv.slice(2);
const target = TARGETS.find((t) => t.name === name);
if (target === undefined) {
  process.stderr.write('usage: node --import tsx fuzz/profile.ts TARGET [RUNS] [SEED]\n');
  process.exit(2);
}
const tmpDir = mkdtempSync(join(FUZZ_TMP, `custody-fuzz-profile-${target.name}-`));
const session = new Session();
session.connect();
try {
  const inst = await target.make({ tmpDir, repoRoot: REPO_ROOT });
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const problems: string[] = [];
  const stats = await campaignLoop(inst, { runs: Number(runsArg), seconds: 0, seed: Number(seedArg), maxInputBytes: MAX_INPUT_BYTES }, (i) => runOnce(inst, i), (o) => {
    problems.push(`${o.kind} ${o.name} at ${o.frame}: ${o.message}`);
  });
  const { profile } = await session.post('Profiler.stop');
  await inst.close?.();
  const nodes = profile.nodes as ProfileNode[];
  const total = nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0) || 1;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const n of nodes) {
    const hits = n.hitCount ?? 0;
    if (hits === 0) continue;
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(REPO_ROOT, '');
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + hits);
    const file = url === '' ? `(${n.callFrame.functionName})` : url.replace(/^.*node_modules\//, 'node_modules/');
    byFile.set(file, (byFile.get(file) ?? 0) + hits);
  }
  const top = (m: Map<string, number>, k: number): string =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([f, h]) => `${((100 * h) / total).toFixed(1).padStart(5)}%  ${f}`)
      .join('\n');
  process.stdout.write(`${target.name}: ${stats.runs} inputs in ${(stats.ms / 1000).toFixed(1)} s = ${Math.round((stats.runs / stats.ms) * 1000)}/s, accepted ${stats.accepted}\n`);
  process.stdout.write(`\nself time by file:\n${top(byFile, 25)}\n\nself time by function:\n${top(byFn, 40)}\n`);
  if (problems.length > 0) process.stdout.write(`\nfindings:\n${problems.join('\n')}\n`);
} finally {
  session.disconnect();
  rmSync(tmpDir, { recursive: true, force: true });
}
