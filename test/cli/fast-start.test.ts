/**
 * The `custody` bin's fast start (issue 9, CLI cold start; src/cli/fast/launcher.ts): the offline verifiers run from
 * one bundle each, with a V8 code cache, and answer exactly as the ES-module program does; everything else, and any
 * bundle that is missing, broken or older than main.js, goes to main.js; a bundle's command that never settles
 * exits 70.
 *
 * The bin is built for real (scripts/build-cli) into a temporary directory whose node_modules is the repository's;
 * its main.js there is a real module that marks stderr and runs the CLI from src/ (the child gets tsx for that),
 * so a test can tell which of the two paths answered.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { buildCli, trainedCache } from '../../scripts/build-cli.ts';
import { COMMANDS } from '../../src/cli/commands/index.ts';
import { openCache, sealCache, wrapBundle } from '../../src/cli/fast/bundle-format.ts';
import { bundleFile, FAST_COMMANDS } from '../../src/cli/fast/table.ts';
import { cli, CLI_MAIN, REPO_ROOT, spawnCli, type Transcript } from '../support/cli.ts';

const MARK = 'launched-main.js\n';
let root = '';
let cliDir = '';
let work = '';

/**
 * bin runs the built launcher as a user would, without NODE_OPTIONS; with tsx unless `plain` (the main.js here runs
 * src/ through tsx; a bundle needs nothing but node).
 */
function bin(argv: string[], opts: { plain?: boolean } = {}): Promise<Transcript> {
  return spawnCli(argv, { cwd: work, program: join(cliDir, 'custody.cjs'), tsx: !opts.plain });
}

const fromBundle = (t: Transcript): boolean => !t.stderr.includes(MARK);

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'custody-fast-'));
  cliDir = join(root, 'cli');
  work = join(root, 'work');
  mkdirSync(cliDir);
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(join(cliDir, 'main.js'), `process.stderr.write(${JSON.stringify(MARK)});\nawait import(${JSON.stringify(pathToFileURL(CLI_MAIN).href)});\n`);
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(cliDir, 'main.js'), past, past);
  await buildCli(cliDir);
  mkdirSync(join(work, 'art'), { recursive: true });
  writeFileSync(join(work, 'art', 'vmlinuz'), Buffer.alloc(64 * 1024, 'k'));
  for (const argv of [
    ['keygen', '--output', 'k/a.pem'],
    ['trust', 'init', '--threshold', '1', '--key', 'k/a.pub', '--expires', '365d', '--sign', 'k/a.pem', '--output', 'root.json'],
    ['manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--expires', '30d', '--hash', 'sha256,blake3', '--output', 'm0.json'],
    ['sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json'],
  ]) {
    const t = await cli(argv, { cwd: work });
    assert.equal(t.code, 0, t.stderr);
  }
});

after(() => rmSync(root, { recursive: true, force: true }));

test('every bundled command is the command the table runs for its name', async () => {
  for (const row of FAST_COMMANDS) {
    assert.ok(Object.hasOwn(COMMANDS, row.name), `${row.name} is a command`);
    const mod = (await import(`../../src/cli/${row.module}`)) as Record<string, unknown>;
    assert.equal(mod[row.exportName], await COMMANDS[row.name]!.load(), row.name);
  }
});

