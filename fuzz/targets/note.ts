/**
 * fuzz/targets/note — signed notes, checkpoints, cosignatures, note keys and tlog-proof files (src/note): each parsed
 * and opened against the right keys; what parses must format back to the same bytes.
 */
import { hashLeaf, hashReaderFunc, proveInclusion, storedHashes, treeHash } from '../../src/tlog/merkle.ts';
import { cosignCheckpoint, formatCheckpoint, formatProofFile, newCosignatureVerifier, newCosigner, newNoteSigner, newNoteVerifier, openCheckpoint, openNote, parseCheckpoint, parseCosignatureVerifierKey, parseNote, parseProofFile, parseSignerKey, parseVerifierKey, signNote, verifyCosignature, verifyProofFile, formatNote, formatVerifierKey, formatSignerKey, formatCosignatureVerifierKey } from '../../src/note/index.ts';
import { parseNoteKeyText } from '../../src/note/note.ts';
import { key } from '../../test/support/fixtures.ts';
import { lineMutations } from '../structured.ts';
import { dec, enc, expectSame, type FuzzTarget } from '../target.ts';

const ORIGIN = 'example.com/fuzz/log';
const WITNESS = 'example.com/fuzz/witness';
const T = 1_790_000_000;

/** fixture builds a 9-entry log, its signed and cosigned checkpoint and a proof file for entry 4. */
function fixture(): { cpText: string; signed: string; cosigned: string; proof: string; entry: Uint8Array; logV: ReturnType<typeof newNoteVerifier>; cosV: ReturnType<typeof newCosignatureVerifier>; keys: string[] } {
  const logKey = key('fuzz-log');
  const witnessKey = key('fuzz-witness');
  const stored: Uint8Array[] = [];
  const reader = hashReaderFunc((ix) => ix.map((i) => stored[i]!));
  const entries = Array.from({ length: 9 }, (_, i) => enc.encode(`entry ${i}\n`));
  entries.forEach((e, i) => stored.push(...storedHashes(i, hashLeaf(e), reader)));
  const cpText = formatCheckpoint({ origin: ORIGIN, size: 9, rootHash: treeHash(9, reader), extensions: ['ext line'] });
  const signed = signNote(cpText, [newNoteSigner(ORIGIN, logKey)]);
  const cosigned = signed + cosignCheckpoint(cpText, newCosigner(WITNESS, witnessKey), T);
  const proof = formatProofFile({ index: 4, proof: proveInclusion(4, 9, reader), checkpoint: cosigned, extra: enc.encode('extra') });
  const keys = [formatVerifierKey(ORIGIN, logKey.publicKey), formatSignerKey(ORIGIN, logKey), formatCosignatureVerifierKey(WITNESS, witnessKey.publicKey)];
  return { cpText, signed, cosigned, proof, entry: entries[4]!, logV: newNoteVerifier(ORIGIN, logKey.publicKey), cosV: newCosignatureVerifier(WITNESS, witnessKey.publicKey), keys };
}

export const signedNote: FuzzTarget = {
  name: 'signed-note',
  parses: 'signed notes (parseNote, openNote)',
  make() {
    const f = fixture();
    const texts = [f.signed, f.cosigned, signNote('hello\n', [newNoteSigner('a', key('a')), newNoteSigner('b', key('b'))])];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      run(input: Uint8Array) {
        const n = parseNote(input);
        expectSame(formatNote(n) === dec.decode(input), 'formatNote(parseNote(x)) differs from x');
        return openNote(input, [f.logV, f.cosV]);
      },
    });
  },
};

export const checkpoint: FuzzTarget = {
  name: 'checkpoint',
  parses: 'checkpoints (parseCheckpoint, openCheckpoint with cosigners)',
  make() {
    const f = fixture();
    const texts = [f.cosigned, f.signed, f.cpText];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      run(input: Uint8Array) {
        const s = dec.decode(input);
        const blank = s.indexOf('\n\n');
        const text = blank < 0 ? s : s.slice(0, blank + 1);
        try {
          const cp = parseCheckpoint(text);
          expectSame(formatCheckpoint(cp) === text, 'formatCheckpoint(parseCheckpoint(x)) differs from x');
        } finally {
          if (blank >= 0) openCheckpoint(input, f.logV, { cosigners: [f.cosV] });
        }
      },
    });
  },
};

export const cosignature: FuzzTarget = {
  name: 'cosignature',
  parses: 'cosignature/v1 lines (verifyCosignature) and witness keys',
  make() {
    const f = fixture();
    const line = f.cosigned.slice(f.signed.length);
    return Promise.resolve({
      seeds: [enc.encode(line), enc.encode(f.keys[2])],
      structured: lineMutations([line, f.keys[2]!]),
      run(input: Uint8Array) {
        const s = dec.decode(input);
        if (s.startsWith('\u2014')) return verifyCosignature(f.cpText, s, f.cosV, { now: T + 10 });
        return parseCosignatureVerifierKey(s);
      },
    });
  },
};

export const noteKeys: FuzzTarget = {
  name: 'note-keys',
  parses: 'signed-note verifier and signer keys',
  make() {
    const f = fixture();
    return Promise.resolve({
      seeds: f.keys.map((k) => enc.encode(k)),
      structured: lineMutations(f.keys.map((k) => k.replaceAll('+', '\n'))).map((b) => enc.encode(dec.decode(b).replaceAll('\n', '+'))),
      run(input: Uint8Array) {
        const s = dec.decode(input);
        const t = parseNoteKeyText(s);
        if (s.startsWith('PRIVATE+KEY+')) return parseSignerKey(s);
        return [t, parseVerifierKey(s)];
      },
    });
  },
};

export const tlogProof: FuzzTarget = {
  name: 'tlog-proof',
  parses: 'c2sp tlog-proof@v1 files (parse, verify, format round trip)',
  make() {
    const f = fixture();
    const noExtra = f.proof.replace(/^extra .*\n/m, '');
    const texts = [f.proof, noExtra];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: lineMutations(texts),
      run(input: Uint8Array) {
        const p = parseProofFile(input);
        expectSame(formatProofFile(p) === dec.decode(input), 'formatProofFile(parseProofFile(x)) differs from x');
        return verifyProofFile(input, { entry: f.entry }, f.logV, { cosigners: [f.cosV] });
      },
    });
  },
};

