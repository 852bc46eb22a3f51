/**
 * trust/tuf-metadata — TUF 1.0 timestamp, snapshot and targets metadata (The Update Framework specification
 * v1.0.x, §4.4 "snapshot.json", §4.5 "targets.json", §4.6 "timestamp.json"; signatures §4.2 and §4.3), beside the
 * root of trust/root. The provider daemon writes them (server/provider/tuf-repo) and `custody fetch --tuf` reads them
 * (client/tuf-client); tuf-js, python-tuf and go-tuf read the same files.
 *
 * Wire format (every document is `{"signed": {...}, "signatures": [{"keyid": "<64 hex>", "sig": "<128 hex>"}]}`;
 * unknown fields are kept and are part of the signed bytes, TUF §4.2):
 *
 *   timestamp: { "_type": "timestamp", "spec_version": "1.0.31", "version": 7, "expires": "<RFC 3339 Z>",
 *                "meta": { "snapshot.json": { "version": 5, "length": 512, "hashes": { "sha256": "<64 hex>" } } } }
 *   snapshot:  { "_type": "snapshot", …, "meta": { "targets.json": { "version": 3, "length": 2048, "hashes": {…} } } }
 *   targets:   { "_type": "targets", …, "targets": { "stable/x86_64/vmlinuz": { "length": 123, "hashes": {…},
 *                "custom": { "channel": "stable", "arch": "x86_64", "sequence": 1795315711, … } } },
 *                "delegations"?: {…} }
 *
 * Signed bytes: TUF canonical JSON of `signed` (encoding/canonical `canonicalizeTuf`), Ed25519 signatures counted by
 * trust/threshold against the keys and threshold the trusted root gives the role (key ids exact, as in the root).
 *
 * Trust boundary: every document here comes from an untrusted repository or mirror. Parsing is bounded (size caps
 * per role, counts of signatures, meta entries and targets), strict about the schema TUF requires, and verifies
 * nothing; `verifyTufSignatures` counts signatures and `checkMetaFile` compares bytes with what the referring
 * metadata promised. Delegations are parsed only as far as "present or not": this module reads top-level targets.
 */
import { sha256 } from '../crypto/index.ts';
import { canonicalizeTuf } from '../encoding/canonical.ts';
import { decodeHex, encodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { formatTimestamp, parseTimestamp } from '../encoding/time.ts';
import { FormatError, LimitError, PolicyError, VerificationError } from '../errors.ts';
import { tufKeyId } from '../keys/key-id.ts';
import type { Signer } from '../crypto/index.ts';
import { TUF_SPEC_VERSION, roleKeys, type RootDocument } from './root.ts';
import { countThreshold, type ThresholdResult } from './threshold.ts';

/** TufRole names the three roles this module reads (the root is trust/root's). */
export type TufRole = 'timestamp' | 'snapshot' | 'targets';

/**
 * Size caps per role, in bytes: tuf-js's defaults (config.ts), so a document one client accepts the other accepts
 * too. A referring document's `length` lowers them further.
 */
export const TUF_TIMESTAMP_MAX_BYTES = 16 * 1024;
export const TUF_SNAPSHOT_MAX_BYTES = 2_000_000;
export const TUF_TARGETS_MAX_BYTES = 5_000_000;
/** TUF_MAX_SIGNATURES, TUF_MAX_META and TUF_MAX_TARGETS cap the lists of one document. */
export const TUF_MAX_SIGNATURES = 256;
export const TUF_MAX_META = 4096;
export const TUF_MAX_TARGETS = 65_536;
/** TUF_TARGET_PATH_MAX_CHARS caps a target path. */
export const TUF_TARGET_PATH_MAX_CHARS = 1024;

const MAX_BYTES: Record<TufRole, number> = { timestamp: TUF_TIMESTAMP_MAX_BYTES, snapshot: TUF_SNAPSHOT_MAX_BYTES, targets: TUF_TARGETS_MAX_BYTES };

/** HASH_HEX_CHARS gives the hex length of each hash algorithm we check; other algorithms are kept, never trusted. */
const HASH_HEX_CHARS: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

/** MetaFile is an entry of `meta` (timestamp, snapshot): the version of a metadata file, and optionally its bytes. */
export interface MetaFile {
  version: number;
  length?: number | undefined;
  hashes?: Readonly<Record<string, string>> | undefined;
}

/** TargetFile is an entry of `targets`: length and hashes of the target's bytes, and its custom fields. */
export interface TargetFile {
  length: number;
  hashes: Readonly<Record<string, string>>;
  custom?: JsonObject | undefined;
}

interface TufBase {
  /** signed is the raw signed object, unknown fields included (they are part of the signed bytes). */
  readonly signed: JsonObject;
  readonly signatures: ReadonlyArray<{ keyid: string; sig: string }>;
  readonly version: number;
  readonly expires: Date;
}

export interface TimestampDocument extends TufBase {
  readonly type: 'timestamp';
  /** snapshot is `meta["snapshot.json"]`. */
  readonly snapshot: MetaFile;
}

export interface SnapshotDocument extends TufBase {
  readonly type: 'snapshot';
  /** meta maps `<role>.json` to its version (and optionally length and hashes). */
  readonly meta: ReadonlyMap<string, MetaFile>;
}

export interface TargetsDocument extends TufBase {
  readonly type: 'targets';
  readonly targets: ReadonlyMap<string, TargetFile>;
  /** delegations tells whether the document delegates (this module does not follow delegations). */
  readonly delegations: boolean;
}

export type TufDocument = TimestampDocument | SnapshotDocument | TargetsDocument;
type DocOf<R extends TufRole> = Extract<TufDocument, { type: R }>;

function schema(role: string, msg: string): never {
  throw new FormatError('ERR_TUF_SCHEMA', `tuf ${role}: ${msg}`);
}

function int(role: string, o: JsonObject, k: string, what: string, min: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) schema(role, `${what}.${k} must be an integer ≥ ${min}`);
  return v;
}

