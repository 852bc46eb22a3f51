/**
 * attest/dsse — Dead Simple Signing Envelope v1 (secure-systems-lab/dsse: protocol.md, envelope.md).
 *
 * A signature covers PAE(payloadType, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, so the type is
 * authenticated with the bytes. The JSON envelope is `{"payload": b64, "payloadType": s, "signatures": [{"keyid": s,
 * "sig": b64}]}`. On read, both base64 alphabets are accepted (the spec requires it) but each only in its canonical
 * spelling; on write, standard base64. Key ids are unsigned hints: verification finds the key among the ones the
 * caller trusts (trust/threshold, `matchByVerification`) and counts distinct keys, never ids.
 *
 * `.intoto.jsonl` files (the in-toto attestation bundle convention) hold one envelope per line.
 */
import { PublicKey, type Signer } from '../crypto/index.ts';
import { base64DecodedLength, decodeBase64Either, decodeCanonicalBase64Into, encodeBase64 } from '../encoding/bytes.ts';
import { decodeUtf8, isJsonObject, parseJson, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, LimitError, TrustError, VerificationError, errorFromCode } from '../errors.ts';
import { tufKeyId } from '../keys/key-id.ts';
import { countThreshold, type AuthorizedKey, type CandidateSignature, type ThresholdResult } from '../trust/threshold.ts';

/** DSSE_MAX_ENVELOPE_BYTES caps one encoded envelope (an SBOM predicate of a large tree is a few MiB). */
export const DSSE_MAX_ENVELOPE_BYTES = 32 * 1024 * 1024;
/** DSSE_MAX_SIGNATURES caps the signatures of one envelope. */
export const DSSE_MAX_SIGNATURES = 32;
/** DSSE_MAX_SIGNATURE_BYTES caps one decoded signature (RSA-4096 is 512 bytes; Ed25519 64). */
export const DSSE_MAX_SIGNATURE_BYTES = 1024;
/** DSSE_MAX_FIELD_CHARS caps payloadType and keyid. */
export const DSSE_MAX_FIELD_CHARS = 512;
/** JSONL_MAX_ENVELOPES caps the envelopes of one .intoto.jsonl file. */
export const JSONL_MAX_ENVELOPES = 1024;

/** DsseSignature is one signature; keyid is "" when the envelope gives none. */
export interface DsseSignature {
  keyid: string;
  sig: Uint8Array;
}

/** DsseEnvelope is a parsed envelope. Its payload is NOT verified until {@link verifyEnvelope} says so. */
export interface DsseEnvelope {
  payloadType: string;
  payload: Uint8Array;
  signatures: DsseSignature[];
}

/** paeHead is the text of PAE before the body: "DSSEv1 " LEN(type) " " type " " LEN(body) " ". */
function paeHead(payloadType: string, bodyLength: number): string {
  return `DSSEv1 ${Buffer.byteLength(payloadType, 'utf8')} ${payloadType} ${bodyLength} `;
}

/**
 * pae is the pre-authentication encoding of DSSE v1: the exact bytes a signature covers.
 *
 * A payload parseEnvelope decoded sits in memory right after room for its PAE head, written there at parse time.
 * When the bytes before the payload are, right now, exactly this head (compared byte for byte; ASCII heads only),
 * the PAE is that memory: nothing is copied. Otherwise it is built in one new buffer.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const head = paeHead(payloadType, payload.length);
  const headBytes = Buffer.byteLength(head, 'utf8');
  if (payload.byteOffset >= headBytes && headBytes === head.length) {
    const before = Buffer.from(payload.buffer, payload.byteOffset - headBytes, headBytes);
    if (before.toString('latin1') === head) return new Uint8Array(payload.buffer, payload.byteOffset - headBytes, headBytes + payload.length);
  }
  const out = Buffer.allocUnsafe(headBytes + payload.length);
  out.write(head, 0, headBytes, 'utf8');
  out.set(payload, headBytes);
  return out;
}

/**
 * decodePayload decodes an envelope's payload (base64, either alphabet): canonical standard base64 (what DSSE
 * writers use) is decoded into a buffer right after its PAE head, so verification signs over it without a copy
 * (see {@link pae}); anything else goes through decodeBase64Either.
 */
function decodePayload(b64: string, payloadType: string): Uint8Array {
  const n = base64DecodedLength(b64);
  if (n >= 0) {
    const head = paeHead(payloadType, n);
    const headBytes = Buffer.byteLength(head, 'utf8');
    const buf = Buffer.allocUnsafe(headBytes + n);
    buf.write(head, 0, headBytes, 'utf8');
    if (decodeCanonicalBase64Into(b64, buf, headBytes, n)) return new Uint8Array(buf.buffer, buf.byteOffset + headBytes, n);
  }
  return decodeBase64Either(b64, 'envelope payload');
}

