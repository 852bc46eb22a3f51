/**
 * DSSE PAE without a copy (issue 10): parseEnvelope decodes a canonical payload right after room for its PAE head,
 * and pae() uses that memory only while the bytes before the payload are exactly the head for the envelope's
 * CURRENT payloadType and length. Whatever the envelope went through, pae() equals the PAE built from scratch
 * (DSSE protocol.md), so a signature never covers bytes other than "DSSEv1 LEN(type) type LEN(body) body".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatEnvelope, INTOTO_PAYLOAD_TYPE, keysFromPublicKeys, pae, parseEnvelope, signEnvelope, verifyEnvelope } from '../../src/attest/index.ts';
import { assertCode } from '../support/assert.ts';
import { key, NOW } from '../support/fixtures.ts';

function scratchPae(type: string, body: Uint8Array): Buffer {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body]);
}

test('pae of a parsed envelope is the PAE built from scratch, and only while its head still matches', () => {
  const k = key('pae-1');
  const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
  const line = formatEnvelope(signEnvelope(INTOTO_PAYLOAD_TYPE, payload, [k]));
  const keys = keysFromPublicKeys([k.publicKey]);
  const env = parseEnvelope(line);
  assert.deepEqual(Buffer.from(pae(env.payloadType, env.payload)), scratchPae(INTOTO_PAYLOAD_TYPE, payload));
  assert.deepEqual(Buffer.from(verifyEnvelope(env, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW }).payload), payload);

  // Another type with the same payload memory: the head before it no longer matches, so the PAE is rebuilt.
  for (const type of ['application/other', 'application/vnd.in-toto+jsoN', 'typé']) {
    assert.deepEqual(Buffer.from(pae(type, env.payload)), scratchPae(type, env.payload));
    assertCode(() => verifyEnvelope({ ...env, payloadType: type }, { keys, payloadType: type, now: NOW }), 'ERR_DSSE_THRESHOLD_UNMET');
  }
  // A shorter view of the same memory: the head names another length, so it does not match either.
  const shorter = env.payload.subarray(0, env.payload.length - 1);
  assert.deepEqual(Buffer.from(pae(env.payloadType, shorter)), scratchPae(env.payloadType, shorter));

  // The head's memory changed in place: pae() sees it and rebuilds; the signature still verifies over the real PAE.
  const before = new Uint8Array(env.payload.buffer, env.payload.byteOffset - 1, 1);
  const saved = before[0]!;
  before[0] = 0x21;
  assert.deepEqual(Buffer.from(pae(env.payloadType, env.payload)), scratchPae(env.payloadType, env.payload));
  verifyEnvelope(env, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW });
  before[0] = saved;

  // The payload's own bytes changed in place: the PAE is over the changed bytes, so the signature fails.
  env.payload[0] = 0x5b;
  assert.deepEqual(Buffer.from(pae(env.payloadType, env.payload)), scratchPae(env.payloadType, env.payload));
  assertCode(() => verifyEnvelope(env, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW }), 'ERR_DSSE_THRESHOLD_UNMET');
});

test('payloads in URL-safe or unpadded base64 take the general decoder and the same PAE', () => {
  const k = key('pae-2');
  const payload = Buffer.from([0xfb, 0xff, 0xfe, 0x3e, 0x3f]);
  const env = signEnvelope('application/x', payload, [k]);
  const line = formatEnvelope(env);
  const std = payload.toString('base64');
  for (const alt of [payload.toString('base64url'), `${payload.toString('base64url')}=`]) {
    const parsed = parseEnvelope(line.replace(std, alt));
    assert.deepEqual(Buffer.from(parsed.payload), payload);
    assert.deepEqual(Buffer.from(pae(parsed.payloadType, parsed.payload)), scratchPae('application/x', payload));
    verifyEnvelope(parsed, { keys: keysFromPublicKeys([k.publicKey]), payloadType: 'application/x', now: NOW });
  }
  // Non-zero padding bits (the last character's low bits) and stray padding are refused, as before.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = std[std.length - 2]!;
  const flipped = `${std.slice(0, -2)}${alphabet[alphabet.indexOf(last) ^ 1]}=`;
  for (const bad of [flipped, `${std}=`, `${std.slice(0, -1)}`]) assertCode(() => parseEnvelope(line.replace(std, bad)), 'ERR_FORMAT_BASE64');
});
