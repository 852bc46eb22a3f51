/**
 * server/signing/entry — the transparency-log entry of an envelope signed by POST /v1/sign, and the statement it signs.
 *
 * The log entry is this UTF-8 text, byte for byte (four lines, each ending in "\n"):
 * ```
 * custody.dsse/v1
 * pae sha256:<64 hex of SHA-256(DSSE PAE(payloadType, payload))>
 * keyid <the signature's keyid>
 * sig <standard base64 of the signature>
 * ```
 * It names what was signed (the PAE covers the payload type and the payload) and the signature itself, not the
 * payload: a statement with large predicates still fits the log's 64 KiB entries, and a monitor learns which key
 * signed what. The entry id (Certus `entry_id`, `transparency_entry.uuid`) is the RFC 6962 leaf hash of these bytes
 * in lowercase hex, so anyone holding the envelope recomputes it: entry and id are derived from the verified
 * envelope, never taken from a caller.
 */
import { sha256 } from '../../crypto/index.ts';
import { encodeBase64, encodeHex } from '../../encoding/bytes.ts';
import { pae, type DsseEnvelope, type DsseSignature } from '../../attest/dsse.ts';
import type { JsonObject } from '../../encoding/json.ts';
import { hashLeaf } from '../../tlog/merkle.ts';

export const SIGNATURE_ENTRY_HEADER = 'custody.dsse/v1';
/** CERTUS_SIGN_PREDICATE is the predicateType of statements made by POST /v1/sign (docs/signing-api.md). */
export const CERTUS_SIGN_PREDICATE = 'https://custody.dev/signing-api/sign/v1';

/** signatureEntry returns the exact log entry bytes for one signature of an envelope. */
export function signatureEntry(env: Pick<DsseEnvelope, 'payloadType' | 'payload'>, sig: DsseSignature): Uint8Array {
  const digest = encodeHex(sha256(pae(env.payloadType, env.payload)));
  return new TextEncoder().encode(`${SIGNATURE_ENTRY_HEADER}\npae sha256:${digest}\nkeyid ${sig.keyid}\nsig ${encodeBase64(sig.sig)}\n`);
}

/** entryIdOf is the entry id: lowercase hex of the RFC 6962 leaf hash of the entry bytes. */
export function entryIdOf(entry: Uint8Array): string {
  return encodeHex(hashLeaf(entry));
}

/** jsonDepth returns the nesting depth of a JSON value (a scalar is 0), stopping once it exceeds `cap`. */
export function jsonDepth(v: unknown, cap: number, depth = 0): number {
  if (depth > cap || v === null || typeof v !== 'object') return depth;
  let max = depth + 1;
  for (const x of Array.isArray(v) ? v : Object.values(v as JsonObject)) {
    max = Math.max(max, jsonDepth(x, cap, depth + 1));
    if (max > cap) return max;
  }
  return max;
}
