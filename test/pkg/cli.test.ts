/**
 * CLI transcripts for pack, inspect, extract and the package side of verify: stdout, stderr, exit code and the
 * files left behind, in-process, plus a few real process runs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256 } from '../../src/crypto/index.ts';
import { readPackage } from '../../src/pkg/index.ts';
import { cli, REPO_ROOT, spawnCli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { facts, SEED_KEY, SEED_PUBLIC_HEX, vec, verifyCli } from './helpers.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function project(dir: string): void {
  mkdirSync(join(dir, 'app/bin'), { recursive: true });
  writeFileSync(join(dir, 'app/bin/run'), '#!/bin/sh\necho run\n');
  chmodSync(join(dir, 'app/bin/run'), 0o755);
  writeFileSync(join(dir, 'app/README'), 'readme\n');
  writeFileSync(join(dir, 'notes.txt'), 'notes\n');
  writeFileSync(join(dir, 'ci.seed'), 'custody-interop-1\n');
}

test('pack → inspect → verify → extract with flags, seed file and SOURCE_DATE_EPOCH; rebuilt byte-identical', async (t) => {
  const dir = tmpDir(t);
  project(dir);
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const argv = ['pack', '--slot', 'app:tar.gz:code:runtime', '--slot', 'notes.txt:gzip:data:cache:0640', '--name', 'app', '--version', '2.0.0', '--seed-file', 'ci.seed'];
  const p1 = await cli([...argv, '--output', 'one.psp'], { cwd: dir, env });
  assert.equal(p1.code, 0, p1.stderr);
  assert.match(p1.stdout, /^wrote one\.psp \(\d+ bytes, sha256:[0-9a-f]{64}\)\nsigner: ed25519 dd3773c6/);
  assert.match(p1.stderr, /custody: warning: a key derived from a seed file is deterministic/);
  const p2 = await cli([...argv, '--output', 'two.psp', '--json'], { cwd: dir, env });
  assert.equal(p2.code, 0, p2.stderr);
  const j = JSON.parse(p2.stdout) as { ok: boolean; sha256: string; publicKey: string; reproducible: boolean };
  assert.equal(j.ok, true);
  assert.equal(j.publicKey, SEED_PUBLIC_HEX, 'the seed file rule is FlavorPack\'s: SHA-256 of the text, newline removed');
  assert.equal(j.reproducible, true);
  assert.deepEqual(readFileSync(join(dir, 'one.psp')), readFileSync(join(dir, 'two.psp')));
  assert.equal(j.sha256, hex(sha256(readFileSync(join(dir, 'one.psp')))));
  const again = await cli([...argv, '--output', 'one.psp'], { cwd: dir, env });
  assert.equal(again.code, 3);
  assert.match(again.stderr, /\[ERR_IO_EXISTS\]/);
  assert.equal((await cli([...argv, '--output', 'one.psp', '--force'], { cwd: dir, env })).code, 0);
  assert.deepEqual(readFileSync(join(dir, 'one.psp')), readFileSync(join(dir, 'two.psp')));

  const i = await cli(['inspect', 'one.psp'], { cwd: dir });
  assert.equal(i.code, 0, i.stderr);
  assert.match(i.stdout, /^package: app 2\.0\.0 \(PSPF\/2025, \d+ bytes\)$/m);
  assert.match(i.stdout, /^ {2}0 {2}app +tar\.gz +\d+ +10240 +code +runtime +\{workenv\}\/app +[0-9a-f]{16}…$/m);
  assert.match(i.stdout, /^ {2}1 {2}notes\.txt +gzip/m);
  const ij = JSON.parse((await cli(['inspect', 'one.psp', '--json'], { cwd: dir })).stdout) as { slots: Array<{ id: string; permissions: string | null }> };
  assert.deepEqual(ij.slots.map((s) => [s.id, s.permissions]), [['app', null], ['notes.txt', '0640']]);

  const v = await verifyCli(['one.psp', '--paranoid', '--allow-any-signer'], { cwd: dir });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^one\.psp: intact, signer not trusted$/m);
  assert.match(v.stdout, /verified \(paranoid\): index, metadata signature, launcher and 2\/2 slots against the signed sha-256, safe extraction of \d+ entries/);
  assert.match(v.stderr, /custody: hint: --allow-any-signer: anyone can sign a package with their own key/);

  const before = listTree(dir);
  const x = await cli(['extract', 'one.psp', 'out', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir });
  assert.equal(x.code, 0, x.stderr);
  assert.match(x.stdout, /^extracted 3 files \(\d+ bytes\) from 2 slots of app 2\.0\.0 into out$/m);
  assert.deepEqual(listTree(join(dir, 'out')), ['app', 'app/README', 'app/bin', 'app/bin/run', 'notes.txt']);
  assert.equal(readFileSync(join(dir, 'out/notes.txt'), 'utf8'), 'notes\n');
  assert.equal(statSync(join(dir, 'out/notes.txt')).mode & 0o777, 0o640);
  assert.equal(statSync(join(dir, 'out/app/bin/run')).mode & 0o111, 0o111);
  assert.deepEqual(listTree(dir), [...before, 'out', 'out/app', 'out/app/README', 'out/app/bin', 'out/app/bin/run', 'out/notes.txt'].sort());
  // A second extraction into the now non-empty directory is refused and changes nothing.
  const x2 = await cli(['extract', 'one.psp', 'out', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir });
  assert.equal(x2.code, 3);
  assert.match(x2.stderr, /\[ERR_IO_EXISTS\]/);

  // One slot: a tar slot becomes the directory, a file slot the file.
  assert.equal((await cli(['extract', 'one.psp', 'app', 'only-app', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir })).code, 0);
  assert.deepEqual(listTree(join(dir, 'only-app')), ['README', 'bin', 'bin/run']);
  assert.equal((await cli(['extract', 'one.psp', '1', 'notes-copy.txt', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir })).code, 0);
  assert.equal(readFileSync(join(dir, 'notes-copy.txt'), 'utf8'), 'notes\n');
  const missing = await cli(['extract', 'one.psp', 'nope', 'x', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no slot "nope"; the package has 0:app, 1:notes\.txt \[ERR_PKG_SLOT_NOT_FOUND\]/);
});

test('pack from a JSON and a TOML build file gives the same package', async (t) => {
  const dir = tmpDir(t);
  project(dir);
  writeFileSync(
    join(dir, 'build.json'),
    JSON.stringify({
      name: 'app',
      version: '3.1.4',
      command: '{workenv}/bin/run',
      slots: [
        { id: 'app', path: 'app', operations: 'tar.xz', purpose: 'code', lifecycle: 'startup', target: '{workenv}' },
        { id: 'notes', path: 'notes.txt', permissions: '0644', target: '{workenv}/doc/notes.txt' },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'build.toml'),
    [
      'name = "app"',
      'version = "3.1.4"',
      'command = "{workenv}/bin/run"',
      '[[slots]]',
      'id = "app"',
      'path = "app"',
      'operations = "tar.xz"',
      'purpose = "code"',
      'lifecycle = "startup"',
      'target = "{workenv}"',
      '[[slots]]',
      'id = "notes"',
      'path = "notes.txt"',
      'permissions = "0644"',
      'target = "{workenv}/doc/notes.txt"',
      '',
    ].join('\n'),
  );
  const env = { SOURCE_DATE_EPOCH: '0' };
  for (const f of ['build.json', 'build.toml']) {
    const r = await cli(['pack', '--build', f, '--seed-file', 'ci.seed', '--output', `${f}.psp`], { cwd: dir, env });
    assert.equal(r.code, 0, r.stderr);
  }
  assert.deepEqual(readFileSync(join(dir, 'build.json.psp')), readFileSync(join(dir, 'build.toml.psp')));
  const pkg = await readPackage(join(dir, 'build.json.psp'));
  assert.deepEqual(pkg.slots.map((s) => [s.meta.id, s.meta.operations, s.meta.target]), [
    ['app', 'tar.xz', '{workenv}'],
    ['notes', 'raw', '{workenv}/doc/notes.txt'],
  ]);
  const x = await cli(['extract', 'build.toml.psp', 'out', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir });
  assert.equal(x.code, 0, x.stderr);
  assert.match(x.stdout, /signer: authentic \(signer trusted by pinned key\)/);
  assert.deepEqual(listTree(join(dir, 'out')), ['README', 'bin', 'bin/run', 'doc', 'doc/notes.txt']);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ name: 'x', version: '1', slots: [{ path: 'notes.txt', perms: '0644' }] }));
  const bad = await cli(['pack', '--build', 'bad.json', '--seed-file', 'ci.seed', '--output', 'bad.psp'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown key "perms" \[ERR_CONFIG_INVALID\]/);
});

test('usage and key errors', async (t) => {
  const dir = tmpDir(t);
  project(dir);
  writeFileSync(join(dir, 'key.pem'), SEED_KEY.toPem(), { mode: 0o644 });
  const base = ['pack', '--slot', 'notes.txt', '--name', 'n', '--version', '1', '--output', 'o.psp'];
  const rows: Array<[string[], number, RegExp]> = [
    [base, 2, /pass exactly one of --key PEM, --seed-file FILE or --ephemeral-key \[ERR_USAGE_ARGUMENT\]/],
    [[...base, '--key', 'key.pem', '--seed-file', 'ci.seed'], 2, /\[ERR_USAGE_ARGUMENT\]/],
    [['pack', '--slot', 'notes.txt:gzip:data:cache:4755', '--name', 'n', '--version', '1', '--output', 'o.psp', '--seed-file', 'ci.seed'], 1, /\[ERR_PKG_MODE_REFUSED\]/],
    [['pack', '--slot', 'notes.txt:zstd', '--name', 'n', '--version', '1', '--output', 'o.psp', '--seed-file', 'ci.seed'], 1, /\[ERR_PKG_OPERATION_UNSUPPORTED\]/],
    [['pack', '--slot', 'notes.txt', '--version', '1', '--output', 'o.psp', '--seed-file', 'ci.seed'], 2, /missing --name/],
    [['pack', '--slot', 'notes.txt', '--name', 'n', '--version', '1', '--output', 'notes.txt', '--seed-file', 'ci.seed'], 2, /the output is also an input/],
    [['extract', 'o.psp'], 2, /expected PACKAGE \[SLOT\] OUTPUT/],
    [['inspect', 'nope.psp'], 3, /\[ERR_IO_NOT_FOUND\]/],
    [['inspect', 'notes.txt'], 1, /\[ERR_PKG_TRUNCATED\]/],
  ];
  for (const [argv, code, re] of rows) {
    const r = await cli(argv, { cwd: dir, env: { SOURCE_DATE_EPOCH: '1' } });
    assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, argv.join(' '));
  }
  const sde = await cli([...base, '--seed-file', 'ci.seed'], { cwd: dir, env: { SOURCE_DATE_EPOCH: '17e8' } });
  assert.equal(sde.code, 2);
  assert.match(sde.stderr, /SOURCE_DATE_EPOCH must be a non-negative integer/);
  // A PEM key readable by others is refused (the shared key loader's rule); at 0600 it signs.
  const k = await cli([...base, '--key', 'key.pem'], { cwd: dir });
  assert.equal(k.code, 2);
  assert.match(k.stderr, /\[ERR_CONFIG_KEY_PERMISSIONS\]/);
  chmodSync(join(dir, 'key.pem'), 0o600);
  const k2 = await cli([...base, '--key', 'key.pem'], { cwd: dir });
  assert.equal(k2.code, 0, k2.stderr);
  assert.match(k2.stdout, new RegExp(`signer: ed25519 ${SEED_PUBLIC_HEX}`));
  const e = await cli(['pack', '--slot', 'notes.txt', '--name', 'n', '--version', '1', '--output', 'e.psp', '--ephemeral-key'], { cwd: dir });
  assert.equal(e.code, 0);
  assert.match(e.stderr, /ephemeral key/);
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary files left');
  for (const c of ['pack', 'inspect', 'extract']) {
    const h = await cli([c, '--help'], { cwd: dir });
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`^usage: custody ${c} `));
    assert.match(h.stdout, /example/);
  }
  // --trusted-key from a PEM public key file.
  writeFileSync(join(dir, 'pub.pem'), SEED_KEY.publicKey.toPem());
  const v = await verifyCli(['o.psp', '--trusted-key', 'pub.pem'], { cwd: dir });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /o\.psp: authentic/);
  const lv = await verifyCli(['o.psp', '--quick', '--deep'], { cwd: dir });
  assert.equal(lv.code, 2);
});

test('extract PKG OUTPUT writes every slot\'s decoded content (tar slots unpacked) and nothing else', async (t) => {
  const dir = tmpDir(t);
  const f = facts('03-multi-ops');
  const r = await cli(['extract', vec('03-multi-ops'), join(dir, 'out'), '--json', '--trusted-key', f.public_key_hex], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const expected = new Map<string, string>();
  for (const s of f.slots as Array<{ id: string; decoded_sha256: string; tar_members?: Array<{ path: string; sha256: string }> }>) {
    const target = (f.metadata.slots as Array<{ id: string; target: string }>).find((m) => m.id === s.id)!.target.replace(/^\{workenv\}\/?/, '');
    if (s.tar_members) for (const m of s.tar_members) expected.set(`${target}/${m.path}`, m.sha256);
    else expected.set(target, s.decoded_sha256);
  }
  const files = listTree(join(dir, 'out')).filter((p) => statSync(join(dir, 'out', p)).isFile());
  assert.deepEqual(files.sort(), [...expected.keys()].sort());
  for (const p of files) assert.equal(hex(sha256(readFileSync(join(dir, 'out', p)))), expected.get(p), p);
  assert.deepEqual(listTree(dir).filter((p) => !p.startsWith('out')), [], 'nothing outside OUTPUT');
  const j = JSON.parse(r.stdout) as { entries: Array<{ verdict: string }>; files: number };
  assert.equal(j.files, files.length);
  assert.ok(j.entries.every((e) => e.verdict === 'ok'));
});

test('real processes: inspect and extract a vector, pack and extract', async (t) => {
  const dir = tmpDir(t);
  project(dir);
  const i = await spawnCli(['inspect', vec('04-seeded'), '--json'], { cwd: REPO_ROOT });
  assert.equal(i.code, 0, i.stderr);
  assert.equal((JSON.parse(i.stdout) as { signer: { publicKey: string } }).signer.publicKey, SEED_PUBLIC_HEX);
  const x = await spawnCli(['extract', vec('T08-slot-swap-descriptor-updated'), join(dir, 'out'), '--allow-any-signer'], { cwd: REPO_ROOT });
  assert.equal(x.code, 1);
  assert.match(x.stderr, /\[ERR_PKG_SLOT_DIGEST_MISMATCH\]\ncustody: hint: /);
  const p = await spawnCli(['pack', '--slot', join(dir, 'app'), '--name', 'a', '--version', '1', '--seed-file', join(dir, 'ci.seed'), '--output', join(dir, 'a.psp')], {
    cwd: REPO_ROOT,
    env: { SOURCE_DATE_EPOCH: '1' },
  });
  assert.equal(p.code, 0, p.stderr);
  const e = await spawnCli(['extract', join(dir, 'a.psp'), join(dir, 'a-out'), '--trusted-key', SEED_PUBLIC_HEX], { cwd: REPO_ROOT });
  assert.equal(e.code, 0, e.stderr);
  assert.deepEqual(listTree(join(dir, 'a-out')), ['app', 'app/README', 'app/bin', 'app/bin/run']);
});
