/**
 * test/secrets/token-kek — the secret store's KEK held in a real SoftHSM2 token (src/hsm/aes-key, src/secrets/token-kek):
 * `custody secrets rotate-kek --to pkcs11:…` generates a sensitive, never-extractable AES-256 key in the token and
 * rewraps every data key inside it with CKM_AES_GCM; rotation goes back to a file KEK (the token key destroyed) and
 * from token to token; the wrapped bytes are plain AES-256-GCM (checked against Node's with an imported key of known
 * value); altered wrapped keys, moved files and keys of the wrong kind are refused. Skips loudly without SoftHSM2.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { aes256GcmOpen, aes256GcmSeal, randomBytes } from '../../src/crypto/index.ts';
import { generatePkcs11AesKey, openPkcs11AesKey } from '../../src/hsm/aes-key.ts';
import type { Pkcs11Options } from '../../src/hsm/pkcs11.ts';
import { openSecretStore } from '../../src/secrets/open.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { SKIP_SOFTHSM, USER_PIN, setupSoftHsm, type SoftHsm } from '../support/softhsm.ts';
import { tmpDir } from '../support/tmp.ts';

const skip = SKIP_SOFTHSM;
let hsm: SoftHsm;
let o: Pkcs11Options;
const enc = new TextEncoder();
const dec = new TextDecoder();
const PASS = 'token kek passphrase';

before(() => {
  if (skip) return;
  hsm = setupSoftHsm(['kek', 'kek2', 'odd']);
  o = { cwd: hsm.dir, env: hsm.env };
});
after(() => hsm?.cleanup());

function env(): Record<string, string> {
  return { ...hsm.env, CUSTODY_PASSPHRASE: PASS };
}

let lib: import('pkcs11js').PKCS11 | undefined;

/** secretKeys lists the secret key objects of a token with the attributes that matter for a KEK (read in-process). */
function secretKeys(token: string): Array<Record<string, string | number | boolean>> {
  const p = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  if (lib === undefined) {
    lib = new p.PKCS11();
    lib.load(hsm.module);
  }
  try {
    lib.C_Initialize();
  } catch {
    // initialized already in this process
  }
  const slot = lib.C_GetSlotList(true).find((sl) => lib!.C_GetTokenInfo(sl).label.trim() === token)!;
  const s = lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION);
  try {
    try {
      lib.C_Login(s, p.CKU_USER, USER_PIN);
    } catch {
      // already logged in
    }
    lib.C_FindObjectsInit(s, [{ type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }]);
    const objs = lib.C_FindObjects(s, 16);
    lib.C_FindObjectsFinal(s);
    const b = (o: Buffer, t: number) => lib!.C_GetAttributeValue(s, o, [{ type: t }])[0]!.value[0] === 1;
    return objs.map((o) => ({
      label: lib!.C_GetAttributeValue(s, o, [{ type: p.CKA_LABEL }])[0]!.value.toString(),
      aesBytes: lib!.C_GetAttributeValue(s, o, [{ type: p.CKA_VALUE_LEN }])[0]!.value.readUInt32LE(0),
      sensitive: b(o, p.CKA_SENSITIVE),
      alwaysSensitive: b(o, p.CKA_ALWAYS_SENSITIVE),
      extractable: b(o, p.CKA_EXTRACTABLE),
      neverExtractable: b(o, p.CKA_NEVER_EXTRACTABLE),
      encrypt: b(o, p.CKA_ENCRYPT),
      decrypt: b(o, p.CKA_DECRYPT),
      wrap: b(o, p.CKA_WRAP),
      unwrap: b(o, p.CKA_UNWRAP),
      sign: b(o, p.CKA_SIGN),
      derive: b(o, p.CKA_DERIVE),
    }));
  } finally {
    lib.C_CloseSession(s);
  }
}

