/**
 * One version string (src/version.ts): it equals package.json's version, `custody --version` prints it, and a
 * package records it as build.tool_version.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PrivateKey, sha256 } from '../src/crypto/index.ts';
import { readPackage, writePackage } from '../src/pkg/index.ts';
import { CUSTODY_VERSION } from '../src/version.ts';
import { cli } from './support/cli.ts';
import { tmpDir } from './support/tmp.ts';

test('CUSTODY_VERSION is package.json\'s version and `custody --version` prints it', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(CUSTODY_VERSION, pkg.version);
  const r = await cli(['--version'], { cwd: '/' });
  assert.deepEqual(r, { code: 0, stdout: `custody ${pkg.version}\n`, stderr: '' });
});

test('a package written by custody records CUSTODY_VERSION as build.tool_version', async (t) => {
  const dir = tmpDir(t);
  mkdirSync(join(dir, 's'));
  writeFileSync(join(dir, 's', 'a.txt'), 'a\n');
  const out = join(dir, 'p.psp');
  const key = PrivateKey.fromSeed(sha256('custody-version-test'));
  await writePackage({ output: out, name: 'n', version: '1', key, slots: [{ id: 's', source: { kind: 'directory', path: join(dir, 's') }, operations: 'tar' }] });
  const build = (await readPackage(out)).metadata.raw.build as { tool_version: string };
  assert.equal(build.tool_version, CUSTODY_VERSION);
});
