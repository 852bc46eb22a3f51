/**
 * ui/canonical — the two canonical JSON encodings Custody signs, for the browser: RFC 8785 (JCS; manifests, audit
 * records) and TUF canonical JSON (OLPC rules as securesystemslib writes them; root.json). Same rules as
 * src/encoding/canonical.ts, which the Node code signs with.
 */
import { UiError } from './errors.ts';

/** JsonValue is what JSON.parse returns. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

function jcs(v: JsonValue): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new UiError('canonical json: non-finite number');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  // Array.prototype.sort compares UTF-16 code units: RFC 8785 §3.2.3.
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + jcs(v[k]!)).join(',') + '}';
}

/** canonicalJcs returns the RFC 8785 canonical text of v. */
export function canonicalJcs(v: JsonValue): string {
  return jcs(v);
}

function tuf(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return '"' + v.replace(/[\\"]/g, (c) => '\\' + c) + '"';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new UiError('tuf canonical json: only integers can be signed');
    return String(v);
  }
  if (Array.isArray(v)) return '[' + v.map(tuf).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => tuf(k) + ':' + tuf(v[k]!)).join(',') + '}';
}

/** canonicalTuf returns the TUF canonical JSON text of v. */
export function canonicalTuf(v: JsonValue): string {
  return tuf(v);
}
