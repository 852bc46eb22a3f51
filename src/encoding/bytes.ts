/**
 * encoding/bytes — strict hex and base64 decoding for untrusted input.
 *
 * Node's `Buffer.from(s, 'hex')` stops silently at the first bad character and `Buffer.from(s, 'base64')` skips
 * junk; both would let two different strings name the same bytes. These decoders accept exactly one spelling:
 * lowercase hex, and standard padded base64 (RFC 4648 §4) that re-encodes to the same text.
 */
import { FormatError } from '../errors.ts';

const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/** decodeHex decodes lowercase hex; `bytes` fixes the expected decoded length. */
export function decodeHex(s: string, bytes?: number, what = 'value'): Uint8Array {
  if (typeof s !== 'string' || !HEX_RE.test(s) || (bytes !== undefined && s.length !== bytes * 2)) {
    throw new FormatError('ERR_FORMAT_HEX', `${what}: expected ${bytes === undefined ? '' : bytes * 2 + ' '}lowercase hex chars`, {
      details: { length: typeof s === 'string' ? s.length : null },
    });
  }
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** encodeHex returns lowercase hex. */
export function encodeHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function base64Fail(what: string, bytes: number | undefined): never {
  throw new FormatError('ERR_FORMAT_BASE64', `${what}: expected canonical base64${bytes === undefined ? '' : ` of ${bytes} bytes`}`);
}

/** decodeBase64 decodes canonical padded standard base64; `bytes` fixes the expected decoded length. */
export function decodeBase64(s: string, bytes?: number, what = 'value'): Uint8Array {
  if (typeof s !== 'string') base64Fail(what, bytes);
  const out = Buffer.from(s, 'base64');
  // Canonical means: the text is exactly the standard padded encoding of what it decodes to. Node's decoder skips
  // junk and accepts the URL-safe alphabet, and non-zero padding bits decode to the same bytes; re-encoding refuses
  // all of them, with no pass over the text in JavaScript.
  if (out.toString('base64') !== s) base64Fail(what, bytes);
  if (bytes !== undefined && out.length !== bytes) base64Fail(what, bytes);
  return new Uint8Array(out);
}

/**
 * decodeCanonicalBase64Into decodes `s` into `out` at `offset` when `s` is canonical padded standard base64 of
 * exactly `length` bytes (see {@link base64DecodedLength}); false, with `out` partly written, otherwise.
 */
export function decodeCanonicalBase64Into(s: string, out: Buffer, offset: number, length: number): boolean {
  return out.write(s, offset, length, 'base64') === length && out.toString('base64', offset, offset + length) === s;
}

/** base64DecodedLength is the length padded standard base64 text decodes to, or -1 when it is not 4k characters. */
export function base64DecodedLength(s: string): number {
  if (s.length % 4 !== 0) return -1;
  return (s.length / 4) * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);
}

const B64URL_RE = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}(?:==)?|[A-Za-z0-9_-]{3}=?)?$/;

/**
 * decodeBase64Either decodes canonical base64 in either alphabet of RFC 4648: standard (§4, padded) or URL-safe
 * (§5, padded or not), as DSSE requires verifiers to accept. Still one spelling per alphabet: text that does not
 * re-encode to itself (stray padding bits) is refused.
 */
export function decodeBase64Either(s: string, what = 'value'): Uint8Array {
  if (typeof s !== 'string') base64EitherFail(what);
  // Standard alphabet first (what DSSE writers use): canonical when it re-encodes to itself. Padded text of
  // 4k characters decodes to a known length, so it is decoded straight into the Uint8Array returned (no copy).
  const n = base64DecodedLength(s);
  if (n >= 0) {
    const out = new Uint8Array(n);
    if (decodeCanonicalBase64Into(s, Buffer.from(out.buffer, 0, n), 0, n)) return out;
  }
  const std = Buffer.from(s, 'base64');
  if (std.toString('base64') === s) return new Uint8Array(std);
  if (!B64URL_RE.test(s)) base64EitherFail(what);
  const out = Buffer.from(s, 'base64url');
  const again = out.toString('base64url');
  if (again !== s.replace(/=+$/, '')) base64EitherFail(what);
  return new Uint8Array(out);
}

function base64EitherFail(what: string): never {
  throw new FormatError('ERR_FORMAT_BASE64', `${what}: expected canonical standard or URL-safe base64`);
}

/** encodeBase64 returns standard padded base64. */
export function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}
