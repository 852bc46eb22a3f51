/**
 * server/signing/scan — the inner (scanner's) signatures of the Certus routes (issue 11; Certus-Trust
 * `inner_signatures` and the gatekeeper's `inner_signature`, ../shared/reference/seed-systems.md §2), checked for
 * real against registered scanner identities: an identity of the auth store with the `scan` scope, not revoked,
 * whose Ed25519 key made the signature. The caller's `verified` flags are never read.
 *
 * Certus names the signed bytes nowhere; Custody fixes them. A scan signature is pure Ed25519 over these UTF-8 bytes
 * (each line ends in "\n"; one `artifact` line per artifact, sorted by name in UTF-16 code-unit order, names unique):
 * ```
 * custody.scan/v1
 * scan <scan id>
 * signer <identity name>
 * timestamp <the inner signature's timestamp, as given>
 * artifact sha256:<64 hex> <size in bytes, or -> <type, or -> <name>
 * ```
 * A per-file signature (sign-artifact `files[].signature`) is pure Ed25519 over:
 * ```
 * custody.scan-file/v1
 * scan <scan id>
 * signer <identity name>
 * path <path>
 * digest sha256:<64 hex>
 * ```
 * The headers separate these from every other Custody signature; scan id, signer and path bind a signature to one
 * file of one scan, so a signature over another file (or the same file in another scan) does not verify. Names,
 * paths and ids hold no control characters (the route schemas refuse them), so the lines cannot be forged by
 * embedding "\n". A future version may add lines after the last one under a new header.
 *
 * Trust boundary: every field is attacker-controlled; the auth store (the registered identities) is trusted.
 */
import type { AuthStore, IdentityRecord } from '../../auth/store.ts';
import { PublicKey, verifyEd25519 } from '../../crypto/index.ts';
import { decodeBase64Either } from '../../encoding/bytes.ts';
import { FormatError, PolicyError, VerificationError, isTrustError } from '../../errors.ts';

export const SCAN_HEADER = 'custody.scan/v1';
export const SCAN_FILE_HEADER = 'custody.scan-file/v1';
/** INNER_ALGORITHMS are the inner-signature algorithms accepted (Certus `algorithm`); anything else is refused. */
export const INNER_ALGORITHMS = ['Ed25519'] as const;

/** ScanArtifact is one artifact line of a scan message. */
export interface ScanArtifact {
  name: string;
  /** digest: "sha256:" + 64 lowercase hex. */
  digest: string;
  size?: number | undefined;
  type?: string | undefined;
}

/** ScanMessageInput names what a scan signature covers. */
export interface ScanMessageInput {
  scanId: string;
  signer: string;
  timestamp: string;
  artifacts: readonly ScanArtifact[];
}

/** scanMessage returns the exact bytes a scanner signs for a scan (module comment); duplicate names are refused. */
export function scanMessage(s: ScanMessageInput): Uint8Array {
  const sorted = [...s.artifacts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.name === sorted[i - 1]!.name) throw new FormatError('ERR_CERTUS_ARTIFACT_DUPLICATE', `artifact "${sorted[i]!.name.slice(0, 100)}" is listed twice`);
  }
  const lines = [SCAN_HEADER, `scan ${s.scanId}`, `signer ${s.signer}`, `timestamp ${s.timestamp}`];
  for (const a of sorted) lines.push(`artifact ${a.digest} ${a.size === undefined ? '-' : String(a.size)} ${a.type ?? '-'} ${a.name}`);
  return new TextEncoder().encode(lines.join('\n') + '\n');
}

/** scanFileMessage returns the exact bytes a scanner signs for one file of a scan (module comment). */
export function scanFileMessage(o: { scanId: string; signer: string; path: string; digest: string }): Uint8Array {
  return new TextEncoder().encode(`${SCAN_FILE_HEADER}\nscan ${o.scanId}\nsigner ${o.signer}\npath ${o.path}\ndigest ${o.digest}\n`);
}

/**
 * scannerIdentity returns the registered scanner `name`, or throws PolicyError ERR_CERTUS_SCANNER_UNKNOWN (not
 * registered, or registered without the `scan` scope) or ERR_CERTUS_SCANNER_REVOKED. Reads the store every call, so
 * a revocation counts at once.
 */
export async function scannerIdentity(store: AuthStore, name: string): Promise<IdentityRecord> {
  const id = await store.getIdentity(name);
  if (id === undefined || !id.scopes.includes('scan')) {
    throw new PolicyError('ERR_CERTUS_SCANNER_UNKNOWN', `"${name.slice(0, 128)}" is not a registered scanner identity (custody identity add NAME --key K.pub --scope scan)`);
  }
  if (id.revokedAt !== null) throw new PolicyError('ERR_CERTUS_SCANNER_REVOKED', `the scanner identity "${name.slice(0, 128)}" was revoked`);
  return id;
}

/** checkInnerSignature verifies one Ed25519 signature (base64) by a scanner over `message`, else ERR_CERTUS_INNER_SIGNATURE_INVALID. */
export function checkInnerSignature(id: IdentityRecord, message: Uint8Array, signature: string, what: string): void {
  let ok = false;
  try {
    ok = verifyEd25519(PublicKey.fromRaw(Buffer.from(id.publicKey, 'hex')), message, decodeBase64Either(signature, what));
  } catch (e) {
    // A malformed signature (bad base64, wrong length) is a wrong signature like any other.
    if (!isTrustError(e) || !(e instanceof FormatError)) throw e;
  }
  if (!ok) throw new VerificationError('ERR_CERTUS_INNER_SIGNATURE_INVALID', `${what} does not verify under the key of scanner "${id.name}"`);
}

/** requireAlgorithm refuses an inner-signature algorithm other than Ed25519 (ERR_CERTUS_ALGORITHM). */
export function requireAlgorithm(algorithm: string | undefined | null): void {
  if (algorithm === undefined || algorithm === null) return;
  if (!(INNER_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new PolicyError('ERR_CERTUS_ALGORITHM', `inner signature algorithm "${algorithm.slice(0, 40)}" is not accepted; expected ${INNER_ALGORITHMS.join(', ')}`);
  }
}

const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** parseTimestamp reads an RFC 3339 timestamp (milliseconds since the epoch), else FormatError ERR_CERTUS_TIMESTAMP. */
export function parseTimestamp(text: string, what: string): number {
  const ms = TIMESTAMP_RE.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) throw new FormatError('ERR_CERTUS_TIMESTAMP', `${what}: expected an RFC 3339 timestamp such as 2026-01-02T03:04:05Z, got ${JSON.stringify(text.slice(0, 40))}`);
  return ms;
}
