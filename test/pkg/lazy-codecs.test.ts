/**
 * `import 'custody'` loads no codec (issue 8 item 14): the root entry re-exports pkg, and pkg's codecs load on
 * first use. A real child process imports src/index.ts and reports what was loaded, observed two ways: every
 * native addon goes through `process.dlopen` (wrapped before the import), and every CommonJS module — compressjs
 * and @napi-rs/lzma's loader are CommonJS — lands in the shared `require.cache`. The positive control encodes one
 * xz and one bzip2 slot in the same child, so the observation is shown to see those modules when they do load.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { REPO_ROOT, TSX_LOADER } from '../support/cli.ts';

const CHILD = `
import { createRequire } from 'node:module';
const dlopened = [];
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  dlopened.push(filename);
  return dlopen.call(this, module, filename, ...rest);
};
const require = createRequire(process.cwd() + '/');
const snapshot = () => ({ dlopened: [...dlopened], cjs: Object.keys(require.cache) });
const custody = await import('./src/index.ts');
const afterImport = snapshot();
const pkg = await import('./src/pkg/index.ts');
const drain = async (s) => { let n = 0; for await (const c of s) n += c.length; return n; };
const input = new Uint8Array(1000).fill(65);
const xz = await drain(pkg.encodeStream([input], ['XZ'], 1 << 20, 'xz'));
const bz = await drain(pkg.encodeStream([input], ['BZIP2'], 1 << 20, 'bzip2'));
process.stdout.write(JSON.stringify({ exports: Object.keys(custody).length, afterImport, afterUse: snapshot(), encoded: [xz, bz] }));
`;

interface Loaded {
  dlopened: string[];
  cjs: string[];
}

test('importing src/index.ts loads no native addon and no codec module; first use loads them', () => {
  const r = spawnSync(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', CHILD], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { exports: number; afterImport: Loaded; afterUse: Loaded; encoded: number[] };
  assert.ok(out.exports > 10, 'the root entry was really imported');
  const codec = (p: string): boolean => /[\\/]node_modules[\\/](@napi-rs[\\/]lzma|compressjs)[\\/]/.test(p) || /lzma.*\.node$/.test(p);
  assert.deepEqual(out.afterImport.dlopened, [], 'no native addon after import');
  assert.deepEqual(out.afterImport.cjs.filter(codec), [], 'no codec module after import');
  // Positive control: the same observation sees them once a slot is encoded.
  assert.ok(out.encoded.every((n) => n > 0));
  assert.ok(out.afterUse.dlopened.some((p) => /lzma/.test(p)), `the xz addon was dlopened: ${out.afterUse.dlopened.join(', ')}`);
  assert.ok(out.afterUse.cjs.some((p) => /[\\/]compressjs[\\/]/.test(p)), 'compressjs was loaded');
  assert.ok(out.afterUse.cjs.some((p) => /[\\/]@napi-rs[\\/]lzma[\\/]/.test(p)), '@napi-rs/lzma was loaded');
});
