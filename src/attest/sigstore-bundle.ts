/**
 * attest/sigstore-bundle — the Sigstore bundle v0.3 (sigstore/protobuf-specs: protos/sigstore_bundle.proto,
 * sigstore_rekor.proto, sigstore_common.proto), in the protobuf JSON mapping those specs define: lowerCamel field
 * names, int64 values as decimal strings, bytes as base64.
 *
 * ```
 * {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
 *  "verificationMaterial": {
 *     "publicKey": {"hint": "…"}  |  "certificate": {"rawBytes": b64}  |  "x509CertificateChain": {"certificates": […]},
 *     "tlogEntries": [{"logIndex": "7", "logId": {"keyId": b64}, "kindVersion": {"kind": "dsse", "version": "0.0.1"},
 *                      "integratedTime": "0", "inclusionPromise": {"signedEntryTimestamp": b64}?,
 *                      "inclusionProof": {"logIndex": "7", "rootHash": b64, "treeSize": "8", "hashes": [b64…],
 *                                         "checkpoint": {"envelope": "<signed note>"}},
 *                      "canonicalizedBody": b64}],
 *     "timestampVerificationData": {…}?},
 *  "dsseEnvelope": {"payload", "payloadType", "signatures": [{"sig", "keyid"}]}
 *   | "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64}, "signature": b64}}
 * ```
 *
 * Trust boundary: `parseBundle` takes attacker-controlled bytes. It is bounded (size before parsing, depth, counts,
 * field lengths) and strict: unknown fields, a second content or key form, int64 strings with leading zeros or
 * beyond 2^53−1 and non-canonical base64 are refused with ERR_BUNDLE_SCHEMA, an unknown media type with
 * ERR_BUNDLE_MEDIA_TYPE. Nothing is verified here (attest/sigstore-verify does that); X.509 material and timestamp
 * data are kept as bytes/JSON so a verifier can refuse them by name. Both the v0.3 media type and its legacy
 * spelling (`application/vnd.dev.sigstore.bundle+json;version=0.3`) are read; the v0.3 spelling is written.
 */
import { decodeBase64Either, encodeBase64 } from '../encoding/bytes.ts';
import { isJsonObject, parseJson, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, LimitError, TrustError, errorFromCode } from '../errors.ts';
import { DSSE_MAX_ENVELOPE_BYTES, envelopeFromJson, envelopeToJson, type DsseEnvelope } from './dsse.ts';

/** BUNDLE_V03_MEDIA_TYPE is the media type Custody writes. */
export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** BUNDLE_V03_LEGACY_MEDIA_TYPE is the older spelling of the same version, read but never written. */
export const BUNDLE_V03_LEGACY_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle+json;version=0.3';
/** BUNDLE_MAX_BYTES caps an encoded bundle (its DSSE payload is capped at DSSE_MAX_ENVELOPE_BYTES too). */
export const BUNDLE_MAX_BYTES = DSSE_MAX_ENVELOPE_BYTES + 1024 * 1024;
/** BUNDLE_MAX_TLOG_ENTRIES caps the transparency-log entries of one bundle. */
export const BUNDLE_MAX_TLOG_ENTRIES = 16;
/** BUNDLE_MAX_CERTIFICATES caps an X.509 chain. */
export const BUNDLE_MAX_CERTIFICATES = 10;
/** BUNDLE_MAX_PROOF_HASHES caps an inclusion proof (a tree of 2^53 leaves needs 53). */
export const BUNDLE_MAX_PROOF_HASHES = 64;
/** BUNDLE_MAX_BODY_BYTES caps one decoded canonicalizedBody (Rekor caps entries far below this). */
export const BUNDLE_MAX_BODY_BYTES = 1024 * 1024;
/** BUNDLE_MAX_FIELD_CHARS caps short strings (hint, kind, version, algorithm). */
export const BUNDLE_MAX_FIELD_CHARS = 256;
/** BUNDLE_MAX_CHECKPOINT_CHARS caps a checkpoint envelope (a signed note). */
export const BUNDLE_MAX_CHECKPOINT_CHARS = 64 * 1024;

/** InclusionProof is a Merkle inclusion proof with the checkpoint (signed note) it leads to. */
export interface InclusionProof {
  /** logIndex: 0..2^53−1. */
  logIndex: number;
  rootHash: Uint8Array;
  /** treeSize: 1..2^53−1. */
  treeSize: number;
  hashes: Uint8Array[];
  /** checkpoint is the signed-note text (c2sp.org/tlog-checkpoint), unverified. */
  checkpoint: string;
}

