/**
 * trust/root — the trust root: a TUF 1.0 `root.json` (The Update Framework specification v1.0.x, §4.3 "root.json",
 * §5.3 "Update the root role").
 *
 * Wire format (every field is TUF's; Custody's extensions are the `x-custody-*` fields, which TUF requires
 * implementations to preserve and include in the signed bytes):
 *
 *   {
 *     "signed": {
 *       "_type": "root",
 *       "spec_version": "1.0.31",
 *       "version": 1,
 *       "expires": "2027-11-22T00:00:00Z",
 *       "consistent_snapshot": true,
 *       "keys": {
 *         "<keyid>": { "keytype": "ed25519", "scheme": "ed25519", "keyval": { "public": "<64 hex>" },
 *                      "x-custody-not-before"?: "<RFC 3339>", "x-custody-not-after"?: "<RFC 3339>" }
 *       },
 *       "roles": {
 *         "root":      { "keyids": ["<keyid>", …], "threshold": 2 },
 *         "targets":   { "keyids": […], "threshold": 2 },   ← authorizes MANIFEST signers (MANIFEST_SIGNER_ROLE)
 *         "snapshot":  { "keyids": […], "threshold": 1 },
 *         "timestamp": { "keyids": […], "threshold": 1 }
 *       },
 *       "x-custody-revoked"?: ["<keyid>", …]
 *     },
 *     "signatures": [ { "keyid": "<keyid>", "sig": "<128 hex>" } ]
 *   }
 *
 * Signed bytes: TUF canonical JSON of `signed` (encoding/canonical `canonicalizeTuf`), Ed25519, so standard TUF
 * clients (tuf-js, python-tuf, go-tuf) verify our roots.
 *
 * Key ids (`<keyid>` above) are TUF key ids (§4.2): hex SHA-256 of the canonical JSON of the key object
 * `{keytype, keyval: {public}, scheme}`, 64 hex chars (keys/key-id `tufKeyId`). TUF §4.3: "Clients MUST calculate
 * each KEYID to verify this is correct for the associated key" — parsing recomputes every id in `keys` and refuses
 * a root whose id does not match its key (ERR_TRUST_KEYID_MISMATCH), so roots written with Custody's old 32-hex ids
 * are refused until rewritten (docs/trust.md, "Key ids"). Ids only name keys: thresholds count distinct key bytes
 * (trust/threshold), and revocation (`x-custody-revoked`) lists TUF key ids recomputed from the key bytes.
 *
 * Trust boundary: a root is trusted either because the operator pinned it (`verifyPinnedRoot`: it must still be
 * signed by a threshold of its own root keys and unexpired), or because a trusted root vouches for it
 * (`updateRoot`: version N+1, signed by a threshold of the OLD root role AND of the NEW root role).
 */
