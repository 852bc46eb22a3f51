/**
 * note/cosignature: c2sp.org/tlog-cosignature cosignature/v1 — the signed message byte for byte, the spec example's
 * timestamp, key ids with type 0x04, round trips through cosignCheckpoint and through signNote/openNote, tampering.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrivateKey, sha256, verifyEd25519 } from '../../src/crypto/index.ts';
import { formatCheckpoint } from '../../src/note/checkpoint.ts';
import {
  NOTE_SIG_TYPE_COSIGNATURE_V1,
  cosignCheckpoint,
  cosignatureMessage,
  cosignatureTimestamp,
  formatCosignatureVerifierKey,
  newCosignatureVerifier,
  newCosigner,
  parseCosignatureVerifierKey,
  verifyCosignature,
} from '../../src/note/cosignature.ts';
import { formatVerifierKey, newNoteSigner, noteKeyId, openNote, parseNote, signNote } from '../../src/note/note.ts';
import { assertCode } from '../support/assert.ts';

// c2sp.org/tlog-cosignature example: the checkpoint, and the witness line (key unpublished) whose timestamp is
// the one shown in the spec's signed-message example, 1679315147.
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_WITNESS_LINE =
  '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n';

const wKey = PrivateKey.fromSeed(sha256('witness'));
const NAME = 'witness.example/w1';
const T = 1_700_000_000;

describe('cosignature/v1', () => {
  test('the signed message is byte for byte the spec form', () => {
    const msg = new TextDecoder().decode(cosignatureMessage(SPEC_TEXT, 1679315147));
    assert.equal(msg, 'cosignature/v1\ntime 1679315147\n' + SPEC_TEXT);
    assert.equal(new TextDecoder().decode(cosignatureMessage(SPEC_TEXT, 0)), 'cosignature/v1\ntime 0\n' + SPEC_TEXT);
    assertCode(() => cosignatureMessage(SPEC_TEXT, -1), 'ERR_COSIGNATURE_MALFORMED');
    assertCode(() => cosignatureMessage(SPEC_TEXT, 1.5), 'ERR_COSIGNATURE_MALFORMED');
  });

  test('the spec example line carries the spec example timestamp', () => {
    const sig = parseNote(SPEC_TEXT + '\n' + SPEC_WITNESS_LINE).signatures[0]!;
    assert.equal(sig.signature.length, 72);
    assert.equal(cosignatureTimestamp(sig.signature), 1679315147);
  });

  test('key id uses type byte 0x04; verifier key text round trips and is not a log key', () => {
    const v = newCosignatureVerifier(NAME, wKey.publicKey);
    assert.equal(v.keyId, noteKeyId(NAME, 0x04, wKey.publicKey.raw));
    assert.notEqual(v.keyId, noteKeyId(NAME, 0x01, wKey.publicKey.raw));
    const vkey = formatCosignatureVerifierKey(NAME, wKey.publicKey);
    assert.equal(Buffer.from(vkey.split('+')[2]!, 'base64')[0], NOTE_SIG_TYPE_COSIGNATURE_V1);
    assert.equal(parseCosignatureVerifierKey(vkey).keyId, v.keyId);
    // A log key (type 0x01) is never accepted as a witness key.
    assertCode(() => parseCosignatureVerifierKey(formatVerifierKey(NAME, wKey.publicKey)), 'ERR_KEY_UNSUPPORTED');
    assertCode(() => parseCosignatureVerifierKey(vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), 'ERR_NOTE_KEY_INVALID');
  });

  test('cosignCheckpoint / verifyCosignature round trip; the signature layout is keyid || ts || sig', () => {
    const cosigner = newCosigner(NAME, wKey);
    const v = newCosignatureVerifier(NAME, wKey.publicKey);
    const line = cosignCheckpoint(SPEC_TEXT, cosigner, T);
    assert.ok(line.startsWith(`— ${NAME} `) && line.endsWith('\n'), line);
    assert.deepEqual(verifyCosignature(SPEC_TEXT, line, v), { name: NAME, keyId: v.keyId, timestamp: T });
    const raw = Buffer.from(line.slice(`— ${NAME} `.length, -1), 'base64');
    assert.equal(raw.length, 76);
    assert.equal(raw.readUInt32BE(0), v.keyId);
    assert.equal(Number(raw.readBigUInt64BE(4)), T);
    assert.ok(verifyEd25519(wKey.publicKey, cosignatureMessage(SPEC_TEXT, T), raw.subarray(12)), 'raw ed25519 over the message');
    // Without the trailing newline too.
    assert.equal(verifyCosignature(SPEC_TEXT, line.slice(0, -1), v).timestamp, T);
  });

  test('tampering: other text, other timestamp, other key, flipped bit, malformed lines', () => {
    const cosigner = newCosigner(NAME, wKey);
    const v = newCosignatureVerifier(NAME, wKey.publicKey);
    const line = cosignCheckpoint(SPEC_TEXT, cosigner, T);
    const raw = Buffer.from(line.slice(`— ${NAME} `.length, -1), 'base64');
    const withRaw = (r: Buffer): string => `— ${NAME} ${r.toString('base64')}\n`;
    const otherTs = Buffer.from(raw);
    otherTs.writeBigUInt64BE(BigInt(T + 1), 4);
    const flipped = Buffer.from(raw);
    flipped[40]! ^= 1;
    const hugeTs = Buffer.from(raw);
    hugeTs.writeBigUInt64BE(2n ** 63n - 1n, 4);
    const otherText = SPEC_TEXT.replace('20852163', '20852164');
    const otherV = newCosignatureVerifier(NAME, PrivateKey.fromSeed(sha256('other')).publicKey);
    const rows: [string, () => unknown, string][] = [
      ['other checkpoint', () => verifyCosignature(otherText, line, v), 'ERR_COSIGNATURE_INVALID'],
      ['other timestamp', () => verifyCosignature(SPEC_TEXT, withRaw(otherTs), v), 'ERR_COSIGNATURE_INVALID'],
      ['flipped signature bit', () => verifyCosignature(SPEC_TEXT, withRaw(flipped), v), 'ERR_COSIGNATURE_INVALID'],
      ['other witness key', () => verifyCosignature(SPEC_TEXT, line, otherV), 'ERR_COSIGNATURE_INVALID'],
      ['other name', () => verifyCosignature(SPEC_TEXT, line.replace(NAME, 'witness.example/w2'), v), 'ERR_COSIGNATURE_INVALID'],
      ['timestamp above 2^53', () => verifyCosignature(SPEC_TEXT, withRaw(hugeTs), v), 'ERR_COSIGNATURE_MALFORMED'],
      ['truncated', () => verifyCosignature(SPEC_TEXT, withRaw(raw.subarray(0, 75)), v), 'ERR_COSIGNATURE_MALFORMED'],
      ['hyphen', () => verifyCosignature(SPEC_TEXT, line.replace('—', '-'), v), 'ERR_COSIGNATURE_MALFORMED'],
      ['bad base64', () => verifyCosignature(SPEC_TEXT, line.replace(/=?\n$/, '!\n'), v), 'ERR_COSIGNATURE_MALFORMED'],
      ['two lines', () => verifyCosignature(SPEC_TEXT, line + line, v), 'ERR_COSIGNATURE_MALFORMED'],
      ['not a checkpoint', () => cosignCheckpoint('hello\n', cosigner, T), 'ERR_CHECKPOINT_MALFORMED'],
    ];
    for (const [name, fn, code] of rows) {
      try {
        assertCode(fn, code as 'ERR_COSIGNATURE_INVALID');
      } catch (e) {
        throw new Error(`row "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
  });

  test('future timestamps are refused only when now is given', () => {
    const v = newCosignatureVerifier(NAME, wKey.publicKey);
    const line = cosignCheckpoint(SPEC_TEXT, newCosigner(NAME, wKey), T);
    assert.equal(verifyCosignature(SPEC_TEXT, line, v, { now: T - 60 }).timestamp, T);
    assertCode(() => verifyCosignature(SPEC_TEXT, line, v, { now: T - 61 }), 'ERR_COSIGNATURE_FUTURE', 'PolicyError');
    assertCode(() => verifyCosignature(SPEC_TEXT, line, v, { now: T - 1, maxFutureSeconds: 0 }), 'ERR_COSIGNATURE_FUTURE');
  });

  test('as note signer and verifier: signNote adds it, openNote checks it, the clock is injected', () => {
    const logKey = PrivateKey.fromSeed(sha256('log'));
    const text = formatCheckpoint({ origin: 'example.com/log', size: 3, rootHash: new Uint8Array(32).fill(1) });
    const cosigner = newCosigner(NAME, wKey, { unixTime: () => T + 5 });
    const signed = signNote(text, [newNoteSigner('example.com/log', logKey), cosigner]);
    const v = newCosignatureVerifier(NAME, wKey.publicKey);
    const opened = openNote(signed, [v]);
    assert.equal(opened.verified.length, 1);
    assert.equal(cosignatureTimestamp(opened.verified[0]!.signature), T + 5);
    // The same key as a plain Ed25519 (0x01) note signer has another key id: not accepted as a cosignature.
    const asLog = signNote(text, [newNoteSigner(NAME, wKey)]);
    assertCode(() => openNote(asLog, [v]), 'ERR_NOTE_UNKNOWN_KEY');
    // A forged cosignature by a known witness key rejects the note.
    const forged = signNote(text, [{ name: NAME, keyId: v.keyId, sign: () => new Uint8Array(72) }]);
    assertCode(() => openNote(forged, [v]), 'ERR_NOTE_SIGNATURE_INVALID');
  });
});
