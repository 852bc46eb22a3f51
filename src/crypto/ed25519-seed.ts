/**
 * crypto/ed25519-seed — exports the 32-byte RFC 8032 seed of an Ed25519 private key, for formats that carry the seed
 * itself (c2sp.org/signed-note signer keys `PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)`).
 *
 * The seed is the private key: callers must keep the returned bytes secret and never log them.
 */
import type { PrivateKey } from './ed25519.ts';

// RFC 8410 PKCS#8 v1 for Ed25519: SEQ{ INT 0, SEQ{ OID 1.3.101.112 }, OCTET STRING{ OCTET STRING(seed) } }.
const PKCS8_SEED_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** ed25519Seed returns a copy of the 32-byte seed of `key`. */
export function ed25519Seed(key: PrivateKey): Uint8Array {
  const der = key.toPkcs8Der();
  if (der.length !== PKCS8_SEED_PREFIX.length + 32 || !der.subarray(0, PKCS8_SEED_PREFIX.length).equals(PKCS8_SEED_PREFIX)) {
    throw new Error('crypto: unexpected PKCS#8 encoding of an ed25519 key');
  }
  const seed = Uint8Array.from(der.subarray(PKCS8_SEED_PREFIX.length));
  der.fill(0);
  return seed;
}