test('rotate-kek --to pkcs11: file KEK → token KEK → another token → file KEK, every secret readable at each stage', { skip }, async (t) => {
  const dir = tmpDir(t);
  const store = join(dir, 'store');
  const values: Record<string, string> = { 'db.password': 'hunter2', 'daemon.admin-token': 'admin token text', empty: '' };
  for (const [k, v] of Object.entries(values)) {
    writeFileSync(join(dir, 'v'), v);
    // An empty value is stored only when asked for (--allow-empty: an empty pipe or file is usually a mistake).
    const r = await cli(['secrets', 'put', '--store', 'store', k, '--from-file', 'v', ...(v === '' ? ['--allow-empty'] : [])], { cwd: dir, env: env() });
    assert.equal(r.code, 0, r.stderr);
  }
  const readAll = async (): Promise<void> => {
    for (const [k, v] of Object.entries(values)) {
      const r = await cli(['secrets', 'get', '--store', 'store', k], { cwd: dir, env: env() });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, v, k);
    }
  };
  writeFileSync(join(dir, 'kek.pin'), USER_PIN + '\n', { mode: 0o600 });

  // 1. File → token. The PIN file is given relative to the working directory; the keyring keeps it absolute.
  const toToken = await cli(['secrets', 'rotate-kek', '--store', 'store', '--to', 'pkcs11:token=kek;object=secrets-kek-1?pin-source=file:kek.pin', '--json'], { cwd: dir, env: env() });
  assert.equal(toToken.code, 0, toToken.stderr);
  const r1 = JSON.parse(toToken.stdout) as { active: string; rewrapped: number; retired: string[] };
  assert.equal(r1.rewrapped, 3);
  assert.equal(r1.retired.length, 1, 'the file KEK is retired once nothing names it');
  const list1 = JSON.parse((await cli(['secrets', 'list', '--store', 'store', '--json'], { cwd: dir, env: env() })).stdout) as {
    secrets: Array<{ kek_id: string }>;
    keks: Array<{ id: string; kind: string; uri?: string; state: string }>;
  };
  assert.deepEqual(list1.keks.map((k) => [k.id, k.kind, k.state]), [[r1.active, 'pkcs11', 'active']]);
  assert.match(list1.keks[0]!.uri ?? '', /^pkcs11:token=kek;object=secrets-kek-1;id=(%[0-9A-F]{2}){16}$/);
  for (const s of list1.secrets) assert.equal(s.kek_id, r1.active);
  // The wrapped key is 60 bytes (nonce, ciphertext, tag), as for file KEKs.
  const file = JSON.parse(readFileSync(join(store, 'db.password.secret'), 'utf8')) as { wrapped_key: string };
  assert.equal(Buffer.from(file.wrapped_key, 'base64').length, 60);
  await readAll();
  const [kekObj, ...more] = secretKeys('kek');
  assert.equal(more.length, 0);
  assert.deepEqual(kekObj, { label: 'secrets-kek-1', aesBytes: 32, sensitive: true, alwaysSensitive: true, extractable: false, neverExtractable: true, encrypt: true, decrypt: true, wrap: false, unwrap: false, sign: false, derive: false });

  // The same label again is refused before anything changes.
  const again = await cli(['secrets', 'rotate-kek', '--store', 'store', '--to', 'pkcs11:token=kek;object=secrets-kek-1?pin-source=file:kek.pin'], { cwd: dir, env: env() });
  assert.equal(again.code, 3);
  assert.match(again.stderr, /\[ERR_PKCS11_KEY_EXISTS\]/);
  await readAll();

  // 2. Token → token (another token), through the library; then 3. token → file: both token keys destroyed.
  {
    const { store: s } = await openSecretStore({ dir: store, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, pkcs11: o });
    const rep = await s.rotateKek({ to: { kind: 'pkcs11', uri: 'pkcs11:token=kek2;object=secrets-kek-2?pin-source=file:pin.txt' } });
    assert.equal(rep.rewrapped, 3);
    assert.deepEqual(rep.retired, [r1.active]);
    assert.deepEqual(rep.leftInToken, []);
    for (const [k, v] of Object.entries(values)) assert.equal(dec.decode(await s.get(k)), v);
    s.keyring.close();
  }
  assert.deepEqual(secretKeys('kek'), [], 'the retired token KEK is destroyed in its token');
  const toFile = await cli(['secrets', 'rotate-kek', '--store', 'store', '--to', 'file', '--json'], { cwd: dir, env: env() });
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.equal((JSON.parse(toFile.stdout) as { rewrapped: number }).rewrapped, 3);
  assert.deepEqual(secretKeys('kek2'), []);
  const list3 = JSON.parse((await cli(['secrets', 'list', '--store', 'store', '--json'], { cwd: dir, env: env() })).stdout) as { keks: Array<{ kind: string }> };
  assert.deepEqual(list3.keks.map((k) => k.kind), ['file']);
  await readAll();

  const bad = await cli(['secrets', 'rotate-kek', '--store', 'store', '--to', 'hsm'], { cwd: dir, env: env() });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /\[ERR_USAGE_ARGUMENT\]/);
});