import { PublicKey } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/hash.ts';
import { canonicalizeTuf } from '../encoding/canonical.ts';
import { TUF_KEY_ID_PATTERN, tufKeyId, tufKeyObject } from '../keys/key-id.ts';
import { decodeHex, encodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { formatTimestamp, parseTimestamp } from '../encoding/time.ts';
import { FormatError, PolicyError, VerificationError } from '../errors.ts';
import { countThreshold, type AuthorizedKey, type CandidateSignature, type ThresholdResult } from './threshold.ts';
import type { Signer } from '../crypto/signer.ts';

/** TUF_SPEC_VERSION is the specification version Custody writes. */
export const TUF_SPEC_VERSION = '1.0.31';
/** TOP_LEVEL_ROLES are the four roles every TUF root defines. */
export const TOP_LEVEL_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type RoleName = (typeof TOP_LEVEL_ROLES)[number];
/** MANIFEST_SIGNER_ROLE is the role whose keys and threshold authorize manifest signatures. */
export const MANIFEST_SIGNER_ROLE: RoleName = 'targets';
/** ROOT_MAX_BYTES caps a root document; ROOT_MAX_KEYS and ROOT_MAX_SIGNATURES cap its lists. */
export const ROOT_MAX_BYTES = 1024 * 1024;
export const ROOT_MAX_KEYS = 256;
export const ROOT_MAX_SIGNATURES = 256;

export interface Role {
  keyIds: string[];
  threshold: number;
}

/** RootDocument is a parsed, NOT yet verified root.json. */
export interface RootDocument {
  /** signed is the raw signed object, unknown fields included (they are part of the signed bytes). */
  readonly signed: JsonObject;
  readonly signatures: ReadonlyArray<{ keyid: string; sig: string }>;
  readonly version: number;
  readonly expires: Date;
  readonly keys: ReadonlyMap<string, AuthorizedKey>;
  readonly roles: Readonly<Record<RoleName, Role>>;
  /** revoked holds TUF key ids that never count, whatever role lists them. */
  readonly revoked: ReadonlySet<string>;
}

/** TrustRoot is a root whose signatures and expiry were verified; only `verify*`/`updateRoot` make one. */
export interface TrustRoot extends RootDocument {
  readonly verified: true;
}

function schema(msg: string): never {
  throw new FormatError('ERR_TRUST_SCHEMA', `trust root: ${msg}`);
}

function str(o: JsonObject, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') schema(`${what}.${k} must be a string`);
  return v;
}

function int(o: JsonObject, k: string, what: string, min: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) schema(`${what}.${k} must be an integer ≥ ${min}`);
  return v;
}

/** parseRoot parses root.json bytes into a RootDocument (strict JSON, schema checked, nothing verified). */
export function parseRoot(bytes: Uint8Array | string): RootDocument {
  const doc = parseJsonObject(bytes, { maxBytes: ROOT_MAX_BYTES, what: 'trust root' });
  return toRootDocument(doc);
}