/** TlogEntry is one transparency-log entry of a bundle (TransparencyLogEntry), unverified. */
export interface TlogEntry {
  logIndex: number;
  logId: Uint8Array;
  kind: string;
  version: string;
  /** integratedTime is seconds since the epoch; 0 when the log gave none (only an inclusion promise signs it). */
  integratedTime: number;
  inclusionPromise?: Uint8Array;
  inclusionProof?: InclusionProof;
  canonicalizedBody: Uint8Array;
}

/** MessageSignature is the `messageSignature` content: a signature over the artifact bytes and their digest. */
export interface MessageSignature {
  /** algorithm is the protobuf HashAlgorithm name, e.g. "SHA2_256". */
  digestAlgorithm: string;
  digest: Uint8Array;
  signature: Uint8Array;
}

/** BundleKey is the verification material's key form. */
export type BundleKey =
  | { type: 'publicKey'; hint: string }
  | { type: 'certificate'; rawBytes: Uint8Array }
  | { type: 'x509CertificateChain'; certificates: Uint8Array[] };

/** BundleContent is what was signed: a DSSE envelope or a message signature. */
export type BundleContent = { type: 'dsseEnvelope'; envelope: DsseEnvelope } | { type: 'messageSignature'; messageSignature: MessageSignature };

/** SigstoreBundle is a parsed bundle. Nothing in it is verified. */
export interface SigstoreBundle {
  mediaType: string;
  key: BundleKey;
  tlogEntries: TlogEntry[];
  /** timestampVerificationData is kept verbatim (RFC 3161 timestamps); Custody does not verify them. */
  timestampVerificationData?: JsonObject;
  content: BundleContent;
}

function schema(message: string): FormatError {
  return new FormatError('ERR_BUNDLE_SCHEMA', `bundle: ${message}`);
}

function object(v: JsonValue | undefined, field: string, allowed: readonly string[]): JsonObject {
  if (!isJsonObject(v)) throw schema(`"${field}" must be an object`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw schema(`"${field}" has an unknown field "${printable(k, 40)}"`);
  }
  return v;
}

function str(v: JsonValue | undefined, field: string, max = BUNDLE_MAX_FIELD_CHARS): string {
  if (typeof v !== 'string') throw schema(`"${field}" must be a string`);
  if (v.length > max) throw new LimitError('ERR_LIMIT_SIZE', `bundle: "${field}" is over ${max} characters`);
  return v;
}

function bytes(v: JsonValue | undefined, field: string, maxBytes: number, exact?: number): Uint8Array {
  // base64 of maxBytes needs at most 4⌈maxBytes/3⌉ characters: the length is capped before decoding.
  const s = str(v, field, 4 * Math.ceil(maxBytes / 3));
  let b: Uint8Array;
  try {
    b = decodeBase64Either(s, field);
  } catch (e) {
    throw new FormatError('ERR_BUNDLE_SCHEMA', `bundle: "${field}" is not canonical base64`, { cause: e });
  }
  if (exact !== undefined && b.length !== exact) throw schema(`"${field}" must be ${exact} bytes, got ${b.length}`);
  if (b.length === 0) throw schema(`"${field}" is empty`);
  return b;
}