test('custody verify runs from its bundle and answers as the ES-module CLI does (text, --json, refusal)', async () => {
  for (const extra of [[], ['--json']]) {
    const argv = ['verify', 'm1.json', 'art/vmlinuz', '--trust', 'root.json', ...extra];
    const got = await bin(argv, { plain: true });
    const want = await cli(argv, { cwd: work });
    assert.ok(fromBundle(got), got.stderr);
    assert.deepEqual(got, want);
  }
  // BLAKE3 goes through the native binding, which the bundle finds with createRequire(import.meta.url) rewritten.
  const json = JSON.parse((await bin(['verify', 'm1.json', 'art/vmlinuz', '--trust', 'root.json', '--json'])).stdout) as {
    artifacts: { matched: string[] }[];
  };
  assert.deepEqual(json.artifacts[0]!.matched.sort(), ['blake3', 'sha256']);
  writeFileSync(join(work, 'art', 'bad'), Buffer.alloc(64 * 1024, 'x'));
  const argv = ['verify', 'm1.json', 'art/bad', '--trust', 'root.json'];
  const refused = await bin(argv);
  assert.ok(fromBundle(refused));
  assert.deepEqual(refused, await cli(argv, { cwd: work }));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /\[ERR_[A-Z_]+\]\ncustody: hint: /);
});

test('every bundle loads and prints its --help exactly as the whole CLI does', async () => {
  for (const row of FAST_COMMANDS) {
    const argv = [...row.name.split(' '), '--help'];
    const got = await bin(argv);
    assert.ok(fromBundle(got), `${row.name}: ${got.stderr}`);
    assert.deepEqual(got, await cli(argv, { cwd: work }), row.name);
  }
});

test('other commands, the command list and --version go to main.js', async () => {
  for (const argv of [['keygen', '--help'], ['--version'], ['trust', 'show', '--help'], []]) {
    const got = await bin(argv);
    const want = await cli(argv, { cwd: work });
    assert.ok(!fromBundle(got), argv.join(' '));
    assert.deepEqual({ ...got, stderr: got.stderr.replace(MARK, '') }, want, argv.join(' '));
  }
});

test('a name only Object has is an unknown command, on both paths (exit 2, coded)', async () => {
  for (const name of ['constructor', '__proto__', 'hasOwnProperty']) {
    const got = await bin([name]);
    assert.equal(got.code, 2, name);
    assert.match(got.stderr, /unknown command .* \[ERR_USAGE_UNKNOWN_COMMAND\]/);
    assert.deepEqual((await cli([name], { cwd: work })).code, 2);
  }
});

test('a code cache that does not match its bundle byte for byte is not given to V8', () => {
  const wrapped = wrapBundle('module.exports = 1;');
  const data = Buffer.from('v8 data, as V8 would write it');
  const sealed = sealCache(wrapped, data);
  assert.deepEqual(openCache(wrapped, sealed), data);
  const flipped = Buffer.from(sealed);
  flipped[flipped.length - 1]! ^= 1;
  assert.equal(openCache(wrapped, flipped), undefined, 'a flipped byte of the data');
  assert.equal(openCache(wrapBundle('module.exports = 2;'), sealed), undefined, 'another source of the same length');
  assert.equal(openCache(wrapped, sealed.subarray(0, 64)), undefined, 'no data');
});

test('each code cache was made after a training run of its command, not only of the module top level', () => {
  for (const row of FAST_COMMANDS) {
    const file = join(cliDir, 'fast', bundleFile(row.name));
    const wrapped = wrapBundle(readFileSync(file, 'utf8'));
    const trained = openCache(wrapped, readFileSync(`${file}.cache`));
    assert.ok(trained, row.name);
    // What V8 holds right after evaluating the bundle: the cache scripts/build-cli made before it trained.
    const script = new Script(wrapped, { filename: file });
    const m = { exports: {} };
    (script.runInThisContext() as (...a: unknown[]) => void).call(m.exports, m.exports, createRequire(file), m, file, dirname(file));
    const topLevel = script.createCachedData();
    assert.ok(trained.length > topLevel.length * 1.15, `${row.name}: trained ${trained.length} bytes, top level ${topLevel.length}`);
  }
});

