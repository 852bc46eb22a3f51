/**
 * Packages we write: they read back with every field as written, verify at every level, extract to exactly their
 * inputs, are byte-identical when rebuilt with the same inputs, key and SOURCE_DATE_EPOCH, and refuse inputs our
 * own extractor would refuse.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { sha256 } from '../../src/crypto/index.ts';
import { listTar } from '../../src/archive/tar.ts';
import {
  extractPackage,
  openPackage,
  PLACEHOLDER_LAUNCHER,
  readPackage,
  verifyPackageFile,
  writePackage,
  type SlotInput,
  type WritePackageOptions,
} from '../../src/pkg/index.ts';
import { computeLayout } from '../../src/pkg/writer.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { ATTACKER, facts, SEED_KEY, vec } from './helpers.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** makeTree writes a small source tree: nested dirs, an executable, an empty dir, a long and a non-ASCII name. */
function makeTree(root: string, order: 'forward' | 'reverse' = 'forward'): void {
  const files: Array<[string, string | Uint8Array, number]> = [
    ['bin/app', '#!/bin/sh\necho app\n', 0o755],
    ['etc/app.conf', 'key = value\n', 0o644],
    ['lib/deep/er/still/module.js', 'export const x = 1;\n'.repeat(500), 0o600],
    [`share/${'long-name-'.repeat(14)}.txt`, 'long\n', 0o644],
    ['share/déjà-vu.txt', 'unicode\n', 0o644],
    ['data.bin', new Uint8Array(70000).map((_, i) => (i * 7919) % 251), 0o644],
  ];
  for (const [p, data, mode] of order === 'forward' ? files : [...files].reverse()) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), data);
    chmodSync(join(root, p), mode);
  }
  mkdirSync(join(root, 'empty'), { recursive: true });
}

function opts(out: string, slots: SlotInput[], extra: Partial<WritePackageOptions> = {}): WritePackageOptions {
  return { output: out, name: 'demo', version: '1.2.3', key: SEED_KEY, slots, sourceDateEpoch: 1_700_000_000, ...extra };
}

