/**
 * test/support/der — a tiny ASN.1 DER encoder (X.690 definite lengths) for building encrypted PKCS#8 keys field by
 * field in tests and fuzz targets, independent of src/encoding/der (which only reads).
 */
import { randomBytes } from 'node:crypto';

export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  if (n >= 0x10000) throw new RangeError('test/support/der: content of 64 KiB or more');
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
export const seq = (...parts: Uint8Array[]): Buffer => tlv(0x30, ...parts);
export const octets = (b: Uint8Array): Buffer => tlv(0x04, b);
/** int encodes an INTEGER, negative ones in two's complement (X.690 §8.3). */
export function int(v: bigint): Buffer {
  let n = 1;
  while (v < -(2n ** BigInt(8 * n - 1)) || v >= 2n ** BigInt(8 * n - 1)) n++;
  const u = v < 0n ? 2n ** BigInt(8 * n) + v : v;
  return tlv(0x02, Buffer.from(u.toString(16).padStart(2 * n, '0'), 'hex'));
}
export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out: number[] = [];
  for (const arc of [a! * 40 + b!, ...rest]) {
    const groups = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}
/** pem wraps DER as an `ENCRYPTED PRIVATE KEY` PEM block. */
export const pem = (der: Uint8Array): string =>
  `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;

export const OID_PBES2 = '1.2.840.113549.1.5.13';
export const OID_PBKDF2 = '1.2.840.113549.1.5.12';
export const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';
export const AES256_CBC = oid('2.16.840.1.101.3.4.1.42');
export const HMAC_SHA256 = seq(oid('1.2.840.113549.2.9'), tlv(0x05));

/** encryptedKeyPem wraps a scheme (an AlgorithmIdentifier) around `data` (48 bytes that are not a key by default). */
export const encryptedKeyPem = (scheme: Uint8Array, data: Uint8Array = randomBytes(48)): string => pem(seq(scheme, octets(data)));
/**
 * pbkdf2KeyPem: PBES2 with PBKDF2 at `iterations`, AES-256-CBC; `prf` is the PRF's AlgorithmIdentifier (default
 * HMAC-SHA256; null leaves it out, which means HMAC-SHA1), `extra` goes between the count and the PRF (a keyLength).
 */
export const pbkdf2KeyPem = (iterations: bigint, prf: Uint8Array | null = HMAC_SHA256, extra: Uint8Array[] = []): string =>
  encryptedKeyPem(
    seq(oid(OID_PBES2), seq(seq(oid(OID_PBKDF2), seq(octets(randomBytes(16)), int(iterations), ...extra, ...(prf === null ? [] : [prf]))), seq(AES256_CBC, octets(randomBytes(16))))),
  );
/** scryptKeyPem: PBES2 with scrypt at N, r, p, AES-256-CBC. */
export const scryptKeyPem = (n: bigint, r: bigint, p: bigint): string =>
  encryptedKeyPem(seq(oid(OID_PBES2), seq(seq(oid(OID_SCRYPT), seq(octets(randomBytes(16)), int(n), int(r), int(p))), seq(AES256_CBC, octets(randomBytes(16))))));
/** pbeKeyPem: a PBES1 or PKCS#12 scheme (`SEQUENCE { salt, iterations }` parameters). */
export const pbeKeyPem = (scheme: string, iterations: bigint): string => encryptedKeyPem(seq(oid(scheme), seq(octets(randomBytes(8)), int(iterations))));
