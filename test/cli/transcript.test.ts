/**
 * CLI transcripts (age cmd/age/testdata spirit): the newcomer's transcript from the core issue, checking stdout,
 * stderr, exit codes and the files left behind.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, spawnCli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

test('the newcomer transcript works as written', async (t) => {
  const dir = tmpDir(t);
  const run = (...argv: string[]) => cli(argv, { cwd: dir });
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), Buffer.alloc(4096, 'k'));
  writeFileSync(join(dir, 'art', 'initramfs.img'), Buffer.alloc(2048, 'i'));

  for (const k of ['a', 'b', 'c']) {
    const r = await run('keygen', '--output', `k/${k}.pem`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^key id: +[0-9a-f]{64}$/m);
    assert.match(r.stdout, /^public key: +[0-9a-f]{64}$/m);
    assert.match(r.stdout, /^fingerprint: +SHA256:[A-Za-z0-9+/]{43}$/m);
    assert.equal(statSync(join(dir, 'k', `${k}.pem`)).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'k')).mode & 0o777, 0o700);
    assert.match(readFileSync(join(dir, 'k', `${k}.pem`), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.match(readFileSync(join(dir, 'k', `${k}.pub`), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  }
  const again = await run('keygen', '--output', 'k/a.pem');
  assert.equal(again.code, 3);
  assert.match(again.stderr, /^custody: error: refusing to overwrite .*a\.pem \[ERR_IO_EXISTS\]\ncustody: hint: /);

  let r = await run('trust', 'init', '--threshold', '2', '--key', 'k/a.pub', '--key', 'k/b.pub', '--key', 'k/c.pub', '--expires', '365d', '--sign', 'k/a.pem', '--sign', 'k/b.pem', '--output', 'root.json');
  assert.equal(r.code, 0, r.stderr);
  r = await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--expires', '30d', '--output', 'm0.json');
  assert.equal(r.code, 0, r.stderr);
  r = await run('sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json');
  assert.equal(r.code, 0, r.stderr);
  r = await run('sign-manifest', '--manifest', 'm1.json', '--key', 'k/b.pem', '--output', 'm2.json');
  assert.equal(r.code, 0, r.stderr);

  r = await run('verify-manifest', 'm2.json', '--trust', 'root.json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^verified: stable\/x86_64 .* signed by 2\/2 keys/);

  r = await run('verify-manifest', 'm1.json', '--trust', 'root.json');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^custody: error: signed by 1\/2 keys .*\[ERR_MANIFEST_THRESHOLD_UNMET\]\ncustody: hint: .+\n$/);

  r = await run('verify', 'm2.json', 'art/vmlinuz', 'art/initramfs.img', '--trust', 'root.json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok {2}vmlinuz/m);
  assert.match(r.stdout, /^ok {2}initramfs\.img/m);

  r = await run('verify', 'm2.json', 'art/vmlinuz', '--trust', 'root.json', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { ok: boolean; artifacts: Array<{ name: string }> };
  assert.equal(j.ok, true);
  assert.equal(j.artifacts[0]!.name, 'kernel');

  // Any byte of art/vmlinuz changed: hash code; a byte added: size code.
  const k = readFileSync(join(dir, 'art', 'vmlinuz'));
  k[100] = 0x00;
  writeFileSync(join(dir, 'art', 'vmlinuz'), k);
  r = await run('verify', 'm2.json', 'art/vmlinuz', 'art/initramfs.img', '--trust', 'root.json');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_ARTIFACT_HASH_MISMATCH\]/);
  r = await run('verify', 'm2.json', 'art/vmlinuz', '--trust', 'root.json', '--json');
  assert.equal(r.code, 1);
  assert.deepEqual(Object.keys(JSON.parse(r.stdout) as object).slice(0, 4), ['ok', 'code', 'message', 'hint']);
  assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'ERR_ARTIFACT_HASH_MISMATCH');
  appendFileSync(join(dir, 'art', 'vmlinuz'), 'x');
  r = await run('verify', 'm2.json', 'art/vmlinuz', '--trust', 'root.json');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_ARTIFACT_SIZE_MISMATCH\]/);

  assert.deepEqual(listTree(dir), ['art', 'art/initramfs.img', 'art/vmlinuz', 'k', 'k/a.pem', 'k/a.pub', 'k/b.pem', 'k/b.pub', 'k/c.pem', 'k/c.pub', 'm0.json', 'm1.json', 'm2.json', 'root.json']);
});

test('the real executable: help, usage errors and exit codes', async (t) => {
  const dir = tmpDir(t);
  let r = await spawnCli(['--help'], { cwd: dir });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^usage: custody <command>/);
  assert.match(r.stdout, /verify-manifest/);
  r = await spawnCli(['frobnicate'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'custody: error: unknown command "frobnicate" [ERR_USAGE_UNKNOWN_COMMAND]\ncustody: hint: run `custody --help` to list the commands\n');
  r = await spawnCli(['keygen', '--bogus'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  r = await spawnCli(['verify-manifest', '--help'], { cwd: dir });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--trust ROOT\.json/);
  r = await spawnCli(['keygen', '--output', 'k/x.pem', '--json'], { cwd: dir });
  assert.equal(r.code, 0);
  assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
});

test('encrypted keys: passphrase from a file or CUSTODY_PASSPHRASE, never argv; coded error without one', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'pass'), 'hunter2 but longer\n', { mode: 0o600 });
  let r = await cli(['keygen', '--output', 'k/e.pem', '--passphrase-file', 'pass'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const pem = readFileSync(join(dir, 'k', 'e.pem'), 'utf8');
  assert.match(pem, /^-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----/);
  assert.ok(!r.stdout.includes('hunter2') && !r.stderr.includes('hunter2'));
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'k');
  r = await cli(['manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--output', 'm0.json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['sign-manifest', '--manifest', 'm0.json', '--key', 'k/e.pem', '--output', 'm1.json'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\[ERR_CONFIG_PASSPHRASE_REQUIRED\]\ncustody: hint: pass --passphrase-file FILE or set CUSTODY_PASSPHRASE/);
  assert.ok(!existsSync(join(dir, 'm1.json')));
  r = await cli(['sign-manifest', '--manifest', 'm0.json', '--key', 'k/e.pem', '--output', 'm1.json'], { cwd: dir, env: { CUSTODY_PASSPHRASE: 'wrong' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\[ERR_CONFIG_PASSPHRASE_WRONG\]/);
  assert.ok(!r.stderr.includes('wrong\n') || !r.stderr.includes('CUSTODY_PASSPHRASE=wrong'));
  r = await cli(['sign-manifest', '--manifest', 'm0.json', '--key', 'k/e.pem', '--output', 'm1.json'], { cwd: dir, env: { CUSTODY_PASSPHRASE: 'hunter2 but longer' } });
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['key', 'show', 'k/e.pem', '--passphrase-file', 'pass'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const pub = await cli(['key', 'show', 'k/e.pub'], { cwd: dir });
  assert.equal(r.stdout, pub.stdout);
});

test('deterministic keys from a seed file follow the FlavorPack rule', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'seed'), 'custody-interop-1\n');
  const r = await cli(['keygen', '--output', 'k/s.pem', '--seed-file', 'seed', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const { public_key } = JSON.parse(r.stdout) as { public_key: string };
  const r2 = await cli(['keygen', '--output', 'k/s2.pem', '--seed-file', 'seed', '--json'], { cwd: dir });
  assert.equal((JSON.parse(r2.stdout) as { public_key: string }).public_key, public_key);
  const show = await cli(['key', 'show', public_key], { cwd: dir });
  assert.equal(show.code, 3, 'inline hex is only for commands taking keys, key show reads files');
  writeFileSync(join(dir, 'hex.pub'), public_key + '\n');
  writeFileSync(join(dir, 'b64.pub'), Buffer.from(public_key, 'hex').toString('base64'));
  for (const f of ['hex.pub', 'b64.pub', 'k/s.pub']) {
    const s = await cli(['key', 'show', f, '--json'], { cwd: dir });
    assert.equal((JSON.parse(s.stdout) as { public_key: string }).public_key, public_key, f);
  }
});

test('private keys readable by others are refused', async (t) => {
  const dir = tmpDir(t);
  await cli(['keygen', '--output', 'k/a.pem'], { cwd: dir });
  const { chmodSync } = await import('node:fs');
  chmodSync(join(dir, 'k', 'a.pem'), 0o644);
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'x'), 'x');
  await cli(['manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--output', 'm0.json'], { cwd: dir });
  const r = await cli(['sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\[ERR_CONFIG_KEY_PERMISSIONS\]\ncustody: hint: chmod 600 /);
});