test('every operation chain round-trips: write, read back, verify (paranoid), extract to the same bytes', async (t) => {
  const dir = tmpDir(t);
  const src = join(dir, 'src');
  makeTree(src);
  const blob = join(dir, 'blob.bin');
  writeFileSync(blob, Buffer.alloc(200_000, 'abcdefghij'));
  const slots: SlotInput[] = [
    { id: 'tgz', source: { kind: 'directory', path: src }, operations: 'tar.gz', target: '{workenv}/tgz', purpose: 'code', lifecycle: 'startup' },
    { id: 'txz', source: { kind: 'directory', path: src }, operations: 'tar.xz', target: '{workenv}/txz', purpose: 'config', lifecycle: 'lazy' },
    { id: 'tbz2', source: { kind: 'directory', path: src }, operations: 'tar.bz2', target: '{workenv}/tbz2', purpose: 'media', lifecycle: 'cache' },
    { id: 'tar', source: { kind: 'directory', path: src }, operations: 'tar', target: '{workenv}/tar' },
    { id: 'raw', source: { kind: 'file', path: blob }, target: '{workenv}/blobs/raw.bin' },
    { id: 'gz', source: { kind: 'file', path: blob }, operations: 'gzip', target: '{workenv}/blobs/gz.bin' },
    { id: 'xz', source: { kind: 'file', path: blob }, operations: 'xz', target: '{workenv}/blobs/xz.bin' },
    { id: 'bz2', source: { kind: 'file', path: blob }, operations: 'bzip2', target: '{workenv}/blobs/bz2.bin', permissions: 0o640 },
    { id: 'pipe', source: { kind: 'directory', path: src }, operations: 'TAR|GZIP', target: '{workenv}/pipe' },
    { id: 'mem', source: { kind: 'bytes', data: new TextEncoder().encode('in memory\n') }, target: '{workenv}/mem.txt' },
  ];
  const out = join(dir, 'all.psp');
  const w = await writePackage(opts(out, slots, { command: '{workenv}/tgz/bin/app' }));
  assert.equal(w.size, statSync(out).size);
  assert.equal(w.sha256, hex(sha256(readFileSync(out))));

  const pkg = await readPackage(out);
  assert.equal(pkg.metadata.name, 'demo');
  assert.equal(pkg.metadata.version, '1.2.3');
  assert.equal(pkg.signer.hex, SEED_KEY.publicKey.hex);
  assert.deepEqual(
    pkg.slots.map((s) => [s.meta.id, s.meta.operations, s.meta.target]),
    slots.map((s) => [s.id, s.operations === 'TAR|GZIP' ? 'tar.gz' : (s.operations ?? 'raw'), s.target]),
  );
  assert.deepEqual(pkg.slots.map((s) => s.storedSize), w.slots.map((s) => s.storedSize));
  assert.equal(pkg.metadata.raw.execution && JSON.stringify(pkg.metadata.raw.execution), JSON.stringify({ primary_slot: 0, command: '{workenv}/tgz/bin/app', env: {} }));
  const lay = computeLayout(pkg.launcherSize, pkg.metadataSize, pkg.slots.map((s) => s.storedSize));
  assert.deepEqual(lay.slotOffsets, pkg.slots.map((s) => s.offset));
  assert.ok(pkg.slots.every((s) => s.offset % 4096 === 0), 'slots are page aligned like the reference');
  // The placeholder launcher sits at offset 0 and its digest is signed.
  assert.deepEqual(readFileSync(out).subarray(0, PLACEHOLDER_LAUNCHER.length), Buffer.from(PLACEHOLDER_LAUNCHER));
  assert.equal(hex(pkg.metadata.launcher.sha256), hex(sha256(PLACEHOLDER_LAUNCHER)));
  // The metadata has the reference's shape and key order.
  const ref = facts('04-seeded').metadata as Record<string, unknown>;
  assert.deepEqual(Object.keys(pkg.metadata.raw), Object.keys(ref));
  assert.deepEqual(Object.keys((pkg.metadata.raw.slots as Record<string, unknown>[])[0]!), Object.keys((ref.slots as Record<string, unknown>[])[0]!));

  for (const level of ['quick', 'deep', 'paranoid'] as const) {
    const r = await verifyPackageFile(out, { level, trust: { anySigner: true } });
    assert.equal(r.trust.kind, 'self-signed');
    assert.equal(r.launcherVerified, level !== 'quick');
  }
  const a = await verifyPackageFile(out, { trust: { keys: [SEED_KEY.publicKey] } });
  assert.ok(a.trust.kind === 'authentic' && a.trust.via === 'pinned-key' && a.trust.key.equals(SEED_KEY.publicKey));
  await assertRejectsCode(verifyPackageFile(out, { trust: { keys: [ATTACKER.publicKey] } }), 'ERR_PKG_UNTRUSTED_SIGNER');
  const viaHook = await verifyPackageFile(out, { trust: { authorize: (k) => k.equals(SEED_KEY.publicKey) } });
  assert.equal(viaHook.trust.kind === 'authentic' && viaHook.trust.via, 'authorize');

  const r = await openPackage(out);
  let res;
  try {
    res = await extractPackage(r, join(dir, 'x'), { trust: { keys: [SEED_KEY.publicKey] } });
  } finally {
    await r.close();
  }
  assert.ok(res.entries.every((e) => e.verdict === 'ok'));
  const x = join(dir, 'x');
  const srcTree = listTree(src);
  for (const t of ['tgz', 'txz', 'tbz2', 'tar', 'pipe']) {
    assert.deepEqual(listTree(join(x, t)), srcTree, t);
    for (const p of srcTree) {
      const s = statSync(join(src, p));
      if (!s.isFile()) continue;
      assert.deepEqual(readFileSync(join(x, t, p)), readFileSync(join(src, p)), `${t}/${p}`);
      assert.equal(statSync(join(x, t, p)).mode & 0o111, s.mode & 0o111, `${t}/${p} execute bits`);
    }
  }
  for (const b of ['raw', 'gz', 'xz', 'bz2']) assert.deepEqual(readFileSync(join(x, 'blobs', `${b}.bin`)), readFileSync(blob));
  assert.equal(statSync(join(x, 'blobs/bz2.bin')).mode & 0o777, 0o640);
  assert.equal(readFileSync(join(x, 'mem.txt'), 'utf8'), 'in memory\n');
  assert.deepEqual(listTree(x).filter((p) => !p.includes('/')), ['blobs', 'mem.txt', 'pipe', 'tar', 'tbz2', 'tgz', 'txz']);
});

