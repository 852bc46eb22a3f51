/**
 * manifest/manifest — the signed artifact manifest, shaped like the `BootManifest` of Phase, the network-boot
 * provider Custody's provider was first modelled on (Phase Boot Provider, github.com/msitarzewski/phase @73fa907,
 * crates/plasm/docs/security.md), with a deterministic signing rule (RFC 8785 canonical JSON) that Phase lacks.
 *
 * Document (JSON, UTF-8):
 *
 *   { "manifest_version": 1, "version": "0.1.0", "channel": "stable", "arch": "x86_64",
 *     "created_at": "2026-11-22T00:00:00Z", "expires_at": "2026-12-22T00:00:00Z", "sequence": 1795305600,
 *     "artifacts": { "kernel": { "filename": "vmlinuz", "size_bytes": 8388608, "hash": "sha256:<64 hex>",
 *                                "hashes"?: { "sha256": "<hex>", "blake3": "<hex>" }, "download_url"?: "/stable/x86_64/vmlinuz" } },
 *     "signatures": [ { "algorithm": "ed25519", "key_id": "<64 hex TUF key id>", "signature": "<128 hex>",
 *                       "signed_at": "<RFC 3339>", "public_key"?: "<64 hex>" } ] }
 *
 * Signed bytes (MANIFEST_SIGNING_PREFIX then RFC 8785 canonical JSON of the document WITHOUT `signatures`; unknown
 * fields are kept and signed). For the document above with one artifact the signer signs exactly:
 *
 *   custody-manifest:v1:{"arch":"x86_64","artifacts":{"kernel":{"download_url":"/stable/x86_64/vmlinuz",
 *   "filename":"vmlinuz","hash":"sha256:…","size_bytes":8388608}},"channel":"stable",
 *   "created_at":"2026-11-22T00:00:00Z","expires_at":"2026-12-22T00:00:00Z","manifest_version":1,
 *   "sequence":1795305600,"version":"0.1.0"}
 *
 * (one line, no newline). The prefix separates these signatures from every other Ed25519 use of the same key.
 * `key_id`, `signed_at` and `public_key` sit outside the signed bytes: they are informative only. `key_id` is written as
 * the signer's TUF key id (keys/key-id `tufKeyId`, the id the trust root lists it under); on read it is a hint that
 * picks the trust-root key (trust/threshold `keyIdsAreHints`: by id, else by `public_key`, else by the legacy 32-hex
 * id older Custody wrote), and the signature is verified against that trusted key. When `public_key` is present it
 * must equal the trusted key.
 * `sequence` is a monotonic counter for rollback protection (default: created_at in Unix seconds).
 *
 * Limits: MANIFEST_MAX_BYTES, MANIFEST_MAX_ARTIFACTS, MANIFEST_MAX_SIGNATURES; names and filenames are 1–255
 * characters without "/", "\\", "..", NUL or control characters.
 */
import { HASH_DIGEST_BYTES, isHashAlgorithm, type HashAlgorithm } from '../crypto/hash.ts';
import { decodeHex } from '../encoding/bytes.ts';
import { canonicalizeJcs } from '../encoding/canonical.ts';
import { isJsonObject, parseJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { parseTimestamp } from '../encoding/time.ts';
import { FormatError, LimitError } from '../errors.ts';

export const MANIFEST_SIGNING_PREFIX = 'custody-manifest:v1:';
export const MANIFEST_MAX_BYTES = 1024 * 1024;
export const MANIFEST_MAX_ARTIFACTS = 1024;
export const MANIFEST_MAX_SIGNATURES = 64;
const NAME_MAX = 255;

export interface ManifestArtifact {
  readonly filename: string;
  readonly size_bytes: number;
  /** hash is "<algorithm>:<hex>", normally "sha256:<64 hex>" (Phase's field). */
  readonly hash: string;
  /** hashes maps algorithm names to lowercase hex; unknown algorithms are kept but never trusted. */
  readonly hashes?: Readonly<Record<string, string>>;
  readonly download_url?: string;
}

export interface ManifestSignature {
  readonly algorithm: string;
  readonly key_id: string;
  readonly signature: string;
  readonly signed_at?: string;
  readonly public_key?: string;
}

/** Manifest is a parsed (schema-checked, NOT verified) manifest. */
export interface Manifest {
  /** body is the document without `signatures`, unknown fields included: exactly what is signed. */
  readonly body: JsonObject;
  readonly signatures: readonly ManifestSignature[];
  readonly version: string;
  readonly channel: string;
  readonly arch: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly sequence: number;
  readonly artifacts: ReadonlyMap<string, ManifestArtifact>;
}

function bad(msg: string): never {
  throw new FormatError('ERR_MANIFEST_SCHEMA', `manifest: ${msg}`);
}

/** isSafeName tells whether s is a usable artifact name or filename (no path separators, no "..", no controls). */
export function isSafeName(s: string): boolean {
  return (
    s.length >= 1 &&
    s.length <= NAME_MAX &&
    s !== '.' &&
    !s.includes('/') &&
    !s.includes('\\') &&
    !s.includes('..') &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u001f\u007f]/.test(s)
  );
}

