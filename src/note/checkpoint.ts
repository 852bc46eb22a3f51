/**
 * note/checkpoint — C2SP transparency log checkpoints (c2sp.org/tlog-checkpoint): the signed note text that commits
 * a log to a tree head.
 *
 * The note text, byte for byte (each line ends in "\n"):
 * ```
 * example.com/behind-the-sofa                      origin: non-empty, the log's identity
 * 20852163                                         tree size: ASCII decimal, no leading zeros ("0" for empty)
 * CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=     root hash: canonical base64 of the 32-byte RFC 6962 root
 * <extension line>…                                optional, opaque, non-empty (NOT RECOMMENDED by the spec)
 * ```
 * A future version of the spec may give extension lines meaning; this module keeps them verbatim and assigns none.
 *
 * Trust boundary: `parseCheckpoint` takes attacker-controlled text and parses it canonically — exactly one spelling
 * per checkpoint (no leading zeros, no "+1", no non-canonical base64), with the size line's length capped BEFORE it is
 * converted (at most 16 digits, value at most 2^53−1, the largest exact JS integer). It does not verify anything: use
 * {@link openCheckpoint}, which opens the signed note with the log's key first and only then parses the text.
 */
import { decodeBase64, encodeBase64 } from '../encoding/bytes.ts';
import { FormatError, LimitError, PolicyError, VerificationError } from '../errors.ts';
import { MAX_NOTE_BYTES, openNote, type NoteVerifier, type VerifiedNote } from './note.ts';

/** MAX_CHECKPOINT_SIZE_DIGITS caps the size line before it is converted (2^53−1 has 16 digits). */
export const MAX_CHECKPOINT_SIZE_DIGITS = 16;

/** Checkpoint is the parsed tree head of a log. */
export interface Checkpoint {
  /** origin identifies the log (non-empty, no newline or control characters). */
  readonly origin: string;
  /** size is the number of entries: 0..2^53−1. */
  readonly size: number;
  /** rootHash is the 32-byte RFC 6962 root of the tree of `size` entries. */
  readonly rootHash: Uint8Array;
  /** extensions are the opaque extension lines, without newlines; absent when there are none. */
  readonly extensions?: readonly string[];
}

/**
 * parseCheckpoint parses a checkpoint note text (the text of the signed note, ending in "\n"). Throws
 * `FormatError('ERR_CHECKPOINT_MALFORMED')` for anything but the canonical form.
 *
 * @example
 * parseCheckpoint('example.com/log\n3\n' + rootBase64 + '\n'); // { origin: 'example.com/log', size: 3, rootHash }
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string') throw malformed('expected text');
  if (text.length > MAX_NOTE_BYTES) throw new LimitError('ERR_LIMIT_SIZE', `expected a checkpoint of at most ${MAX_NOTE_BYTES} characters`);
  checkLineChars(text);
  // c2sp.org/tlog-checkpoint: a sequence of at least three non-empty lines, each terminated by a newline.
  if (!text.endsWith('\n')) throw malformed('expected the text to end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed(`expected at least 3 lines, got ${lines.length}`);
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  // c2sp.org/tlog-checkpoint: 1. the origin MUST be non-empty.
  if (origin.length === 0) throw malformed('the origin line is empty', 1);
  const size = parseSize(sizeLine);
  // c2sp.org/tlog-checkpoint: 3. the root hash, base64 (RFC 4648 §4) of the 32-byte RFC 6962 root; canonical only.
  let rootHash: Uint8Array;
  try {
    rootHash = decodeBase64(rootLine, 32, 'root hash');
  } catch {
    throw malformed('expected the root hash as canonical base64 of 32 bytes', 3);
  }
  // c2sp.org/tlog-checkpoint: 4. extension lines, if any, MUST be non-empty.
  const extensions = lines.slice(3);
  extensions.forEach((e, i) => {
    if (e.length === 0) throw malformed('extension lines must not be empty', 4 + i);
  });
  return extensions.length > 0 ? { origin, size, rootHash, extensions } : { origin, size, rootHash };
}

/** parseSize parses the tree size line: the length cap comes before any conversion. */
function parseSize(line: string): number {
  if (line.length === 0 || line.length > MAX_CHECKPOINT_SIZE_DIGITS) {
    throw malformed(`expected a tree size of 1 to ${MAX_CHECKPOINT_SIZE_DIGITS} digits`, 2);
  }
  // c2sp.org/tlog-checkpoint: 2. ASCII decimal with no leading zeroes (unless the tree is empty: "0").
  if (!/^(?:0|[1-9][0-9]*)$/.test(line)) throw malformed('expected the tree size in decimal without leading zeros', 2);
  const size = Number(line);
  if (!Number.isSafeInteger(size)) throw malformed('the tree size is above 2^53−1', 2);
  return size;
}

