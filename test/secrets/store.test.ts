/**
 * test/secrets/store — the SecretStore end to end on real files: put/get/list, versions, rotation and retirement,
 * and the refusals: a hand-edited secret file, wrapped key, payload or keyring is refused by GCM and nothing is
 * decrypted; a wrong passphrase; unknown KEKs; bad names; a held lock.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSecretStore } from '../../src/secrets/open.ts';
import { formatSecretFile, parseSecretFile, SECRET_FILE_MAX_BYTES } from '../../src/secrets/format.ts';
import { PassphraseKeyring } from '../../src/secrets/keyring.ts';
import { SecretStore } from '../../src/secrets/store.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const PASS = { env: { CUSTODY_PASSPHRASE: 'correct horse battery staple' } };

async function fresh(t: { after: (fn: () => void) => void }): Promise<{ dir: string; store: SecretStore }> {
  const dir = join(tmpDir(t), 'store');
  const { store, created } = await openSecretStore({ dir, passphrase: PASS, create: true, log2N: 10 });
  assert.equal(created, true);
  return { dir, store };
}

test('put, get, list: values round-trip, versions count up, files are 0600 and name no plaintext', async (t) => {
  const { dir, store } = await fresh(t);
  const a = await store.put('daemon.admin-token', enc.encode('first'));
  assert.equal(a.version, 1);
  const b = await store.put('daemon.admin-token', enc.encode('second value'));
  assert.equal(b.version, 2);
  assert.notEqual(a.dataKeyId, b.dataKeyId, 'each put draws a new data key');
  await store.put('empty', new Uint8Array(0));
  assert.equal(dec.decode(await store.get('daemon.admin-token')), 'second value');
  assert.equal((await store.get('empty')).length, 0);
  assert.deepEqual(
    (await store.list()).map((s) => [s.name, s.version]),
    [
      ['daemon.admin-token', 2],
      ['empty', 1],
    ],
  );
  for (const f of ['daemon.admin-token.secret', 'keyring']) {
    assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    assert.ok(!readFileSync(join(dir, f), 'utf8').includes('second value'));
  }
  assert.ok(!readFileSync(join(dir, 'keyring'), 'utf8').includes('kek-'), 'the keyring seals the KEK ids too');
  assert.deepEqual(readdirSync(dir).sort(), ['daemon.admin-token.secret', 'empty.secret', 'keyring']);
  await assertRejectsCode(store.get('missing'), 'ERR_SECRETS_NOT_FOUND');
  await assertRejectsCode(store.put('../escape', enc.encode('x')), 'ERR_SECRETS_NAME');
  await assertRejectsCode(store.put('.hidden', enc.encode('x')), 'ERR_SECRETS_NAME');
  await assertRejectsCode(store.put('big', new Uint8Array(1024 * 1024 + 1)), 'ERR_LIMIT_SIZE');
});

test('rotateKek rewraps every data key without touching the payloads, and retires the old KEK', async (t) => {
  const { dir, store } = await fresh(t);
  for (let i = 0; i < 5; i++) await store.put(`s${i}`, enc.encode(`value ${i}`));
  const before = readdirSync(dir)
    .filter((f) => f.endsWith('.secret'))
    .map((f) => parseSecretFile(readFileSync(join(dir, f))));
  const oldKek = store.keyring.active().id;
  const r = await store.rotateKek();
  assert.equal(r.rewrapped, 5);
  assert.deepEqual(r.retired, [oldKek]);
  assert.notEqual(r.active, oldKek);
  assert.equal(store.keyring.find(oldKek), undefined, 'the old KEK is gone from the keyring');
  assert.deepEqual(store.keyring.retired().map((x) => x.id), [oldKek]);
  for (const b of before) {
    const after = parseSecretFile(readFileSync(join(dir, `${b.name}.secret`)));
    assert.equal(after.kekId, r.active);
    assert.deepEqual(after.ciphertext, b.ciphertext, 'payload bytes unchanged');
    assert.deepEqual(after.nonce, b.nonce);
    assert.equal(after.dataKeyId, b.dataKeyId);
    assert.notDeepEqual(after.wrappedKey, b.wrappedKey);
  }
  // A fresh process (new keyring object from the file) reads everything.
  const again = await openSecretStore({ dir, passphrase: PASS });
  for (let i = 0; i < 5; i++) assert.equal(dec.decode(await again.store.get(`s${i}`)), `value ${i}`);
  const idle = await again.store.rewrap();
  assert.deepEqual(idle, { active: r.active, rewrapped: 0, unchanged: 5, retired: [], leftInToken: [] });
});

test('a retiring KEK stays while any file names it (a file restored from a backup)', async (t) => {
  const { dir, store } = await fresh(t);
  await store.put('a', enc.encode('A'));
  const backup = readFileSync(join(dir, 'a.secret'));
  const old = store.keyring.active().id;
  await store.rotateKek();
  // Restore the old file: the old KEK is already destroyed, so the secret is refused, coded.
  writeFileSync(join(dir, 'a.secret'), backup);
  await assertRejectsCode(store.get('a'), 'ERR_SECRETS_UNKNOWN_KEK');
  // With a rotation in progress (two KEKs), a file that names the retiring KEK when the scan runs keeps it.
  const { dir: d2, store: s2 } = await fresh(t);
  await s2.put('x', enc.encode('X'));
  const xOld = readFileSync(join(d2, 'x.secret'));
  const retiring = s2.keyring.active().id;
  await s2.keyring.rotate(new Date());
  const kept = await s2.rewrap({
    onStep: (st) => {
      if (st.at === 'retire-begin') writeFileSync(join(d2, 'x.secret'), xOld);
    },
  });
  assert.deepEqual(kept.retired, []);
  assert.ok(s2.keyring.find(retiring) !== undefined);
  assert.equal(dec.decode(await s2.get('x')), 'X');
  const done = await s2.rewrap();
  assert.deepEqual([done.rewrapped, done.retired], [1, [retiring]]);
  assert.equal(dec.decode(await s2.get('x')), 'X');
  assert.ok(old.startsWith('kek-'));
});

test('hand-edited files are refused by GCM and nothing is decrypted', async (t) => {
  const { dir, store } = await fresh(t);
  await store.put('victim', enc.encode('the plaintext'));
  await store.put('other', enc.encode('other plaintext'));
  const path = join(dir, 'victim.secret');
  const good = readFileSync(path, 'utf8');
  const rec = parseSecretFile(good);
  const other = parseSecretFile(readFileSync(join(dir, 'other.secret')));
  const flip = (b: Uint8Array, i: number) => {
    const c = new Uint8Array(b);
    c[i] = c[i]! ^ 1;
    return c;
  };
  const rows: Array<[string, string, string]> = [
    ['payload byte flipped', formatSecretFile({ ...rec, ciphertext: flip(rec.ciphertext, 0) }), 'ERR_SECRETS_DECRYPT'],
    ['payload tag flipped', formatSecretFile({ ...rec, ciphertext: flip(rec.ciphertext, rec.ciphertext.length - 1) }), 'ERR_SECRETS_DECRYPT'],
    ['payload nonce flipped', formatSecretFile({ ...rec, nonce: flip(rec.nonce, 3) }), 'ERR_SECRETS_DECRYPT'],
    ['wrapped key flipped', formatSecretFile({ ...rec, wrappedKey: flip(rec.wrappedKey, 20) }), 'ERR_SECRETS_DECRYPT'],
    ['wrapped key truncated', formatSecretFile({ ...rec, wrappedKey: rec.wrappedKey.subarray(0, 40) }), 'ERR_SECRETS_DECRYPT'],
    ['version edited', formatSecretFile({ ...rec, version: rec.version + 1 }), 'ERR_SECRETS_DECRYPT'],
    ['data key id edited', formatSecretFile({ ...rec, dataKeyId: other.dataKeyId }), 'ERR_SECRETS_DECRYPT'],
    ['wrapped key of another secret', formatSecretFile({ ...rec, wrappedKey: other.wrappedKey }), 'ERR_SECRETS_DECRYPT'],
    ['payload of another secret', formatSecretFile({ ...rec, nonce: other.nonce, ciphertext: other.ciphertext }), 'ERR_SECRETS_DECRYPT'],
    ['kek id edited', formatSecretFile({ ...rec, kekId: 'kek-0000000000000000' }), 'ERR_SECRETS_UNKNOWN_KEK'],
    ['another secret renamed onto it', formatSecretFile({ ...other }), 'ERR_SECRETS_FORMAT'],
    ['unknown format', good.replace('custody-secret/v1', 'custody-secret/v2'), 'ERR_SECRETS_FORMAT'],
    ['extra member', good.replace('{"format"', '{"x":1,"format"'), 'ERR_SECRETS_FORMAT'],
    ['not json', 'garbage', 'ERR_FORMAT_JSON'],
    ['over the cap', ' '.repeat(SECRET_FILE_MAX_BYTES + 1), 'ERR_LIMIT_SIZE'],
  ];
  for (const [what, text, code] of rows) {
    writeFileSync(path, text);
    await assertRejectsCode(store.get('victim'), code as never).catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
  }
  // The file named after another secret's name: renaming other.secret onto victim is refused by the name check;
  // editing the name inside too is refused by GCM (the name is in the associated data).
  writeFileSync(path, formatSecretFile({ ...other, name: 'victim' }));
  await assertRejectsCode(store.get('victim'), 'ERR_SECRETS_DECRYPT');
  writeFileSync(path, good);
  assert.equal(dec.decode(await store.get('victim')), 'the plaintext');
});

test('keyring: wrong passphrase, edited bytes, edited cost parameters are refused; it is never overwritten by create', async (t) => {
  const { dir, store } = await fresh(t);
  await store.put('a', enc.encode('A'));
  const kpath = join(dir, 'keyring');
  await assertRejectsCode(openSecretStore({ dir, passphrase: { env: { CUSTODY_PASSPHRASE: 'wrong' } } }), 'ERR_SECRETS_KEYRING_AUTH');
  await assertRejectsCode(openSecretStore({ dir, passphrase: {} }), 'ERR_CONFIG_PASSPHRASE_REQUIRED');
  const good = readFileSync(kpath, 'utf8');
  const doc = JSON.parse(good) as Record<string, unknown>;
  const ct = Buffer.from(doc.ciphertext as string, 'base64');
  ct[5] = ct[5]! ^ 0x80;
  const rows: Array<[string, string, string]> = [
    ['ciphertext flipped', JSON.stringify({ ...doc, ciphertext: ct.toString('base64') }), 'ERR_SECRETS_KEYRING_AUTH'],
    ['salt changed', JSON.stringify({ ...doc, salt: Buffer.alloc(16, 7).toString('base64') }), 'ERR_SECRETS_KEYRING_AUTH'],
    ['cost raised', JSON.stringify({ ...doc, log2n: 11 }), 'ERR_SECRETS_KEYRING_AUTH'],
    ['cost out of range', JSON.stringify({ ...doc, log2n: 30 }), 'ERR_SECRETS_FORMAT'],
    ['r changed', JSON.stringify({ ...doc, r: 16 }), 'ERR_SECRETS_FORMAT'],
    ['kdf changed', JSON.stringify({ ...doc, kdf: 'pbkdf2' }), 'ERR_SECRETS_FORMAT'],
    ['truncated', good.slice(0, 40), 'ERR_FORMAT_JSON'],
  ];
  for (const [what, text, code] of rows) {
    writeFileSync(kpath, text);
    await assertRejectsCode(openSecretStore({ dir, passphrase: PASS }), code as never).catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
  }
  writeFileSync(kpath, good);
  await assertRejectsCode(PassphraseKeyring.create(kpath, enc.encode('x'), { log2N: 10 }), 'ERR_IO_EXISTS');
  assert.equal(readFileSync(kpath, 'utf8'), good);
  await assertRejectsCode(openSecretStore({ dir: join(dir, 'nowhere'), passphrase: PASS }), 'ERR_IO_NOT_FOUND');
});

test('keyring: a caller capping the scrypt cost (maxLog2N) gets ERR_LIMIT_KDF_COST before any derivation; the cap at the file\'s own cost opens it', async (t) => {
  const { dir, store } = await fresh(t);
  await store.put('a', enc.encode('A'));
  const kpath = join(dir, 'keyring');
  const good = readFileSync(kpath);
  const pass = enc.encode(PASS.env.CUSTODY_PASSPHRASE);
  // The fuzzer's input: the cost raised to 2^20 (1 GiB of scrypt). Refused by the cap, not by AES-GCM after a
  // derivation (which would say ERR_SECRETS_KEYRING_AUTH: the header's cost is authenticated).
  const costly = Buffer.from(JSON.stringify({ ...(JSON.parse(good.toString('utf8')) as object), log2n: 20 }) + '\n');
  assertCode(() => PassphraseKeyring.fromBytes(kpath, costly, pass, { maxLog2N: 10 }), 'ERR_LIMIT_KDF_COST');
  assertCode(() => PassphraseKeyring.fromBytes(kpath, good, pass, { maxLog2N: 9 }), 'ERR_LIMIT_KDF_COST');
  const ring = PassphraseKeyring.fromBytes(kpath, good, pass, { maxLog2N: 10 });
  assert.equal(ring.entries().length, 1);
  ring.close();
});

test('a lock held by a live process refuses changes; a lock of a dead process is taken over', async (t) => {
  const { dir, store } = await fresh(t);
  writeFileSync(join(dir, '.lock'), `${process.ppid}\n`);
  await assertRejectsCode(store.put('a', enc.encode('A')), 'ERR_SECRETS_LOCKED');
  writeFileSync(join(dir, '.lock'), '999999999\n');
  await store.put('a', enc.encode('A'));
  assert.deepEqual(readdirSync(dir).sort(), ['a.secret', 'keyring']);
  // Temporary files of an interrupted write are removed by the next change.
  writeFileSync(join(dir, '.a.secret.123.456.0.tmp'), 'partial');
  await store.put('b', enc.encode('B'));
  assert.deepEqual(readdirSync(dir).sort(), ['a.secret', 'b.secret', 'keyring']);
  assertCode(() => parseSecretFile('{}'), 'ERR_SECRETS_FORMAT');
});
