/**
 * scripts/build-cli — builds the `custody` bin and the start-up bundles of the offline verifiers (issue 9, CLI cold
 * start; docs in src/cli/fast/launcher.ts). Run by `npm run build` after tsc, which has built dist/cli/main.js.
 *
 * - dist/cli/custody.cjs: the launcher (cli/fast/launcher), with every command's name.
 * - dist/cli/fast/<command>.cjs for each row of cli/fast/table: the command and the part of src/ it imports, in
 *   one CommonJS file (npm packages stay outside, required from node_modules as the ES modules import them);
 *   `import()` inside src/ becomes a lazy require of code in the same file, and `import.meta.url` the URL the
 *   module has in dist/ (what createRequire needs it for).
 * - dist/cli/fast/<command>.cjs.cache: V8's code for that bundle, made by a plain `node` (no NODE_OPTIONS) after
 *   evaluating it and running its command once on a training fixture (TRAINING: a trust root, a signed manifest, a
 *   PSPF package, SHA256SUMS, a provenance attestation and a policy, made in a scratch directory and removed), so the
 *   cache holds the code of the functions a verification calls and not only of the module's top level; sealed with
 *   cli/fast/bundle-format. The build fails when a training run does not exit 0 or a second plain `node` refuses the
 *   cache.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { COMMANDS } from '../src/cli/commands/index.ts';
import { sealCache, WRAPPER_HEAD, WRAPPER_TAIL, wrapBundle } from '../src/cli/fast/bundle-format.ts';
import { bundleFile, FAST_COMMANDS } from '../src/cli/fast/table.ts';
import { runCli } from '../src/cli/run.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const SRC = join(REPO, 'src');

/** moduleUrls rewrites `import.meta.url` in src/ to a call giving the module's URL in dist/ (see the banner). */
const moduleUrls: Plugin = {
  name: 'custody-module-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!args.path.startsWith(SRC) || !text.includes('import.meta.url')) return undefined;
      const distPath = relative(SRC, args.path).replace(/\.ts$/, '.js');
      return { contents: text.replaceAll('import.meta.url', `__custodyModuleUrl(${JSON.stringify(distPath)})`), loader: 'ts' };
    });
  },
};
const MODULE_URL_BANNER =
  'const __custodyModuleUrl = (p) => require("node:url").pathToFileURL(require("node:path").join(__dirname, "..", "..", p)).href;';

/**
 * A plain node evaluates a bundle, runs its command once (argv: bundle, wrapper head, tail, output file, the training
 * command line as JSON; cwd: the training fixture) and writes V8's code for it. V8 compiles a function when it is
 * first called, and a cache made right after evaluation holds only the module's top level: every verification then
 * compiled the rest again (measured: the run of `custody verify` 8.2 -> 4.0 ms with the trained cache).
 */
const MAKE_CACHE = `
const fs = require('node:fs'), vm = require('node:vm'), path = require('node:path'), { createRequire } = require('node:module');
const [file, head, tail, out, train] = process.argv.slice(1);
const script = new vm.Script(head + fs.readFileSync(file, 'utf8') + tail, { filename: file });
const m = { exports: {} };
script.runInThisContext().call(m.exports, m.exports, createRequire(file), m, file, path.dirname(file));
let written = false;
process.on('exit', () => {
  if (!written) { process.stderr.write('the training run ended without a cache (exit code ' + process.exitCode + ')\\n'); process.exitCode = 1; }
});
m.exports.run(JSON.parse(train)).then(() => {
  if (process.exitCode !== 0) return;
  fs.writeFileSync(out, script.createCachedData());
  written = true;
});`;

/**
 * TRAINING: each bundled command's training run, on the fixture trainingFixture makes. Each must exit 0: a
 * verification that succeeds calls the code every verification calls.
 */
