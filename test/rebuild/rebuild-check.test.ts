/**
 * rebuild-check: identical outputs exit 0; every kind of difference (only-in, content, mode, mtime, uid/gid, link,
 * order) is reported, one line each, in a stable order, for directories, tar (plain and gzip), PSPF packages and
 * SBOMs; outputs of different kinds are a usage error (exit 2).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, readdirSync, lutimesSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeTar, type TarEntryInput } from '../../src/archive/tar.ts';
import { PrivateKey } from '../../src/crypto/index.ts';
import { writePackage } from '../../src/pkg/index.ts';
import { compareOutputs, diffEntries, detectKind } from '../../src/rebuild/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const T = 1_700_000_000;

/** tree writes a small build output and pins every mtime (children first, then directories). */
function tree(root: string, edit: (root: string) => void = () => undefined, links = true): void {
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'lib'), { recursive: true });
  writeFileSync(join(root, 'bin/app'), '#!/bin/sh\necho app\n');
  chmodSync(join(root, 'bin/app'), 0o755);
  writeFileSync(join(root, 'lib/a.so'), 'library a\n');
  writeFileSync(join(root, 'README'), 'readme\n');
  if (links) symlinkSync('a.so', join(root, 'lib/current.so'));
  edit(root);
  const pin = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) pin(p);
      lutimesSync(p, T, T);
    }
  };
  pin(root);
  lutimesSync(root, T, T);
}

test('identical directories: exit 0; every kind of difference in two directories, sorted by path', async (t) => {
  const d = tmpDir(t);
  tree(join(d, 'a'));
  tree(join(d, 'b'));
  const same = await cli(['rebuild-check', 'a', 'b', '--json'], { cwd: d });
  assert.equal(same.code, 0, same.stderr);
  assert.deepEqual(JSON.parse(same.stdout), { ok: true, kind: 'directory', entries_a: 6, entries_b: 6, differences: [] });

  tree(join(d, 'c'), (r) => {
    writeFileSync(join(r, 'lib/a.so'), 'library A\n');
    chmodSync(join(r, 'bin/app'), 0o700);
    writeFileSync(join(r, 'NEW'), 'new\n');
    symlinkSync('b.so', join(r, 'lib/other.so'));
  });
  lutimesSync(join(d, 'c/README'), T + 1, T + 1);
  const r = await cli(['rebuild-check', 'a', 'c'], { cwd: d });
  assert.equal(r.code, 1);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'only-in-B NEW',
    'mtime README A=1700000000 B=1700000001',
    'mode bin/app A=0755 B=0700',
    'content lib/a.so A=sha256:' + sha('library a\n') + ' B=sha256:' + sha('library A\n'),
    'only-in-B lib/other.so',
  ]);
  assert.match(r.stderr, /custody: error: 5 differences between A \(6 entries\) and B \(8 entries\) \[ERR_REBUILD_DIFFERS\]/);
});

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

test('a changed symlink target and a file replaced by a symlink are reported as link and type', async (t) => {
  const d = tmpDir(t);
  tree(join(d, 'a'));
  tree(join(d, 'b'), (r) => {
    rmSync(join(r, 'lib/current.so'));
    symlinkSync('b.so', join(r, 'lib/current.so'));
    rmSync(join(r, 'README'));
    symlinkSync('bin/app', join(r, 'README'));
  });
  const r = await compareOutputs(join(d, 'a'), join(d, 'b'));
  assert.deepEqual(
    r.differences.map((x) => [x.kind, x.path, x.a, x.b]),
    [
      ['type', 'README', 'file', 'symlink'],
      ['link', 'lib/current.so', 'a.so', 'b.so'],
    ],
  );
});

const base: TarEntryInput[] = [
  { path: 'bin/', type: 'directory', mode: 0o755, mtime: T },
  { path: 'bin/app', type: 'file', mode: 0o755, mtime: T, data: Buffer.from('app\n') },
  { path: 'lib/a.so', type: 'file', mode: 0o644, mtime: T, data: Buffer.from('a\n') },
  { path: 'lib/current.so', type: 'symlink', mode: 0o777, mtime: T, linkpath: 'a.so' },
  { path: 'README', type: 'file', mode: 0o644, mtime: T, data: Buffer.from('readme\n') },
];

