/**
 * The command table loads each command's modules only when it runs: the table's summaries equal the modules' own,
 * and a real `custody verify MANIFEST ARTIFACT` child process loads no daemon, database, logger or native addon, and
 * of our own modules only those verifying a manifest needs (issue 9: CLI cold start).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/commands/index.ts';
import { CLI_MAIN, TSX_LOADER, cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

test('every command in the table loads, and its summary is the one its module declares', async () => {
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const cmd = await entry.load();
    assert.equal(entry.summary, cmd.summary, `summary of "${name}"`);
    assert.match(cmd.usage, /^usage: custody /, `usage of "${name}"`);
  }
});

/**
 * PRELOAD records, at exit, every CommonJS module in the require cache (fastify, better-sqlite3, pg and pino are
 * CommonJS, so an ESM import of them lands there too) and every native addon opened through process.dlopen; a
 * module.register load hook (it runs on the loader thread) appends the URL of every ES module loaded to
 * MODULES_OUT.esm.
 */
const PRELOAD = `
import { createRequire, register } from 'node:module';
import { writeFileSync } from 'node:fs';
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.MODULES_OUT + '.esm', url + '\\\\n');
  return next(url, context);
}\`));
const req = createRequire(import.meta.url);
const addons = [];
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) { addons.push(filename); return dlopen.call(this, module, filename, ...rest); };
process.on('exit', () => writeFileSync(process.env.MODULES_OUT, JSON.stringify({ cjs: Object.keys(req.cache), addons })));
`;

function run(argv: string[], cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, '--import', join(cwd, 'preload.mjs'), CLI_MAIN, ...argv], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('custody verify of a manifest loads no fastify, better-sqlite3, pg, pino, package codec or native addon', async (t) => {
  const dir = tmpDir(t);
  const setup = async (...argv: string[]): Promise<void> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
  };
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), Buffer.alloc(4096, 'k'));
  await setup('keygen', '--output', 'k/a.pem');
  await setup('trust', 'init', '--threshold', '1', '--key', 'k/a.pub', '--expires', '365d', '--sign', 'k/a.pem', '--output', 'root.json');
  await setup('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--expires', '30d', '--output', 'm0.json');
  await setup('sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json');
  writeFileSync(join(dir, 'preload.mjs'), PRELOAD);

  const out = join(dir, 'modules.json');
  const r = await run(['verify', 'm1.json', 'art/vmlinuz', '--trust', 'root.json'], dir, { MODULES_OUT: out });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok +vmlinuz/m);
  const loaded = JSON.parse(readFileSync(out, 'utf8')) as { cjs: string[]; addons: string[] };
  assert.ok(loaded.cjs.some((p) => p.includes('node_modules/tsx/')), 'the preload sees the CommonJS modules (tsx is one)');
  const forbidden = ['fastify', '@fastify', 'better-sqlite3', 'pg', 'pino', '@napi-rs', 'compressjs'];
  const hits = loaded.cjs.filter((p) => forbidden.some((f) => p.includes(`/node_modules/${f}/`)));
  assert.deepEqual(hits, []);
  assert.deepEqual(loaded.addons, []);

  // Our own modules: none of the signing, HSM, attestation, log, server or package-codec code, nor the crypto the
  // command does not use; every module costs start-up time (bench/sections/cli.ts), so the count is bounded too.
  const src = readFileSync(out + '.esm', 'utf8').split('\n').filter((u) => u.includes('/src/')).map((u) => u.slice(u.indexOf('/src/') + 5));
  assert.ok(src.includes('cli/commands/manifest-verify.ts') && src.includes('trust/root.ts'), src.join(' '));
  const unneeded = [/^(server|hsm|attest|note|tlog|log|client|policy|sbom|archive|secrets)\//, /^pkg\/(?!sniff|trailer|trust)/,
    /^cli\/(common|progress)\.ts$/, /^cli\/commands\/manifest\.ts$/, /^keys\/key-file\.ts$/, /^manifest\/(log|state|sign|create)\.ts$/,
    /^crypto\/(index|aead|sealed-key|envelope|webcrypto|ecdsa|ed25519-pool|ed25519-seed)\.ts$/];
  assert.deepEqual(src.filter((m) => unneeded.some((re) => re.test(m))), []);
  // 32: io/read-sync and pkg/sniff-sync (synchronous reads, issue 9) joined the 30 of before.
  assert.ok(src.length <= 32, `custody verify loaded ${src.length} modules of src/ (at most 32): ${src.join(' ')}`);
});
