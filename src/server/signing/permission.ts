/**
 * server/signing/permission — the upload permission of the Certus gatekeeper (issue 11; Certus
 * `upload_permission_id`, ../shared/reference/seed-systems.md §2): a DSSE envelope (attest/dsse) signed by the
 * daemon's key, naming the scan, the artifacts with their digests and sizes, the destinations, the scanner whose inner
 * signature was verified, and when it expires. It is single use: the store (auth/certus-store) records each issued
 * permission and marks it used in one conditional UPDATE when POST /v1/execute-upload spends it.
 *
 * payloadType `application/vnd.custody.upload-permission+json`; the payload is this JSON object, keys in this order:
 * ```
 * {"_type":"https://custody.dev/signing-api/upload-permission/v1","id":"<uuid>","scan_id":"…","tier":"…",
 *  "scanner":"<identity>","artifacts":[{"name":"…","hash":"sha256:…","size":N,"type":"…"}],
 *  "destinations":["raw_s3",…],"issued_at":"<RFC 3339>","expires_at":"<RFC 3339>"}
 * ```
 * Trust boundary: a presented permission is attacker-controlled until its envelope verifies under the daemon's trust
 * root (its manifest-signer keys); only the verified payload bytes are parsed, bounded.
 */
import { formatEnvelope, parseEnvelope, signEnvelope, verifyEnvelope, type EnvelopeKeys } from '../../attest/dsse.ts';
import { sha256, type Signer } from '../../crypto/index.ts';
import { encodeHex } from '../../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonValue } from '../../encoding/json.ts';
import { VerificationError, isTrustError } from '../../errors.ts';

export const PERMISSION_PAYLOAD_TYPE = 'application/vnd.custody.upload-permission+json';
export const PERMISSION_TYPE = 'https://custody.dev/signing-api/upload-permission/v1';
/** PERMISSION_MAX_BYTES caps a presented permission envelope. */
export const PERMISSION_MAX_BYTES = 256 * 1024;

/** PermittedArtifact is one artifact a permission names. */
export interface PermittedArtifact {
  name: string;
  hash: string;
  size: number;
  type: string;
}

/** Permission is the signed content of an upload permission. */
export interface Permission {
  id: string;
  scanId: string;
  tier: string;
  scanner: string;
  artifacts: PermittedArtifact[];
  destinations: string[];
  issuedAt: string;
  expiresAt: string;
}

/** signPermission signs a permission; returns the envelope (compact JSON) and the SHA-256 hex of its payload. */
export function signPermission(p: Permission, signer: Signer): { envelope: string; digest: string } {
  const payload = new TextEncoder().encode(
    JSON.stringify({
      _type: PERMISSION_TYPE,
      id: p.id,
      scan_id: p.scanId,
      tier: p.tier,
      scanner: p.scanner,
      artifacts: p.artifacts.map((a) => ({ name: a.name, hash: a.hash, size: a.size, type: a.type })),
      destinations: p.destinations,
      issued_at: p.issuedAt,
      expires_at: p.expiresAt,
    }),
  );
  return { envelope: formatEnvelope(signEnvelope(PERMISSION_PAYLOAD_TYPE, payload, [signer])), digest: encodeHex(sha256(payload)) };
}

const invalid = (why: string): VerificationError => new VerificationError('ERR_CERTUS_PERMISSION_INVALID', `upload permission: ${why}`);

function field(o: Record<string, JsonValue>, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw invalid(`"${k}" is not a string`);
  return v;
}

/**
 * verifyPermission verifies a presented permission envelope under `keys` and returns its content and payload digest,
 * or throws VerificationError ERR_CERTUS_PERMISSION_INVALID (malformed, other payload type, a signature that does not
 * verify, or a key the trust root does not name). It does not check expiry or use: the caller does, with the store.
 */
export function verifyPermission(text: string, keys: EnvelopeKeys, now: Date): { permission: Permission; digest: string } {
  if (Buffer.byteLength(text) > PERMISSION_MAX_BYTES) throw invalid(`over the cap of ${PERMISSION_MAX_BYTES} bytes`);
  let payload: Uint8Array;
  try {
    payload = verifyEnvelope(parseEnvelope(text), { keys, payloadType: PERMISSION_PAYLOAD_TYPE, now }).payload;
  } catch (e) {
    if (!isTrustError(e) || e.httpStatus >= 500) throw e;
    throw new VerificationError('ERR_CERTUS_PERMISSION_INVALID', `upload permission: ${e.message}`, { cause: e });
  }
  let o: Record<string, JsonValue>;
  try {
    o = parseJsonObject(payload, { maxBytes: PERMISSION_MAX_BYTES, maxDepth: 4, what: 'permission payload' });
  } catch (e) {
    if (!isTrustError(e)) throw e;
    throw invalid(e.message);
  }
  if (o['_type'] !== PERMISSION_TYPE) throw invalid(`"_type" is not ${PERMISSION_TYPE}`);
  const arts = o['artifacts'];
  const dests = o['destinations'];
  if (!Array.isArray(arts) || !Array.isArray(dests)) throw invalid('"artifacts" and "destinations" must be arrays');
  const artifacts = arts.map((a): PermittedArtifact => {
    if (!isJsonObject(a) || typeof a['size'] !== 'number') throw invalid('an artifact is malformed');
    return { name: field(a, 'name'), hash: field(a, 'hash'), size: a['size'], type: field(a, 'type') };
  });
  const permission: Permission = {
    id: field(o, 'id'),
    scanId: field(o, 'scan_id'),
    tier: field(o, 'tier'),
    scanner: field(o, 'scanner'),
    artifacts,
    destinations: dests.map((d) => {
      if (typeof d !== 'string') throw invalid('a destination is not a string');
      return d;
    }),
    issuedAt: field(o, 'issued_at'),
    expiresAt: field(o, 'expires_at'),
  };
  return { permission, digest: encodeHex(sha256(payload)) };
}
