/**
 * fuzz/targets/secrets — the envelope-encrypted secret store's two file formats (src/secrets): a secret file
 * (`custody-secret/v1`, parsed and then opened with the KEK that wrote it, so the GCM refusal path runs too) and the
 * keyring (`custody-keyring/v1`, opened with the right passphrase at the cheapest scrypt cost the format allows).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSecretFile, payloadAad, wrapAad } from '../../src/secrets/format.ts';
import { AesGcmKek } from '../../src/secrets/kek.ts';
import { PassphraseKeyring } from '../../src/secrets/keyring.ts';
import { SEALED_KEY_MIN_LOG2N, openWithKey } from '../../src/crypto/index.ts';
import { openSecretStore } from '../../src/secrets/open.ts';
import { jsonFieldMutations } from '../structured.ts';
import type { FuzzTarget } from '../target.ts';

const PASS = 'fuzz passphrase';

async function makeStore(tmp: string): Promise<{ dir: string; secret: Uint8Array; keyring: Uint8Array; kek: AesGcmKek }> {
  const dir = mkdtempSync(join(tmp, 'secrets-'));
  const { store } = await openSecretStore({ dir, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, create: true, log2N: 10 });
  await store.put('fuzz.secret', new TextEncoder().encode('value'));
  const ring = store.keyring as PassphraseKeyring;
  const kek = ring.active() as AesGcmKek;
  return { dir, secret: readFileSync(join(dir, 'fuzz.secret.secret')), keyring: readFileSync(join(dir, 'keyring')), kek };
}

export const secretFile: FuzzTarget = {
  name: 'secret-file',
  parses: 'envelope-encrypted secret files (custody-secret/v1), parsed and opened',
  async make(ctx) {
    const { secret, kek } = await makeStore(ctx.tmpDir);
    return {
      seeds: [secret],
      structured: jsonFieldMutations([JSON.parse(new TextDecoder().decode(secret)) as never]),
      async run(input: Uint8Array) {
        const r = parseSecretFile(input);
        if (r.kekId !== kek.id) return r;
        const dk = await kek.unwrap(r.wrappedKey, wrapAad(r.name, r.version, r.dataKeyId, r.kekId));
        return openWithKey(dk, { nonce: r.nonce, ciphertext: r.ciphertext }, payloadAad(r.name, r.version, r.dataKeyId));
      },
    };
  },
};

export const keyringFile: FuzzTarget = {
  name: 'secrets-keyring',
  parses: 'passphrase-sealed KEK keyrings (custody-keyring/v1, scrypt + AES-256-GCM)',
  async make(ctx) {
    const { keyring, dir } = await makeStore(ctx.tmpDir);
    const pass = new TextEncoder().encode(PASS);
    return {
      seeds: [keyring],
      structured: jsonFieldMutations([JSON.parse(new TextDecoder().decode(keyring)) as never]),
      run(input: Uint8Array) {
        // The store was made at the cheapest cost; a keyring asking for more is refused before scrypt runs
        // (ERR_LIMIT_KDF_COST). Without the cap a mutated log2n of 18–20 costs 256 MiB–1 GiB and seconds of
        // scrypt per input: the format's designed worst case, which the first campaign reported as a hang.
        const k = PassphraseKeyring.fromBytes(join(dir, 'never-written'), input, pass, { maxLog2N: SEALED_KEY_MIN_LOG2N });
        k.close();
        return k.entries().length;
      },
    };
  },
};
