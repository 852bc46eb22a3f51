/**
 * ui/bytes — byte helpers of the dashboard (browser code): hex and base64 (RFC 4648 §4, canonical only), UTF-8,
 * SHA-256 through WebCrypto, constant-shape comparison. No Node APIs: this folder is bundled for the browser.
 */
import { UiError } from './errors.ts';

const enc = new TextEncoder();

/** utf8 encodes a string. */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

/** concat joins byte arrays. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** hex encodes bytes as lowercase hex. */
export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** fromHex decodes lowercase hex of the given byte length (throws otherwise). */
export function fromHex(s: string, len?: number): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(s) || (len !== undefined && s.length !== len * 2)) throw new UiError(`expected ${len ?? 'some'} bytes of lowercase hex`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** fromBase64 decodes canonical standard base64 (padding required; re-encoding must give the same text). */
export function fromBase64(s: string, len?: number): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new UiError('expected base64');
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw new UiError('expected base64');
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (toBase64(out) !== s) throw new UiError('expected canonical base64');
  if (len !== undefined && out.length !== len) throw new UiError(`expected ${len} bytes of base64, got ${out.length}`);
  return out;
}

/** toBase64 encodes bytes as standard padded base64. */
export function toBase64(b: Uint8Array): string {
  let bin = '';
  for (const x of b) bin += String.fromCharCode(x);
  return btoa(bin);
}

/** equal compares two byte arrays without an early exit on the first difference. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** ab gives WebCrypto a view on an ArrayBuffer (copying one on a SharedArrayBuffer, which it refuses). */
function ab(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b);
}

/** sha256 hashes with WebCrypto. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', ab(data)));
}

/**
 * ed25519Verify checks an Ed25519 signature (RFC 8032) with WebCrypto. Any refusal by the platform (malformed key,
 * non-canonical encoding) is a failed verification, never an exception.
 */
export async function ed25519Verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey('raw', ab(publicKey), { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, ab(signature), ab(message));
  } catch {
    return false;
  }
}
