/**
 * ui/note — C2SP signed notes (c2sp.org/signed-note), checkpoints (c2sp.org/tlog-checkpoint), witness
 * cosignatures (c2sp.org/tlog-cosignature, listed and, with a known key, verified) and offline proofs
 * (c2sp.org/tlog-proof@v1), for the browser. Same rules as src/note/*; the log key is the verifier key text
 * `name+<8 hex key id>+<base64(0x01 ‖ Ed25519 key)>`.
 *
 * Trust boundary: every input is served by the (untrusted) daemon. Sizes are capped before parsing; nothing parsed
 * is used before the note's signature by the pinned log key verified.
 */
import { UiError } from './errors.ts';
import { concat, ed25519Verify, fromBase64, hex, sha256, utf8 } from './bytes.ts';

/** MAX_NOTE_BYTES caps a note (as src/note/note.ts). */
export const MAX_NOTE_BYTES = 1_000_000;
const MAX_SIGNATURES = 100;

/** VerifierKey is a parsed Ed25519 note verifier key. */
export interface VerifierKey {
  name: string;
  keyId: string;
  publicKey: Uint8Array;
}

/** NOTE_TYPE_ED25519 and NOTE_TYPE_COSIGNATURE_V1 are the signature types of c2sp.org/signed-note and tlog-cosignature. */
export const NOTE_TYPE_ED25519 = 0x01;
export const NOTE_TYPE_COSIGNATURE_V1 = 0x04;

/** parseVerifierKey reads `name+hexid+base64(type ‖ key)` and checks the id is the key's hash (type 0x01 by default). */
export async function parseVerifierKey(text: string, type: number = NOTE_TYPE_ED25519): Promise<VerifierKey> {
  if (text.length > 1024) throw new UiError('verifier key too long');
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text);
  if (!m) throw new UiError('malformed verifier key');
  const raw = fromBase64(m[3]!);
  if (raw.length !== 33 || raw[0] !== type) throw new UiError(type === NOTE_TYPE_ED25519 ? 'not an Ed25519 verifier key' : 'not a cosignature/v1 (type 0x04) witness key');
  const publicKey = raw.slice(1);
  const id = await noteKeyId(m[1]!, type, publicKey);
  if (id !== m[2]) throw new UiError('verifier key id does not match its key');
  return { name: m[1]!, keyId: id, publicKey };
}

/**
 * parseWitnessKey reads a witness's cosignature/v1 verifier key (c2sp.org/tlog-cosignature: type 0x04, as `custody
 * witness serve` prints it).
 */
export function parseWitnessKey(text: string): Promise<VerifierKey> {
  return parseVerifierKey(text, NOTE_TYPE_COSIGNATURE_V1);
}

/** noteKeyId is hex of the first 4 bytes of SHA-256(name ‖ "\n" ‖ type ‖ key). */
export async function noteKeyId(name: string, type: number, key: Uint8Array): Promise<string> {
  return hex((await sha256(concat(utf8(name + '\n'), Uint8Array.of(type), key))).slice(0, 4));
}

/** NoteSignatureLine is one signature line of a note. */
export interface NoteSignatureLine {
  name: string;
  keyId: string;
  /** body is the signature after the 4-byte key id. */
  body: Uint8Array;
}

/** Note is a split signed note (unverified). */
export interface Note {
  text: string;
  signatures: NoteSignatureLine[];
}

/** parseNote splits a signed note into its text and signature lines. */
export function parseNote(s: string): Note {
  if (s.length > MAX_NOTE_BYTES) throw new UiError('note too large');
  const at = s.lastIndexOf('\n\n');
  if (at < 0 || !s.endsWith('\n')) throw new UiError('malformed note: no signature block');
  const text = s.slice(0, at + 1);
  const lines = s.slice(at + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new UiError('too many note signatures');
  const signatures = lines.map((line) => {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new UiError('malformed note signature line');
    const raw = fromBase64(m[2]!);
    if (raw.length < 5) throw new UiError('note signature too short');
    return { name: m[1]!, keyId: hex(raw.slice(0, 4)), body: raw.slice(4) };
  });
  return { text, signatures };
}

/** Checkpoint is a parsed tree head. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
}

/** parseCheckpoint reads the checkpoint text canonically (origin, decimal size, base64 root). */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.slice(0, -1).split('\n');
  if (!text.endsWith('\n') || lines.length < 3 || lines[0] === '') throw new UiError('malformed checkpoint');
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(lines[1]!)) throw new UiError('malformed checkpoint size');
  const size = Number(lines[1]);
  if (!Number.isSafeInteger(size)) throw new UiError('checkpoint size too large');
  return { origin: lines[0]!, size, rootHash: fromBase64(lines[2]!, 32) };
}