test('deterministic: same inputs, key and SOURCE_DATE_EPOCH give identical bytes; mtimes and creation order do not matter', async (t) => {
  const dir = tmpDir(t);
  // Same basename (it is recorded as the slot's `source`), different parents, built in opposite orders.
  const a = join(dir, 'one', 'src');
  const b = join(dir, 'two', 'src');
  makeTree(a, 'forward');
  makeTree(b, 'reverse');
  utimesSync(join(b, 'bin/app'), 1, 1);
  const slots = (root: string): SlotInput[] => [
    { id: 'app', source: { kind: 'directory', path: root }, target: '{workenv}' },
    { id: 'data', source: { kind: 'file', path: join(root, 'data.bin') }, operations: 'gzip', target: '{workenv}/copy.bin' },
  ];
  await writePackage(opts(join(dir, '1.psp'), slots(a)));
  await writePackage(opts(join(dir, '2.psp'), slots(b)));
  assert.deepEqual(readFileSync(join(dir, '1.psp')), readFileSync(join(dir, '2.psp')));
  await writePackage(opts(join(dir, '3.psp'), slots(a), { sourceDateEpoch: 1_700_000_001 }));
  assert.notDeepEqual(readFileSync(join(dir, '1.psp')), readFileSync(join(dir, '3.psp')));
  // The tar inside carries the fixed owner, sorted names and SOURCE_DATE_EPOCH as mtime.
  const pkg = await readPackage(join(dir, '1.psp'));
  const s = pkg.slots[0]!;
  const members = await listTar(gunzipSync(readFileSync(join(dir, '1.psp')).subarray(s.offset, s.offset + s.storedSize)));
  const paths = members.map((m) => m.header.path);
  assert.deepEqual(paths, [...paths].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  assert.ok(members.every((m) => m.header.uid === 0 && m.header.gid === 0 && m.header.uname === '' && m.header.mtime === 1_700_000_000));
  assert.ok(members.every((m) => [0o755, 0o644].includes(m.header.mode)), 'modes normalised');
  assert.equal(pkg.metadata.raw.build && (pkg.metadata.raw.build as { timestamp: string }).timestamp, '2023-11-14T22:13:20+00:00');
  const gz = readFileSync(join(dir, '1.psp')).subarray(s.offset, s.offset + 10);
  assert.equal(hex(gz.subarray(4, 8)), '00000000', 'gzip mtime is 0');
});

test('without SOURCE_DATE_EPOCH: mtimes 0, timestamp from the clock, build.deterministic false', async (t) => {
  const dir = tmpDir(t);
  makeTree(join(dir, 's'));
  const out = join(dir, 'p.psp');
  await writePackage({ output: out, name: 'n', version: '1', key: SEED_KEY, now: () => new Date('2026-03-04T05:06:07Z'), slots: [{ id: 's', source: { kind: 'directory', path: join(dir, 's') }, operations: 'tar' }] });
  const pkg = await readPackage(out);
  const build = pkg.metadata.raw.build as { deterministic: boolean; timestamp: string; platform: { host: string } };
  assert.equal(build.deterministic, false);
  assert.equal(build.timestamp, '2026-03-04T05:06:07+00:00');
  assert.equal(build.platform.host, 'deterministic-build', 'the host name never leaks');
  const s = pkg.slots[0]!;
  const members = await listTar(readFileSync(out).subarray(s.offset, s.offset + s.storedSize));
  assert.ok(members.every((m) => m.header.mtime === 0));
});

test('re-packing the vector\'s stored slot bytes keeps their signed digests', async (t) => {
  const dir = tmpDir(t);
  const v = await readPackage(vec('04-seeded'));
  const bytes = readFileSync(vec('04-seeded'));
  const out = join(dir, 'repack.psp');
  await writePackage(
    opts(
      out,
      v.slots.map((s) => ({
        id: s.meta.id,
        source: { kind: 'stored', data: bytes.subarray(s.offset, s.offset + s.storedSize), originalSize: s.originalSize },
        operations: s.meta.operations,
        target: s.meta.target,
        purpose: s.meta.purpose,
        lifecycle: s.meta.lifecycle,
        permissions: s.meta.permissions,
      })),
      { launcher: bytes.subarray(0, v.launcherSize) },
    ),
  );
  const p = await readPackage(out);
  assert.deepEqual(p.slots.map((s) => hex(s.meta.sha256)), v.slots.map((s) => hex(s.meta.sha256)));
  assert.deepEqual(p.slots.map((s) => s.descriptor.checksum), v.slots.map((s) => s.descriptor.checksum));
  assert.deepEqual(p.slots.map((s) => s.descriptor.nameHash), v.slots.map((s) => s.descriptor.nameHash));
  await verifyPackageFile(out, { level: 'paranoid', trust: { keys: [SEED_KEY.publicKey] } });
});

test('the writer refuses inputs the extractor would refuse, and leaves nothing behind', async (t) => {
  const dir = tmpDir(t);
  const out = join(dir, 'out');
  mkdirSync(out);
  const mk = (name: string): string => {
    const d = join(dir, name);
    mkdirSync(d);
    writeFileSync(join(d, 'ok.txt'), 'ok');
    return d;
  };
  const withLink = mk('link');
  symlinkSync('/etc/passwd', join(withLink, 'passwd'));
  const withFifo = mk('fifo');
  execFileSync('mkfifo', [join(withFifo, 'p')]);
  const withCase = mk('case');
  writeFileSync(join(withCase, 'OK.txt'), 'upper');
  const withBackslash = mk('bs');
  writeFileSync(join(withBackslash, 'a\\b'), 'x');
  const dirSlot = (p: string, ops = 'tar.gz'): SlotInput[] => [{ id: 'd', source: { kind: 'directory', path: p }, operations: ops }];
  const cases: Array<[SlotInput[], Parameters<typeof assertRejectsCode>[1]]> = [
    [dirSlot(withLink), 'ERR_PKG_LINK_REFUSED'],
    [dirSlot(withFifo), 'ERR_PKG_SPECIAL_FILE'],
    [dirSlot(withCase), 'ERR_PKG_PATH_COLLISION'],
    [dirSlot(withBackslash), 'ERR_PKG_PATH_INVALID'],
    [dirSlot(mk('gz'), 'gzip'), 'ERR_USAGE_ARGUMENT'],
    [dirSlot(mk('zst'), 'tar.zst'), 'ERR_PKG_OPERATION_UNSUPPORTED'],
    [[{ id: 'f', source: { kind: 'file', path: join(withLink, 'ok.txt') }, permissions: 0o4755 }], 'ERR_PKG_MODE_REFUSED'],
    [[{ id: 'f', source: { kind: 'file', path: join(withLink, 'ok.txt') }, operations: 'tar' }], 'ERR_USAGE_ARGUMENT'],
    [[{ id: 'f', source: { kind: 'file', path: join(withLink, 'ok.txt') }, purpose: 'weird' }], 'ERR_USAGE_ARGUMENT'],
    [
      [
        { id: 'same', source: { kind: 'bytes', data: new Uint8Array(1) } },
        { id: 'same', source: { kind: 'bytes', data: new Uint8Array(1) } },
      ],
      'ERR_USAGE_ARGUMENT',
    ],
    [[{ id: 'f', source: { kind: 'file', path: join(dir, 'missing') } }], 'ERR_IO_NOT_FOUND'],
  ];
  for (const [slots, code] of cases) {
    await assertRejectsCode(writePackage(opts(join(out, 'p.psp'), slots)), code);
    assert.deepEqual(listTree(out), [], `${code}: nothing left in the output directory`);
  }
  await writePackage(opts(join(out, 'p.psp'), dirSlot(mk('fine'))));
  await assertRejectsCode(writePackage(opts(join(out, 'p.psp'), dirSlot(join(dir, 'fine')))), 'ERR_IO_EXISTS');
  await writePackage(opts(join(out, 'p.psp'), dirSlot(join(dir, 'fine')), { overwrite: true }));
  assert.deepEqual(listTree(out), ['p.psp']);
});

const hasTool = (tool: string): boolean => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

test('standard tools read what we write (tar, gzip, xz, bzip2)', { skip: !hasTool('tar') || !hasTool('xz') || !hasTool('bzip2') ? 'tar/xz/bzip2 not installed' : false }, async (t) => {
  const dir = tmpDir(t);
  const src = join(dir, 'src');
  makeTree(src);
  const out = join(dir, 'p.psp');
  const ops = ['tar.gz', 'tar.xz', 'tar.bz2', 'tar'];
  await writePackage(opts(out, ops.map((o, i) => ({ id: `s${i}`, source: { kind: 'directory', path: src }, operations: o }))));
  const pkg = await readPackage(out);
  const bytes = readFileSync(out);
  for (const s of pkg.slots) {
    const f = join(dir, `slot.${s.meta.operations}`);
    writeFileSync(f, bytes.subarray(s.offset, s.offset + s.storedSize));
    const listed = execFileSync('tar', ['-tf', f], { encoding: 'utf8' }).trim().split('\n').map((p) => p.replace(/\/$/, ''));
    assert.deepEqual(listed.sort(), listTree(src).sort(), s.meta.operations);
    mkdirSync(join(dir, `x-${s.index}`));
    execFileSync('tar', ['-xf', f, '-C', join(dir, `x-${s.index}`)]);
    assert.deepEqual(listTree(join(dir, `x-${s.index}`)), listTree(src));
  }
  assert.ok(existsSync(join(dir, 'x-0', 'bin', 'app')));
});
