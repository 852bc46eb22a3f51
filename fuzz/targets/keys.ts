/**
 * fuzz/targets/keys — key files (src/keys/key-file.ts): PKCS#8 and SPKI PEM, inline hex/base64 public keys, sealed
 * private keys (src/crypto/sealed-key.ts, scrypt + AES-GCM) and PKCS#8 encrypted PEM.
 */
import { SEALED_KEY_MIN_LOG2N, sealPrivateKey } from '../../src/crypto/sealed-key.ts';
import { parsePrivateKeyPem, parsePublicKey } from '../../src/keys/key-file.ts';
import { key } from '../../test/support/fixtures.ts';
import { lineMutations } from '../structured.ts';
import { dec, enc, type FuzzTarget } from '../target.ts';

const PASS = enc.encode('fuzz passphrase');

export const pemKey: FuzzTarget = {
  name: 'pem-key',
  parses: 'private and public key files (PEM, hex, base64)',
  make() {
    const k = key('pem');
    const texts = [k.toPem(), k.publicKey.toPem(), k.publicKey.hex, Buffer.from(k.publicKey.raw).toString('base64')];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      run(input: Uint8Array) {
        const s = dec.decode(input);
        if (s.includes('PRIVATE KEY')) return parsePrivateKeyPem(s, PASS);
        return parsePublicKey(s);
      },
    });
  },
};

export const sealedKey: FuzzTarget = {
  name: 'sealed-key',
  parses: 'sealed private keys (scrypt + AES-256-GCM PEM)',
  make() {
    const k = key('sealed');
    // The cheapest scrypt cost the format allows, so the loop is not all key derivation.
    const texts = [sealPrivateKey(k.toPkcs8Der(), PASS, { log2N: 10 })];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      run(input: Uint8Array) {
        // A sealed key asking for more than the seed's cheapest cost is refused before scrypt runs
        // (ERR_LIMIT_KDF_COST): a mutated header asking for 2^18–2^20 would cost 256 MiB–1 GiB and seconds per
        // input, the format's designed worst case rather than a parser bug.
        return parsePrivateKeyPem(dec.decode(input), PASS, { maxLog2N: SEALED_KEY_MIN_LOG2N });
      },
    });
  },
};
