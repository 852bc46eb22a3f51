/**
 * bench/sections/secrets-token-child — run by bench/sections/secrets in a child process of its own (SoftHSM2 reads
 * SOFTHSM2_CONF once per process, and the pkcs11 section may have loaded it already): KEK rotation with a KEK held in
 * a SoftHSM2 token. argv: scratch directory, SoftHSM2 module path, number of secrets. Prints one JSON line of rates.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataKey } from '../../src/crypto/index.ts';
import { generatePkcs11AesKey, openPkcs11AesKey } from '../../src/hsm/aes-key.ts';
import { openSecretStore } from '../../src/secrets/open.ts';

const [dir, module, count] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4])];
mkdirSync(join(dir, 'tokens'), { recursive: true });
const conf = join(dir, 'softhsm2.conf');
writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
process.env.SOFTHSM2_CONF = conf;
execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'kek', '--pin', '123456', '--so-pin', '12345678'], { stdio: 'ignore' });
writeFileSync(join(dir, 'pin'), '123456', { mode: 0o600 });
const pkcs11 = { cwd: dir, env: { CUSTODY_PKCS11_MODULE: module } };
const { store } = await openSecretStore({ dir: join(dir, 'store'), passphrase: { env: { CUSTODY_PASSPHRASE: 'bench' } }, create: true, pkcs11 });
const value = new TextEncoder().encode('x'.repeat(64));
for (let i = 0; i < count; i++) await store.put(`s${i}`, value);

let t0 = performance.now();
const toToken = await store.rotateKek({ to: { kind: 'pkcs11', uri: 'pkcs11:token=kek;object=kek-1?pin-source=file:pin' } });
const toTokenS = toToken.rewrapped / ((performance.now() - t0) / 1000);
t0 = performance.now();
const toToken2 = await store.rotateKek({ to: { kind: 'pkcs11', uri: 'pkcs11:token=kek;object=kek-2?pin-source=file:pin' } });
const tokenToTokenS = toToken2.rewrapped / ((performance.now() - t0) / 1000);
t0 = performance.now();
for (let i = 0; i < count; i++) await store.get(`s${i}`);
const getS = count / ((performance.now() - t0) / 1000);
t0 = performance.now();
const toFile = await store.rotateKek({ to: { kind: 'file' } });
const toFileS = toFile.rewrapped / ((performance.now() - t0) / 1000);
store.keyring.close();

// Anchor: unwrap + wrap inside the token, without the files.
await generatePkcs11AesKey('pkcs11:token=kek;object=anchor-a?pin-source=file:pin', pkcs11);
await generatePkcs11AesKey('pkcs11:token=kek;object=anchor-b?pin-source=file:pin', pkcs11);
const a = await openPkcs11AesKey('pkcs11:token=kek;object=anchor-a?pin-source=file:pin', pkcs11);
const b = await openPkcs11AesKey('pkcs11:token=kek;object=anchor-b?pin-source=file:pin', pkcs11);
const aad = new TextEncoder().encode('custody-secret/v1 data-key\nname\n1\n00\nkek\n');
const wrapped = a.encrypt(generateDataKey(), aad);
const m = count * 5;
t0 = performance.now();
for (let i = 0; i < m; i++) {
  const dk = a.decrypt(wrapped, aad)!;
  b.encrypt(dk, aad);
  dk.fill(0);
}
const memS = m / ((performance.now() - t0) / 1000);
a.close();
b.close();
process.stdout.write(JSON.stringify({ toTokenS, tokenToTokenS, toFileS, getS, memS }) + '\n');
