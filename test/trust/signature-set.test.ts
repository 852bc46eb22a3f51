/**
 * Signature sets (`custody.signature-set/v1`): key_id is written as the TUF key id and read only as a hint — sets
 * written with the legacy 32-hex ids still verify, and no id, legacy or not, makes a key count that the root does not
 * authorize or that did not sign.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { legacyKeyId, tufKeyId } from '../../src/keys/key-id.ts';
import { addSetSignature, formatSignatureSet, parseSignatureSet, verifySignatureSet, type SignatureSet } from '../../src/trust/signature-set.ts';
import { assertCode } from '../support/assert.ts';
import { NOW, key, rootOf, trusted } from '../support/fixtures.ts';

const [a, b, c] = [key('a'), key('b'), key('c')] as const;
const root = trusted(rootOf([a, b, c], 2));
const digest = 'ab'.repeat(32);

function signedBy(...signers: Array<typeof a>): SignatureSet {
  let set: SignatureSet | undefined;
  for (const s of signers) set = addSetSignature(set, 'app.psp', digest, s);
  return set!;
}

test('signature set key_id is the TUF key id, and the set verifies with it', () => {
  const set = parseSignatureSet(formatSignatureSet(signedBy(a, b)));
  assert.deepEqual(set.signatures.map((s) => s.key_id), [tufKeyId(a.publicKey), tufKeyId(b.publicKey)]);
  assert.deepEqual(verifySignatureSet(set, digest, root, NOW).valid, [tufKeyId(a.publicKey), tufKeyId(b.publicKey)]);
});

test('legacy 32-hex key ids in a signature set are hints: they still verify, and never add a key', () => {
  const set = signedBy(a, b);
  const legacy: SignatureSet = { ...set, signatures: set.signatures.map((s, i) => ({ ...s, key_id: legacyKeyId([a, b][i]!.publicKey) })) };
  const parsed = parseSignatureSet(formatSignatureSet(legacy));
  assert.deepEqual(verifySignatureSet(parsed, digest, root, NOW).valid, [tufKeyId(a.publicKey), tufKeyId(b.publicKey)]);
  // Both entries claiming to be a (by id) while one was made by b: b's public_key does not match a's → refused.
  const misnamed: SignatureSet = { ...set, signatures: set.signatures.map((s) => ({ ...s, key_id: tufKeyId(a.publicKey) })) };
  assertCode(() => verifySignatureSet(misnamed, digest, root, NOW), 'ERR_SIGSET_THRESHOLD_UNMET');
  // A stranger's signature under a trusted key's legacy id, with the stranger's public_key: counted for no one.
  const d = key('d');
  const strangers = signedBy(a, d);
  const relabelled: SignatureSet = { ...strangers, signatures: strangers.signatures.map((s) => (s.public_key === d.publicKey.hex ? { ...s, key_id: legacyKeyId(b.publicKey) } : s)) };
  assertCode(() => verifySignatureSet(relabelled, digest, root, NOW), 'ERR_SIGSET_THRESHOLD_UNMET');
});
