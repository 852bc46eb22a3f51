/**
 * Slot ids are names (issue 8 item 3): ids that are empty, longer than 255 bytes, or contain `/`, `\`, `.`/`..`
 * segments, NUL or control characters are refused with ERR_PKG_SLOT_ID_INVALID when a package is read (the id is in
 * the signed metadata) and when one is packed (library and CLI), and packing leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openPackage, writePackage } from '../../src/pkg/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { assemble, SEED_KEY } from './helpers.ts';

const enc = new TextEncoder();

/** BAD_IDS: one row per refused shape. */
const BAD_IDS: Array<[string, string]> = [
  ['empty', ''],
  ['256 bytes', 'a'.repeat(256)],
  ['256 bytes of UTF-8 in 128 characters', 'é'.repeat(128)],
  ['slash', 'a/b'],
  ['leading slash', '/etc'],
  ['parent segment', '..'],
  ['parent prefix', '../x'],
  ['parent suffix', 'x/..'],
  ['current segment', '.'],
  ['backslash', 'a\\b'],
  ['windows parent', '..\\x'],
  ['NUL', 'a\u0000b'],
  ['newline', 'a\nb'],
  ['escape', '\u001b[31mred'],
  ['DEL', 'a\u007f'],
  ['C1 control', 'a\u0085b'],
];

/** GOOD_IDS stay accepted: dots inside names, spaces, non-ASCII, exactly 255 bytes. */
const GOOD_IDS = ['app', 'notes.txt', '..hidden', 'a..b', 'with space', 'ünïcödé', 'a'.repeat(255)];

test('reading: a signed slot id that is not a file name is refused with ERR_PKG_SLOT_ID_INVALID', async (t) => {
  const dir = tmpDir(t);
  for (const [what, id] of BAD_IDS) {
    const pkg = join(dir, 'bad.psp');
    writeFileSync(pkg, assemble({ slots: [{ id, stored: enc.encode('x'), target: '{workenv}/x' }] }));
    await assertRejectsCode(openPackage(pkg), 'ERR_PKG_SLOT_ID_INVALID').catch((e: Error) => {
      throw new Error(`${what}: ${e.message}`);
    });
    const r = await cli(['verify-package', 'bad.psp', '--allow-any-signer'], { cwd: dir });
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /slots\[0\]\.id: slot id .* a slot id is a file name, not a path \[ERR_PKG_SLOT_ID_INVALID\]$/m, what);
    // The untrusted id is escaped in the message: no raw control character reaches the terminal.
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(r.stderr.replace(/\n/g, ''), /[\u0000-\u001f\u007f\u0085]/, what);
  }
  for (const id of GOOD_IDS) {
    const pkg = join(dir, 'good.psp');
    writeFileSync(pkg, assemble({ slots: [{ id, stored: enc.encode('x'), target: '{workenv}/x' }] }));
    const r = await openPackage(pkg);
    assert.equal(r.model.slots[0]!.meta.id, id);
    await r.close();
  }
});

test('packing: writePackage and custody pack refuse the same ids and leave nothing behind', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'hello.txt'), 'hello\n');
  mkdirSync(join(dir, 'out'));
  for (const [what, id] of BAD_IDS) {
    await assertRejectsCode(
      writePackage({ output: join(dir, 'out', 'bad.psp'), name: 'n', version: '1', key: SEED_KEY, slots: [{ id, source: { kind: 'file', path: join(dir, 'hello.txt') } }] }),
      'ERR_PKG_SLOT_ID_INVALID',
    ).catch((e: Error) => {
      throw new Error(`${what}: ${e.message}`);
    });
    assert.deepEqual(listTree(join(dir, 'out')), [], `${what}: nothing written`);
    writeFileSync(join(dir, 'build.json'), JSON.stringify({ name: 'n', version: '1', slots: [{ id, path: 'hello.txt' }] }));
    writeFileSync(join(dir, 'ci.seed'), 'seed\n');
    const r = await cli(['pack', '--build', 'build.json', '--seed-file', 'ci.seed', '--output', 'out/bad.psp'], { cwd: dir });
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /\[ERR_PKG_SLOT_ID_INVALID\]$/m, what);
    assert.deepEqual(listTree(join(dir, 'out')), [], `${what}: custody pack wrote nothing`);
  }
  for (const id of GOOD_IDS) {
    const out = join(dir, 'out', 'good.psp');
    await writePackage({ output: out, name: 'n', version: '1', key: SEED_KEY, overwrite: true, slots: [{ id, source: { kind: 'file', path: join(dir, 'hello.txt') } }] });
    const r = await openPackage(out);
    assert.equal(r.model.slots[0]!.meta.id, id);
    await r.close();
  }
});
