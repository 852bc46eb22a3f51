/**
 * bench/sections/secrets — the envelope-encrypted secret store (src/secrets, issue 12): put/s and get/s of small
 * secrets, and data keys rewrapped per second during a KEK rotation (`rotateKek`: unwrap with the old KEK, wrap with
 * the new, one atomic file replacement — temp, fsync, rename, directory fsync — per secret). The anchor is the same
 * unwrap + wrap in memory, without the files: what the rotation would cost if writing were free. No target.
 */
import { mkdirSync } from 'node:fs';
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
  return [
    `${n} secrets of 64 bytes, one file each (every change fsynced).`,
    '',
    '| operation | per second |',
    '|---|---:|',
    `| put (new data key, seal, wrap, atomic write) | ${f(putS)} |`,
    `| get (read, unwrap, open) | ${f(getS)} |`,
    `| KEK rotation: data keys rewrapped (unwrap + wrap + atomic write) | ${f(rotS)} |`,
    `| anchor: unwrap + wrap in memory only | ${f(memS)} |`,
    '',
    `The rotation runs at ${(rotS / memS).toFixed(3)}× the in-memory rewrap: the per-file fsyncs are its cost.`,
  ].join('\n');
}

const section: BenchSection = {
  title: 'Secrets: envelope encryption and KEK rotation',
  run: measure,
};
export default section;
