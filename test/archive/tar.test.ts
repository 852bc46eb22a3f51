/**
 * archive/tar: the writer is byte-compatible with Python's tarfile (the FlavorPack reference writer) and round-trips
 * through our reader and GNU tar; the reader refuses every malformation with ERR_PKG_ARCHIVE_FORMAT.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeTar, formatTarHeader, listTar, readTar, scanDirectory, tarDirectory, type TarEntryInput } from '../../src/archive/tar.ts';
import { readPackage } from '../../src/pkg/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';
import { vectorPath, vectorsSkip } from '../support/vectors.ts';

const enc = new TextEncoder();

test('encodeTar reproduces the reference writer\'s tar (Python tarfile, PAX_FORMAT) byte for byte', { skip: vectorsSkip('pspf') }, async () => {
  const path = vectorPath('pspf', '03-multi-ops.psp');
  const pkg = await readPackage(path);
  const slot = pkg.slots.find((s) => s.meta.operations === 'tar')!;
  const tar = readFileSync(path).subarray(slot.offset, slot.offset + slot.storedSize);
  const members = await listTar(tar);
  const again = encodeTar(members.map((m) => ({ path: m.header.path, type: 'file', mode: m.header.mode, mtime: m.header.mtime, data: m.data })));
  assert.equal(Buffer.compare(again, tar), 0);
});

test('round trip: files, directories, links, devices, long and non-ASCII names, big sizes via pax', async () => {
  const long = 'd/'.repeat(100) + 'f'.repeat(90);
  const entries: TarEntryInput[] = [
    { path: 'dir', type: 'directory', mode: 0o755, mtime: 1_700_000_000 },
    { path: 'dir/file.txt', type: 'file', mode: 0o644, data: enc.encode('hello') },
    { path: 'x'.repeat(100), type: 'file', data: enc.encode('exactly 100') },
    { path: `${'p'.repeat(150)}/${'n'.repeat(99)}`, type: 'file', data: enc.encode('prefix split') },
    { path: long, type: 'file', data: enc.encode('pax path') },
    { path: 'ünïcødé/😀.txt', type: 'file', data: enc.encode('utf-8') },
    { path: 'link', type: 'symlink', linkpath: 'l'.repeat(150) },
    { path: 'hard', type: 'hardlink', linkpath: 'dir/file.txt' },
    { path: 'tty', type: 'char-device', devmajor: 5, devminor: 0 },
    { path: 'fifo', type: 'fifo' },
    { path: 'empty', type: 'file', data: new Uint8Array(0) },
    { path: 'block', type: 'file', data: new Uint8Array(512).fill(7) },
  ];
  const tar = encodeTar(entries);
  assert.equal(tar.length % 10240, 0, 'padded to whole records');
  const back = await listTar(tar);
  assert.deepEqual(
    back.map((m) => [m.header.path, m.header.type, m.header.linkpath, Buffer.from(m.data).toString()]),
    entries.map((e) => [e.type === 'directory' ? `${e.path}/` : e.path, e.type, e.linkpath ?? '', Buffer.from(e.data ?? new Uint8Array(0)).toString()]),
  );
  assert.equal(back[0]!.header.mtime, 1_700_000_000);
  assert.equal(back[8]!.header.devmajor, 5);
  assert.ok(back.every((m) => m.header.uid === 0 && m.header.gid === 0 && m.header.uname === ''));
  assert.equal(back[4]!.header.format, 'pax');
  // A size over 8 GiB is carried by a pax record (header only; no data is generated).
  const big = formatTarHeader({ path: 'big', type: 'file', size: 9 * 1024 ** 3 });
  const sizes: number[] = [];
  for await (const e of readTar([big])) {
    sizes.push(e.header.size);
    break;
  }
  assert.deepEqual(sizes, [9 * 1024 ** 3]);
});

const hasTar = ((): boolean => {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('GNU tar reads what we write, and we read what GNU tar writes (gnu and posix formats)', { skip: hasTar ? false : 'tar not installed' }, async (t) => {
  const dir = tmpDir(t);
  const src = join(dir, 'src');
  const long = `${'long-directory-name/'.repeat(8)}file-with-a-long-name.txt`;
  mkdirSync(join(src, long, '..'), { recursive: true });
  writeFileSync(join(src, long), 'deep');
  writeFileSync(join(src, 'a.txt'), 'a');
  const ours = join(dir, 'ours.tar');
  const parts: Uint8Array[] = [];
  for await (const c of tarDirectory(await scanDirectory(src))) parts.push(Uint8Array.from(c));
  writeFileSync(ours, Buffer.concat(parts));
  const listed = execFileSync('tar', ['-tf', ours], { encoding: 'utf8' }).trim().split('\n');
  assert.ok(listed.includes(long));
  assert.ok(listed.includes('a.txt'));
  for (const format of ['gnu', 'posix', 'ustar']) {
    const theirs = join(dir, `${format}.tar`);
    try {
      execFileSync('tar', ['--format', format, '-cf', theirs, '-C', src, '.'], { stdio: 'ignore' });
    } catch {
      assert.equal(format, 'ustar', 'only ustar may refuse a name this long');
      continue;
    }
    const members = await listTar(readFileSync(theirs));
    const files = members.filter((m) => m.header.type === 'file').map((m) => [m.header.path.replace(/^\.\//, ''), Buffer.from(m.data).toString()]);
    assert.deepEqual(files.sort(), [['a.txt', 'a'], [long, 'deep']].sort(), format);
  }
});

test('the reader refuses malformed archives with ERR_PKG_ARCHIVE_FORMAT', async () => {
  const good = encodeTar([{ path: 'a', type: 'file', data: enc.encode('abc') }]);
  const mut = (f: (b: Uint8Array) => void, from: Uint8Array = good): Uint8Array => {
    const b = Uint8Array.from(from);
    f(b);
    return b;
  };
  const paxHeader = (body: string): Uint8Array => {
    const data = enc.encode(body);
    const h = formatTarHeader({ path: '././@PaxHeader', type: 'file', size: data.length });
    h[156] = 0x78; // 'x'
    // recompute the checksum for the changed typeflag
    h.fill(0x20, 148, 156);
    const sum = h.reduce((a, c) => a + c, 0);
    h.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    const pad = new Uint8Array((512 - (data.length % 512)) % 512);
    return Buffer.concat([h, data, pad, good]);
  };
  const cases: Array<[string, Uint8Array]> = [
    ['bad checksum', mut((b) => (b[0] = 0x62))],
    ['non-octal size', mut((b) => (b[124] = 0x39))],
    ['truncated data', good.subarray(0, 600)],
    ['truncated header', good.subarray(0, 100)],
    ['no end marker', good.subarray(0, 1024)],
    ['one zero block then data', Buffer.concat([good.subarray(0, 1024), new Uint8Array(512), enc.encode('x'.repeat(512))])],
    ['junk after the end', Buffer.concat([good, enc.encode('junk')])],
    ['pax length lies', paxHeader('99 path=x\n')],
    ['pax record without =', paxHeader('9 pathx\n\n')],
    ['pax size not canonical', paxHeader('13 size=012\n')],
    ['pax GNU sparse', paxHeader('24 GNU.sparse.size=100\n')],
    ['directory with data', encodeTar([{ path: 'd', type: 'directory', size: 10 }])],
    ['pax over the cap', paxHeader(`${2 * 1024 * 1024 + 17} comment=${'x'.repeat(2 * 1024 * 1024 + 6)}\n`)],
  ];
  for (const [name, bytes] of cases) await assertRejectsCode(listTar(bytes), 'ERR_PKG_ARCHIVE_FORMAT').catch((e: Error) => assert.fail(`${name}: ${e.message}`));
  // Not UTF-8 names.
  const latin1 = mut((b) => (b[0] = 0xe9));
  const fixed = mut((b) => {
    b.fill(0x20, 148, 156);
    const sum = b.subarray(0, 512).reduce((a, c) => a + c, 0);
    b.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  }, latin1);
  await assertRejectsCode(listTar(fixed), 'ERR_PKG_ARCHIVE_FORMAT');
});

// Under load the wall time says nothing (tests never assert on it): a quadratic reader would still show up here as
// a run that does not finish within the test runner's timeout.
test('complexity: 20,000 entries and 1 MiB of pax records parse', async () => {
  const entries: TarEntryInput[] = Array.from({ length: 20_000 }, (_, i) => ({ path: `f/${i}`, type: 'file', data: enc.encode(String(i)) }));
  const tar = encodeTar(entries);
  let n = 0;
  for await (const e of readTar([tar])) {
    for await (const _ of e.body()) n++;
  }
  assert.equal(n, 20_000);
  // The reader pulls any chunking of the stream (1-byte chunks here) without quadratic copying.
  const small = encodeTar(entries.slice(0, 200));
  const oneByte = (function* (): Generator<Uint8Array> {
    for (let i = 0; i < small.length; i++) yield small.subarray(i, i + 1);
  })();
  let m = 0;
  for await (const _ of readTar(oneByte)) m++;
  assert.equal(m, 200);
});
