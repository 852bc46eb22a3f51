/**
 * Signature refusals no other test reached: a manifest whose trusted signatures no longer verify
 * (ERR_MANIFEST_SIGNATURE_INVALID, not merely "threshold unmet"), a detached signature set below the root's threshold
 * (ERR_SIGSET_THRESHOLD_UNMET), and a trust-root edit naming a key the root does not hold (ERR_TRUST_UNKNOWN_KEY).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { isTrustError } from '../../src/errors.ts';
import { addSetSignature, verifySignatureSet } from '../../src/index.ts';
import { toManifest } from '../../src/manifest/manifest.ts';
import { signManifest } from '../../src/manifest/sign.ts';
import { verifyManifest } from '../../src/manifest/verify.ts';
import { assertCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { NOW, key, manifestOf, rootOf, trusted } from '../support/fixtures.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

const [a, b, c] = [key('a'), key('b'), key('c')] as const;
const root = trusted(rootOf([a, b, c], 2));
const arts = { kernel: { filename: 'vmlinuz', data: new Uint8Array(64).fill(3) } };

test('a manifest changed after two trusted keys signed it is ERR_MANIFEST_SIGNATURE_INVALID', () => {
  const m = signManifest(signManifest(manifestOf(arts), a, { now: NOW }), b, { now: NOW });
  assert.equal(verifyManifest(m, root, { now: NOW }).signers.length, 2);
  // The body changes, the signatures stay: both trusted keys' signatures fail over the new bytes.
  const altered = toManifest({ ...m.body, version: '6.6.6', signatures: m.signatures.map((s) => ({ ...s })) });
  assert.throws(
    () => verifyManifest(altered, root, { now: NOW }),
    (e: unknown) => isTrustError(e) && e.code === 'ERR_MANIFEST_SIGNATURE_INVALID' && e.name === 'VerificationError' && /^signed by 0\/2 keys: 2 signatures/.test(e.message),
  );
  // One altered signature among two good ones still meets the threshold: a bad signature is not fatal by itself.
  const three = signManifest(m, c, { now: NOW });
  const sig = three.signatures[2]!.signature;
  const flipped = { ...three, signatures: [...three.signatures.slice(0, 2), { ...three.signatures[2]!, signature: (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1) }] };
  assert.equal(verifyManifest(flipped, root, { now: NOW }).signers.length, 2);
});

test('a signature set below the root\'s threshold is ERR_SIGSET_THRESHOLD_UNMET; at the threshold it verifies', () => {
  const digest = encodeHex(sha256('package bytes'));
  const one = addSetSignature(undefined, 'app.psp', digest, a);
  assert.throws(
    () => verifySignatureSet(one, digest, root, NOW),
    (e: unknown) => isTrustError(e) && e.code === 'ERR_SIGSET_THRESHOLD_UNMET' && e.message === 'signed by 1/2 keys the trust root authorizes',
  );
  // The same key twice and a key outside the root do not count.
  const again = addSetSignature(addSetSignature(one, 'app.psp', digest, a), 'app.psp', digest, key('stranger'));
  assertCode(() => verifySignatureSet(again, digest, root, NOW), 'ERR_SIGSET_THRESHOLD_UNMET');
  const two = addSetSignature(one, 'app.psp', digest, b);
  assert.equal(verifySignatureSet(two, digest, root, NOW).valid.length, 2);
});

test('trust remove-key and revoke naming a key the root does not hold are ERR_TRUST_UNKNOWN_KEY (exit 2), nothing written', async (t) => {
  const dir = tmpDir(t);
  for (const k of ['r', 'm', 'outsider']) assert.equal((await cli(['keygen', '--output', `${k}.pem`], { cwd: dir })).code, 0);
  const init = await cli(
    ['trust', 'init', '--root-key', 'r.pub', '--root-threshold', '1', '--manifest-key', 'm.pub', '--manifest-threshold', '1', '--sign', 'r.pem', '--output', 'root.json'],
    { cwd: dir },
  );
  assert.equal(init.code, 0, init.stderr);
  const before = listTree(dir);
  for (const verb of ['remove-key', 'revoke']) {
    const r = await cli(['trust', verb, '--trust', 'root.json', '--key', 'outsider.pub', '--output', 'v2.json'], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is not in root version 1 \[ERR_TRUST_UNKNOWN_KEY\]\ncustody: hint: /);
  }
  assert.deepEqual(listTree(dir), before);
});