test('a training run that fails or never settles makes no cache, and a V8 file left by an earlier build is not used', () => {
  const dir = join(root, 'train');
  mkdirSync(dir, { recursive: true });
  const bundle = (name: string, body: string): string => {
    const file = join(dir, name);
    writeFileSync(file, `exports.run = async (argv) => { ${body} }; exports.fail = () => undefined;`);
    return file;
  };
  const good = bundle('good.cjs', "process.exitCode = argv[0] === 'ok' ? 0 : 1;");
  assert.ok(trainedCache(good, ['ok'], dir).length > 0);
  assert.throws(() => trainedCache(good, ['refused'], dir), /training run ended without a cache/);
  // A V8 file of another bundle, as a killed build could leave it: never taken for this one.
  const hang = bundle('hang.cjs', 'await new Promise(() => undefined); process.exitCode = 0; void argv;');
  writeFileSync(`${hang}.v8`, trainedCache(good, ['ok'], dir));
  assert.throws(() => trainedCache(hang, [], dir), /training run ended without a cache/);
  assert.ok(!existsSync(`${hang}.v8`), 'the leftover is removed');
});

test('a damaged cache, a bundle older than main.js, missing or broken: the answer is the same', async () => {
  const file = join(cliDir, 'fast', bundleFile('verify'));
  const argv = ['verify', 'm1.json', 'art/vmlinuz', '--trust', 'root.json'];
  const want = await cli(argv, { cwd: work });
  const text = readFileSync(file);
  const cache = readFileSync(`${file}.cache`);
  try {
    const bad = Buffer.from(cache);
    bad[bad.length - 100]! ^= 0xff;
    writeFileSync(`${file}.cache`, bad);
    const damaged = await bin(argv);
    assert.ok(fromBundle(damaged), 'a damaged cache: the bundle compiles from source');
    assert.deepEqual(damaged, want);
    writeFileSync(`${file}.cache`, cache);

    const future = new Date(Date.now() + 60_000);
    utimesSync(join(cliDir, 'main.js'), future, future);
    const stale = await bin(argv);
    assert.ok(!fromBundle(stale), 'older than main.js: main.js answers');
    assert.deepEqual({ ...stale, stderr: stale.stderr.replace(MARK, '') }, want);
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(cliDir, 'main.js'), past, past);

    for (const [what, body] of [
      ['a bundle that throws when evaluated', 'throw new Error("broken");'],
      ['a bundle without run and fail', 'module.exports = {};'],
      ['a bundle that does not compile', 'module.exports = {'],
    ] as const) {
      writeFileSync(file, body);
      const got = await bin(argv);
      assert.ok(!fromBundle(got), what);
      assert.deepEqual({ ...got, stderr: got.stderr.replace(MARK, '') }, want, what);
    }
    rmSync(file);
    const missing = await bin(argv);
    assert.ok(!fromBundle(missing), 'missing bundle');
    assert.equal(missing.code, 0);
  } finally {
    writeFileSync(file, text);
    writeFileSync(`${file}.cache`, cache);
  }
});

test('a bundled command that never settles, or rejects past the dispatcher, exits 70 through the bundle\'s fail', async () => {
  const file = join(cliDir, 'fast', bundleFile('verify'));
  const text = readFileSync(file);
  const fail = 'fail: (e, argv) => { process.stderr.write("custody: error: internal error: " + e.message + " [ERR_INTERNAL] " + argv.join(",") + "\\n"); process.exitCode = 70; }';
  try {
    writeFileSync(file, `module.exports = { run: () => new Promise(() => {}), ${fail} };`);
    const hung = await bin(['verify', 'x']);
    assert.equal(hung.code, 70);
    assert.match(hung.stderr, /custody verify ended without an answer.*\[ERR_INTERNAL\] verify,x/);
    writeFileSync(file, `module.exports = { run: async () => { throw new TypeError("escaped"); }, ${fail} };`);
    const escaped = await bin(['verify', 'x', '--json']);
    assert.equal(escaped.code, 70);
    assert.match(escaped.stderr, /internal error: escaped \[ERR_INTERNAL\] verify,x,--json/);
  } finally {
    writeFileSync(file, text);
  }
});
