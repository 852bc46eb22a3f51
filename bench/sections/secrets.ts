/**
 * bench/sections/secrets — the envelope-encrypted secret store (src/secrets, issue 12): put/s and get/s of small
 * secrets, and data keys rewrapped per second during a KEK rotation (`rotateKek`: unwrap with the old KEK, wrap with
 * the new, one atomic file replacement — temp, fsync, rename, directory fsync — per secret). The anchor is the same
 * unwrap + wrap in memory, without the files: what the rotation would cost if writing were free. No target.
 * With SoftHSM2 installed, the same rotation with a KEK held in a token (secrets/token-kek: C_Decrypt and C_Encrypt
 * with CKM_AES_GCM in the token per data key) runs in a child process (secrets-token-child.ts) beside it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataKey } from '../../src/crypto/index.ts';
import { openSecretStore } from '../../src/secrets/open.ts';
import { AesGcmKek } from '../../src/secrets/kek.ts';
import type { BenchContext, BenchSection } from '../types.ts';

async function measure(ctx: BenchContext): Promise<string> {
  const n = ctx.quick ? 200 : 2000;
  const dir = join(ctx.scratch, 'secrets');
  mkdirSync(dir, { recursive: true });
  const { store } = await openSecretStore({ dir, passphrase: { env: { CUSTODY_PASSPHRASE: 'bench' } }, create: true });
  const value = new TextEncoder().encode('x'.repeat(64));
  let t0 = performance.now();
  for (let i = 0; i < n; i++) await store.put(`s${i}`, value);
  const putS = n / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (let i = 0; i < n; i++) await store.get(`s${i}`);
  const getS = n / ((performance.now() - t0) / 1000);
  ctx.log(`rotating the KEK over ${n} secrets`);
  t0 = performance.now();
  const r = await store.rotateKek();
  const rotS = r.rewrapped / ((performance.now() - t0) / 1000);
  store.keyring.close();
  // Anchor: unwrap + wrap in memory only.
  const a = new AesGcmKek('kek-a', generateDataKey());
  const b = new AesGcmKek('kek-b', generateDataKey());
  const aad = new TextEncoder().encode('custody-secret/v1 data-key\nname\n1\n00\nkek\n');
  const wrapped = await a.wrap(generateDataKey(), aad);
  const m = n * 10;
  t0 = performance.now();
  for (let i = 0; i < m; i++) {
    const dk = await a.unwrap(wrapped, aad);
    await b.wrap(dk, aad);
    dk.fill(0);
  }
  const memS = m / ((performance.now() - t0) / 1000);
  const f = (x: number) => Math.round(x).toLocaleString('en-US');
  const token = tokenRotation(ctx, n);
  return [
    `${n} secrets of 64 bytes, one file each (every change fsynced).`,
    '',
    '| operation | per second |',
    '|---|---:|',
    `| put (new data key, seal, wrap, atomic write) | ${f(putS)} |`,
    `| get (read, unwrap, open) | ${f(getS)} |`,
    `| KEK rotation: data keys rewrapped (unwrap + wrap + atomic write) | ${f(rotS)} |`,
    `| anchor: unwrap + wrap in memory only | ${f(memS)} |`,
    ...(token === undefined
      ? []
      : [
          `| KEK rotation file KEK → token KEK (SoftHSM2): data keys rewrapped | ${f(token.toTokenS)} |`,
          `| KEK rotation token KEK → token KEK: data keys rewrapped | ${f(token.tokenToTokenS)} |`,
          `| KEK rotation token KEK → file KEK: data keys rewrapped | ${f(token.toFileS)} |`,
          `| get with a token KEK (unwrap in the token) | ${f(token.getS)} |`,
          `| anchor: unwrap + wrap in the token, no files | ${f(token.memS)} |`,
        ]),
    '',
    `The rotation runs at ${(rotS / memS).toFixed(3)}× the in-memory rewrap: the per-file fsyncs are its cost.`,
    token === undefined
      ? 'Token KEK: not measured (SoftHSM2 is not installed: apt-get install softhsm2).'
      : `With a token KEK on both sides the rotation runs at ${(token.tokenToTokenS / rotS).toFixed(2)}× the file-KEK rotation.`,
  ].join('\n');
}

const SOFTHSM_MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib64/pkcs11/libsofthsm2.so'];

interface TokenRates {
  toTokenS: number;
  tokenToTokenS: number;
  toFileS: number;
  getS: number;
  memS: number;
}

/** tokenRotation measures the rotation with a SoftHSM2 token KEK in a child process; undefined without SoftHSM2. */
function tokenRotation(ctx: BenchContext, n: number): TokenRates | undefined {
  const module = SOFTHSM_MODULES.find((p) => existsSync(p));
  if (module === undefined) return undefined;
  ctx.log(`rotating a token KEK (SoftHSM2) over ${n} secrets`);
  const dir = join(ctx.scratch, 'secrets-token');
  mkdirSync(dir, { recursive: true });
  const out = execFileSync(process.execPath, ['--import', 'tsx', new URL('./secrets-token-child.ts', import.meta.url).pathname, dir, module, String(n)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out) as TokenRates;
}

const section: BenchSection = {
  title: 'Secrets: envelope encryption and KEK rotation',
  run: measure,
};
export default section;
