/**
 * encoding/canonical — deterministic JSON encodings for signing.
 *
 * - `canonicalizeJcs`: RFC 8785 JSON Canonicalization Scheme. Object keys sorted by UTF-16 code units, no
 *   whitespace, strings and numbers serialized as ECMAScript `JSON.stringify` does (RFC 8785 §3.2.2). Used for
 *   Custody manifests (see manifest/manifest.ts for the signed bytes).
 * - `canonicalizeTuf`: the "canonical JSON" that TUF 1.0 signs (OLPC canonical JSON as implemented by
 *   securesystemslib and tuf-js): keys sorted, no whitespace, only `"` and `\` escaped in strings, integers only.
 *   Used for root.json so that standard TUF clients verify our signatures.
 *
 * Both refuse non-finite numbers, non-integers (TUF) and values JSON cannot carry; both are deterministic across
 * processes and input key order.
 */
import type { JsonValue } from './json.ts';

const enc = new TextEncoder();

function sortedKeys(o: { [k: string]: JsonValue }): string[] {
  // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 requires.
  return Object.keys(o).sort();
}

function jcs(v: JsonValue): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('canonical json: non-finite number');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  const parts: string[] = [];
  for (const k of sortedKeys(v)) {
    const x = v[k];
    if (x === undefined) continue;
    parts.push(JSON.stringify(k) + ':' + jcs(x));
  }
  return '{' + parts.join(',') + '}';
}

/** canonicalizeJcs returns the RFC 8785 canonical UTF-8 bytes of v. */
export function canonicalizeJcs(v: JsonValue): Uint8Array {
  return enc.encode(jcs(v));
}

function tufString(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

function tuf(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return tufString(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError('tuf canonical json: only integers can be signed');
    return String(v);
  }
  if (Array.isArray(v)) return '[' + v.map(tuf).join(',') + ']';
  const parts: string[] = [];
  for (const k of sortedKeys(v)) {
    const x = v[k];
    if (x === undefined) continue;
    parts.push(tufString(k) + ':' + tuf(x));
  }
  return '{' + parts.join(',') + '}';
}

/** canonicalizeTuf returns TUF's canonical JSON bytes of v. */
export function canonicalizeTuf(v: JsonValue): Uint8Array {
  return enc.encode(tuf(v));
}