test('tar archives: identical (plain and gzip), then mode, mtime, uid, gid, content, link target and order each reported', async (t) => {
  const d = tmpDir(t);
  writeFileSync(join(d, 'a.tar'), encodeTar(base));
  writeFileSync(join(d, 'b.tar'), encodeTar(base));
  writeFileSync(join(d, 'a.tar.gz'), gzipSync(encodeTar(base)));
  assert.equal(await detectKind(join(d, 'a.tar.gz')), 'tar');
  assert.equal((await cli(['rebuild-check', 'a.tar', 'b.tar'], { cwd: d })).code, 0);
  assert.equal((await cli(['rebuild-check', 'a.tar', 'a.tar.gz'], { cwd: d })).code, 0, 'gzip is undone before comparing');

  const changed = base.map((e) => ({ ...e }));
  changed[1] = { ...changed[1]!, mode: 0o775, uid: 1000, gid: 100 };
  changed[2] = { ...changed[2]!, mtime: T + 60, data: Buffer.from('A\n') };
  changed[3] = { ...changed[3]!, linkpath: 'b.so' };
  // README moves to the front: its order changes, and so does every entry it passed.
  const reordered = [changed[4]!, ...changed.slice(0, 4)];
  writeFileSync(join(d, 'c.tar'), encodeTar(reordered));
  const r = await cli(['rebuild-check', 'a.tar', 'c.tar', '--json'], { cwd: d });
  assert.equal(r.code, 1);
  const o = JSON.parse(r.stdout) as { code: string; details: { differences: Array<{ path: string; kind: string; a?: string; b?: string }> } };
  assert.equal(o.code, 'ERR_REBUILD_DIFFERS');
  assert.deepEqual(
    o.details.differences.map((x) => `${x.kind} ${x.path} ${x.a ?? ''} ${x.b ?? ''}`.trim()),
    [
      'order README #5 #1',
      'order bin #1 #2',
      'mode bin/app 0755 0775',
      'uid bin/app 0 1000',
      'gid bin/app 0 100',
      'order bin/app #2 #3',
      `content lib/a.so sha256:${sha('a\n')} sha256:${sha('A\n')}`,
      'mtime lib/a.so 1700000000 1700000060',
      'order lib/a.so #3 #4',
      'link lib/current.so a.so b.so',
      'order lib/current.so #4 #5',
    ],
  );
});

test('PSPF packages: two builds of one tree are identical; a changed mode and an extra file are found inside the slot', async (t) => {
  const d = tmpDir(t);
  const key = PrivateKey.fromSeed(new Uint8Array(32).fill(7));
  // The metadata records each slot's source directory name: the three builds use the same one.
  tree(join(d, 'b1/src'), undefined, false);
  cpSync(join(d, 'b1'), join(d, 'b2'), { recursive: true, preserveTimestamps: true });
  tree(join(d, 'b3/src'), (r) => {
    chmodSync(join(r, 'bin/app'), 0o644); // packages normalize modes to 0755 (executable) or 0644
    writeFileSync(join(r, 'EXTRA'), 'x\n');
  }, false);
  const pack = (src: string, out: string): Promise<unknown> =>
    writePackage({ output: join(d, out), name: 'demo', version: '1.0.0', key, sourceDateEpoch: T, slots: [{ id: 'app', source: { kind: 'directory', path: join(d, src) } }, { id: 'notes', source: { kind: 'bytes', data: Buffer.from('notes\n') } }] });
  await pack('b1/src', '1.psp');
  await pack('b2/src', '2.psp');
  await pack('b3/src', '3.psp');
  const same = await compareOutputs(join(d, '1.psp'), join(d, '2.psp'));
  assert.equal(same.kind, 'pspf');
  assert.deepEqual(same.differences, []);
  const diff = await cli(['rebuild-check', '1.psp', '3.psp'], { cwd: d });
  assert.equal(diff.code, 1);
  const lines = diff.stdout.trim().split('\n');
  assert.ok(lines.some((l) => /^content \(metadata\) A=sha256:[0-9a-f]{64} B=sha256:[0-9a-f]{64}$/.test(l)), lines.join('\n'));
  assert.ok(lines.includes('only-in-B app/EXTRA'), lines.join('\n'));
  assert.ok(lines.includes('mode app/bin/app A=0755 B=0644'), lines.join('\n'));
  assert.ok(!lines.some((l) => l.startsWith('order')), 'an added entry shifts no other entry');
  assert.ok(!lines.some((l) => l.includes('notes')), 'the unchanged slot is not reported');
});

