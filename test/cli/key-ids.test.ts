/**
 * TUF key ids through the CLI: `key show` prints the spec id (RFC 8032 TEST 1 vector), the ids `trust init`,
 * `sign-manifest` and `sign-package` write are that id, and a root whose key id was altered is refused by the real
 * executable with exit 1 and ERR_TRUST_KEYID_MISMATCH, leaving the trusted file unchanged.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, spawnCli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const RFC8032_TEST1_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_TEST1_TUF_KEY_ID = '74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916';

test('key show prints the TUF key id (RFC 8032 TEST 1 vector); fingerprints stay a display form', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'test1.pub'), RFC8032_TEST1_PUBLIC + '\n');
  const r = await cli(['key', 'show', 'test1.pub'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^key id: +${RFC8032_TEST1_TUF_KEY_ID}$`, 'm'));
  assert.match(r.stdout, /^fingerprint: SHA256:[A-Za-z0-9+/]{43}$/m);
  const j = await cli(['key', 'show', 'test1.pub', '--json'], { cwd: dir });
  assert.equal((JSON.parse(j.stdout) as { key_id: string }).key_id, RFC8032_TEST1_TUF_KEY_ID);
});

test('trust init, sign-manifest and sign-package write TUF key ids; a root with an altered key id is refused (exit 1)', async (t) => {
  const dir = tmpDir(t);
  const run = async (...argv: string[]): Promise<string> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await run('keygen', '--output', 'k/a.pem');
  const id = (JSON.parse(await run('key', 'show', 'k/a.pub', '--json')) as { key_id: string }).key_id;
  assert.match(id, /^[0-9a-f]{64}$/);
  await run('trust', 'init', '--key', 'k/a.pub', '--threshold', '1', '--sign', 'k/a.pem', '--output', 'root.json');
  const root = JSON.parse(readFileSync(join(dir, 'root.json'), 'utf8')) as { signed: { keys: Record<string, unknown> }; signatures: Array<{ keyid: string }> };
  assert.deepEqual(Object.keys(root.signed.keys), [id]);
  assert.deepEqual(root.signatures.map((s) => s.keyid), [id]);
  assert.match(await run('trust', 'show', 'root.json'), new RegExp(`targets +1 of \\[${id}\\]`));

  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'kernel');
  await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', '1', '--output', 'm.json');
  assert.match(await run('sign-manifest', '--manifest', 'm.json', '--key', 'k/a.pem', '--output', 's.json'), new RegExp(`signed by ${id};`));
  const m = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8')) as { signatures: Array<{ key_id: string }> };
  assert.deepEqual(m.signatures.map((s) => s.key_id), [id]);
  await run('sign-package', 'art/vmlinuz', '--key', 'k/a.pem');
  const sigs = JSON.parse(readFileSync(join(dir, 'art', 'vmlinuz.sigs'), 'utf8')) as { signatures: Array<{ key_id: string }> };
  assert.deepEqual(sigs.signatures.map((s) => s.key_id), [id]);

  // The same root with one hex digit of the key id changed (everywhere it appears): refused before anything else.
  const wrong = id.slice(0, -1) + (id.endsWith('0') ? '1' : '0');
  writeFileSync(join(dir, 'bad.json'), readFileSync(join(dir, 'root.json'), 'utf8').replaceAll(id, wrong));
  const before = readFileSync(join(dir, 'bad.json'));
  for (const argv of [
    ['trust', 'verify', 'bad.json'],
    ['verify-manifest', 's.json', '--trust', 'bad.json'],
    ['trust', 'update', '--trust', 'bad.json', '--new', 'root.json'],
  ]) {
    const r = await spawnCli(argv, { cwd: dir });
    assert.equal(r.code, 1, `${argv.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^custody: error: trust root key id ${wrong} does not match its key: expected ${id} \\[ERR_TRUST_KEYID_MISMATCH\\]\\ncustody: hint: .*docs/trust\\.md.*\\n$`));
  }
  assert.deepEqual(readFileSync(join(dir, 'bad.json')), before, 'a refused root file is left unchanged');
});