function checkName(s: unknown, what: string): string {
  if (typeof s !== 'string') bad(`${what} must be a string`);
  if (!isSafeName(s)) {
    throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `manifest: ${what} ${JSON.stringify(s.slice(0, 80))} is not a safe name`);
  }
  return s;
}

const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function parseArtifact(name: string, v: JsonValue | undefined): ManifestArtifact {
  if (!isJsonObject(v)) bad(`artifact ${name} must be an object`);
  const filename = checkName(v.filename, `artifact ${name}.filename`);
  const size = v.size_bytes;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) bad(`artifact ${name}.size_bytes must be an integer ≥ 0`);
  const hash = v.hash;
  const hm = typeof hash === 'string' ? /^([a-z0-9-]{1,32}):((?:[0-9a-f]{2}){16,64})$/.exec(hash) : null;
  if (typeof hash !== 'string' || !hm) bad(`artifact ${name}.hash must be "<algorithm>:<lowercase hex>", e.g. "sha256:…"`);
  const hashAlg = hm[1]!;
  if (isHashAlgorithm(hashAlg) && hm[2]!.length !== HASH_DIGEST_BYTES[hashAlg] * 2) {
    bad(`artifact ${name}.hash must carry ${HASH_DIGEST_BYTES[hashAlg] * 2} hex chars for ${hashAlg}`);
  }
  const out: { -readonly [K in keyof ManifestArtifact]: ManifestArtifact[K] } = { filename, size_bytes: size, hash };
  if (v.hashes !== undefined) {
    if (!isJsonObject(v.hashes)) bad(`artifact ${name}.hashes must be an object`);
    const hashes: Record<string, string> = {};
    const entries = Object.entries(v.hashes);
    if (entries.length > 16) bad(`artifact ${name}.hashes has more than 16 entries`);
    for (const [alg, hex] of entries) {
      if (!/^[a-z0-9-]{1,32}$/.test(alg)) bad(`artifact ${name}: hash algorithm name ${JSON.stringify(alg.slice(0, 40))} is malformed`);
      if (typeof hex !== 'string' || !/^(?:[0-9a-f]{2}){16,64}$/.test(hex)) bad(`artifact ${name}.hashes.${alg} must be lowercase hex`);
      if (isHashAlgorithm(alg) && hex.length !== HASH_DIGEST_BYTES[alg] * 2) {
        bad(`artifact ${name}.hashes.${alg} must be ${HASH_DIGEST_BYTES[alg] * 2} hex chars`);
      }
      hashes[alg] = hex;
    }
    const same = hashes[hashAlg];
    if (same !== undefined && `${hashAlg}:${same}` !== hash) bad(`artifact ${name}: hashes.${hashAlg} disagrees with hash`);
    out.hashes = hashes;
  }
  if (v.download_url !== undefined) {
    if (typeof v.download_url !== 'string' || v.download_url.length > 2048) bad(`artifact ${name}.download_url must be a string ≤ 2048 chars`);
    out.download_url = v.download_url;
  }
  return out;
}

function parseSignature(v: JsonValue, i: number): ManifestSignature {
  if (!isJsonObject(v)) bad(`signatures[${i}] must be an object`);
  const { algorithm, key_id, signature, signed_at, public_key } = v;
  if (typeof algorithm !== 'string' || algorithm.length > 32) bad(`signatures[${i}].algorithm must be a string`);
  if (typeof key_id !== 'string' || !/^[0-9a-f]{16,128}$/.test(key_id)) bad(`signatures[${i}].key_id must be 16–128 lowercase hex chars`);
  if (typeof signature !== 'string' || signature.length > 1024) bad(`signatures[${i}].signature must be a hex string`);
  const out: { -readonly [K in keyof ManifestSignature]: ManifestSignature[K] } = { algorithm, key_id, signature };
  if (signed_at !== undefined) {
    parseTimestamp(signed_at, `signatures[${i}].signed_at`);
    out.signed_at = signed_at as string;
  }
  if (public_key !== undefined) {
    if (typeof public_key !== 'string') bad(`signatures[${i}].public_key must be a string`);
    decodeHex(public_key, 32, `signatures[${i}].public_key`);
    out.public_key = public_key;
  }
  return out;
}