test('SBOMs: components and files compared by name', async (t) => {
  const d = tmpDir(t);
  const doc = (version: string, digest: string) =>
    JSON.stringify({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [
        { type: 'library', name: 'lodash', version, purl: `pkg:npm/lodash@${version}` },
        { type: 'file', name: 'bin/app', hashes: [{ alg: 'SHA-256', content: digest }] },
      ],
    });
  writeFileSync(join(d, 'a.cdx.json'), doc('4.17.20', 'a'.repeat(64)));
  writeFileSync(join(d, 'b.cdx.json'), doc('4.17.20', 'a'.repeat(64)));
  writeFileSync(join(d, 'c.cdx.json'), doc('4.17.21', 'b'.repeat(64)));
  assert.equal((await cli(['rebuild-check', 'a.cdx.json', 'b.cdx.json'], { cwd: d })).code, 0);
  const r = await cli(['rebuild-check', 'a.cdx.json', 'c.cdx.json'], { cwd: d });
  assert.equal(r.code, 1);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'content component lodash A=4.17.20 pkg:npm/lodash@4.17.20 - B=4.17.21 pkg:npm/lodash@4.17.21 -',
    `content file bin/app A=sha256:${'a'.repeat(64)} - B=sha256:${'b'.repeat(64)} -`,
  ]);
});

test('A and B of different kinds: ERR_REBUILD_KIND_MISMATCH, exit 2 on a real process; wrong arity is usage too', async (t) => {
  const d = tmpDir(t);
  tree(join(d, 'dir'));
  writeFileSync(join(d, 'a.tar'), encodeTar(base));
  await assertRejectsCode(compareOutputs(join(d, 'dir'), join(d, 'a.tar')), 'ERR_REBUILD_KIND_MISMATCH');
  const r = await spawnCli(['rebuild-check', 'dir', 'a.tar'], { cwd: d });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /A is a directory, B is a tar: compare two outputs of one kind \[ERR_REBUILD_KIND_MISMATCH\]/);
  assert.equal((await spawnCli(['rebuild-check', 'dir'], { cwd: d })).code, 2);
});

test('diffEntries: an entry present on one side only does not shift the order of the others', () => {
  const e = (path: string, order: number) => ({ path, type: 'file' as const, order, content: 'x' });
  assert.deepEqual(diffEntries([e('a', 0), e('b', 1), e('c', 2)], [e('a', 0), e('new', 1), e('b', 2), e('c', 3)]), [{ path: 'new', kind: 'only-in-b' }]);
});

test('a repeated tar path is compared occurrence by occurrence: x, x, "x (#2)" — a change in the second x is reported, not hidden', async (t) => {
  const d = tmpDir(t);
  const f = (path: string, body: string): TarEntryInput => ({ path, type: 'file', mode: 0o644, mtime: T, data: Buffer.from(body) });
  writeFileSync(join(d, 'a.tar'), encodeTar([f('x', 'one\n'), f('x', 'two\n'), f('x (#2)', 'two\n')]));
  writeFileSync(join(d, 'b.tar'), encodeTar([f('x', 'one\n'), f('x', 'TWO\n'), f('x (#2)', 'two\n')]));
  writeFileSync(join(d, 'c.tar'), encodeTar([f('x', 'one\n'), f('x', 'two\n'), f('x (#2)', 'TWO\n')]));
  assert.equal((await cli(['rebuild-check', 'a.tar', 'a.tar'], { cwd: d })).code, 0);

  const r = await compareOutputs(join(d, 'a.tar'), join(d, 'b.tar'));
  assert.deepEqual(r.differences, [{ path: 'x', occurrence: 2, kind: 'content', a: `sha256:${sha('two\n')}`, b: `sha256:${sha('TWO\n')}` }]);
  const text = await cli(['rebuild-check', 'a.tar', 'b.tar'], { cwd: d });
  assert.equal(text.code, 1);
  assert.equal(text.stdout.trim(), `content x (#2) A=sha256:${sha('two\n')} B=sha256:${sha('TWO\n')}`);
  assert.match(text.stderr, /\[ERR_REBUILD_DIFFERS\]/);

  // The entry really named "x (#2)" is told apart from the second x: it is rendered with its occurrence, (#1).
  const c = await cli(['rebuild-check', 'a.tar', 'c.tar'], { cwd: d });
  assert.equal(c.code, 1);
  assert.equal(c.stdout.trim(), `content x (#2) (#1) A=sha256:${sha('two\n')} B=sha256:${sha('TWO\n')}`);
  const j = await cli(['rebuild-check', 'a.tar', 'c.tar', '--json'], { cwd: d });
  const o = JSON.parse(j.stdout) as { code: string; details: { differences: unknown[] } };
  assert.equal(o.code, 'ERR_REBUILD_DIFFERS');
  assert.deepEqual(o.details.differences, [{ path: 'x (#2)', kind: 'content', a: `sha256:${sha('two\n')}`, b: `sha256:${sha('TWO\n')}` }]);
});
