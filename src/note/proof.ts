/**
 * note/proof — C2SP offline transparency log proofs (c2sp.org/tlog-proof@v1, file extension `.tlog-proof`): the
 * index of an entry, its RFC 6962 inclusion proof, and the signed (and optionally cosigned) checkpoint it is against.
 *
 * Byte for byte (each line ends in "\n"):
 * ```
 * c2sp.org/tlog-proof@v1
 * extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6      optional: "extra", one space, base64 opaque extra data
 * index 73894                                         "index", one space, decimal without leading zeros
 * gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=        zero or more base64 proof hashes, leaf sibling first
 * B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
 *                                                     empty line
 * example.com/fancylog                                the signed checkpoint note, verbatim, to the end of the file
 * 109482
 * sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=
 *
 * — example.com/fancylog hI2DJw…
 * ```
 * A future version would change the header line; this module accepts only `@v1`.
 *
 * Trust boundary: the whole file is attacker-controlled. `parseProofFile` checks syntax and caps (size before
 * parsing, at most {@link MAX_PROOF_FILE_HASHES} hashes, canonical decimal and base64). `verifyProofFile` then follows the
 * spec's verification steps: it computes the leaf hash itself from the entry the caller holds (never from the file),
 * opens the checkpoint with the log key configured for the expected origin, and verifies inclusion. The `extra` data is
 * NOT authenticated: it is returned for the application, which must not trust it implicitly.
 */
import { decodeBase64, encodeBase64 } from '../encoding/bytes.ts';
import { FormatError, LimitError } from '../errors.ts';
import { HASH_BYTES, hashLeaf, verifyInclusion } from '../tlog/merkle.ts';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import { MAX_NOTE_BYTES, parseVerifierKey, type NoteVerifier, type VerifiedNote } from './note.ts';

/** TLOG_PROOF_V1_HEADER is the first line of a tlog-proof@v1 file. */
export const TLOG_PROOF_V1_HEADER = 'c2sp.org/tlog-proof@v1';

/** MAX_PROOF_FILE_HASHES caps the inclusion proof lines (63, as c2sp.org/tlog-witness caps proofs; ours need ≤ 53). */
export const MAX_PROOF_FILE_HASHES = 63;

/** MAX_PROOF_EXTRA_BYTES caps the decoded extra data (64 KiB). */
export const MAX_PROOF_EXTRA_BYTES = 65_536;

/** MAX_PROOF_FILE_BYTES caps a proof file before parsing: the note cap plus the header, extra data and hashes. */
export const MAX_PROOF_FILE_BYTES = MAX_NOTE_BYTES + 128 * 1024;

/** ProofFile is a parsed tlog-proof@v1 file (unverified). */
export interface ProofFile {
  /** index is the entry's zero-based position: 0..2^53−1. */
  readonly index: number;
  /** proof is the RFC 6962 inclusion proof, leaf sibling first, each hash 32 bytes. */
  readonly proof: readonly Uint8Array[];
  /** checkpoint is the signed checkpoint note, verbatim (bytes, to keep signatures byte exact). */
  readonly checkpoint: Uint8Array;
  /** extra is the optional opaque, unauthenticated extra data (1..64 KiB when present). */
  readonly extra?: Uint8Array;
}

/** ProofLeaf names what the proof is about: the entry bytes (hashed here) or its RFC 6962 leaf hash. */
export type ProofLeaf = { readonly entry: Uint8Array } | { readonly leafHash: Uint8Array };

/** VerifyProofFileOptions tunes {@link verifyProofFile}. */
export interface VerifyProofFileOptions {
  /** origin is the expected checkpoint origin; defaults to the log key's name. */
  readonly origin?: string;
  /** cosigners are witness verifiers whose cosignatures are checked and returned (threshold: caller policy). */
  readonly cosigners?: readonly NoteVerifier[];
}

/** VerifiedProofFile is a proof whose checkpoint signature and inclusion verified. */
export interface VerifiedProofFile {
  readonly checkpoint: Checkpoint;
  readonly index: number;
  readonly leafHash: Uint8Array;
  /** note is the opened checkpoint note: `note.verified` lists the log signature and any verified cosignatures. */
  readonly note: VerifiedNote;
  /** extra is the unauthenticated extra data, if the file had any. */
  readonly extra?: Uint8Array;
}

const utf8 = new TextEncoder();
const ascii = new TextDecoder('latin1');

/** ProofFileInput is what {@link formatProofFile} takes: a {@link ProofFile} whose checkpoint may be text. */
export type ProofFileInput = Omit<ProofFile, 'checkpoint'> & { readonly checkpoint: string | Uint8Array };

/** formatProofFile renders a tlog-proof@v1 file. */
export function formatProofFile(p: ProofFileInput): string {
  if (!Number.isSafeInteger(p.index) || p.index < 0) throw malformed(`expected an index from 0 to 2^53−1, got ${String(p.index)}`);
  if (p.proof.length > MAX_PROOF_FILE_HASHES) throw malformed(`expected at most ${MAX_PROOF_FILE_HASHES} proof hashes`);
  for (const h of p.proof) if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) throw malformed('expected 32-byte proof hashes');
  if (p.extra !== undefined && (p.extra.length === 0 || p.extra.length > MAX_PROOF_EXTRA_BYTES)) {
    throw malformed(`expected extra data of 1 to ${MAX_PROOF_EXTRA_BYTES} bytes`);
  }
  if (p.checkpoint.length === 0) throw malformed('the checkpoint is empty');
  let out = TLOG_PROOF_V1_HEADER + '\n';
  // c2sp.org/tlog-proof: the second line MAY be "extra" SP base64(extra data); omitted when there is none.
  if (p.extra !== undefined) out += `extra ${encodeBase64(p.extra)}\n`;
  // c2sp.org/tlog-proof: "index" SP decimal, then one base64 hash per line, then an empty line, then the checkpoint.
  out += `index ${p.index}\n`;
  for (const h of p.proof) out += encodeBase64(h) + '\n';
  out += '\n';
  let checkpoint: string;
  try {
    checkpoint = typeof p.checkpoint === 'string' ? p.checkpoint : new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(p.checkpoint);
  } catch {
    throw malformed('the checkpoint is not valid UTF-8');
  }
  return out + checkpoint;
}