/** toManifest schema-checks a parsed JSON object. */
export function toManifest(doc: JsonObject): Manifest {
  const { signatures: sigsRaw, ...body } = doc;
  if (body.manifest_version !== 1) bad(`manifest_version must be 1, got ${JSON.stringify(body.manifest_version)}`);
  const version = body.version;
  if (typeof version !== 'string' || version.length < 1 || version.length > 128) bad('version must be a string of 1–128 chars');
  const channel = body.channel;
  const arch = body.arch;
  if (typeof channel !== 'string' || !LABEL_RE.test(channel)) bad('channel must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}');
  if (typeof arch !== 'string' || !LABEL_RE.test(arch)) bad('arch must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}');
  const createdAt = parseTimestamp(body.created_at, 'manifest created_at');
  const expiresAt = parseTimestamp(body.expires_at, 'manifest expires_at');
  const sequence = body.sequence;
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0) bad('sequence must be an integer ≥ 0');
  if (!isJsonObject(body.artifacts)) bad('artifacts must be an object');
  const entries = Object.entries(body.artifacts);
  if (entries.length === 0) bad('artifacts is empty');
  if (entries.length > MANIFEST_MAX_ARTIFACTS) {
    throw new LimitError('ERR_LIMIT_COUNT', `manifest has ${entries.length} artifacts, over the cap of ${MANIFEST_MAX_ARTIFACTS}`);
  }
  const artifacts = new Map<string, ManifestArtifact>();
  const filenames = new Set<string>();
  for (const [name, v] of entries) {
    checkName(name, 'artifact name');
    const a = parseArtifact(name, v);
    if (filenames.has(a.filename)) bad(`two artifacts share filename ${JSON.stringify(a.filename)}`);
    filenames.add(a.filename);
    artifacts.set(name, a);
  }
  let signatures: ManifestSignature[] = [];
  if (sigsRaw !== undefined) {
    if (!Array.isArray(sigsRaw)) bad('signatures must be an array');
    if (sigsRaw.length > MANIFEST_MAX_SIGNATURES) {
      throw new LimitError('ERR_LIMIT_COUNT', `manifest has ${sigsRaw.length} signatures, over the cap of ${MANIFEST_MAX_SIGNATURES}`);
    }
    signatures = sigsRaw.map(parseSignature);
  }
  return { body, signatures, version, channel, arch, createdAt, expiresAt, sequence, artifacts };
}

/** parseManifest parses manifest bytes strictly (encoding/json rules, MANIFEST_MAX_BYTES) and checks the schema. */
export function parseManifest(bytes: Uint8Array | string): Manifest {
  return toManifest(parseJsonObject(bytes, { maxBytes: MANIFEST_MAX_BYTES, what: 'manifest' }));
}

/** manifestSignedBytes returns MANIFEST_SIGNING_PREFIX ‖ JCS(body): the exact bytes every signature covers. */
export function manifestSignedBytes(m: Pick<Manifest, 'body'>): Uint8Array {
  const prefix = new TextEncoder().encode(MANIFEST_SIGNING_PREFIX);
  const body = canonicalizeJcs(m.body);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/** formatManifest renders the document: the body's fields in order, then `signatures`, 2-space indented. */
export function formatManifest(m: Pick<Manifest, 'body' | 'signatures'>): string {
  const doc: JsonObject = { ...m.body, signatures: m.signatures.map((s) => ({ ...s })) };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** artifactHashes returns every supported algorithm → expected hex for an artifact ("hash" and "hashes"). */
export function artifactHashes(a: ManifestArtifact): { supported: Map<HashAlgorithm, string>; unsupported: string[] } {
  const supported = new Map<HashAlgorithm, string>();
  const unsupported: string[] = [];
  const colon = a.hash.indexOf(':');
  const all: Array<[string, string]> = [[a.hash.slice(0, colon), a.hash.slice(colon + 1)], ...Object.entries(a.hashes ?? {})];
  for (const [alg, hex] of all) {
    if (isHashAlgorithm(alg)) supported.set(alg, hex);
    else if (!unsupported.includes(alg)) unsupported.push(alg);
  }
  return { supported, unsupported };
}
