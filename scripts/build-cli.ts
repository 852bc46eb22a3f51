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
 *   evaluating it, sealed with cli/fast/bundle-format. The build fails unless a second plain `node` accepts it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { COMMANDS } from '../src/cli/commands/index.ts';
import { sealCache, WRAPPER_HEAD, WRAPPER_TAIL, wrapBundle } from '../src/cli/fast/bundle-format.ts';
import { bundleFile, FAST_COMMANDS } from '../src/cli/fast/table.ts';

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

/** A plain node evaluates a bundle and writes V8's code for it (argv: bundle, wrapper head, tail, output file). */
const MAKE_CACHE = `
const fs = require('node:fs'), vm = require('node:vm'), path = require('node:path'), { createRequire } = require('node:module');
const [file, head, tail, out] = process.argv.slice(1);
const script = new vm.Script(head + fs.readFileSync(file, 'utf8') + tail, { filename: file });
const m = { exports: {} };
script.runInThisContext().call(m.exports, m.exports, createRequire(file), m, file, path.dirname(file));
fs.writeFileSync(out, script.createCachedData());`;

/** A plain node says whether V8 takes the cache (argv: bundle, wrapper head, tail, V8 data file). */
const CHECK_CACHE = `
const fs = require('node:fs'), vm = require('node:vm');
const [file, head, tail, data] = process.argv.slice(1);
const script = new vm.Script(head + fs.readFileSync(file, 'utf8') + tail, { filename: file, cachedData: fs.readFileSync(data) });
process.stdout.write(script.cachedDataRejected ? 'rejected' : 'accepted');`;

function plainNode(code: string, args: string[]): string {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS'));
  const r = spawnSync(process.execPath, ['-e', code, ...args], { env, encoding: 'utf8' });
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
  for (const row of FAST_COMMANDS) {
    const file = join(cliDir, 'fast', bundleFile(row.name));
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
    const raw = `${file}.v8`;
    plainNode(MAKE_CACHE, [file, WRAPPER_HEAD, WRAPPER_TAIL, raw]);
    const verdict = plainNode(CHECK_CACHE, [file, WRAPPER_HEAD, WRAPPER_TAIL, raw]);
    if (verdict !== 'accepted') throw new Error(`${file}: V8 ${verdict} the code cache made for it`);
    const data = readFileSync(raw);
    const sealed = sealCache(wrapBundle(text), data);
    writeFileSync(`${file}.cache`, sealed);
    rmSync(raw, { force: true });
    bundles.push({ name: row.name, file, bytes: text.length, cacheBytes: sealed.length });
  }
  return { launcher, bundles };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = await buildCli(join(REPO, 'dist', 'cli'));
  const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  process.stdout.write(
    `cli: ${relative(REPO, built.launcher)}; start-up bundles: ${built.bundles.map((b) => `${b.name} ${kib(b.bytes)} + cache ${kib(b.cacheBytes)}`).join(', ')}\n`,
  );
}
