/**
 * note/checkpoint: c2sp.org/tlog-checkpoint parsing (the spec example, a negative table), formatting, and
 * openCheckpoint (log signature required, origin checked).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from '../../src/note/checkpoint.ts';
import { newCosignatureVerifier, newCosigner } from '../../src/note/cosignature.ts';
import { newNoteSigner, newNoteVerifier, signNote } from '../../src/note/note.ts';
import { assertCode } from '../support/assert.ts';

// c2sp.org/tlog-checkpoint example note text.
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const ROOT = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';

describe('parse and format', () => {
  test('the spec example round trips', () => {
    const cp = parseCheckpoint(SPEC_TEXT);
    assert.equal(cp.origin, 'example.com/behind-the-sofa');
    assert.equal(cp.size, 20852163);
    assert.equal(Buffer.from(cp.rootHash).toString('base64'), ROOT);
    assert.equal(cp.extensions, undefined);
    assert.equal(formatCheckpoint(cp), SPEC_TEXT);
  });

  test('size 0, the largest size, and extension lines', () => {
    assert.equal(parseCheckpoint(`o\n0\n${ROOT}\n`).size, 0);
    assert.equal(parseCheckpoint(`o\n9007199254740991\n${ROOT}\n`).size, Number.MAX_SAFE_INTEGER);
    const withExt = `o\n5\n${ROOT}\next one\n— not a signature\n`;
    const cp = parseCheckpoint(withExt);
    assert.deepEqual(cp.extensions, ['ext one', '— not a signature']);
    assert.equal(formatCheckpoint(cp), withExt);
  });

  test('negative table: one row per malformation', () => {
    const rows: [string, string, string][] = [
      ['empty', '', 'ERR_CHECKPOINT_MALFORMED'],
      ['no final newline', SPEC_TEXT.slice(0, -1), 'ERR_CHECKPOINT_MALFORMED'],
      ['missing root line', 'o\n5\n', 'ERR_CHECKPOINT_MALFORMED'],
      ['missing size and root', 'o\n', 'ERR_CHECKPOINT_MALFORMED'],
      ['empty origin', `\n5\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['leading zero', `o\n05\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['double zero', `o\n00\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['plus sign', `o\n+5\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['negative', `o\n-1\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['exponent', `o\n1e3\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['hex', `o\n0x10\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['space padded', `o\n 5\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['empty size', `o\n\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['2^53', `o\n9007199254740992\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['size too long', `o\n${'9'.repeat(17)}\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['huge size', `o\n${'1'.repeat(100_000)}\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['non-canonical base64 (padding bits)', `o\n5\n${ROOT.slice(0, 42)}J=\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['unpadded base64', `o\n5\n${ROOT.slice(0, -1)}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['url-safe base64', `o\n5\n${ROOT.replace('/', '_')}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['31-byte root', `o\n5\n${Buffer.alloc(31).toString('base64')}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['33-byte root', `o\n5\n${Buffer.alloc(33).toString('base64')}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['empty extension line', `o\n5\n${ROOT}\n\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['carriage return', `o\r\n5\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['control character', `o\x00\n5\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
      ['lone surrogate', `o\ud800\n5\n${ROOT}\n`, 'ERR_CHECKPOINT_MALFORMED'],
    ];
    for (const [name, text, code] of rows) {
      try {
        assertCode(() => parseCheckpoint(text), code as 'ERR_CHECKPOINT_MALFORMED', 'FormatError');
      } catch (e) {
        throw new Error(`row "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
  });

  test('formatCheckpoint refuses what parse would refuse', () => {
    const rootHash = new Uint8Array(32);
    for (const cp of [
      { origin: '', size: 1, rootHash },
      { origin: 'a\nb', size: 1, rootHash },
      { origin: 'a', size: -1, rootHash },
      { origin: 'a', size: 2 ** 53, rootHash },
      { origin: 'a', size: 1.5, rootHash },
      { origin: 'a', size: 1, rootHash: new Uint8Array(31) },
      { origin: 'a', size: 1, rootHash, extensions: [''] },
      { origin: 'a', size: 1, rootHash, extensions: ['x\ny'] },
      { origin: 'a\x01', size: 1, rootHash },
    ]) {
      assertCode(() => formatCheckpoint(cp), 'ERR_CHECKPOINT_MALFORMED');
    }
  });
});

describe('openCheckpoint', () => {
  const logKey = PrivateKey.fromSeed(sha256('log'));
  const log = newNoteSigner('example.com/log', logKey);
  const logV = newNoteVerifier('example.com/log', logKey.publicKey);
  const wKey = PrivateKey.fromSeed(sha256('witness'));
  const witness = newCosigner('witness.example/w1', wKey, { unixTime: () => 1_700_000_000 });
  const witnessV = newCosignatureVerifier('witness.example/w1', wKey.publicKey);
  const text = formatCheckpoint({ origin: 'example.com/log', size: 10, rootHash: new Uint8Array(32).fill(7) });

  test('a log-signed, cosigned checkpoint opens with its cosignature reported', () => {
    const signed = signNote(text, [log, witness]);
    const { checkpoint, note } = openCheckpoint(signed, logV, { cosigners: [witnessV] });
    assert.equal(checkpoint.size, 10);
    assert.deepEqual(note.verified.map((s) => s.name), ['example.com/log', 'witness.example/w1']);
  });

  test('a witness signature alone is not a log signature', () => {
    assertCode(() => openCheckpoint(signNote(text, [witness]), logV, { cosigners: [witnessV] }), 'ERR_NOTE_UNKNOWN_KEY');
  });

  test('the origin must be the configured one', () => {
    const other = signNote(formatCheckpoint({ origin: 'example.com/other', size: 1, rootHash: new Uint8Array(32) }), [log]);
    assertCode(() => openCheckpoint(other, logV), 'ERR_CHECKPOINT_ORIGIN_MISMATCH', 'PolicyError');
    assert.equal(openCheckpoint(other, logV, { origin: 'example.com/other' }).checkpoint.origin, 'example.com/other');
  });

  test('a signed but malformed checkpoint is refused after the signature check', () => {
    assertCode(() => openCheckpoint(signNote('example.com/log\n010\nAAAA\n', [log]), logV), 'ERR_CHECKPOINT_MALFORMED');
  });
});