/** int64 reads a protobuf JSON int64: a decimal string without leading zeros, at most 2^53−1 (exact in JS). */
function int64(v: JsonValue | undefined, field: string): number {
  const s = str(v, field, 16);
  if (!/^(?:0|[1-9][0-9]*)$/.test(s)) throw schema(`"${field}" must be a decimal string without leading zeros`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw schema(`"${field}" is above 2^53−1`);
  return n;
}

function array(v: JsonValue | undefined, field: string, max: number): JsonValue[] {
  if (!Array.isArray(v)) throw schema(`"${field}" must be an array`);
  if (v.length > max) throw new LimitError('ERR_LIMIT_COUNT', `bundle: "${field}" has ${v.length} items, over the cap of ${max}`);
  return v;
}

function parseInclusionProof(v: JsonValue | undefined, field: string): InclusionProof {
  const o = object(v, field, ['logIndex', 'rootHash', 'treeSize', 'hashes', 'checkpoint']);
  const cp = object(o['checkpoint'], `${field}.checkpoint`, ['envelope']);
  const treeSize = int64(o['treeSize'], `${field}.treeSize`);
  const logIndex = int64(o['logIndex'], `${field}.logIndex`);
  if (logIndex >= treeSize) throw schema(`"${field}.logIndex" ${logIndex} is not below treeSize ${treeSize}`);
  return {
    logIndex,
    rootHash: bytes(o['rootHash'], `${field}.rootHash`, 32, 32),
    treeSize,
    hashes: array(o['hashes'] ?? [], `${field}.hashes`, BUNDLE_MAX_PROOF_HASHES).map((h, i) => bytes(h, `${field}.hashes[${i}]`, 32, 32)),
    checkpoint: str(cp['envelope'], `${field}.checkpoint.envelope`, BUNDLE_MAX_CHECKPOINT_CHARS),
  };
}

function parseTlogEntry(v: JsonValue, i: number): TlogEntry {
  const f = `verificationMaterial.tlogEntries[${i}]`;
  const o = object(v, f, ['logIndex', 'logId', 'kindVersion', 'integratedTime', 'inclusionPromise', 'inclusionProof', 'canonicalizedBody']);
  const logId = object(o['logId'], `${f}.logId`, ['keyId']);
  const kv = object(o['kindVersion'], `${f}.kindVersion`, ['kind', 'version']);
  const entry: TlogEntry = {
    logIndex: int64(o['logIndex'], `${f}.logIndex`),
    logId: bytes(logId['keyId'], `${f}.logId.keyId`, 64),
    kind: str(kv['kind'], `${f}.kindVersion.kind`),
    version: str(kv['version'], `${f}.kindVersion.version`),
    // protobuf JSON omits a zero int64; an absent integratedTime is 0.
    integratedTime: o['integratedTime'] === undefined ? 0 : int64(o['integratedTime'], `${f}.integratedTime`),
    canonicalizedBody: bytes(o['canonicalizedBody'], `${f}.canonicalizedBody`, BUNDLE_MAX_BODY_BYTES),
  };
  if (o['inclusionPromise'] !== undefined) {
    const p = object(o['inclusionPromise'], `${f}.inclusionPromise`, ['signedEntryTimestamp']);
    entry.inclusionPromise = bytes(p['signedEntryTimestamp'], `${f}.inclusionPromise.signedEntryTimestamp`, 1024);
  }
  if (o['inclusionProof'] !== undefined) entry.inclusionProof = parseInclusionProof(o['inclusionProof'], `${f}.inclusionProof`);
  // sigstore_bundle.proto: since v0.2 every entry carries an inclusion proof (a promise alone is the v0.1 form).
  if (entry.inclusionProof === undefined) throw schema(`"${f}.inclusionProof" is required in a v0.3 bundle`);
  return entry;
}

function parseKey(vm: JsonObject): BundleKey {
  const forms = ['publicKey', 'certificate', 'x509CertificateChain'].filter((k) => vm[k] !== undefined);
  if (forms.length !== 1) throw schema(`"verificationMaterial" needs exactly one of publicKey, certificate, x509CertificateChain, got ${forms.length}`);
  if (vm['publicKey'] !== undefined) {
    const pk = object(vm['publicKey'], 'verificationMaterial.publicKey', ['hint']);
    // The hint is optional in the proto; absent reads as "" (it is never trusted: keys are found by verification).
    return { type: 'publicKey', hint: pk['hint'] === undefined ? '' : str(pk['hint'], 'verificationMaterial.publicKey.hint') };
  }
  if (vm['certificate'] !== undefined) {
    const c = object(vm['certificate'], 'verificationMaterial.certificate', ['rawBytes']);
    return { type: 'certificate', rawBytes: bytes(c['rawBytes'], 'verificationMaterial.certificate.rawBytes', 64 * 1024) };
  }
  const chain = object(vm['x509CertificateChain'], 'verificationMaterial.x509CertificateChain', ['certificates']);
  const certificates = array(chain['certificates'], 'verificationMaterial.x509CertificateChain.certificates', BUNDLE_MAX_CERTIFICATES).map((c, i) => {
    const f = `verificationMaterial.x509CertificateChain.certificates[${i}]`;
    return bytes(object(c, f, ['rawBytes'])['rawBytes'], `${f}.rawBytes`, 64 * 1024);
  });
  if (certificates.length === 0) throw schema('"verificationMaterial.x509CertificateChain.certificates" is empty');
  return { type: 'x509CertificateChain', certificates };
}

function parseContent(o: JsonObject): BundleContent {
  const forms = ['dsseEnvelope', 'messageSignature'].filter((k) => o[k] !== undefined);
  if (forms.length !== 1) throw schema(`expected exactly one of dsseEnvelope, messageSignature, got ${forms.length}`);
  if (o['dsseEnvelope'] !== undefined) {
    let envelope: DsseEnvelope;
    try {
      envelope = envelopeFromJson(o['dsseEnvelope']);
    } catch (e) {
      if (e instanceof TrustError) throw errorFromCode(e.code, `bundle dsseEnvelope: ${e.message}`, { cause: e });
      throw e;
    }
    // sigstore_bundle.proto: "the DSSE envelope MUST contain exactly one signature" (what every Sigstore verifier
    // checks; a second signature would be invisible to them).
    if (envelope.signatures.length !== 1) throw schema(`"dsseEnvelope" must carry exactly one signature, got ${envelope.signatures.length}`);
    return { type: 'dsseEnvelope', envelope };
  }
  const ms = object(o['messageSignature'], 'messageSignature', ['messageDigest', 'signature']);
  const md = object(ms['messageDigest'], 'messageSignature.messageDigest', ['algorithm', 'digest']);
  return {
    type: 'messageSignature',
    messageSignature: {
      digestAlgorithm: str(md['algorithm'], 'messageSignature.messageDigest.algorithm'),
      digest: bytes(md['digest'], 'messageSignature.messageDigest.digest', 64),
      signature: bytes(ms['signature'], 'messageSignature.signature', 1024),
    },
  };
}

/** bundleFromJson reads a bundle already parsed as JSON. */
export function bundleFromJson(v: JsonValue): SigstoreBundle {
  const o = object(v, 'bundle', ['mediaType', 'verificationMaterial', 'dsseEnvelope', 'messageSignature']);
  const mediaType = str(o['mediaType'], 'mediaType');
  if (mediaType !== BUNDLE_V03_MEDIA_TYPE && mediaType !== BUNDLE_V03_LEGACY_MEDIA_TYPE) {
    throw new FormatError('ERR_BUNDLE_MEDIA_TYPE', `bundle: expected mediaType ${BUNDLE_V03_MEDIA_TYPE}, got "${printable(mediaType, 80)}"`, {
      details: { mediaType: printable(mediaType, 80) },
    });
  }
  const vm = object(o['verificationMaterial'], 'verificationMaterial', ['publicKey', 'certificate', 'x509CertificateChain', 'tlogEntries', 'timestampVerificationData']);
  const bundle: SigstoreBundle = {
    mediaType,
    key: parseKey(vm),
    tlogEntries: array(vm['tlogEntries'] ?? [], 'verificationMaterial.tlogEntries', BUNDLE_MAX_TLOG_ENTRIES).map(parseTlogEntry),
    content: parseContent(o),
  };
  if (vm['timestampVerificationData'] !== undefined) {
    bundle.timestampVerificationData = object(vm['timestampVerificationData'], 'verificationMaterial.timestampVerificationData', ['rfc3161Timestamps']);
  }
  return bundle;
}

/** parseBundle parses a bundle from untrusted bytes (bounded, strict JSON). */
export function parseBundle(input: Uint8Array | string): SigstoreBundle {
  return bundleFromJson(parseJson(input, { maxBytes: BUNDLE_MAX_BYTES, maxDepth: 16, maxValues: 100_000, what: 'Sigstore bundle' }));
}

function tlogEntryToJson(e: TlogEntry): JsonObject {
  const out: JsonObject = {
    logIndex: String(e.logIndex),
    logId: { keyId: encodeBase64(e.logId) },
    kindVersion: { kind: e.kind, version: e.version },
    integratedTime: String(e.integratedTime),
  };
  if (e.inclusionPromise) out['inclusionPromise'] = { signedEntryTimestamp: encodeBase64(e.inclusionPromise) };
  if (e.inclusionProof) {
    const p = e.inclusionProof;
    out['inclusionProof'] = {
      logIndex: String(p.logIndex),
      rootHash: encodeBase64(p.rootHash),
      treeSize: String(p.treeSize),
      hashes: p.hashes.map(encodeBase64),
      checkpoint: { envelope: p.checkpoint },
    };
  }
  out['canonicalizedBody'] = encodeBase64(e.canonicalizedBody);
  return out;
}

/** bundleToJson renders a bundle in the protobuf JSON mapping (field order as the .proto declares it). */
export function bundleToJson(b: SigstoreBundle): JsonObject {
  const vm: JsonObject = {};
  if (b.key.type === 'publicKey') vm['publicKey'] = { hint: b.key.hint };
  else if (b.key.type === 'certificate') vm['certificate'] = { rawBytes: encodeBase64(b.key.rawBytes) };
  else vm['x509CertificateChain'] = { certificates: b.key.certificates.map((c) => ({ rawBytes: encodeBase64(c) })) };
  vm['tlogEntries'] = b.tlogEntries.map(tlogEntryToJson);
  if (b.timestampVerificationData) vm['timestampVerificationData'] = b.timestampVerificationData;
  const out: JsonObject = { mediaType: b.mediaType, verificationMaterial: vm };
  if (b.content.type === 'dsseEnvelope') out['dsseEnvelope'] = envelopeToJson(b.content.envelope);
  else {
    const m = b.content.messageSignature;
    out['messageSignature'] = { messageDigest: { algorithm: m.digestAlgorithm, digest: encodeBase64(m.digest) }, signature: encodeBase64(m.signature) };
  }
  return out;
}

/** formatBundle renders a bundle as indented JSON with a final newline (what `--bundle FILE` writes). */
export function formatBundle(b: SigstoreBundle): string {
  return JSON.stringify(bundleToJson(b), null, 2) + '\n';
}