test('a token KEK refuses altered wrapped keys and files moved between secrets; reads need the token, listing does not', { skip }, async (t) => {
  const dir = join(tmpDir(t), 'store');
  const { store } = await openSecretStore({ dir, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, create: true, log2N: 10, pkcs11: o });
  await store.put('a', enc.encode('value a'));
  await store.put('b', enc.encode('value b'));
  await store.rotateKek({ to: { kind: 'pkcs11', uri: 'pkcs11:token=kek;object=tamper-kek?pin-source=file:pin.txt' } });
  const path = join(dir, 'a.secret');
  const orig = readFileSync(path, 'utf8');
  const rec = JSON.parse(orig) as Record<string, string | number>;
  // One bit of the wrapped key flipped: GCM in the token refuses it, nothing is decrypted.
  const w = Buffer.from(rec.wrapped_key as string, 'base64');
  w[20]! ^= 1;
  writeFileSync(path, JSON.stringify({ ...rec, wrapped_key: w.toString('base64') }) + '\n');
  await assertRejectsCode(store.get('a'), 'ERR_SECRETS_DECRYPT');
  // b's wrapped key under a's name: the associated data (name, version, key ids) differs.
  const b = JSON.parse(readFileSync(join(dir, 'b.secret'), 'utf8')) as Record<string, string | number>;
  writeFileSync(path, JSON.stringify({ ...rec, wrapped_key: b.wrapped_key }) + '\n');
  await assertRejectsCode(store.get('a'), 'ERR_SECRETS_DECRYPT');
  // The session survives the refusals: the untouched secret still reads.
  writeFileSync(path, orig);
  assert.equal(dec.decode(await store.get('a')), 'value a');
  store.keyring.close();

  // Without the token's module, the keyring still opens and lists; reading is refused with the token's code.
  const noModule = { cwd: hsm.dir, env: {} };
  const { store: s2 } = await openSecretStore({ dir, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, pkcs11: noModule });
  assert.equal((await s2.list()).length, 2);
  await assertRejectsCode(s2.get('b'), 'ERR_PKCS11_MODULE');
  s2.keyring.close();
  // A wrong PIN: refused with its code (the keyring stores the PIN file's path, so CUSTODY_PKCS11_PIN does not apply).
  const { store: s3 } = await openSecretStore({ dir, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, pkcs11: o });
  writeFileSync(join(hsm.dir, 'pin.txt'), '000000\n', { mode: 0o600 });
  try {
    await assertRejectsCode(s3.get('b'), 'ERR_PKCS11_PIN_INCORRECT');
  } finally {
    writeFileSync(join(hsm.dir, 'pin.txt'), USER_PIN + '\n', { mode: 0o600 });
    s3.keyring.close();
  }
});

