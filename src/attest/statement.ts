/**
 * attest/statement — the in-toto Attestation Framework's Statement layer, v1 (in-toto/attestation spec/v1:
 * statement.md, resource_descriptor.md, digest_set.md), carried in DSSE with payloadType application/vnd.in-toto+json.
 *
 * `{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name", "digest": {alg: hex}}], "predicateType": URI,
 * "predicate": {…}}`. Parsing refuses what would make "which artifact does this speak for" ambiguous: no subject, a
 * subject named twice, a subject whose digests are all of algorithms we do not know, and malformed hex for the ones
 * we do. Statement v0.1 (SLSA 0.2 era) is read too; v1 is what Custody writes.
 */
import { parseJsonObject, isJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, LimitError, VerificationError } from '../errors.ts';

export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
/** STATEMENT_MAX_SUBJECTS caps subjects (a release of many files is one statement). */
export const STATEMENT_MAX_SUBJECTS = 100_000;

/**
 * DIGEST_HEX_CHARS: the digest_set.md algorithms whose values are lowercase hex of a fixed length. Others the spec
 * lists (gitCommit, dirHash, …) are kept but never matched against; a subject needs at least one known algorithm.
 */
export const DIGEST_HEX_CHARS: Readonly<Record<string, number>> = {
  sha256: 64,
  sha224: 56,
  sha384: 96,
  sha512: 128,
  sha512_224: 56,
  sha512_256: 64,
  sha3_224: 56,
  sha3_256: 64,
  sha3_384: 96,
  sha3_512: 128,
  sha1: 40,
  md5: 32,
};

/** Subject is one artifact the statement speaks for. */
export interface Subject {
  name: string;
  /** digest maps algorithm to lowercase hex (known algorithms checked; others kept verbatim). */
  digest: Record<string, string>;
}

/** Statement is a parsed in-toto Statement. */
export interface Statement {
  type: string;
  subject: Subject[];
  predicateType: string;
  predicate: JsonObject;
}

function schema(message: string): FormatError {
  return new FormatError('ERR_INTOTO_SCHEMA', message);
}

function parseSubject(v: JsonValue, i: number): Subject {
  if (!isJsonObject(v)) throw schema(`statement: subject ${i} is not an object`);
  const name = v['name'];
  if (typeof name !== 'string' || name === '' || name.length > 4096) throw schema(`statement: subject ${i} needs a "name" string`);
  const digest = v['digest'];
  if (!isJsonObject(digest)) throw schema(`statement: subject "${printable(name, 80)}" needs a "digest" object`);
  const out: Record<string, string> = {};
  let known = 0;
  for (const [alg, value] of Object.entries(digest)) {
    if (typeof value !== 'string' || value.length > 1024) throw schema(`statement: digest "${printable(alg, 40)}" of "${printable(name, 80)}" must be a string`);
    const hexChars = DIGEST_HEX_CHARS[alg];
    if (hexChars !== undefined) {
      if (value.length !== hexChars || !/^[0-9a-f]+$/.test(value)) {
        throw schema(`statement: ${alg} digest of "${printable(name, 80)}" must be ${hexChars} lowercase hex characters`);
      }
      known++;
    }
    out[alg] = value;
  }
  if (known === 0) {
    throw new FormatError('ERR_INTOTO_DIGEST_UNSUPPORTED', `statement: subject "${printable(name, 80)}" has no digest of a known algorithm`, {
      details: { algorithms: Object.keys(out).slice(0, 16) },
    });
  }
  return { name, digest: out };
}

/** statementFromJson checks a statement's shape; `predicate` is kept as JSON for the predicate's own parser. */
export function statementFromJson(v: JsonValue): Statement {
  if (!isJsonObject(v)) throw schema('statement: expected a JSON object');
  const type = v['_type'];
  if (type !== STATEMENT_V1 && type !== STATEMENT_V01) throw schema(`statement: "_type" must be ${STATEMENT_V1}`);
  const subjects = v['subject'];
  if (!Array.isArray(subjects) || subjects.length === 0) throw schema('statement: "subject" must be a non-empty array');
  if (subjects.length > STATEMENT_MAX_SUBJECTS) {
    throw new LimitError('ERR_LIMIT_COUNT', `statement has ${subjects.length} subjects, over the cap of ${STATEMENT_MAX_SUBJECTS}`);
  }
  const subject = subjects.map(parseSubject);
  const names = new Set<string>();
  for (const s of subject) {
    if (names.has(s.name)) throw new FormatError('ERR_INTOTO_SUBJECT_DUPLICATE', `statement: subject "${printable(s.name, 80)}" is listed twice`);
    names.add(s.name);
  }
  const predicateType = v['predicateType'];
  if (typeof predicateType !== 'string' || predicateType === '' || predicateType.length > 1024) {
    throw schema('statement: "predicateType" must be a non-empty URI string');
  }
  const predicate = v['predicate'] ?? {};
  if (!isJsonObject(predicate)) throw schema('statement: "predicate" must be an object');
  return { type, subject, predicateType, predicate };
}

/** parseStatement parses a statement from (verified) payload bytes. */
export function parseStatement(payload: Uint8Array, maxBytes = 32 * 1024 * 1024): Statement {
  return statementFromJson(parseJsonObject(payload, { maxBytes, what: 'in-toto statement', allowFloats: true }));
}

/** statementToJson renders a v1 statement (field order as the spec writes it). */
export function statementToJson(s: Omit<Statement, 'type'>): JsonObject {
  return {
    _type: STATEMENT_V1,
    subject: s.subject.map((x) => ({ name: x.name, digest: { ...x.digest } })),
    predicateType: s.predicateType,
    predicate: s.predicate,
  };
}

/** encodeStatement is the payload Custody signs: the statement as compact JSON, UTF-8. */
export function encodeStatement(s: Omit<Statement, 'type'>): Uint8Array {
  return Buffer.from(JSON.stringify(statementToJson(s)), 'utf8');
}

/**
 * findSubject returns the subject whose sha256 equals `sha256Hex` (and whose name equals `name` when given).
 * Digests are public values; the comparison needs no constant time.
 */
export function findSubject(statement: Statement, sha256Hex: string, name?: string): Subject | undefined {
  return statement.subject.find((s) => s.digest['sha256'] === sha256Hex && (name === undefined || s.name === name));
}

/** requireSubject is findSubject that refuses with ERR_ATTEST_SUBJECT_MISMATCH. */
export function requireSubject(statement: Statement, sha256Hex: string, name?: string): Subject {
  const s = findSubject(statement, sha256Hex, name);
  if (!s) {
    throw new VerificationError(
      'ERR_ATTEST_SUBJECT_MISMATCH',
      `no subject of the ${printable(statement.predicateType, 80)} attestation has sha256:${sha256Hex}${name === undefined ? '' : ` and name "${printable(name, 80)}"`}`,
      { details: { subjects: statement.subject.slice(0, 8).map((x) => x.name) } },
    );
  }
  return s;
}
