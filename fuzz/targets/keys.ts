/**
 * fuzz/targets/keys — key files (src/keys/key-file.ts): PKCS#8 and SPKI PEM, inline hex/base64 public keys, sealed
 * private keys (src/crypto/sealed-key.ts, scrypt + AES-GCM) and PKCS#8 encrypted PEM.
 */
import fc from 'fast-check';
import { SEALED_KEY_MIN_LOG2N, sealPrivateKey } from '../../src/crypto/sealed-key.ts';
import { parsePrivateKeyPem, parsePublicKey } from '../../src/keys/key-file.ts';
import { AES256_CBC, HMAC_SHA256, OID_PBES2, OID_PBKDF2, OID_SCRYPT, encryptedKeyPem, int, octets, oid, pbeKeyPem, scryptKeyPem, seq } from '../../test/support/der.ts';
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

/** PKCS8_ITERATIONS: the cheapest PBKDF2 count node:crypto writes, and the cap the target reads keys at. */
const PKCS8_ITERATIONS = 2048;

export const pkcs8Encrypted: FuzzTarget = {
  name: 'pkcs8-encrypted',
  parses: 'OpenSSL encrypted PKCS#8 keys: the key derivation bounded (keys/pkcs8-encrypted, encoding/der), then opened',
  make() {
    const k = key('pkcs8-encrypted');
    const texts = [
      k.keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: Buffer.from(PASS) }) as string,
      scryptKeyPem(1024n, 8n, 1n),
      pbeKeyPem('1.2.840.113549.1.12.1.3', 1000n),
    ];
    // Hostile parameters in a well-formed structure: any scheme OID, counts from negative to past 2^64.
    const count = fc.oneof(fc.bigInt({ min: -3n, max: 5000n }), fc.bigInt({ min: 0n, max: 2n ** 70n }));
    const salt = fc.uint8Array({ maxLength: 40 });
    const scheme = fc.oneof(
      fc.tuple(salt, count).map(([s, n]) => seq(oid(OID_PBES2), seq(seq(oid(OID_PBKDF2), seq(octets(s), int(n), HMAC_SHA256)), seq(AES256_CBC, octets(s))))),
      fc.tuple(salt, count, count, count).map(([s, n, r, p]) => seq(oid(OID_PBES2), seq(seq(oid(OID_SCRYPT), seq(octets(s), int(n), int(r), int(p))), seq(AES256_CBC, octets(s))))),
      fc.tuple(fc.constantFrom('1.2.840.113549.1.5.10', '1.2.840.113549.1.12.1.3', '1.2.840.113549.1.5.99', '2.5.4.3'), salt, count).map(([o, s, n]) => seq(oid(o), seq(octets(s), int(n)))),
    );
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: fc.oneof(
        fc.tuple(scheme, fc.uint8Array({ maxLength: 64 })).map(([alg, data]) => enc.encode(encryptedKeyPem(alg, data))),
        lineMutations(texts),
      ),
      run(input: Uint8Array) {
        // Read at the cheapest costs the seeds use (2,048 iterations; scrypt no costlier than a sealed key at 2^10, N
        // and N·r·p): a mutated count up to Custody's own bounds (5,000,000 HMAC-SHA256 iterations, scrypt work
        // 2^23) costs seconds per input, the designed worst case rather than a parser bug.
        return parsePrivateKeyPem(dec.decode(input), PASS, { maxLog2N: SEALED_KEY_MIN_LOG2N, maxIterations: PKCS8_ITERATIONS });
      },
    });
  },
};