test('token AES-GCM is plain AES-256-GCM: an imported key of known value agrees with Node both ways', { skip }, async () => {
  // Import a known key as a sensitive, non-extractable token object (what a backup ceremony would do).
  const value = randomBytes(32);
  const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  const lib = new pkcs11js.PKCS11();
  lib.load(hsm.module);
  try {
    lib.C_Initialize();
  } catch {
    // already initialized in this process by an earlier test
  }
  const slot = lib.C_GetSlotList(true).find((sl) => lib.C_GetTokenInfo(sl).label.trim() === 'odd')!;
  const s = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    lib.C_Login(s, pkcs11js.CKU_USER, USER_PIN);
  } catch {
    // already logged in (login state is per application and token)
  }
  const object = (label: string, extra: Array<{ type: number; value: boolean | number | Buffer }>) =>
    lib.C_CreateObject(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: Buffer.from(label) },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      ...extra,
    ]);
  object('known', [
    { type: pkcs11js.CKA_VALUE, value: Buffer.from(value) },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
  ]);
  // Keys a KEK must not be: readable, wrappable out, too short.
  object('readable', [{ type: pkcs11js.CKA_VALUE, value: randomBytes(32) as Buffer }, { type: pkcs11js.CKA_SENSITIVE, value: false }, { type: pkcs11js.CKA_EXTRACTABLE, value: false }]);
  object('extractable', [{ type: pkcs11js.CKA_VALUE, value: randomBytes(32) as Buffer }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: true }]);
  object('aes128', [{ type: pkcs11js.CKA_VALUE, value: randomBytes(16) as Buffer }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: false }]);
  lib.C_CloseSession(s);

  const key = await openPkcs11AesKey('pkcs11:token=odd;object=known?pin-source=file:pin.txt', o);
  const dk = randomBytes(32);
  const aad = enc.encode('custody-secret/v1 data-key\nx\n1\n00\nkek-1\n');
  const wrapped = key.encrypt(dk, aad);
  assert.equal(wrapped.length, 60);
  const opened = aes256GcmOpen(value, wrapped.subarray(0, 12), wrapped.subarray(12), aad);
  assert.deepEqual(opened, dk, 'Node opens what the token sealed');
  const nonce = randomBytes(12);
  const nodeSealed = Buffer.concat([nonce, aes256GcmSeal(value, nonce, dk, aad)]);
  assert.deepEqual(key.decrypt(nodeSealed, aad), dk, 'the token opens what Node sealed');
  assert.equal(key.decrypt(nodeSealed, enc.encode('other aad')), undefined, 'other associated data is refused');
  assert.equal(key.decrypt(nodeSealed.subarray(0, 20), aad), undefined, 'a short input is refused');
  // Two wraps of one data key differ (fresh random nonce each time).
  assert.notDeepEqual(key.encrypt(dk, aad), key.encrypt(dk, aad));
  key.close();

  for (const label of ['readable', 'extractable', 'aes128']) {
    await assertRejectsCode(openPkcs11AesKey(`pkcs11:token=odd;object=${label}?pin-source=file:pin.txt`, o), 'ERR_PKCS11_KEK_TYPE');
  }
  await assertRejectsCode(openPkcs11AesKey('pkcs11:token=odd;object=no-such?pin-source=file:pin.txt', o), 'ERR_PKCS11_KEY_NOT_FOUND');
  await assertRejectsCode(openPkcs11AesKey('pkcs11:token=odd;object=known;type=private?pin-source=file:pin.txt', o), 'ERR_PKCS11_KEK_TYPE');
  await assertRejectsCode(generatePkcs11AesKey('pkcs11:token=odd;object=known?pin-source=file:pin.txt', o), 'ERR_PKCS11_KEY_EXISTS');
  await assertRejectsCode(generatePkcs11AesKey('pkcs11:token=odd?pin-source=file:pin.txt', o), 'ERR_PKCS11_URI_INVALID');
});