/**
 * parseProofFile parses a tlog-proof@v1 file without verifying it. Throws `FormatError('ERR_TLOG_PROOF_MALFORMED')`
 * and `LimitError('ERR_LIMIT_SIZE')` above {@link MAX_PROOF_FILE_BYTES}.
 */
export function parseProofFile(input: string | Uint8Array): ProofFile {
  if (typeof input === 'string' && input.length > MAX_PROOF_FILE_BYTES) throw tooBig();
  const bytes = typeof input === 'string' ? utf8.encode(input) : input;
  if (!(bytes instanceof Uint8Array)) throw malformed('expected a string or bytes');
  if (bytes.length > MAX_PROOF_FILE_BYTES) throw tooBig();
  let off = 0;
  const nextLine = (what: string): string => {
    const nl = bytes.indexOf(0x0a, off);
    if (nl < 0) throw malformed(`missing ${what} line`);
    const line = ascii.decode(bytes.subarray(off, nl));
    off = nl + 1;
    return line;
  };
  // c2sp.org/tlog-proof: the first line MUST be the string c2sp.org/tlog-proof@v1.
  if (nextLine('header') !== TLOG_PROOF_V1_HEADER) throw malformed(`expected the first line ${TLOG_PROOF_V1_HEADER}`);
  let line = nextLine('index');
  let extra: Uint8Array | undefined;
  if (line.startsWith('extra ')) {
    const b64 = line.slice('extra '.length);
    if (b64.length === 0 || b64.length > Math.ceil(MAX_PROOF_EXTRA_BYTES / 3) * 4) throw malformed('expected 1 to 64 KiB of extra data');
    extra = decode(b64, undefined, 'extra data');
    line = nextLine('index');
  }
  // c2sp.org/tlog-proof: "index" SP ASCII decimal with no leading zeroes; the length cap comes before conversion.
  const m = /^index (0|[1-9][0-9]{0,15})$/.exec(line);
  if (!m) throw malformed('expected "index <decimal>" without leading zeros');
  const index = Number(m[1]);
  if (!Number.isSafeInteger(index)) throw malformed('the index is above 2^53−1');
  const proof: Uint8Array[] = [];
  for (line = nextLine('proof'); line !== ''; line = nextLine('proof')) {
    if (proof.length === MAX_PROOF_FILE_HASHES) throw malformed(`expected at most ${MAX_PROOF_FILE_HASHES} proof hashes`);
    proof.push(decode(line, HASH_BYTES, 'proof hash'));
  }
  // c2sp.org/tlog-proof: after the empty line, the checkpoint verbatim (a copy: the caller's buffer may change).
  const checkpoint = Uint8Array.from(bytes.subarray(off));
  if (checkpoint.length === 0) throw malformed('missing the checkpoint');
  return extra === undefined ? { index, proof, checkpoint } : { index, proof, checkpoint, extra };
}

/**
 * verifyProofFile verifies a tlog-proof@v1 file for an entry the caller holds, against the log's verifier key (text or
 * parsed), and
 * returns the verified checkpoint, index and leaf hash. It opens the checkpoint (log signature required, origin =
 * `options.origin` or the key name), then checks that the entry is at `index` in that tree. Throws the coded errors of
 * `parseProofFile`, `openCheckpoint` and `verifyInclusion` (`ERR_TLOG_INCLUSION_INVALID`, `ERR_TLOG_RANGE`).
 *
 * @example
 * const { checkpoint, index } = verifyProofFile(file, { entry }, 'example.com/log+1a2b3c4d+AX…');
 */
export function verifyProofFile(
  input: string | Uint8Array,
  leaf: ProofLeaf,
  verifierKey: string | NoteVerifier,
  options: VerifyProofFileOptions = {},
): VerifiedProofFile {
  const logVerifier = typeof verifierKey === 'string' ? parseVerifierKey(verifierKey) : verifierKey;
  const file = parseProofFile(input);
  // c2sp.org/tlog-proof "Verifying" 1: compute the leaf hash (from the caller's data, never from the file).
  const leafHash = 'entry' in leaf ? hashLeaf(leaf.entry) : leaf.leafHash;
  // Steps 2–3: the checkpoint is signed by the log key configured for its origin; cosignatures are verified too.
  const { checkpoint, note } = openCheckpoint(file.checkpoint, logVerifier, options);
  // Step 4: the inclusion proof binds the leaf hash to the signed root.
  verifyInclusion(leafHash, file.index, checkpoint.size, file.proof, checkpoint.rootHash);
  const out = { checkpoint, index: file.index, leafHash, note };
  return file.extra === undefined ? out : { ...out, extra: file.extra };
}

function decode(s: string, bytes: number | undefined, what: string): Uint8Array {
  try {
    return decodeBase64(s, bytes, what);
  } catch {
    throw malformed(`expected canonical base64 ${what}${bytes === undefined ? '' : ` of ${bytes} bytes`}`);
  }
}

function malformed(why: string): FormatError {
  return new FormatError('ERR_TLOG_PROOF_MALFORMED', `malformed tlog proof: ${why}`);
}

function tooBig(): LimitError {
  return new LimitError('ERR_LIMIT_SIZE', `expected a tlog proof of at most ${MAX_PROOF_FILE_BYTES} bytes`);
}
