/**
 * DSSE v1 (secure-systems-lab/dsse protocol.md, envelope.md) and in-toto Statement v1: the spec's own test vector,
 * threshold over distinct keys with untrusted key-id hints, both base64 alphabets, and every malformed shape refused
 * with its code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addEnvelopeSignature,
  DSSE_MAX_SIGNATURES,
  envelopeToJson,
  formatEnvelope,
  formatJsonl,
  INTOTO_PAYLOAD_TYPE,
  keysFromPublicKeys,
  keysFromRoot,
  pae,
  parseEnvelope,
  parseJsonl,
  requireSubject,
  encodeStatement,
  signEnvelope,
  STATEMENT_V1,
  verifyAttestation,
  verifyEnvelope,
  type DsseEnvelope,
} from '../../src/attest/index.ts';
import { P256PublicKey, verifyP256 } from '../../src/crypto/index.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';
import { assertCode } from '../support/assert.ts';
import { key, NOW, rootOf, trusted } from '../support/fixtures.ts';

const HELLO_TYPE = 'http://example.com/HelloWorld';
const HELLO = Buffer.from('hello world');

/** 32-byte big-endian encoding of a decimal coordinate from the spec. */
function coord(decimal: string): Uint8Array {
  return Buffer.from(BigInt(decimal).toString(16).padStart(64, '0'), 'hex');
}

test('DSSE spec vector: PAE bytes are exactly "DSSEv1 29 http://example.com/HelloWorld 11 hello world"', () => {
  assert.equal(Buffer.from(pae(HELLO_TYPE, HELLO)).toString('latin1'), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  // Lengths are byte lengths of the UTF-8 encoding, not character counts.
  assert.equal(Buffer.from(pae('é', Buffer.from('€'))).toString('utf8'), 'DSSEv1 2 é 3 €');
  assert.equal(Buffer.from(pae('t', new Uint8Array())).toString('latin1'), 'DSSEv1 1 t 0 ');
});

test("DSSE spec vector: the spec's ECDSA P-256 envelope parses and its signature verifies over our PAE", () => {
  const env = parseEnvelope(
    '{"payload": "aGVsbG8gd29ybGQ=", "payloadType": "http://example.com/HelloWorld", "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}',
  );
  assert.equal(env.payloadType, HELLO_TYPE);
  assert.deepEqual(Buffer.from(env.payload), HELLO);
  assert.equal(env.signatures[0]!.keyid, '');
  const spk = P256PublicKey.fromCoordinates(
    coord('46950820868899156662930047687818585632848591499744589407958293238635476079160'),
    coord('5640078356564379163099075877009565129882514886557779369047442380624545832820'),
  );
  assert.equal(verifyP256(spk, pae(env.payloadType, env.payload), env.signatures[0]!.sig, 'p1363'), true);
  // One byte of the payload type changed: the PAE changes and the signature no longer verifies.
  assert.equal(verifyP256(spk, pae('http://example.com/HelloWorlD', env.payload), env.signatures[0]!.sig, 'p1363'), false);
});

const a = key('dsse-a');
const b = key('dsse-b');
const c = key('dsse-c');
const outsider = key('dsse-outsider');

test('sign and verify: 2-of-3 counts distinct keys; duplicates, outsiders and wrong key-id hints add nothing', () => {
  const keys = keysFromPublicKeys([a.publicKey, b.publicKey, c.publicKey], 2);
  const one = signEnvelope(INTOTO_PAYLOAD_TYPE, HELLO, [a]);
  assertCode(() => verifyEnvelope(one, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW }), 'ERR_DSSE_THRESHOLD_UNMET', 'VerificationError');
  // The same key twice (under two different ids) still counts once.
  const dup: DsseEnvelope = { ...one, signatures: [one.signatures[0]!, { keyid: 'something-else', sig: one.signatures[0]!.sig }] };
  assertCode(() => verifyEnvelope(dup, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW }), 'ERR_DSSE_THRESHOLD_UNMET');
  // An outsider's signature labelled with b's key id is not b's signature.
  const forged = addEnvelopeSignature(one, outsider);
  forged.signatures[1] = { keyid: tufKeyId(b.publicKey), sig: forged.signatures[1]!.sig };
  assertCode(() => verifyEnvelope(forged, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW }), 'ERR_DSSE_THRESHOLD_UNMET');
  // Two real keys, one with no key id and one with a bogus hint: both found by verification.
  const two = addEnvelopeSignature(one, c);
  const hinted: DsseEnvelope = { ...two, signatures: [{ keyid: '', sig: two.signatures[0]!.sig }, { keyid: 'nobody', sig: two.signatures[1]!.sig }] };
  const v = verifyEnvelope(hinted, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW });
  assert.deepEqual(v.result.valid, [tufKeyId(a.publicKey), tufKeyId(c.publicKey)]);
  assert.deepEqual(Buffer.from(v.payload), HELLO);
});