/** Cosignature is a witness signature line found on a checkpoint (c2sp.org/tlog-cosignature). */
export interface Cosignature {
  name: string;
  keyId: string;
  /** time is the cosignature's Unix timestamp (seconds). */
  time: number;
  /** verified is true when a witness key given to openCheckpoint verified it; undefined when its key is unknown. */
  verified: boolean | undefined;
}

/** VerifiedCheckpoint is a checkpoint whose log signature verified. */
export interface VerifiedCheckpoint extends Checkpoint {
  text: string;
  note: string;
  cosignatures: Cosignature[];
}

/**
 * openCheckpoint verifies a checkpoint note with the log's verifier key (and lists cosignatures, verifying those
 * whose witness keys are given), then parses it. Throws naming what failed.
 */
export async function openCheckpoint(noteText: string, logKey: VerifierKey, witnesses: readonly VerifierKey[] = []): Promise<VerifiedCheckpoint> {
  const n = parseNote(noteText);
  const msg = utf8(n.text);
  let ok = false;
  const cosignatures: Cosignature[] = [];
  for (const s of n.signatures) {
    if (s.name === logKey.name && s.keyId === logKey.keyId && s.body.length === 64) {
      ok = ok || (await ed25519Verify(logKey.publicKey, s.body, msg));
    } else if (s.body.length === 72) {
      const time = Number(new DataView(s.body.buffer, s.body.byteOffset, 8).getBigUint64(0));
      // A pinned witness key is matched by name and key id (the id hashes the name, type 0x04 and the key).
      const w = witnesses.find((k) => k.name === s.name && k.keyId === s.keyId);
      let verified: boolean | undefined;
      if (w !== undefined) {
        // c2sp.org/tlog-cosignature: the signed message is "cosignature/v1\ntime <T>\n" ‖ the checkpoint text.
        verified = await ed25519Verify(w.publicKey, s.body.slice(8), concat(utf8(`cosignature/v1\ntime ${time}\n`), msg));
      }
      cosignatures.push({ name: s.name, keyId: s.keyId, time, verified });
    }
  }
  if (!ok) throw new UiError(`the checkpoint is not signed by the log key ${logKey.name}+${logKey.keyId}`);
  const cp = parseCheckpoint(n.text);
  if (cp.origin !== logKey.name) throw new UiError(`checkpoint origin ${cp.origin} is not the log ${logKey.name}`);
  return { ...cp, text: n.text, note: noteText, cosignatures };
}

/** ProofFile is a parsed c2sp.org/tlog-proof@v1 file. */
export interface ProofFile {
  index: number;
  proof: Uint8Array[];
  checkpoint: string;
}

/** parseProofFile reads a tlog-proof@v1 file (header, optional extra, index, hashes, blank line, checkpoint note). */
export function parseProofFile(s: string): ProofFile {
  if (s.length > MAX_NOTE_BYTES + 131_072) throw new UiError('proof file too large');
  const at = s.indexOf('\n\n');
  if (at < 0) throw new UiError('malformed proof: no checkpoint');
  const head = s.slice(0, at).split('\n');
  if (head[0] !== 'c2sp.org/tlog-proof@v1') throw new UiError('not a c2sp.org/tlog-proof@v1 file');
  let i = 1;
  if (head[i]?.startsWith('extra ')) i++;
  const m = /^index (0|[1-9][0-9]{0,15})$/.exec(head[i] ?? '');
  if (!m) throw new UiError('malformed proof index');
  const proof = head.slice(i + 1).map((l) => fromBase64(l, 32));
  if (proof.length > 63) throw new UiError('too many proof hashes');
  return { index: Number(m[1]), proof, checkpoint: s.slice(at + 2) };
}