/** toRootDocument checks the schema of an already parsed `{signed, signatures}` object. */
export function toRootDocument(doc: JsonObject): RootDocument {
  const signed = doc.signed;
  const sigs = doc.signatures;
  if (!isJsonObject(signed)) schema('missing "signed" object');
  if (!Array.isArray(sigs)) schema('missing "signatures" array');
  if (sigs.length > ROOT_MAX_SIGNATURES) schema(`more than ${ROOT_MAX_SIGNATURES} signatures`);
  if (signed._type !== 'root') schema('signed._type must be "root"');
  const spec = str(signed, 'spec_version', 'signed');
  if (!/^1\.\d+(\.\d+)?$/.test(spec)) schema(`unsupported spec_version ${JSON.stringify(spec)}`);
  const version = int(signed, 'version', 'signed', 1);
  const expires = parseTimestamp(signed.expires, 'signed.expires');
  if (typeof signed.consistent_snapshot !== 'boolean') schema('signed.consistent_snapshot must be a boolean');
  const keysObj = signed.keys;
  if (!isJsonObject(keysObj)) schema('signed.keys must be an object');
  const keyEntries = Object.entries(keysObj);
  if (keyEntries.length > ROOT_MAX_KEYS) schema(`more than ${ROOT_MAX_KEYS} keys`);
  const keys = new Map<string, AuthorizedKey>();
  for (const [id, k] of keyEntries) {
    if (!/^[0-9a-f]{16,128}$/.test(id)) schema(`key id ${JSON.stringify(id.slice(0, 80))} must be 16–128 lowercase hex chars`);
    if (!isJsonObject(k)) schema(`key ${id} must be an object`);
    if (k.keytype !== 'ed25519' || k.scheme !== 'ed25519') {
      throw new FormatError('ERR_KEY_UNSUPPORTED', `trust root key ${id}: only ed25519/ed25519 keys are supported`);
    }
    const keyval = k.keyval;
    if (!isJsonObject(keyval)) schema(`key ${id}.keyval must be an object`);
    const pub = PublicKey.fromRaw(decodeHex(str(keyval, 'public', `key ${id}.keyval`), 32, `key ${id}`));
    // TUF §4.3: recompute each KEYID from its key and refuse a mismatch. An id is a name the signatures and roles
    // refer to; if it could differ from the key, one key could be shown under another's name.
    const expected = tufKeyId(pub);
    if (id !== expected) {
      throw new FormatError('ERR_TRUST_KEYID_MISMATCH', `trust root key id ${id} does not match its key: expected ${expected}`, {
        details: { keyid: id, expected },
      });
    }
    const nb = k['x-custody-not-before'];
    const na = k['x-custody-not-after'];
    keys.set(id, {
      id,
      key: pub,
      notBefore: nb === undefined ? undefined : parseTimestamp(nb, `key ${id} x-custody-not-before`),
      notAfter: na === undefined ? undefined : parseTimestamp(na, `key ${id} x-custody-not-after`),
    });
  }
  const rolesObj = signed.roles;
  if (!isJsonObject(rolesObj)) schema('signed.roles must be an object');
  const roles = {} as Record<RoleName, Role>;
  for (const name of TOP_LEVEL_ROLES) {
    const r = rolesObj[name];
    if (!isJsonObject(r)) throw new FormatError('ERR_TRUST_ROLE', `trust root: role "${name}" is missing`);
    const ids = r.keyids;
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) {
      throw new FormatError('ERR_TRUST_ROLE', `trust root: role "${name}".keyids must be an array of strings`);
    }
    const keyIds = ids as string[];
    if (new Set(keyIds).size !== keyIds.length) {
      throw new FormatError('ERR_TRUST_ROLE', `trust root: role "${name}" lists a key id twice`);
    }
    for (const id of keyIds) {
      if (!keys.has(id)) throw new FormatError('ERR_TRUST_ROLE', `trust root: role "${name}" names unknown key ${id}`);
    }
    const threshold = int(r, 'threshold', `roles.${name}`, 1);
    roles[name] = { keyIds, threshold };
  }
  const revokedRaw = signed['x-custody-revoked'];
  const revoked = new Set<string>();
  if (revokedRaw !== undefined) {
    if (!Array.isArray(revokedRaw)) schema('x-custody-revoked must be an array');
    for (const r of revokedRaw) {
      if (typeof r !== 'string' || !TUF_KEY_ID_PATTERN.test(r)) schema('x-custody-revoked entries must be TUF key ids (64 hex chars)');
      revoked.add(r);
    }
  }
  const signatures = sigs.map((s, i) => {
    if (!isJsonObject(s)) schema(`signatures[${i}] must be an object`);
    return { keyid: str(s, 'keyid', `signatures[${i}]`), sig: str(s, 'sig', `signatures[${i}]`) };
  });
  return { signed, signatures, version, expires, keys, roles, revoked };
}

/** rootSignedBytes returns the bytes a root's signatures cover: TUF canonical JSON of `signed`. */
export function rootSignedBytes(doc: Pick<RootDocument, 'signed'>): Uint8Array {
  return canonicalizeTuf(doc.signed);
}

function candidates(doc: RootDocument): CandidateSignature[] {
  return doc.signatures.map((s) => {
    let sig: Uint8Array | undefined;
    try {
      sig = decodeHex(s.sig, 64);
    } catch {
      sig = undefined;
    }
    return { keyId: s.keyid, algorithm: 'ed25519', signature: sig };
  });
}

/** roleKeys returns the authorized keys of a role, keyed by the document's key ids. */
export function roleKeys(doc: RootDocument, role: RoleName): Map<string, AuthorizedKey> {
  const m = new Map<string, AuthorizedKey>();
  for (const id of doc.roles[role].keyIds) m.set(id, doc.keys.get(id)!);
  return m;
}

/**
 * isKeyAuthorized tells whether `key` (by its raw bytes) is a key of `role` that is not revoked and is inside its
 * validity window at `now` — the single-key form of the threshold rules.
 */