function hashesOf(role: string, v: JsonValue | undefined, what: string): Record<string, string> {
  if (!isJsonObject(v)) schema(role, `${what}.hashes must be an object`);
  const out: Record<string, string> = {};
  const entries = Object.entries(v);
  if (entries.length === 0 || entries.length > 8) schema(role, `${what}.hashes must name 1 to 8 hashes`);
  for (const [alg, hex] of entries) {
    if (typeof hex !== 'string' || !/^[0-9a-f]{1,128}$/.test(hex)) schema(role, `${what}.hashes.${alg.slice(0, 16)} must be lowercase hex`);
    const want = HASH_HEX_CHARS[alg];
    if (want !== undefined && hex.length !== want) schema(role, `${what}.hashes.${alg} must be ${want} hex chars`);
    out[alg] = hex;
  }
  return out;
}

function metaFileOf(role: string, v: JsonValue | undefined, what: string): MetaFile {
  if (!isJsonObject(v)) schema(role, `${what} must be an object`);
  const version = int(role, v, 'version', what, 1);
  const length = v.length === undefined ? undefined : int(role, v, 'length', what, 0);
  const hashes = v.hashes === undefined ? undefined : hashesOf(role, v.hashes, what);
  return { version, length, hashes };
}

/** checkTargetPath refuses target paths that are not plain relative paths (TUF §4.5 TARGETPATH, and no `..`). */
function checkTargetPath(role: string, p: string): void {
  if (p.length === 0 || p.length > TUF_TARGET_PATH_MAX_CHARS) schema(role, `target path must be 1–${TUF_TARGET_PATH_MAX_CHARS} characters`);
  // TUF §4.5: "TARGETPATH ... MUST NOT start with a '/'" and uses '/' separators; we also refuse empty, '.' and '..'
  // segments, backslashes and control characters, which no client should turn into a file path.
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(p) || p.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    schema(role, `target path ${JSON.stringify(p.slice(0, 80))} is not a plain relative path`);
  }
}

/**
 * parseTufMetadata parses timestamp, snapshot or targets metadata (strict JSON under the role's size cap, schema
 * checked, `_type` must be `role`); nothing is verified.
 */