const TRAINING: Readonly<Record<string, readonly string[]>> = {
  verify: ['verify', 'm1.json', 'art/vmlinuz', '--trust', 'root.json'],
  'verify-manifest': ['verify-manifest', 'm1.json', '--trust', 'root.json'],
  'verify-package': ['verify-package', 'train.psp', '--trusted-key', 'k/a.pub'],
  'trust verify': ['trust', 'verify', 'root.json'],
  'sums check': ['sums', 'check', 'SHA256SUMS'],
  'attest verify': ['attest', 'verify', 'prov.intoto.jsonl', '--trust', 'root.json', '--artifact', 'art/vmlinuz'],
  'verify-attestation': ['verify-attestation', 'art/vmlinuz', '--attestation', 'prov.intoto.jsonl', '--policy', 'policy.json', '--trust', 'root.json'],
};

/** trainingFixture makes, in dir, what the TRAINING command lines verify, with the CLI itself (in this process). */
async function trainingFixture(dir: string): Promise<void> {
  mkdirSync(join(dir, 'art'), { recursive: true });
  writeFileSync(join(dir, 'art', 'vmlinuz'), Buffer.alloc(64 * 1024, 'k'));
  const builder = 'https://builder.example/ci@v1';
  writeFileSync(join(dir, 'policy.json'), JSON.stringify({ version: 1, required_predicate_types: ['https://slsa.dev/provenance/v1'], trusted_builders: [builder] }));
  let said = '';
  const io = { stdout: () => undefined, stderr: (s: string) => void (said += s), env: {}, cwd: dir, now: () => new Date() };
  for (const argv of [
    ['keygen', '--output', 'k/a.pem'],
    ['trust', 'init', '--threshold', '1', '--key', 'k/a.pub', '--expires', '365d', '--sign', 'k/a.pem', '--output', 'root.json'],
    ['manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--expires', '30d', '--output', 'm0.json'],
    ['sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json'],
    ['pack', '--slot', 'art/vmlinuz', '--name', 'train', '--version', '1.0.0', '--key', 'k/a.pem', '--output', 'train.psp'],
    ['sums', 'create', 'art/vmlinuz', '--output', 'SHA256SUMS'],
    ['attest', 'provenance', '--subject', 'art/vmlinuz', '--builder-id', builder, '--build-type', 'https://builder.example/build@v1', '--key', 'k/a.pem', '--output', 'prov.intoto.jsonl'],
  ]) {
    if ((await runCli(argv, io)) !== 0) throw new Error(`training fixture: custody ${argv.join(' ')} failed: ${said}`);
  }
}

/** A plain node says whether V8 takes the cache (argv: bundle, wrapper head, tail, V8 data file). */
const CHECK_CACHE = `
const fs = require('node:fs'), vm = require('node:vm');
const [file, head, tail, data] = process.argv.slice(1);
const script = new vm.Script(head + fs.readFileSync(file, 'utf8') + tail, { filename: file, cachedData: fs.readFileSync(data) });
process.stdout.write(script.cachedDataRejected ? 'rejected' : 'accepted');`;

/**
 * plainNode runs `node -e code` as a user's plain node runs the bin: no NODE_OPTIONS (V8 refuses a cache made under
 * other flags), and nothing else of the builder's environment (a CUSTODY_… variable must not steer a training run).
 */
