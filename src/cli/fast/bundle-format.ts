/**
 * cli/fast/bundle-format — how a start-up bundle and its V8 code cache are stored (issue 9, CLI cold start).
 *
 * A bundle (dist/cli/fast/<command>.cjs) is one CommonJS file; it runs as the body of WRAPPER_HEAD … WRAPPER_TAIL,
 * compiled with node:vm so that V8 can take its compiled code from <command>.cjs.cache instead of parsing and
 * compiling the source again. That cache is `sha256(wrapped source) ‖ sha256(V8 data) ‖ V8 data`: V8 itself checks
 * only the source's length and its own version and flags (a flipped byte in its data is not noticed), so the
 * launcher hands V8 only data whose two digests match, and compiles from source otherwise.
 */
import { constantTimeEqual, sha256 } from '../../crypto/hash.ts';

export const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';
export const WRAPPER_TAIL = '\n})';

/** wrapBundle is the source V8 compiles for a bundle: its text inside the CommonJS wrapper. */
export function wrapBundle(text: string): string {
  return WRAPPER_HEAD + text + WRAPPER_TAIL;
}

/** sealCache stores V8's data for a wrapped source with the digests openCache checks. */
export function sealCache(wrapped: string, data: Uint8Array): Buffer {
  return Buffer.concat([sha256(wrapped), sha256(data), data]);
}

/** openCache returns the V8 data of a cache file made for exactly this wrapped source and intact; else undefined. */
export function openCache(wrapped: string, file: Buffer): Buffer | undefined {
  if (file.length <= 64) return undefined;
  const data = file.subarray(64);
  if (!constantTimeEqual(file.subarray(0, 32), sha256(wrapped))) return undefined;
  if (!constantTimeEqual(file.subarray(32, 64), sha256(data))) return undefined;
  return data;
}