export function parseTufMetadata<R extends TufRole>(bytes: Uint8Array | string, role: R, maxBytes = MAX_BYTES[role]): DocOf<R> {
  const doc = parseJsonObject(bytes, { maxBytes: Math.min(maxBytes, MAX_BYTES[role]), what: `tuf ${role}` });
  const signed = doc.signed;
  const sigs = doc.signatures;
  if (!isJsonObject(signed)) schema(role, 'missing "signed" object');
  if (!Array.isArray(sigs)) schema(role, 'missing "signatures" array');
  if (sigs.length > TUF_MAX_SIGNATURES) throw new LimitError('ERR_LIMIT_COUNT', `tuf ${role}: more than ${TUF_MAX_SIGNATURES} signatures`);
  if (signed._type !== role) schema(role, `signed._type must be ${JSON.stringify(role)}`);
  const spec = signed.spec_version;
  // TUF §4.2 spec_version: a client refuses metadata of another major version.
  if (typeof spec !== 'string' || !/^1\.\d+(\.\d+)?$/.test(spec)) schema(role, 'signed.spec_version must be 1.x');
  const version = int(role, signed, 'version', 'signed', 1);
  let expires: Date;
  try {
    expires = parseTimestamp(signed.expires, 'signed.expires');
  } catch {
    schema(role, 'signed.expires must be an RFC 3339 UTC time');
  }
  const signatures = sigs.map((s, i) => {
    if (!isJsonObject(s) || typeof s.keyid !== 'string' || typeof s.sig !== 'string') schema(role, `signatures[${i}] needs keyid and sig strings`);
    if (s.keyid.length > 128 || s.sig.length > 1024) schema(role, `signatures[${i}] is too long`);
    return { keyid: s.keyid, sig: s.sig };
  });
  const base = { signed, signatures, version, expires };
  if (role === 'timestamp' || role === 'snapshot') {
    const meta = signed.meta;
    if (!isJsonObject(meta)) schema(role, 'signed.meta must be an object');
    const entries = Object.entries(meta);
    if (entries.length > TUF_MAX_META) throw new LimitError('ERR_LIMIT_COUNT', `tuf ${role}: more than ${TUF_MAX_META} meta entries`);
    if (role === 'timestamp') {
      // TUF §4.6: the timestamp's meta names exactly snapshot.json.
      if (entries.length !== 1 || meta['snapshot.json'] === undefined) schema(role, 'signed.meta must hold exactly "snapshot.json"');
      return { ...base, type: 'timestamp', snapshot: metaFileOf(role, meta['snapshot.json'], 'meta["snapshot.json"]') } as TufDocument as DocOf<R>;
    }
    const m = new Map<string, MetaFile>();
    for (const [name, v] of entries) {
      // eslint-disable-next-line no-control-regex
      if (!/^[^/\\\u0000-\u001f]{1,250}\.json$/.test(name)) schema(role, `meta name ${JSON.stringify(name.slice(0, 80))} must be <role>.json`);
      m.set(name, metaFileOf(role, v, `meta[${JSON.stringify(name)}]`));
    }
    if (!m.has('targets.json')) schema(role, 'signed.meta must name "targets.json"');
    return { ...base, type: 'snapshot', meta: m } as TufDocument as DocOf<R>;
  }
  const targetsObj = signed.targets;
  if (!isJsonObject(targetsObj)) schema(role, 'signed.targets must be an object');
  const entries = Object.entries(targetsObj);
  if (entries.length > TUF_MAX_TARGETS) throw new LimitError('ERR_LIMIT_COUNT', `tuf targets: more than ${TUF_MAX_TARGETS} targets`);
  const targets = new Map<string, TargetFile>();
  for (const [path, v] of entries) {
    checkTargetPath(role, path);
    const what = `targets[${JSON.stringify(path.slice(0, 80))}]`;
    if (!isJsonObject(v)) schema(role, `${what} must be an object`);
    const length = int(role, v, 'length', what, 0);
    const hashes = hashesOf(role, v.hashes, what);
    if (v.custom !== undefined && !isJsonObject(v.custom)) schema(role, `${what}.custom must be an object`);
    targets.set(path, { length, hashes, custom: v.custom });
  }
  const delegations = signed.delegations;
  if (delegations !== undefined && !isJsonObject(delegations)) schema(role, 'signed.delegations must be an object');
  return { ...base, type: 'targets', targets, delegations: delegations !== undefined } as TufDocument as DocOf<R>;
}

/** tufSignedBytes returns the bytes a document's signatures cover: TUF canonical JSON of `signed`. */
export function tufSignedBytes(doc: Pick<TufBase, 'signed'>): Uint8Array {
  return canonicalizeTuf(doc.signed);
}

/** checkTufSignatures counts `doc`'s signatures against the keys and threshold `root` gives `role`. */
export function checkTufSignatures(doc: TufDocument, root: RootDocument, role: TufRole, now: Date): ThresholdResult {
  return countThreshold({
    message: tufSignedBytes(doc),
    signatures: doc.signatures.map((s) => {
      let sig: Uint8Array | undefined;
      try {
        sig = decodeHex(s.sig, 64);
      } catch {
        sig = undefined;
      }
      return { keyId: s.keyid, algorithm: 'ed25519', signature: sig };
    }),
    authorized: roleKeys(root, role),
    threshold: root.roles[role].threshold,
    revoked: root.revoked,
    now,
  });
}