function plainNode(code: string, args: string[], cwd?: string): string {
  const env = process.env['PATH'] === undefined ? {} : { PATH: process.env['PATH'] };
  const r = spawnSync(process.execPath, ['-e', code, ...args], { env, encoding: 'utf8', cwd });
  if (r.status !== 0) throw new Error(`node -e … ${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * COMMON: what the launcher and every bundle are built as (one CommonJS file for Node 20, packages required),
 * minified: a third less source to read, digest (the cache seal) and deserialize at every start, measured 3–4 ms of a
 * ~47 ms `custody verify` (bench --only cli). Nothing Custody prints depends on a function's name (the error classes
 * name themselves), and test/cli/fast-start compares every bundled command's output with the in-process CLI's.
 */
const COMMON = { bundle: true, platform: 'node', format: 'cjs', target: 'node20', packages: 'external', logLevel: 'error', minify: true } as const;

/** BuiltCli lists what buildCli wrote. */
export interface BuiltCli {
  launcher: string;
  bundles: { name: string; file: string; bytes: number; cacheBytes: number }[];
}

/** buildCli writes the launcher and every bundle with its cache into cliDir (dist/cli, or a test's directory). */
export async function buildCli(cliDir: string): Promise<BuiltCli> {
  mkdirSync(join(cliDir, 'fast'), { recursive: true });
  const launcher = join(cliDir, 'custody.cjs');
  await build({
    stdin: {
      contents: `import { launch } from './src/cli/fast/launcher.ts';\nlaunch(__dirname, process.argv.slice(2), ${JSON.stringify(Object.keys(COMMANDS).sort())});\n`,
      resolveDir: REPO,
      sourcefile: 'custody-launcher.ts',
      loader: 'ts',
    },
    ...COMMON,
    banner: { js: '#!/usr/bin/env node' },
    outfile: launcher,
  });
  chmodSync(launcher, 0o755);
  const bundles: BuiltCli['bundles'] = [];
  const fixture = mkdtempSync(join(tmpdir(), 'custody-train-'));
  try {
    await trainingFixture(fixture);
    for (const row of FAST_COMMANDS) bundles.push(await buildBundle(cliDir, row, fixture));
  } finally {
    rmSync(fixture, { recursive: true, force: true });
  }
  return { launcher, bundles };
}

/** buildBundle writes one command's bundle and its trained, sealed cache. */
async function buildBundle(cliDir: string, row: (typeof FAST_COMMANDS)[number], fixture: string): Promise<BuiltCli['bundles'][number]> {
  const file = join(cliDir, 'fast', bundleFile(row.name));
  // The previous build's cache goes first: a build that fails from here on leaves a bundle without one (the launcher
  // then compiles it from source), never a cache beside a bundle it was not made for.
  rmSync(`${file}.cache`, { force: true });
  await build({
    stdin: {
      contents: [
        `import { fastEntry } from './src/cli/fast/entry.ts';`,
        `import { ${row.exportName} as command } from './src/cli/${row.module}';`,
        `const entry = fastEntry(${JSON.stringify(row.name)}, command);`,
        'export const run = entry.run;',
        'export const fail = entry.fail;',
      ].join('\n'),
      resolveDir: REPO,
      sourcefile: `custody-${bundleFile(row.name)}.ts`,
      loader: 'ts',
    },
    ...COMMON,
    // import() in src/ becomes require(): vm scripts have no dynamic import, and the lazy parts stay lazy.
    supported: { 'dynamic-import': false },
    banner: { js: MODULE_URL_BANNER },
    plugins: [moduleUrls],
    outfile: file,
  });
  const text = readFileSync(file, 'utf8');
  if (/\bimport\(/.test(text) || /\bimport\.meta\b/.test(text)) {
    throw new Error(`${file}: the bundle still has import() or import.meta, which a node:vm script cannot run`);
  }
  const train = TRAINING[row.name];
  if (train === undefined) throw new Error(`scripts/build-cli: no training run for ${row.name}`);
  const sealed = sealCache(wrapBundle(text), trainedCache(file, train, fixture));
  writeFileSync(`${file}.cache`, sealed);
  return { name: row.name, file, bytes: text.length, cacheBytes: sealed.length };
}

/**
 * trainedCache returns V8's code for a bundle after a plain node has evaluated it and run `train` (argv) in `cwd`;
 * it throws unless that run exits 0 and a second plain node accepts the code.
 */
export function trainedCache(file: string, train: readonly string[], cwd: string): Buffer {
  // V8 checks only a cache's source length: a V8 file left by an earlier build must never be taken for this one's.
  const raw = `${file}.v8`;
  rmSync(raw, { force: true });
  try {
    plainNode(MAKE_CACHE, [file, WRAPPER_HEAD, WRAPPER_TAIL, raw, JSON.stringify(train)], cwd);
    const verdict = plainNode(CHECK_CACHE, [file, WRAPPER_HEAD, WRAPPER_TAIL, raw]);
    if (verdict !== 'accepted') throw new Error(`${file}: V8 ${verdict} the code cache made for it`);
    return readFileSync(raw);
  } finally {
    rmSync(raw, { force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = await buildCli(join(REPO, 'dist', 'cli'));
  const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  process.stdout.write(
    `cli: ${relative(REPO, built.launcher)}; start-up bundles: ${built.bundles.map((b) => `${b.name} ${kib(b.bytes)} + cache ${kib(b.cacheBytes)}`).join(', ')}\n`,
  );
}