export function isKeyAuthorized(root: TrustRoot, role: RoleName, key: PublicKey, now: Date): boolean {
  if (root.revoked.has(tufKeyId(key))) return false;
  const t = now.getTime();
  for (const ak of roleKeys(root, role).values()) {
    if (!ak.key.equals(key)) continue;
    if (ak.notBefore && t < ak.notBefore.getTime()) continue;
    if (ak.notAfter && t >= ak.notAfter.getTime()) continue;
    return true;
  }
  return false;
}

/** checkRootSignatures counts `doc`'s signatures against the root role of `by` (which may be doc itself). */
export function checkRootSignatures(doc: RootDocument, by: RootDocument, now: Date): ThresholdResult {
  return countThreshold({
    message: rootSignedBytes(doc),
    signatures: candidates(doc),
    authorized: roleKeys(by, 'root'),
    threshold: by.roles.root.threshold,
    revoked: by.revoked,
    now,
  });
}

function requireThreshold(r: ThresholdResult, which: string, version: number): void {
  if (!r.met) {
    throw new VerificationError(
      'ERR_TRUST_THRESHOLD_UNMET',
      `root version ${version}: signed by ${r.valid.length}/${r.threshold} keys of the ${which} root role`,
      { details: { valid: r.valid, threshold: r.threshold, rejected: r.rejected } },
    );
  }
}

function requireUnexpired(doc: RootDocument, now: Date): void {
  if (now.getTime() >= doc.expires.getTime()) {
    throw new PolicyError('ERR_TRUST_EXPIRED', `root version ${doc.version} expired at ${formatTimestamp(doc.expires)}`, {
      details: { version: doc.version, expires: formatTimestamp(doc.expires) },
    });
  }
}

/**
 * verifyPinnedRoot trusts a root the operator pinned: it must be signed by a threshold of its own root role and
 * not be expired. Returns the TrustRoot; callers use only the returned object.
 */
export function verifyPinnedRoot(doc: RootDocument, options: { now: Date; minVersion?: number; allowExpired?: boolean }): TrustRoot {
  requireThreshold(checkRootSignatures(doc, doc, options.now), 'its own', doc.version);
  if (options.minVersion !== undefined && doc.version < options.minVersion) {
    throw new PolicyError('ERR_TRUST_ROLLBACK', `root version ${doc.version} is older than trusted version ${options.minVersion}`);
  }
  // An expired pinned root may still vouch for its successor (TUF §5.3): callers updating pass allowExpired.
  if (!options.allowExpired) requireUnexpired(doc, options.now);
  return { ...doc, verified: true };
}

/**
 * updateRoot moves trust from `trusted` to `next` (TUF §5.3.4–5.3.5): next.version must be trusted.version + 1 and
 * `next` must be signed by a threshold of the trusted root role and by a threshold of its own root role.
 * Expiry of intermediate roots is not checked (TUF §5.3.10 checks the final one): use `updateRootChain`.
 */
export function updateRoot(trusted: TrustRoot, next: RootDocument, now: Date): TrustRoot {
  requireThreshold(checkRootSignatures(next, trusted, now), 'previous', next.version);
  requireThreshold(checkRootSignatures(next, next, now), 'new', next.version);
  if (next.version !== trusted.version + 1) {
    throw new PolicyError(
      next.version <= trusted.version ? 'ERR_TRUST_ROLLBACK' : 'ERR_TRUST_VERSION',
      `expected root version ${trusted.version + 1}, got ${next.version}`,
      { details: { trusted: trusted.version, got: next.version } },
    );
  }
  return { ...next, verified: true };
}