test('payloadType is authenticated and checked: a wrong type is refused, a changed type breaks the signature', () => {
  const keys = keysFromPublicKeys([a.publicKey]);
  const env = signEnvelope('application/vnd.custody.other+json', HELLO, [a]);
  assertCode(() => verifyEnvelope(env, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW }), 'ERR_DSSE_PAYLOAD_TYPE', 'FormatError');
  assertCode(() => verifyEnvelope({ ...env, payloadType: INTOTO_PAYLOAD_TYPE }, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW }), 'ERR_DSSE_THRESHOLD_UNMET');
  const changed = { ...env, payload: Buffer.from('hello worle') };
  assertCode(() => verifyEnvelope(changed, { keys, payloadType: 'application/vnd.custody.other+json', now: NOW }), 'ERR_DSSE_THRESHOLD_UNMET');
});

test('base64: standard is written; URL-safe (padded or not) is read; non-canonical spellings are refused', () => {
  const env = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from([0xfb, 0xff, 0xfe, 0x01]), [a]);
  const json = envelopeToJson(env) as { payload: string; signatures: Array<{ sig: string }> };
  assert.equal(json.payload, '+//+AQ==');
  const url = { ...json, payload: '-__-AQ', signatures: json.signatures.map((s) => ({ ...s, sig: s.sig.replace(/\+/g, '-').replace(/\//g, '_') })) };
  const back = parseEnvelope(JSON.stringify(url));
  assert.deepEqual(Buffer.from(back.payload), Buffer.from([0xfb, 0xff, 0xfe, 0x01]));
  verifyEnvelope(back, { keys: keysFromPublicKeys([a.publicKey]), payloadType: INTOTO_PAYLOAD_TYPE, now: NOW });
  assert.deepEqual(Buffer.from(parseEnvelope(JSON.stringify({ ...json, payload: '-__-AQ==' })).payload), Buffer.from([0xfb, 0xff, 0xfe, 0x01]));
  // "aGVsbG8=" is "hello"; "aGVsbG9=" decodes to the same bytes with stray padding bits.
  assertCode(() => parseEnvelope(JSON.stringify({ ...json, payload: 'aGVsbG9=' })), 'ERR_FORMAT_BASE64');
  assertCode(() => parseEnvelope(JSON.stringify({ ...json, payload: 'aGVs bG8=' })), 'ERR_FORMAT_BASE64');
  assertCode(() => parseEnvelope(JSON.stringify({ ...json, payload: '+/_-' })), 'ERR_FORMAT_BASE64');
});

test('malformed envelopes: each refused with its code, never a raw exception', () => {
  const good = envelopeToJson(signEnvelope(INTOTO_PAYLOAD_TYPE, HELLO, [a]));
  const cases: Array<[string, string, string]> = [
    ['not json', '{"payload":', 'ERR_FORMAT_JSON'],
    ['array', '[]', 'ERR_DSSE_SCHEMA'],
    ['no payload', JSON.stringify({ ...good, payload: undefined }), 'ERR_DSSE_SCHEMA'],
    ['no payloadType', JSON.stringify({ ...good, payloadType: undefined }), 'ERR_DSSE_SCHEMA'],
    ['empty payloadType', JSON.stringify({ ...good, payloadType: '' }), 'ERR_DSSE_SCHEMA'],
    ['no signatures', JSON.stringify({ ...good, signatures: [] }), 'ERR_DSSE_SCHEMA'],
    ['signature not object', JSON.stringify({ ...good, signatures: ['x'] }), 'ERR_DSSE_SCHEMA'],
    ['unknown field', JSON.stringify({ ...good, payloadtype: 'x' }), 'ERR_DSSE_SCHEMA'],
    ['empty sig', JSON.stringify({ ...good, signatures: [{ sig: '' }] }), 'ERR_DSSE_SCHEMA'],
    ['huge sig', JSON.stringify({ ...good, signatures: [{ sig: Buffer.alloc(2048).toString('base64') }] }), 'ERR_LIMIT_SIZE'],
    ['many sigs', JSON.stringify({ ...good, signatures: Array.from({ length: DSSE_MAX_SIGNATURES + 1 }, () => ({ sig: 'AA==' })) }), 'ERR_LIMIT_COUNT'],
    ['long type', JSON.stringify({ ...good, payloadType: 'x'.repeat(600) }), 'ERR_LIMIT_SIZE'],
  ];
  for (const [, text, code] of cases) assertCode(() => parseEnvelope(text), code as 'ERR_DSSE_SCHEMA');
  assertCode(() => parseEnvelope(Buffer.alloc(33 * 1024 * 1024, 0x20)), 'ERR_LIMIT_SIZE');
});

test('.intoto.jsonl: one envelope per line round-trips; a bad line is named by number', () => {
  const e1 = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from('one'), [a]);
  const e2 = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from('two'), [b]);
  const text = formatJsonl([e1, e2]);
  assert.equal(text.split('\n').length, 3);
  assert.equal(text.split('\n')[0], formatEnvelope(e1));
  const back = parseJsonl(Buffer.from(text + '\n'));
  assert.deepEqual(back.map((e) => Buffer.from(e.payload).toString()), ['one', 'two']);
  let err: unknown;
  try {
    parseJsonl(Buffer.from(formatEnvelope(e1) + '\n{"payload":"x"}\n'));
  } catch (e) {
    err = e;
  }
  assert.match(String((err as Error).message), /^line 2: /);
  assertCode(() => parseJsonl(Buffer.from('\n\n')), 'ERR_DSSE_SCHEMA');
});

test('in-toto Statement v1: field names as the spec writes them, verified through a trust root, subject matched', () => {
  const root = trusted(rootOf([a, b], 2));
  const digest = 'a'.repeat(64);
  const payload = encodeStatement({ subject: [{ name: 'app.tar', digest: { sha256: digest } }], predicateType: 'https://example.com/p/v1', predicate: { x: 1 } });
  assert.deepEqual(Object.keys(JSON.parse(Buffer.from(payload).toString()) as object), ['_type', 'subject', 'predicateType', 'predicate']);
  assert.equal((JSON.parse(Buffer.from(payload).toString()) as { _type: string })._type, STATEMENT_V1);
  const env = signEnvelope(INTOTO_PAYLOAD_TYPE, payload, [a, b]);
  const v = verifyAttestation(env, keysFromRoot(root), NOW);
  assert.equal(v.statement.predicateType, 'https://example.com/p/v1');
  assert.deepEqual(v.signers.sort(), [tufKeyId(a.publicKey), tufKeyId(b.publicKey)].sort());
  assert.equal(requireSubject(v.statement, digest).name, 'app.tar');
  assertCode(() => requireSubject(v.statement, 'b'.repeat(64)), 'ERR_ATTEST_SUBJECT_MISMATCH', 'VerificationError');
  assertCode(() => requireSubject(v.statement, digest, 'other.tar'), 'ERR_ATTEST_SUBJECT_MISMATCH');
  // The root's threshold is 2: one of its keys is not enough.
  assertCode(() => verifyAttestation(signEnvelope(INTOTO_PAYLOAD_TYPE, payload, [a]), keysFromRoot(root), NOW), 'ERR_DSSE_THRESHOLD_UNMET');
});

test('statements that would make "which artifact" ambiguous are refused', () => {
  const keys = keysFromPublicKeys([a.publicKey]);
  const signed = (stmt: unknown): DsseEnvelope => signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(stmt)), [a]);
  const base = { _type: STATEMENT_V1, subject: [{ name: 'a', digest: { sha256: 'a'.repeat(64) } }], predicateType: 'p', predicate: {} };
  assertCode(() => verifyAttestation(signed({ ...base, _type: 'https://in-toto.io/Statement/v2' }), keys), 'ERR_INTOTO_SCHEMA');
  assertCode(() => verifyAttestation(signed({ ...base, subject: [] }), keys), 'ERR_INTOTO_SCHEMA');
  assertCode(() => verifyAttestation(signed({ ...base, predicateType: '' }), keys), 'ERR_INTOTO_SCHEMA');
  assertCode(() => verifyAttestation(signed({ ...base, subject: [base.subject[0], base.subject[0]] }), keys), 'ERR_INTOTO_SUBJECT_DUPLICATE');
  assertCode(() => verifyAttestation(signed({ ...base, subject: [{ name: 'a', digest: { whirlpool: 'ab' } }] }), keys), 'ERR_INTOTO_DIGEST_UNSUPPORTED');
  assertCode(() => verifyAttestation(signed({ ...base, subject: [{ name: 'a', digest: { sha256: 'A'.repeat(64) } }] }), keys), 'ERR_INTOTO_SCHEMA');
  // Unknown algorithms beside a known one are kept, not refused.
  const ok = verifyAttestation(signed({ ...base, subject: [{ name: 'a', digest: { sha256: 'a'.repeat(64), gitCommit: 'c'.repeat(40) } }] }), keys);
  assert.equal(ok.statement.subject[0]!.digest['gitCommit'], 'c'.repeat(40));
});