/** formatCheckpoint renders the note text of a checkpoint (not signed: pass it to signNote). */
export function formatCheckpoint(cp: Checkpoint): string {
  if (typeof cp.origin !== 'string' || cp.origin.length === 0 || cp.origin.includes('\n')) {
    throw malformed('the origin must be a non-empty single line');
  }
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw malformed(`expected a tree size from 0 to 2^53−1, got ${String(cp.size)}`);
  if (!(cp.rootHash instanceof Uint8Array) || cp.rootHash.length !== 32) throw malformed('expected a 32-byte root hash');
  const ext = cp.extensions ?? [];
  for (const e of ext) {
    if (typeof e !== 'string' || e.length === 0 || e.includes('\n')) throw malformed('extension lines must be non-empty single lines');
  }
  const text = `${cp.origin}\n${cp.size}\n${encodeBase64(cp.rootHash)}\n${ext.map((e) => e + '\n').join('')}`;
  checkLineChars(text);
  return text;
}

/** OpenCheckpointOptions tunes {@link openCheckpoint}. */
export interface OpenCheckpointOptions {
  /** origin is the expected origin line; defaults to the log verifier's key name. */
  readonly origin?: string;
  /**
   * cosigners are witness verifiers (note/cosignature) whose signatures are verified too and returned in
   * `note.verified`; applying a witness threshold is the caller's policy.
   */
  readonly cosigners?: readonly NoteVerifier[];
}

/** OpenedCheckpoint is a checkpoint whose log signature verified. */
export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly note: VerifiedNote;
}

/**
 * openCheckpoint opens a signed checkpoint note: the log's signature must verify (a witness cosignature alone is not
 * enough), then the text is parsed, then the origin is checked. Throws the `openNote` errors,
 * `VerificationError('ERR_NOTE_UNKNOWN_KEY')` when the log key did not sign, `ERR_CHECKPOINT_MALFORMED`, and
 * `PolicyError('ERR_CHECKPOINT_ORIGIN_MISMATCH')`.
 *
 * @example
 * const { checkpoint } = openCheckpoint(body, parseVerifierKey(logKey));
 */
export function openCheckpoint(
  input: string | Uint8Array,
  logVerifier: NoteVerifier,
  options: OpenCheckpointOptions = {},
): OpenedCheckpoint {
  const note = openNote(input, [logVerifier, ...(options.cosigners ?? [])]);
  // Witness keys verify cosignatures over the same text; only the log's own key makes it a checkpoint of that log.
  if (!note.verified.some((s) => s.verifier === logVerifier)) {
    throw new VerificationError('ERR_NOTE_UNKNOWN_KEY', `the checkpoint is not signed by the log key ${logVerifier.name}`);
  }
  const checkpoint = parseCheckpoint(note.text);
  const origin = options.origin ?? logVerifier.name;
  // c2sp.org/tlog-proof "Verifying": check that the origin line is acceptable and signed by a key configured for it.
  if (checkpoint.origin !== origin) {
    throw new PolicyError('ERR_CHECKPOINT_ORIGIN_MISMATCH', `expected a checkpoint of ${origin}, got one of ${checkpoint.origin}`, {
      details: { expected: origin, got: checkpoint.origin },
    });
  }
  return { checkpoint, note };
}

/** checkLineChars refuses control characters other than newline and ill-formed strings (the note text rules). */
function checkLineChars(text: string): void {
  if (!text.isWellFormed()) throw malformed('the text is not valid UTF-8');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) throw malformed(`control character at offset ${i}`);
  }
}

function malformed(why: string, line?: number): FormatError {
  return new FormatError('ERR_CHECKPOINT_MALFORMED', `malformed checkpoint: ${why}${line === undefined ? '' : ` (line ${line})`}`, {
    ...(line === undefined ? {} : { details: { line } }),
  });
}
