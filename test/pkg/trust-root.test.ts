/**
 * Trust-root authorization of packages: the signer key is a "targets" key of the root, or a detached signature
 * set (`custody sign-package`) meets the role's threshold over the package digest.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

test('verify PKG --trust: authorized signer key, or threshold signature set over the digest', async (t) => {
  const dir = tmpDir(t);
  const ok = async (...argv: string[]): Promise<string> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const refused = async (code: string, ...argv: string[]): Promise<void> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, 1, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
  };
  for (const k of ['a', 'b', 'c', 'packager']) await ok('keygen', '--output', `k/${k}.pem`);
  await ok('trust', 'init', '--threshold', '2', '--key', 'k/a.pub', '--key', 'k/b.pub', '--key', 'k/c.pub', '--sign', 'k/a.pem', '--sign', 'k/b.pem', '--output', 'root.json');
  writeFileSync(join(dir, 'hello.txt'), 'hello\n');
  await ok('pack', '--name', 'demo', '--version', '1.0.0', '--slot', 'hello.txt', '--key', 'k/packager.pem', '--output', 'app.psp');
  await ok('pack', '--name', 'demo', '--version', '1.0.0', '--slot', 'hello.txt', '--key', 'k/a.pem', '--output', 'by-a.psp');

  // A package signed by a targets key is authentic under the root.
  assert.match(await ok('verify', '--trust', 'root.json', 'by-a.psp'), /authentic \(signer trusted by trust root key\)/);
  // The packager key is not in the root: refused until a threshold signs the digest.
  await refused('ERR_PKG_UNTRUSTED_SIGNER', 'verify', 'app.psp', '--trust', 'root.json');
  await ok('sign-package', 'app.psp', '--key', 'k/a.pem');
  await ok('sign-package', 'app.psp', '--key', 'k/a.pem'); // same key twice counts once
  await refused('ERR_PKG_UNTRUSTED_SIGNER', 'verify', 'app.psp', '--trust', 'root.json');
  await ok('sign-package', 'app.psp', '--key', 'k/packager.pem'); // not a root key: never counts
  await refused('ERR_PKG_UNTRUSTED_SIGNER', 'verify', 'app.psp', '--trust', 'root.json');
  const sigs = JSON.parse(readFileSync(join(dir, 'app.psp.sigs'), 'utf8')) as { signatures: unknown[] };
  assert.equal(sigs.signatures.length, 2);
  await ok('sign-package', 'app.psp', '--key', 'k/b.pem');
  const out = await ok('verify', 'app.psp', '--trust', 'root.json', '--deep');
  assert.match(out, /authentic \(signer trusted by threshold signatures of the trust root\)/);
  const j = JSON.parse((await cli(['verify', 'app.psp', '--trust', 'root.json', '--json'], { cwd: dir })).stdout) as { status: string; trust: { via: string } };
  assert.deepEqual([j.status, j.trust.via], ['authentic', 'threshold-signatures']);

  // The set covers these exact bytes: a changed package (even re-signed by the packager) is refused.
  copyFileSync(join(dir, 'app.psp.sigs'), join(dir, 'other.sigs'));
  await ok('pack', '--name', 'demo', '--version', '1.0.1', '--slot', 'hello.txt', '--key', 'k/packager.pem', '--output', 'app2.psp');
  await refused('ERR_SIGSET_DIGEST_MISMATCH', 'verify', 'app2.psp', '--trust', 'root.json', '--signatures', 'other.sigs');
  const before = listTree(dir);
  appendFileSync(join(dir, 'app.psp.sigs'), ' ');
  const r = await cli(['sign-package', 'app2.psp', '--key', 'k/a.pem', '--signatures', 'app.psp.sigs'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_SIGSET_DIGEST_MISMATCH\]/);
  assert.deepEqual(listTree(dir), before);
  writeFileSync(join(dir, 'bad.sigs'), '{"type":"nope"}');
  await refused('ERR_SIGSET_SCHEMA', 'verify', 'app.psp', '--trust', 'root.json', '--signatures', 'bad.sigs');
});
