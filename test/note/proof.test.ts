/**
 * note/proof: c2sp.org/tlog-proof@v1 — exact layout, round trip against a real log and signed checkpoint, a
 * negative parse table, and tampering of every part of a proof file.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { formatCheckpoint } from '../../src/note/checkpoint.ts';
import { newCosignatureVerifier, newCosigner } from '../../src/note/cosignature.ts';
import { formatVerifierKey, newNoteSigner, newNoteVerifier, signNote } from '../../src/note/note.ts';
import { MAX_PROOF_FILE_HASHES, formatProofFile, parseProofFile, verifyProofFile } from '../../src/note/proof.ts';
import { hashLeaf, proveInclusion, storedHashes, treeHash, type HashReader } from '../../src/tlog/merkle.ts';
import { assertCode } from '../support/assert.ts';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

class MemoryLog implements HashReader {
  readonly hashes: Uint8Array[] = [];
  size = 0;
  readHashes(indexes: readonly number[]): Uint8Array[] {
    return indexes.map((i) => this.hashes[i]!);
  }
  append(entry: Uint8Array): void {
    for (const h of storedHashes(this.size, hashLeaf(entry), this)) this.hashes.push(h);
    this.size++;
  }
}

const ORIGIN = 'example.com/log';
const logKey = PrivateKey.fromSeed(sha256('log'));
const logV = newNoteVerifier(ORIGIN, logKey.publicKey);
const wKey = PrivateKey.fromSeed(sha256('witness'));
const witness = newCosigner('witness.example/w1', wKey, { unixTime: () => 1_700_000_000 });
const witnessV = newCosignatureVerifier('witness.example/w1', wKey.publicKey);
const entryOf = (i: number): Uint8Array => new TextEncoder().encode(`artifact ${i}`);

const log = new MemoryLog();
for (let i = 0; i < 21; i++) log.append(entryOf(i));
const checkpoint = signNote(
  formatCheckpoint({ origin: ORIGIN, size: log.size, rootHash: treeHash(log.size, log) }),
  [newNoteSigner(ORIGIN, logKey), witness],
);
const proofFor = (i: number, extra?: Uint8Array): string =>
  formatProofFile({ index: i, proof: proveInclusion(i, log.size, log), checkpoint, ...(extra ? { extra } : {}) });

describe('layout', () => {
  test('matches the spec: header, optional extra, index, hashes, blank line, checkpoint verbatim', () => {
    const h1 = sha256('hash1');
    const h2 = sha256('hash2');
    const extra = new TextEncoder().encode('extra information');
    assert.equal(
      formatProofFile({ index: 5, proof: [h1, h2], checkpoint: 'test checkpoint\n' }),
      `c2sp.org/tlog-proof@v1\nindex 5\n${b64(h1)}\n${b64(h2)}\n\ntest checkpoint\n`,
    );
    assert.equal(
      formatProofFile({ index: 10, proof: [h1], checkpoint: 'checkpoint data\n', extra }),
      `c2sp.org/tlog-proof@v1\nextra ${b64(extra)}\nindex 10\n${b64(h1)}\n\ncheckpoint data\n`,
    );
    assert.equal(formatProofFile({ index: 0, proof: [], checkpoint: 'c\n' }), 'c2sp.org/tlog-proof@v1\nindex 0\n\nc\n');
    const p = parseProofFile(`c2sp.org/tlog-proof@v1\nextra ${b64(extra)}\nindex 10\n${b64(h1)}\n\ncheckpoint data\n`);
    assert.equal(p.index, 10);
    assert.deepEqual(p.extra, extra);
    assert.deepEqual(p.proof.map(b64), [b64(h1)]);
    assert.equal(new TextDecoder().decode(p.checkpoint), 'checkpoint data\n');
  });
});

describe('verify', () => {
  test('every entry of a 21-entry log: round trip and verify, with the log key as text or parsed', () => {
    for (let i = 0; i < log.size; i++) {
      const file = proofFor(i);
      const v = verifyProofFile(new TextEncoder().encode(file), { entry: entryOf(i) }, logV);
      assert.equal(v.index, i);
      assert.equal(v.checkpoint.size, 21);
      assert.equal(v.extra, undefined);
      assert.equal(verifyProofFile(file, { leafHash: hashLeaf(entryOf(i)) }, formatVerifierKey(ORIGIN, logKey.publicKey)).index, i);
    }
  });

  test('cosignatures are verified and reported; extra data is returned unauthenticated', () => {
    const extra = Uint8Array.of(1, 2, 3);
    const v = verifyProofFile(proofFor(4, extra), { entry: entryOf(4) }, logV, { cosigners: [witnessV] });
    assert.deepEqual(v.note.verified.map((s) => s.name), [ORIGIN, 'witness.example/w1']);
    assert.deepEqual(v.extra, extra);
  });

  test('tampering with any part of the proof file is refused', () => {
    const i = 6;
    const good = proofFor(i);
    const lines = good.split('\n');
    const proofLine = lines[2]!;
    const flippedHash = Buffer.from(proofLine, 'base64');
    flippedHash[0]! ^= 1;
    const otherKey = newNoteVerifier(ORIGIN, PrivateKey.fromSeed(sha256('other')).publicKey);
    const rows: [string, () => unknown, string][] = [
      ['other entry', () => verifyProofFile(good, { entry: entryOf(i + 1) }, logV), 'ERR_TLOG_INCLUSION_INVALID'],
      ['other index', () => verifyProofFile(good.replace(`index ${i}`, `index ${i + 1}`), { entry: entryOf(i) }, logV), 'ERR_TLOG_INCLUSION_INVALID'],
      ['index beyond the tree', () => verifyProofFile(good.replace(`index ${i}`, 'index 21'), { entry: entryOf(i) }, logV), 'ERR_TLOG_RANGE'],
      ['flipped proof hash', () => verifyProofFile(good.replace(proofLine, flippedHash.toString('base64')), { entry: entryOf(i) }, logV), 'ERR_TLOG_INCLUSION_INVALID'],
      ['dropped proof hash', () => verifyProofFile(good.replace(proofLine + '\n', ''), { entry: entryOf(i) }, logV), 'ERR_TLOG_INCLUSION_INVALID'],
      ['checkpoint size changed', () => verifyProofFile(good.replace('\n21\n', '\n22\n'), { entry: entryOf(i) }, logV), 'ERR_NOTE_SIGNATURE_INVALID'],
      ['other log key', () => verifyProofFile(good, { entry: entryOf(i) }, otherKey), 'ERR_NOTE_UNKNOWN_KEY'],
      ['other origin expected', () => verifyProofFile(good, { entry: entryOf(i) }, logV, { origin: 'example.com/x' }), 'ERR_CHECKPOINT_ORIGIN_MISMATCH'],
      ['signature lines removed', () => verifyProofFile(good.slice(0, good.indexOf('\n\n—') + 1), { entry: entryOf(i) }, logV), 'ERR_NOTE_MALFORMED'],
      ['short leaf hash', () => verifyProofFile(good, { leafHash: new Uint8Array(31) }, logV), 'ERR_TLOG_HASH_LENGTH'],
    ];
    for (const [name, fn, code] of rows) {
      try {
        assertCode(fn, code as 'ERR_TLOG_INCLUSION_INVALID');
      } catch (e) {
        throw new Error(`row "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
  });

  test('negative parse table', () => {
    const h = b64(new Uint8Array(32));
    const tail = '\ncp\n';
    const rows: [string, string | Uint8Array, string][] = [
      ['empty', '', 'ERR_TLOG_PROOF_MALFORMED'],
      ['wrong header', `c2sp.org/tlog-proof@v2\nindex 0\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['header with CR', `c2sp.org/tlog-proof@v1\r\nindex 0\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['missing index', `c2sp.org/tlog-proof@v1\n${h}\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['index leading zero', `c2sp.org/tlog-proof@v1\nindex 01\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['index negative', `c2sp.org/tlog-proof@v1\nindex -1\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['index too long', `c2sp.org/tlog-proof@v1\nindex ${'9'.repeat(17)}\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['index 2^53', `c2sp.org/tlog-proof@v1\nindex 9007199254740992\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['two spaces', `c2sp.org/tlog-proof@v1\nindex  0\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['extra after index', `c2sp.org/tlog-proof@v1\nindex 0\nextra AQ==\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['empty extra', `c2sp.org/tlog-proof@v1\nextra \nindex 0\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['bad extra base64', `c2sp.org/tlog-proof@v1\nextra AQ\nindex 0\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['short hash', `c2sp.org/tlog-proof@v1\nindex 0\n${b64(new Uint8Array(31))}\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['non-canonical hash', `c2sp.org/tlog-proof@v1\nindex 0\n${h.slice(0, 42)}B=\n${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['too many hashes', `c2sp.org/tlog-proof@v1\nindex 0\n${`${h}\n`.repeat(MAX_PROOF_FILE_HASHES + 1)}${tail}`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['no blank line', `c2sp.org/tlog-proof@v1\nindex 0\n${h}\n`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['no checkpoint', `c2sp.org/tlog-proof@v1\nindex 0\n\n`, 'ERR_TLOG_PROOF_MALFORMED'],
      ['oversized', 'x'.repeat(2 * 1024 * 1024), 'ERR_LIMIT_SIZE'],
    ];
    for (const [name, input, code] of rows) {
      try {
        assertCode(() => parseProofFile(input), code as 'ERR_TLOG_PROOF_MALFORMED');
      } catch (e) {
        throw new Error(`row "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
    assert.equal(parseProofFile(`c2sp.org/tlog-proof@v1\nindex 0\n${`${h}\n`.repeat(MAX_PROOF_FILE_HASHES)}${tail}`).proof.length, MAX_PROOF_FILE_HASHES);
  });
});