function schema(message: string): FormatError {
  return new FormatError('ERR_DSSE_SCHEMA', message);
}

function boundedString(v: JsonValue | undefined, field: string, optional = false): string {
  if (v === undefined && optional) return '';
  if (typeof v !== 'string') throw schema(`envelope: "${field}" must be a string`);
  if (v.length > DSSE_MAX_FIELD_CHARS) throw new LimitError('ERR_LIMIT_SIZE', `envelope: "${field}" is over ${DSSE_MAX_FIELD_CHARS} characters`);
  return v;
}

function envelopeSignature(s: JsonValue, i: number): DsseSignature {
  if (!isJsonObject(s)) throw schema(`envelope: signature ${i} is not an object`);
  for (const k of Object.keys(s)) {
    if (k !== 'keyid' && k !== 'sig') throw schema(`envelope: signature ${i} has unknown field "${printable(k, 40)}"`);
  }
  const keyid = boundedString(s['keyid'], `signatures[${i}].keyid`, true);
  const raw = boundedString(s['sig'], `signatures[${i}].sig`);
  const sig = decodeBase64Either(raw, `envelope signature ${i}`);
  if (sig.length === 0) throw schema(`envelope: signature ${i} is empty`);
  if (sig.length > DSSE_MAX_SIGNATURE_BYTES) throw new LimitError('ERR_LIMIT_SIZE', `envelope: signature ${i} is over ${DSSE_MAX_SIGNATURE_BYTES} bytes`);
  return { keyid, sig };
}

/** envelopeFromJson reads an envelope already parsed as JSON (as nested in a Sigstore bundle). */
export function envelopeFromJson(v: JsonValue): DsseEnvelope {
  if (!isJsonObject(v)) throw schema('envelope: expected a JSON object');
  for (const k of Object.keys(v)) {
    if (k !== 'payload' && k !== 'payloadType' && k !== 'signatures') throw schema(`envelope: unknown field "${printable(k, 40)}"`);
  }
  const payloadType = boundedString(v['payloadType'], 'payloadType');
  if (payloadType === '') throw schema('envelope: "payloadType" is empty');
  if (typeof v['payload'] !== 'string') throw schema('envelope: "payload" must be a base64 string');
  const payload = decodePayload(v['payload'], payloadType);
  const sigs = v['signatures'];
  if (!Array.isArray(sigs) || sigs.length === 0) throw schema('envelope: "signatures" must be a non-empty array');
  if (sigs.length > DSSE_MAX_SIGNATURES) {
    throw new LimitError('ERR_LIMIT_COUNT', `envelope has ${sigs.length} signatures, over the cap of ${DSSE_MAX_SIGNATURES}`);
  }
  const signatures: DsseSignature[] = [];
  for (let i = 0; i < sigs.length; i++) signatures.push(envelopeSignature(sigs[i]!, i));
  return { payloadType, payload, signatures };
}

/** parseEnvelope parses one JSON envelope from untrusted bytes (bounded, strict JSON). */
export function parseEnvelope(input: Uint8Array | string): DsseEnvelope {
  // A string's UTF-8 size is at most 3 bytes per UTF-16 unit: counted exactly only when that bound is over the cap.
  const size = typeof input !== 'string' ? input.length : input.length * 3 <= DSSE_MAX_ENVELOPE_BYTES ? 0 : Buffer.byteLength(input);
  if (size > DSSE_MAX_ENVELOPE_BYTES) {
    throw new LimitError('ERR_LIMIT_SIZE', `envelope is ${size} bytes, over the cap of ${DSSE_MAX_ENVELOPE_BYTES}`);
  }
  return envelopeFromJson(parseJson(input, { maxBytes: DSSE_MAX_ENVELOPE_BYTES, what: 'DSSE envelope' }));
}

/** envelopeToJson renders the envelope as JSON values (standard base64; keyid omitted when empty). */
export function envelopeToJson(env: DsseEnvelope): JsonObject {
  return {
    payload: encodeBase64(env.payload),
    payloadType: env.payloadType,
    signatures: env.signatures.map((s) => (s.keyid === '' ? { sig: encodeBase64(s.sig) } : { keyid: s.keyid, sig: encodeBase64(s.sig) })),
  };
}

/** formatEnvelope renders the envelope as one line of JSON (no trailing newline). */
export function formatEnvelope(env: DsseEnvelope): string {
  return JSON.stringify(envelopeToJson(env));
}

/** signEnvelope signs payload as payloadType with each signer (key ids: TUF key ids, keys/key-id). */
export function signEnvelope(payloadType: string, payload: Uint8Array, signers: readonly Signer[]): DsseEnvelope {
  let env: DsseEnvelope = { payloadType, payload, signatures: [] };
  for (const s of signers) env = addEnvelopeSignature(env, s);
  return env;
}

