/**
 * Trust root lifecycle through the CLI: rotation with add-key/revoke, signatures by old and new root keys,
 * `trust update` refusing and keeping the trusted file unchanged, and the bad-input table (nothing written).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

test('rotation through the CLI: dual-signing, trust update, old-key-only manifests refused afterwards', async (t) => {
  const dir = tmpDir(t);
  const run = async (...argv: string[]): Promise<string> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const refuse = async (code: string, ...argv: string[]): Promise<void> => {
    const r = await cli(argv, { cwd: dir });
    assert.notEqual(r.code, 0, argv.join(' '));
    assert.match(r.stderr, new RegExp(`\\[${code}\\]`), argv.join(' '));
  };
  for (const k of ['root1', 'root2', 'old', 'new']) await run('keygen', '--output', `k/${k}.pem`);
  await run('trust', 'init', '--root-key', 'k/root1.pub', '--root-key', 'k/root2.pub', '--root-threshold', '2', '--manifest-key', 'k/old.pub', '--manifest-threshold', '1', '--sign', 'k/root1.pem', '--sign', 'k/root2.pem', '--output', 'root.json');
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'kernel');
  await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', '1', '--output', 'm.json');
  await run('sign-manifest', '--manifest', 'm.json', '--key', 'k/old.pem', '--output', 'm-old.json');
  await run('sign-manifest', '--manifest', 'm-old.json', '--key', 'k/new.pem', '--output', 'm-dual.json');
  await run('sign-manifest', '--manifest', 'm.json', '--key', 'k/new.pem', '--output', 'm-new.json');
  await run('verify-manifest', 'm-dual.json', '--trust', 'root.json');
  await refuse('ERR_MANIFEST_THRESHOLD_UNMET', 'verify-manifest', 'm-new.json', '--trust', 'root.json');

  // v2 adds the new key (transition); signed by one root key only it is not trusted.
  await run('trust', 'add-key', '--trust', 'root.json', '--key', 'k/new.pub', '--sign', 'k/root1.pem', '--output', 'v2-partial.json');
  await run('trust', 'sign', '--trust', 'v2-partial.json', '--key', 'k/root2.pem', '--output', 'v2.json');
  writeFileSync(join(dir, 'client.json'), readFileSync(join(dir, 'root.json')));
  const before = readFileSync(join(dir, 'client.json'));
  await refuse('ERR_TRUST_THRESHOLD_UNMET', 'trust', 'update', '--trust', 'client.json', '--new', 'v2-partial.json');
  assert.deepEqual(readFileSync(join(dir, 'client.json')), before, 'a refused update leaves the trusted file unchanged');
  await run('trust', 'update', '--trust', 'client.json', '--new', 'v2.json');
  await run('verify-manifest', 'm-dual.json', '--trust', 'client.json');
  await run('verify-manifest', 'm-new.json', '--trust', 'client.json');

  // Removing a key a role needs for its threshold is refused unless the threshold is lowered.
  await refuse('ERR_TRUST_ROLE', 'trust', 'remove-key', '--trust', 'v2.json', '--key', 'k/root1.pub', '--output', 'bad.json');
  await run('trust', 'remove-key', '--trust', 'v2.json', '--key', 'k/root1.pub', '--role', 'root', '--threshold', '1', '--output', 'lowered.json');

  // v3 revokes the old key.
  await run('trust', 'revoke', '--trust', 'v2.json', '--key', 'k/old.pub', '--sign', 'k/root1.pem', '--sign', 'k/root2.pem', '--output', 'v3.json');
  const out = await run('trust', 'verify', 'v3.json', '--previous', 'root.json', '--chain', 'v2.json');
  assert.match(out, /verified: root version 3/);
  await run('trust', 'update', '--trust', 'client.json', '--new', 'v3.json');
  await refuse('ERR_MANIFEST_THRESHOLD_UNMET', 'verify-manifest', 'm-old.json', '--trust', 'client.json');
  await run('verify-manifest', 'm-new.json', '--trust', 'client.json');
  await refuse('ERR_TRUST_ROLLBACK', 'trust', 'update', '--trust', 'client.json', '--new', 'v2.json');
  const show = await cli(['trust', 'show', 'client.json', '--json'], { cwd: dir });
  const j = JSON.parse(show.stdout) as { root: { version: number; revoked: string[] } };
  assert.equal(j.root.version, 3);
  assert.equal(j.root.revoked.length, 1);
});

test('rollback protection with --state', async (t) => {
  const dir = tmpDir(t);
  const run = (...argv: string[]) => cli(argv, { cwd: dir });
  await run('keygen', '--output', 'k/a.pem');
  await run('trust', 'init', '--key', 'k/a.pub', '--threshold', '1', '--sign', 'k/a.pem', '--output', 'root.json');
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'kernel');
  for (const seq of ['5', '6']) {
    await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', seq, '--output', `m${seq}.json`);
    await run('sign-manifest', '--manifest', `m${seq}.json`, '--key', 'k/a.pem', '--output', `s${seq}.json`);
  }
  assert.equal((await run('verify-manifest', 's6.json', '--trust', 'root.json', '--state', 'state.json')).code, 0);
  const r = await run('verify', 's5.json', 'art/vmlinuz', '--trust', 'root.json', '--state', 'state.json');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /sequence 5 is below the last seen 6 \[ERR_MANIFEST_ROLLBACK\]/);
  assert.equal((await run('verify-manifest', 's6.json', '--trust', 'root.json', '--state', 'state.json')).code, 0);
});

test('bad input through the CLI: coded errors, exit 1 or 2, nothing written', async (t) => {
  const dir = tmpDir(t);
  await cli(['keygen', '--output', 'k/a.pem'], { cwd: dir });
  await cli(['trust', 'init', '--key', 'k/a.pub', '--threshold', '1', '--sign', 'k/a.pem', '--output', 'root.json'], { cwd: dir });
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'dup.json'), '{"manifest_version":1,"manifest_version":1}');
  writeFileSync(join(dir, 'proto.json'), '{"__proto__":{"polluted":true}}');
  writeFileSync(join(dir, 'big.json'), '{"sequence":12345678901234567890}');
  writeFileSync(join(dir, 'utf8.json'), Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
  writeFileSync(join(dir, 'huge.json'), ' '.repeat(1024 * 1024 + 10));
  writeFileSync(join(dir, 'notjson.json'), 'manifest');
  writeFileSync(join(dir, 'shortkey.pub'), 'abcd');
  const snapshot = listTree(dir);
  const rows: Array<[string[], number, string]> = [
    [['sign-manifest', '--manifest', 'dup.json', '--key', 'k/a.pem', '--output', 'out.json'], 1, 'ERR_FORMAT_JSON_DUPLICATE_KEY'],
    [['sign-manifest', '--manifest', 'proto.json', '--key', 'k/a.pem', '--output', 'out.json'], 1, 'ERR_FORMAT_JSON_FORBIDDEN_KEY'],
    [['sign-manifest', '--manifest', 'big.json', '--key', 'k/a.pem', '--output', 'out.json'], 1, 'ERR_FORMAT_JSON_NUMBER'],
    [['sign-manifest', '--manifest', 'utf8.json', '--key', 'k/a.pem', '--output', 'out.json'], 1, 'ERR_FORMAT_UTF8'],
    [['sign-manifest', '--manifest', 'huge.json', '--key', 'k/a.pem', '--output', 'out.json'], 1, 'ERR_LIMIT_SIZE'],
    [['verify-manifest', 'notjson.json', '--trust', 'root.json'], 1, 'ERR_FORMAT_JSON'],
    [['verify-manifest', 'dup.json', '--trust', 'dup.json'], 1, 'ERR_FORMAT_JSON_DUPLICATE_KEY'],
    [['verify-manifest', 'missing.json', '--trust', 'root.json'], 3, 'ERR_IO_NOT_FOUND'],
    [['verify-manifest', 'dup.json'], 2, 'ERR_USAGE_ARGUMENT'],
    [['trust', 'init', '--key', 'shortkey.pub', '--output', 'out.json'], 1, 'ERR_KEY_INVALID'],
    [['trust', 'init', '--key', 'k/a.pub', '--threshold', '2', '--output', 'out.json'], 2, 'ERR_USAGE_ARGUMENT'],
    [['trust', 'init', '--key', 'k/a.pem', '--output', 'out.json'], 1, 'ERR_KEY_INVALID'],
    [['manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--expires', 'soon', '--output', 'out.json'], 2, 'ERR_USAGE_ARGUMENT'],
    [['manifest', 'create', '--artifacts', 'art', '--channel', 'a/b', '--arch', 'x86_64', '--output', 'out.json'], 1, 'ERR_MANIFEST_SCHEMA'],
    [['manifest', 'create', '--artifacts', 'nowhere', '--channel', 'stable', '--arch', 'x86_64', '--output', 'out.json'], 3, 'ERR_IO_NOT_FOUND'],
    [['sign-manifest', '--manifest', 'dup.json', '--key', 'k/a.pem', '--output', 'dup.json'], 2, 'ERR_USAGE_ARGUMENT'],
  ];
  for (const [argv, exit, code] of rows) {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, exit, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^custody: error: .+ \\[${code}\\]\\ncustody: hint: .+\\n$`), argv.join(' '));
    assert.equal(r.stdout, '');
    assert.deepEqual(listTree(dir), snapshot, `${argv.join(' ')} wrote something`);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