/** verifyTufSignatures throws ERR_TUF_THRESHOLD_UNMET unless a threshold of the role's distinct keys signed `doc`. */
export function verifyTufSignatures(doc: TufDocument, root: RootDocument, role: TufRole, now: Date): ThresholdResult {
  const r = checkTufSignatures(doc, root, role, now);
  if (!r.met) {
    throw new VerificationError('ERR_TUF_THRESHOLD_UNMET', `${role} version ${doc.version}: signed by ${r.valid.length}/${r.threshold} keys of the ${role} role`, {
      details: { role, valid: r.valid, threshold: r.threshold, rejected: r.rejected },
    });
  }
  return r;
}

/** requireTufUnexpired throws ERR_TUF_EXPIRED when `now` is at or past the document's expiry (TUF §5.4.4 …). */
export function requireTufUnexpired(doc: TufDocument, now: Date): void {
  if (now.getTime() >= doc.expires.getTime()) {
    throw new PolicyError('ERR_TUF_EXPIRED', `${doc.type} version ${doc.version} expired at ${formatTimestamp(doc.expires)}`, {
      details: { role: doc.type, version: doc.version, expires: formatTimestamp(doc.expires) },
    });
  }
}

/**
 * checkMetaFile compares downloaded metadata bytes with what the referring document promised (TUF §5.5.2, §5.6.2):
 * the length and every sha256/sha512 hash it gives. Throws ERR_TUF_MIX_AND_MATCH.
 */
export function checkMetaFile(bytes: Uint8Array, meta: MetaFile, name: string): void {
  if (meta.length !== undefined && bytes.length !== meta.length) {
    throw new VerificationError('ERR_TUF_MIX_AND_MATCH', `${name}: expected ${meta.length} bytes, got ${bytes.length}`);
  }
  const h = meta.hashes?.sha256;
  if (h !== undefined && encodeHex(sha256(bytes)) !== h) {
    throw new VerificationError('ERR_TUF_MIX_AND_MATCH', `${name}: the bytes do not have the sha256 the referring metadata gives`);
  }
}

/** metaFileFor describes metadata bytes for a referring document: version, length and sha256. */
export function metaFileFor(bytes: Uint8Array, version: number): MetaFile {
  return { version, length: bytes.length, hashes: { sha256: encodeHex(sha256(bytes)) } };
}

function metaJson(m: MetaFile): JsonObject {
  return {
    version: m.version,
    ...(m.length === undefined ? {} : { length: m.length }),
    ...(m.hashes === undefined ? {} : { hashes: { ...m.hashes } }),
  };
}

/** TufCommon are the fields every document we write has. */
export interface TufCommon {
  version: number;
  expires: Date;
}

/** createTimestamp builds the unsigned `signed` object of a timestamp naming `snapshot`. */
export function createTimestamp(o: TufCommon & { snapshot: MetaFile }): JsonObject {
  return { _type: 'timestamp', spec_version: TUF_SPEC_VERSION, version: o.version, expires: formatTimestamp(o.expires), meta: { 'snapshot.json': metaJson(o.snapshot) } };
}

/** createSnapshot builds the unsigned `signed` object of a snapshot listing `meta` (`targets.json` at least). */
export function createSnapshot(o: TufCommon & { meta: ReadonlyMap<string, MetaFile> }): JsonObject {
  const meta: JsonObject = {};
  for (const [name, m] of o.meta) meta[name] = metaJson(m);
  return { _type: 'snapshot', spec_version: TUF_SPEC_VERSION, version: o.version, expires: formatTimestamp(o.expires), meta };
}

/** createTargets builds the unsigned `signed` object of top-level targets metadata. */
export function createTargets(o: TufCommon & { targets: ReadonlyMap<string, TargetFile> }): JsonObject {
  const targets: JsonObject = {};
  for (const [path, t] of o.targets) {
    targets[path] = { length: t.length, hashes: { ...t.hashes }, ...(t.custom === undefined ? {} : { custom: t.custom }) };
  }
  return { _type: 'targets', spec_version: TUF_SPEC_VERSION, version: o.version, expires: formatTimestamp(o.expires), targets };
}

/**
 * signTufMetadata signs `signed` with each signer (TUF canonical JSON, Ed25519, key ids per TUF §4.2) and returns
 * the document's text: compact JSON and a newline, the bytes served and hashed by the referring metadata.
 */
export function signTufMetadata(signed: JsonObject, signers: readonly Signer[]): string {
  const bytes = canonicalizeTuf(signed);
  const signatures = signers.map((s) => ({ keyid: tufKeyId(s.publicKey), sig: encodeHex(s.sign(bytes)) }));
  return JSON.stringify({ signed, signatures }) + '\n';
}