/** addEnvelopeSignature adds signer's signature, replacing an earlier one by the same key (idempotent per key). */
export function addEnvelopeSignature(env: DsseEnvelope, signer: Signer): DsseEnvelope {
  const keyid = tufKeyId(signer.publicKey);
  const sig = signer.sign(pae(env.payloadType, env.payload));
  return { ...env, signatures: [...env.signatures.filter((s) => s.keyid !== keyid), { keyid, sig }] };
}

/** EnvelopeKeys are the keys a verifier trusts for envelopes and how many must sign. */
export interface EnvelopeKeys {
  authorized: ReadonlyMap<string, AuthorizedKey>;
  threshold: number;
  /** revoked holds TUF key ids that never count. */
  revoked?: ReadonlySet<string>;
}

/** keysFromPublicKeys trusts the given keys, `threshold` of them distinct (default 1). */
export function keysFromPublicKeys(keys: readonly PublicKey[], threshold = 1): EnvelopeKeys {
  const authorized = new Map<string, AuthorizedKey>();
  for (const key of keys) authorized.set(tufKeyId(key), { id: tufKeyId(key), key });
  return { authorized, threshold };
}

export interface VerifyEnvelopeOptions {
  keys: EnvelopeKeys;
  /** payloadType the caller accepts; anything else is refused before its payload is used. */
  payloadType: string;
  now?: Date;
}

/** VerifiedEnvelope: the payload bytes a threshold of distinct trusted keys signed, and who they were. */
export interface VerifiedEnvelope {
  payloadType: string;
  payload: Uint8Array;
  result: ThresholdResult;
}

/**
 * verifyEnvelope counts the envelope's signatures over PAE under the trusted keys (DSSE §Multi-signature
 * Verification) and checks the payloadType. Throws ERR_DSSE_THRESHOLD_UNMET or ERR_DSSE_PAYLOAD_TYPE; on success
 * returns the payload — use only these bytes.
 */
export function verifyEnvelope(env: DsseEnvelope, options: VerifyEnvelopeOptions): VerifiedEnvelope {
  const message = pae(env.payloadType, env.payload);
  const candidates: CandidateSignature[] = env.signatures.map((s) => ({ keyId: s.keyid, algorithm: 'ed25519', signature: s.sig }));
  const result = countThreshold({
    message,
    signatures: candidates,
    authorized: options.keys.authorized,
    threshold: options.keys.threshold,
    revoked: options.keys.revoked ?? new Set(),
    now: options.now ?? new Date(),
    matchByVerification: true,
  });
  if (!result.met) {
    throw new VerificationError('ERR_DSSE_THRESHOLD_UNMET', `envelope signed by ${result.valid.length}/${result.threshold} trusted keys`, {
      details: { valid: result.valid, threshold: result.threshold, rejected: result.rejected },
    });
  }
  requirePayloadType(env.payloadType, options.payloadType);
  return { payloadType: env.payloadType, payload: env.payload, result };
}

/** requirePayloadType refuses (ERR_DSSE_PAYLOAD_TYPE) a payloadType other than the one the caller accepts. */
export function requirePayloadType(payloadType: string, expected: string): void {
  if (payloadType !== expected) {
    throw new FormatError('ERR_DSSE_PAYLOAD_TYPE', `envelope payloadType is "${printable(payloadType, 80)}", expected "${expected}"`);
  }
}

/** parseJsonl reads an .intoto.jsonl file: one envelope per non-empty line. */
export function parseJsonl(input: Uint8Array): DsseEnvelope[] {
  if (input.length > DSSE_MAX_ENVELOPE_BYTES * 4) {
    throw new LimitError('ERR_LIMIT_SIZE', `attestation file is ${input.length} bytes, over the cap of ${DSSE_MAX_ENVELOPE_BYTES * 4}`);
  }
  const lines = decodeUtf8(input, 'attestation file').split('\n');
  const out: DsseEnvelope[] = [];
  for (const [i, line] of lines.entries()) {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() === '') continue;
    if (out.length === JSONL_MAX_ENVELOPES) {
      throw new LimitError('ERR_LIMIT_COUNT', `attestation file holds over ${JSONL_MAX_ENVELOPES} envelopes`);
    }
    try {
      out.push(parseEnvelope(text));
    } catch (e) {
      if (e instanceof TrustError) throw errorFromCode(e.code, `line ${i + 1}: ${e.message}`, { cause: e, ...(e.details ? { details: { ...e.details } } : {}) });
      throw e;
    }
  }
  if (out.length === 0) throw schema('attestation file holds no envelope');
  return out;
}

/** formatJsonl renders envelopes one per line, each line ending in "\n". */
export function formatJsonl(envelopes: readonly DsseEnvelope[]): string {
  return envelopes.map((e) => formatEnvelope(e) + '\n').join('');
}
