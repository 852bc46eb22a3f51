/**
 * sbom/ids — deterministic identifiers for generated SBOMs: SPDX element ids (SPDX 2.3 §3.2: `SPDXRef-` followed by
 * letters, digits, `.` and `-`), content-derived UUIDs (RFC 9562 §5.5, version 5: SHA-1 over a namespace UUID and a
 * name) for SPDX documentNamespace and CycloneDX serialNumber, and the creation time from SOURCE_DATE_EPOCH.
 *
 * The same input gives the same ids, so two runs over the same bytes produce byte-identical documents; different
 * content gives a different UUID because the name hashed is the SHA-256 of the document itself.
 */
import { createDigest, sha256 } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import { ConfigError, LimitError } from '../errors.ts';

/** SBOM_MAX_OUTPUT_BYTES caps a generated SBOM document (ERR_SBOM_OUTPUT_LIMIT). */
export const SBOM_MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/** CUSTODY_SBOM_UUID_NAMESPACE is the RFC 9562 namespace of Custody's content-derived SBOM UUIDs (random, fixed). */
export const CUSTODY_SBOM_UUID_NAMESPACE = '023a07a1-8b7e-43c1-ab6f-083d9c859aba';

/** idPart reduces text to SPDX id characters (`[A-Za-z0-9.-]`), at most `max` of them. */
export function idPart(s: string, max = 64): string {
  const t = s.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, max);
  return t === '' ? 'x' : t;
}

/**
 * shortHash is the first `hexDigits` (default 12: 48 bits, so 100,000 names collide with odds near 1 in 50,000,
 * and then only when their readable parts also agree) hex digits of SHA-256(text): a stable suffix for unique ids.
 */
export function shortHash(s: string, hexDigits = 12): string {
  return encodeHex(sha256(s)).slice(0, hexDigits);
}

/** uuidV5 is the RFC 9562 version-5 UUID of `name` in `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const h = createDigest('sha1');
  h.update(Buffer.from(namespace.replace(/-/g, ''), 'hex'));
  h.update(Buffer.from(name, 'utf8'));
  const b = h.digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50; // version 5
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const x = encodeHex(b);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** contentUuid is the v5 UUID named by the SHA-256 of a document's text (written with the id left empty). */
export function contentUuid(kind: string, text: string): string {
  return uuidV5(CUSTODY_SBOM_UUID_NAMESPACE, `${kind}:sha256:${encodeHex(sha256(text))}`);
}

/**
 * sbomCreated returns the creation time: SOURCE_DATE_EPOCH (reproducible-builds.org: decimal seconds, no sign, no
 * junk) when set, else `now`. A malformed value is an operator error (ERR_CONFIG_INVALID), never silently ignored.
 */
export function sbomCreated(sourceDateEpoch: string | undefined, now: Date): Date {
  if (sourceDateEpoch === undefined || sourceDateEpoch === '') return new Date(Math.floor(now.getTime() / 1000) * 1000);
  if (!/^(0|[1-9][0-9]{0,11})$/.test(sourceDateEpoch) || Number(sourceDateEpoch) > 253402300799) {
    throw new ConfigError('ERR_CONFIG_INVALID', `SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got ${JSON.stringify(sourceDateEpoch.slice(0, 40))}`);
  }
  return new Date(Number(sourceDateEpoch) * 1000);
}

/** isoSeconds formats a time as SPDX 2.3 wants it: `YYYY-MM-DDThh:mm:ssZ`. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * stringifyCapped renders a JSON document (two-space indents, final newline) and refuses one over `maxBytes`
 * (ERR_SBOM_OUTPUT_LIMIT), including one too large for a JavaScript string at all.
 */
export function stringifyCapped(doc: unknown, maxBytes: number, what: string): string {
  let text: string;
  try {
    text = JSON.stringify(doc, null, 2) + '\n';
  } catch (e) {
    if (e instanceof RangeError) throw new LimitError('ERR_SBOM_OUTPUT_LIMIT', `the ${what} is too large to write`, { cause: e, details: { cap: maxBytes } });
    throw e;
  }
  return capText(text, maxBytes, what);
}

/** capText refuses a rendered document over `maxBytes` (ERR_SBOM_OUTPUT_LIMIT). */
export function capText(text: string, maxBytes: number, what: string): string {
  // Length in UTF-16 units bounds the UTF-8 size from below; compute the exact size only when it may matter.
  if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
    throw new LimitError('ERR_SBOM_OUTPUT_LIMIT', `the ${what} would be ${Buffer.byteLength(text)} bytes, over the cap of ${maxBytes}`, {
      details: { cap: maxBytes },
    });
  }
  return text;
}
