/**
 * bench/sections/cli — CLI cold start: wall time of `custody verify MANIFEST ARTIFACT --trust root.json` (a 1-of-1
 * manifest, one 64 KiB artifact) next to `node -e 0`, both as fresh processes, interleaved, median of N runs. The
 * CLI measured is the package's bin, `node dist/cli/custody.cjs` (what `npm install -g` users run; built here first
 * with `npm run build`): the launcher, which runs `verify` from its start-up bundle and code cache
 * (src/cli/fast/launcher.ts). A second row runs the same command through the ES modules, `node dist/cli/main.js`
 * (what every command without a bundle runs), to show what the bundle saves. Not the tsx development entry, whose
 * TypeScript loader alone costs more than the target.
 *
 * The headline ratio is measured in a clean environment: both processes run without NODE_EXTRA_CA_CERTS (and
 * NODE_OPTIONS). With that variable set, Node reads and parses the extra certificates at start-up in every
 * process, `node -e 0` included: on the machine these figures were first taken on it tripled `node -e 0` (about
 * 25 → 75 ms) and so flattered the ratio (1.6× instead of about 2.8×). A user's shell rarely sets it, so the clean
 * figure is the one judged; the inherited environment's figure is a second row when it differs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/run.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIST_MAIN = join(REPO, 'dist', 'cli', 'main.js');
const DIST_BIN = join(REPO, 'dist', 'cli', 'custody.cjs');

/** CLEAN_ENV is this process's environment without the variables that change every Node process's start-up. */
const CLEAN_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && k !== 'NODE_OPTIONS'));

function wallMs(args: string[], cwd: string, env: NodeJS.ProcessEnv = CLEAN_ENV): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, stdio: 'ignore', env });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const section: BenchSection = {
  title: 'CLI cold start (custody verify vs node -e 0)',
  async run(ctx: BenchContext) {
    ctx.log('npm run build');
    execFileSync('npm', ['run', 'build'], { cwd: REPO, stdio: 'ignore' });
    const dir = join(ctx.scratch, 'cli-cold');
    mkdirSync(join(dir, 'art'), { recursive: true });
    writeFileSync(join(dir, 'art', 'vmlinuz'), Buffer.alloc(64 * 1024, 'k'));
    const io = { stdout: () => undefined, stderr: (s: string) => process.stderr.write(s), env: {}, cwd: dir, now: () => new Date() };
    for (const argv of [
      ['keygen', '--output', 'k/a.pem'],
      ['trust', 'init', '--threshold', '1', '--key', 'k/a.pub', '--expires', '365d', '--sign', 'k/a.pem', '--output', 'root.json'],
      ['manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--expires', '30d', '--output', 'm0.json'],
      ['sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json'],
    ]) {
      if ((await runCli(argv, io)) !== 0) throw new Error(`custody ${argv.join(' ')} failed`);
    }
    const args = ['verify', 'm1.json', 'art/vmlinuz', '--trust', 'root.json'];
    const verify = [DIST_BIN, ...args];
    const verifyModules = [DIST_MAIN, ...args];
    const n = ctx.quick ? 7 : 31;
    const inherited = process.env['NODE_EXTRA_CA_CERTS'] !== undefined || process.env['NODE_OPTIONS'] !== undefined;
    const measure = (env: NodeJS.ProcessEnv): { b: number; o: number; m: number } => {
      wallMs(['-e', '0'], dir, env); // warm the page cache for all three
      wallMs(verify, dir, env);
      wallMs(verifyModules, dir, env);
      const base: number[] = [];
      const ours: number[] = [];
      const modules: number[] = [];
      for (let i = 0; i < n; i++) {
        base.push(wallMs(['-e', '0'], dir, env));
        ours.push(wallMs(verify, dir, env));
        modules.push(wallMs(verifyModules, dir, env));
      }
      return { b: median(base), o: median(ours), m: median(modules) };
    };
    ctx.log(`${n} interleaved runs of each, clean environment`);
    const { b, o, m } = measure(CLEAN_ENV);
    ctx.record('cli.coldstart.ratio', o / b, `${o.toFixed(0)} ms vs ${b.toFixed(0)} ms, the bin dist/cli/custody.cjs (start-up bundle), median of ${n}, without NODE_EXTRA_CA_CERTS`);
    let extra: string[] = [];
    if (inherited) {
      ctx.log(`${n} interleaved runs of each, this shell's environment (NODE_EXTRA_CA_CERTS or NODE_OPTIONS set)`);
      const e = measure(process.env);
      extra = [
        `| \`node -e 0\`, this shell's environment (NODE_EXTRA_CA_CERTS or NODE_OPTIONS set) | ${e.b.toFixed(1)} ms | 1.00× |`,
        `| \`custody verify …\`, same environment | ${e.o.toFixed(1)} ms | ${(e.o / e.b).toFixed(2)}× |`,
      ];
    }
    return [
      `Wall time of a fresh process, median of ${n} interleaved runs (the built CLI: the bin \`node dist/cli/custody.cjs\`, which runs verify from its start-up bundle, and the ES modules \`node dist/cli/main.js\`):`,
      '',
      '| command | median | ratio |',
      '|---|---|---|',
      `| \`node -e 0\` (clean environment) | ${b.toFixed(1)} ms | 1.00× |`,
      `| \`custody verify m1.json art/vmlinuz --trust root.json\` (1 signature, 64 KiB) | ${o.toFixed(1)} ms | ${(o / b).toFixed(2)}× |`,
      `| the same through the ES modules, \`node dist/cli/main.js verify …\` | ${m.toFixed(1)} ms | ${(m / b).toFixed(2)}× |`,
      ...extra,
      '',
      `Target: ≤ 1.5× \`node -e 0\` in the clean environment — ${o / b <= 1.5 ? 'met' : 'NOT met'}.`,
    ].join('\n');
  },
};

export default section;
