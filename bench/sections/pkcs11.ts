/**
 * bench/sections/pkcs11 — Ed25519 signatures per second through SoftHSM2 (PKCS#11, src/hsm/pkcs11.ts) next to the
 * same signatures with a file key (node:crypto) in the same run: the synchronous path (C_SignInit + C_Sign on one
 * session, what the CLI and `Signer.sign` use) and the daemon's pool (C_SignAsync, 32 requests in flight) with 1 and 2
 * sessions. Message: 200 bytes (a manifest-sized payload is hashed inside Ed25519 either way). SoftHSM2 is a software
 * token, so this measures the PKCS#11 path's overhead, not a hardware token's speed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateKey, randomBytes } from '../../src/crypto/index.ts';
import { generatePkcs11Key, openPkcs11Signer } from '../../src/hsm/pkcs11.ts';
import type { BenchContext, BenchSection } from '../types.ts';

const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib64/pkcs11/libsofthsm2.so'];

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

async function measure(ctx: BenchContext): Promise<string> {
  const module = MODULES.find((p) => existsSync(p));
  if (module === undefined) return 'Not measured: SoftHSM2 is not installed (apt-get install softhsm2).';
  const dir = join(ctx.scratch, 'softhsm');
  mkdirSync(join(dir, 'tokens'), { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // SoftHSM2 reads SOFTHSM2_CONF at C_Initialize, once per process: this section must be the first to load it.
  process.env.SOFTHSM2_CONF = conf;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', '123456', '--so-pin', '12345678'], { stdio: 'ignore' });
  writeFileSync(join(dir, 'pin'), '123456', { mode: 0o600 });
  const uri = 'pkcs11:token=bench;object=bench-1?pin-source=file:pin';
  const o = { cwd: dir, env: { CUSTODY_PKCS11_MODULE: module } };
  await generatePkcs11Key(uri, o);
  const n = ctx.quick ? 500 : 5000;
  const msg = randomBytes(200);
  const rows: Array<[string, number]> = [];

  const file = PrivateKey.generate();
  let t0 = performance.now();
  for (let i = 0; i < n; i++) file.sign(msg);
  rows.push(['file key (node:crypto), sync', rate(n, performance.now() - t0)]);

  const one = await openPkcs11Signer(uri, { ...o, poolSize: 1 });
  t0 = performance.now();
  for (let i = 0; i < n; i++) one.sign(msg);
  rows.push(['SoftHSM2, sync C_Sign, 1 session', rate(n, performance.now() - t0)]);

  for (const sessions of [1, 2]) {
    const s = await openPkcs11Signer(uri, { ...o, poolSize: sessions });
    const inFlight = 32;
    t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next++ < n) await s.signAsync(msg);
      }),
    );
    rows.push([`SoftHSM2, C_SignAsync pool, ${sessions} session${sessions > 1 ? 's' : ''} (${inFlight} in flight)`, rate(n, performance.now() - t0)]);
    s.close();
  }
  one.close();
  const base = rows[0]![1];
  ctx.log(rows.map(([k, v]) => `${k}: ${v}/s`).join('; '));
  return [
    `${n} Ed25519 signatures of a 200-byte message each.`,
    '',
    '| signer | signatures/s | vs file key |',
    '|---|---:|---:|',
    ...rows.map(([k, v]) => `| ${k} | ${v} | ${(v / base).toFixed(2)}× |`),
  ].join('\n');
}

const section: BenchSection = {
  title: 'PKCS#11 signing (SoftHSM2) next to file keys',
  run: measure,
};
export default section;
