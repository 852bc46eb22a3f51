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

/** decodeBase64 decodes canonical padded standard base64; `bytes` fixes the expected decoded length. */
export function decodeBase64(s: string, bytes?: number, what = 'value'): Uint8Array {
  const fail = (): never => {
    throw new FormatError('ERR_FORMAT_BASE64', `${what}: expected canonical base64${bytes === undefined ? '' : ` of ${bytes} bytes`}`);
  };
  if (typeof s !== 'string') fail();
  const out = Buffer.from(s, 'base64');
  // Canonical means: the text is exactly the standard padded encoding of what it decodes to. Node's decoder skips
  // junk and accepts the URL-safe alphabet, and non-zero padding bits decode to the same bytes; re-encoding refuses
  // all of them, with no pass over the text in JavaScript.
  if (out.toString('base64') !== s) fail();
  if (bytes !== undefined && out.length !== bytes) fail();
  return new Uint8Array(out);
}

const B64URL_RE = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}(?:==)?|[A-Za-z0-9_-]{3}=?)?$/;

/**
 * decodeBase64Either decodes canonical base64 in either alphabet of RFC 4648: standard (§4, padded) or URL-safe
 * (§5, padded or not), as DSSE requires verifiers to accept. Still one spelling per alphabet: text that does not
 * re-encode to itself (stray padding bits) is refused.
 */
export function decodeBase64Either(s: string, what = 'value'): Uint8Array {
  const fail = (): never => {
    throw new FormatError('ERR_FORMAT_BASE64', `${what}: expected canonical standard or URL-safe base64`);
  };
  if (typeof s !== 'string') fail();
  // Standard alphabet first (what DSSE writers use): canonical when it re-encodes to itself.
  const std = Buffer.from(s, 'base64');
  if (std.toString('base64') === s) return new Uint8Array(std);
  if (!B64URL_RE.test(s)) fail();
  const out = Buffer.from(s, 'base64url');
  const again = out.toString('base64url');
  if (again !== s.replace(/=+$/, '')) fail();
  return new Uint8Array(out);
}

/** encodeBase64 returns standard padded base64. */
export function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}