/** updateRootChain applies updateRoot for each next root in order, then checks the final root's expiry. */
export function updateRootChain(trusted: TrustRoot, chain: readonly RootDocument[], now: Date): TrustRoot {
  let cur = trusted;
  for (const next of chain) cur = updateRoot(cur, next, now);
  requireUnexpired(cur, now);
  return cur;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing roots

export interface RoleSpec {
  keys: readonly PublicKey[];
  threshold: number;
}

export interface CreateRootOptions {
  roles: Record<RoleName, RoleSpec>;
  expires: Date;
  version?: number;
  consistentSnapshot?: boolean;
}

/** createRoot builds an unsigned root document from role specs. */
export function createRoot(options: CreateRootOptions): RootDocument {
  const keys: JsonObject = {};
  const roles: JsonObject = {};
  for (const name of TOP_LEVEL_ROLES) {
    const spec = options.roles[name];
    if (spec.threshold < 1 || spec.threshold > spec.keys.length) {
      throw new FormatError('ERR_TRUST_ROLE', `role ${name}: threshold ${spec.threshold} needs 1..${spec.keys.length}`);
    }
    const ids = [...new Set(spec.keys.map((k) => tufKeyId(k)))];
    if (ids.length !== spec.keys.length) throw new FormatError('ERR_TRUST_ROLE', `role ${name} lists the same key twice`);
    for (const k of spec.keys) keys[tufKeyId(k)] = tufKeyObject(k);
    roles[name] = { keyids: ids, threshold: spec.threshold };
  }
  const signed: JsonObject = {
    _type: 'root',
    spec_version: TUF_SPEC_VERSION,
    version: options.version ?? 1,
    expires: formatTimestamp(options.expires),
    consistent_snapshot: options.consistentSnapshot ?? true,
    keys,
    roles,
  };
  return toRootDocument({ signed, signatures: [] });
}

/**
 * editRoot derives version N+1 from a root: `edit` receives a copy of `signed` to change (keys, roles, expiry,
 * revocations). Signatures are dropped: the new version needs fresh ones from old and new root keys.
 */
export function editRoot(doc: RootDocument, edit: (signed: JsonObject) => void): RootDocument {
  const signed = structuredClone(doc.signed);
  edit(signed);
  signed.version = doc.version + 1;
  // Drop keys no role references any more (TUF keeps `keys` to what roles use).
  const used = new Set<string>();
  const roles = signed.roles as JsonObject;
  for (const name of TOP_LEVEL_ROLES) for (const id of ((roles[name] as JsonObject).keyids as string[])) used.add(id);
  const keys = signed.keys as JsonObject;
  for (const id of Object.keys(keys)) if (!used.has(id)) delete keys[id];
  const next = toRootDocument({ signed, signatures: [] });
  for (const name of TOP_LEVEL_ROLES) {
    const r = next.roles[name];
    if (r.threshold > r.keyIds.length) {
      throw new FormatError('ERR_TRUST_ROLE', `role ${name} would need ${r.threshold} signatures from ${r.keyIds.length} keys; lower its threshold`);
    }
  }
  return next;
}

/** signRoot adds (or replaces) the signature of `key` over the root's signed bytes. */
export function signRoot(doc: RootDocument, key: Signer): RootDocument {
  const keyid = tufKeyId(key.publicKey);
  const sig = encodeHex(key.sign(rootSignedBytes(doc)));
  const signatures = doc.signatures.filter((s) => s.keyid !== keyid).concat([{ keyid, sig }]);
  return { ...doc, signatures };
}

/**
 * rootFingerprint is the pin of a root.json file: `sha256:<hex of SHA-256(the file's bytes)>`. A client that pins it
 * can take the root from an untrusted server (the bytes either hash to the pin or are refused).
 */
export function rootFingerprint(rootBytes: Uint8Array): string {
  return 'sha256:' + encodeHex(sha256(rootBytes));
}

/** formatRoot renders root.json (2-space indented; the signatures cover only canonical `signed`). */
export function formatRoot(doc: RootDocument): string {
  const out: { [k: string]: JsonValue } = { signed: doc.signed, signatures: doc.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })) };
  return JSON.stringify(out, null, 2) + '\n';
}
