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
 *
 * A third row is a floor: FLOOR_SCRIPT, a dozen lines of CommonJS that do only the operations no verifier can skip
 * (read the root, the manifest and the artifact, JSON.parse both documents, import the key, one Ed25519
 * verification, one SHA-256 of the artifact) and check nothing else. It shows how much of the ratio is Node, its
 * crypto module and OpenSSL's first use, and how much is Custody's own work.
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

/**
 * FLOOR_SCRIPT does the unavoidable operations of `verify` with no format checks. It signs nothing and its signature
 * check is over JSON.stringify of the manifest, not the canonical signed bytes, so it answers "false": it measures
 * what the operations cost, not whether the manifest is good.
 */
const FLOOR_SCRIPT = `const fs = require('node:fs'), crypto = require('node:crypto');
const root = JSON.parse(fs.readFileSync('root.json', 'utf8')), m = JSON.parse(fs.readFileSync('m1.json', 'utf8'));
const raw = Buffer.from(Object.values(root.signed.keys)[0].keyval.public, 'hex');
const key = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
const sig = Buffer.from(m.signatures[0].signature, 'hex');
delete m.signatures;
const ok = crypto.verify(null, Buffer.from(JSON.stringify(m)), key, sig);
const digest = crypto.createHash('sha256').update(fs.readFileSync('art/vmlinuz')).digest('hex');
process.stdout.write(ok + ' ' + digest + '\\n');
`;

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
    writeFileSync(join(dir, 'floor.cjs'), FLOOR_SCRIPT);
    const args = ['verify', 'm1.json', 'art/vmlinuz', '--trust', 'root.json'];
    const verify = [DIST_BIN, ...args];
    const verifyModules = [DIST_MAIN, ...args];
    const n = ctx.quick ? 7 : 31;
    const inherited = process.env['NODE_EXTRA_CA_CERTS'] !== undefined || process.env['NODE_OPTIONS'] !== undefined;
    const measure = (env: NodeJS.ProcessEnv): { b: number; o: number; m: number; f: number } => {
      wallMs(['-e', '0'], dir, env); // warm the page cache for all four
      wallMs(verify, dir, env);
      wallMs(verifyModules, dir, env);
      wallMs(['floor.cjs'], dir, env);
      const base: number[] = [];
      const ours: number[] = [];
      const modules: number[] = [];
      const floor: number[] = [];
      for (let i = 0; i < n; i++) {
        base.push(wallMs(['-e', '0'], dir, env));
        ours.push(wallMs(verify, dir, env));
        modules.push(wallMs(verifyModules, dir, env));
        floor.push(wallMs(['floor.cjs'], dir, env));
      }
      return { b: median(base), o: median(ours), m: median(modules), f: median(floor) };
    };
    ctx.log(`${n} interleaved runs of each, clean environment`);
    const { b, o, m, f } = measure(CLEAN_ENV);
    ctx.record('cli.coldstart.ratio', o / b, `${o.toFixed(0)} ms vs ${b.toFixed(0)} ms, the bin dist/cli/custody.cjs (start-up bundle), median of ${n}, without NODE_EXTRA_CA_CERTS`);
    ctx.record('cli.coldstart.floor.ratio', f / b, `the floor script (reads, JSON.parse, key import, one Ed25519 verify, one SHA-256; no checks) ${f.toFixed(0)} ms vs ${b.toFixed(0)} ms`);
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
      `| floor: a script doing only verify's unavoidable operations, no checks (see bench/sections/cli.ts) | ${f.toFixed(1)} ms | ${(f / b).toFixed(2)}× |`,
      ...extra,
      '',
      `Target: ≤ 1.5× \`node -e 0\` in the clean environment — ${o / b <= 1.5 ? 'met' : 'NOT met'}.`,
    ].join('\n');
  },
};

export default section;
