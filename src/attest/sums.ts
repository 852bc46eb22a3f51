/**
 * attest/sums — SHA256SUMS files in the format of GNU coreutils `sha256sum` (coreutils manual, "md5sum
 * invocation", and the behaviour of `sha256sum -c` in src/digest.c), read and written byte for byte as it does. Pure
 * and bounded: no I/O here (hashing and checking the listed files is attest/sums-check).
 *
 * Lines written (one per file, each ending in "\n"; NAME is the file name as given, raw bytes):
 *
 *   <64 lowercase hex> SP SP NAME          text mode (the default; GNU makes no difference between the modes)
 *   <64 lowercase hex> SP '*' NAME         binary mode (`--binary`)
 *   "SHA256 (" NAME ") = " <64 hex>        BSD tagged (`--tag`)
 *
 * A NAME holding a backslash, a line feed or a carriage return is escaped (`\\`, `\n`, `\r`) and its line starts
 * with one extra `\` (older coreutils escape only `\\` and `\n`; 9.1, tested here, escapes `\r` too). Nothing else is
 * escaped: other bytes, spaces and UTF-8 are written raw.
 *
 * Reading follows `sha256sum -c` (digest.c `split_3`, `bsd_split_3`, `filename_unescape`) so every file coreutils
 * accepts is accepted: lines starting with `#` and empty lines are skipped; one trailing CR is dropped; leading
 * blanks (SP, TAB) are skipped; the digest is 64 hex digits in either case; the OpenSSL spelling `SHA256(NAME)= hex`
 * is a tagged line too; and the "reversed BSD" form `<hex> NAME` (one blank) is accepted only while no line of the
 * file used the standard form (coreutils' guard against names with leading blanks). A line that does not parse is
 * "improperly formatted": counted and reported as coreutils does, or refused (ERR_SUMS_LINE_MALFORMED) in strict
 * mode. Where Custody is stricter than coreutils, it refuses a whole file: a NUL byte anywhere (coreutils would
 * silently cut an unescaped name at it, checking a different file), and input over the caps below (coded
 * ERR_LIMIT_SIZE / ERR_LIMIT_COUNT).
 *
 * Writing refuses names that would not read back as the same file (ERR_SUMS_NAME_UNREPRESENTABLE): the empty name,
 * `-` (which `sha256sum -c` reads as standard input) and names over SUMS_MAX_NAME_BYTES; every line written is
 * parsed back and compared before it is returned.
 *
 * Signed sums: a DSSE envelope whose payload is the exact bytes of the file, payloadType SHA256SUMS_PAYLOAD_TYPE
 * (`verifySignedSums`); or a detached signature set over the file's SHA-256 (trust/signature-set).
 */
import { FormatError, LimitError, UsageError, VerificationError } from '../errors.ts';
import { verifyEnvelope, type DsseEnvelope, type EnvelopeKeys, type VerifiedEnvelope } from './dsse.ts';

/** SHA256SUMS_PAYLOAD_TYPE is the DSSE payloadType of a signed SHA256SUMS file: the payload is the file's bytes. */
export const SHA256SUMS_PAYLOAD_TYPE = 'application/vnd.custody.sha256sums';
/** SUMS_MAX_BYTES caps a checksum file: 64 MiB is about 800,000 lines of short names. */
export const SUMS_MAX_BYTES = 64 * 1024 * 1024;
/** SUMS_MAX_LINES caps the lines of one file (comments and blank lines count). */
export const SUMS_MAX_LINES = 1_000_000;
/** SUMS_MAX_NAME_BYTES caps one name, unescaped (PATH_MAX on Linux). */
export const SUMS_MAX_NAME_BYTES = 4096;
/** SUMS_MAX_LINE_BYTES caps one line: a name of the cap with every byte escaped, plus the tag, digest and marker. */
export const SUMS_MAX_LINE_BYTES = 2 * SUMS_MAX_NAME_BYTES + 128;
/** SHA256_HEX_CHARS is the length of a digest line's hex field. */
export const SHA256_HEX_CHARS = 64;

/** digest.c MIN_DIGEST_LINE_LENGTH: hex digits + one blank + a one-byte name. */
const MIN_DIGEST_LINE_LENGTH = SHA256_HEX_CHARS + 2;
const TAG = Buffer.from('SHA256', 'ascii');
const BACKSLASH = 0x5c;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const STAR = 0x2a;

/** SumsMode is how a line was written: two blanks (text), blank + `*` (binary), or BSD tagged. */
export type SumsMode = 'text' | 'binary' | 'tagged';

/** SumsEntry is one file of a checksum file. */
export interface SumsEntry {
  /** name is the file name exactly as listed (unescaped raw bytes; usually UTF-8). */
  name: Uint8Array;
  /** sha256 is the digest as lowercase hex. */
  sha256: string;
  mode: SumsMode;
}

/** SumsLine is an entry read from a file, with its 1-based line number. */
export interface SumsLine extends SumsEntry {
  line: number;
}

/** ParsedSums is a checksum file read the way `sha256sum -c` reads it. */
export interface ParsedSums {
  /** entries are the properly formatted lines, in file order (a name may repeat, as in coreutils). */
  entries: SumsLine[];
  /** malformed lists the 1-based numbers of improperly formatted lines. */
  malformed: number[];
}

export interface ParseSumsOptions {
  /** strict refuses the first improperly formatted line (ERR_SUMS_LINE_MALFORMED) instead of counting it. */
  strict?: boolean;
}

const isWhite = (c: number | undefined): boolean => c === SP || c === TAB;
const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** validDigits: exactly 64 hex digits, either case (digest.c `valid_digits`). */
function validDigits(s: Uint8Array): boolean {
  if (s.length !== SHA256_HEX_CHARS) return false;
  for (const c of s) if (!isHex(c)) return false;
  return true;
}

/** unescapeName undoes `\\`, `\n` and `\r`; any other escape, or a trailing lone backslash, is invalid (undefined). */
function unescapeName(s: Uint8Array): Uint8Array | undefined {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== BACKSLASH) {
      out[n++] = c;
      continue;
    }
    if (i === s.length - 1) return undefined;
    const e = s[++i];
    if (e === 0x6e) out[n++] = LF;
    else if (e === 0x72) out[n++] = CR;
    else if (e === BACKSLASH) out[n++] = BACKSLASH;
    else return undefined;
  }
  return new Uint8Array(out.subarray(0, n));
}

/** needsEscape tells whether a name is written escaped (and its line prefixed with `\`): it holds `\`, LF or CR. */
export function needsEscape(name: Uint8Array): boolean {
  return name.includes(BACKSLASH) || name.includes(LF) || name.includes(CR);
}

/** escapeName writes `\` as `\\`, LF as `\n` and CR as `\r`; other bytes unchanged. */
export function escapeName(name: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (const c of name) {
    if (c === BACKSLASH) out.push(BACKSLASH, BACKSLASH);
    else if (c === LF) out.push(BACKSLASH, 0x6e);
    else if (c === CR) out.push(BACKSLASH, 0x72);
    else out.push(c);
  }
  return Uint8Array.from(out);
}

/** Parser state shared by the lines of one file: digest.c's `bsd_reversed` (-1 undecided, 0 standard, 1 reversed). */
interface ParseState {
  bsdReversed: -1 | 0 | 1;
}

/** bsdSplit parses what follows "SHA256 (" or "SHA256(": NAME ") = " HEX, the name ending at the LAST ")". */
function bsdSplit(s: Uint8Array, escaped: boolean): { name: Uint8Array; hex: Uint8Array } | undefined {
  if (s.length === 0) return undefined;
  let i = s.length - 1;
  while (i > 0 && s[i] !== 0x29) i--;
  if (s[i] !== 0x29) return undefined;
  let name: Uint8Array | undefined = s.subarray(0, i);
  if (escaped) name = unescapeName(name);
  if (name === undefined) return undefined;
  i++;
  while (isWhite(s[i])) i++;
  if (s[i] !== 0x3d) return undefined;
  i++;
  while (isWhite(s[i])) i++;
  const hex = s.subarray(i);
  return validDigits(hex) ? { name, hex } : undefined;
}

/** splitLine parses one line (no LF, trailing CR already removed) like digest.c `split_3`; undefined if malformed. */
function splitLine(s: Uint8Array, state: ParseState): SumsEntry | undefined {
  let i = 0;
  while (isWhite(s[i])) i++;
  let escaped = false;
  if (s[i] === BACKSLASH) {
    i++;
    escaped = true;
  }
  // BSD or OpenSSL tagged: "SHA256 (NAME) = HEX" or "SHA256(NAME)= HEX".
  if (Buffer.from(s.buffer, s.byteOffset + i, Math.min(TAG.length, s.length - i)).equals(TAG)) {
    let j = i + TAG.length;
    if (s[j] === SP) j++;
    if (s[j] === 0x28) {
      const r = bsdSplit(s.subarray(j + 1), escaped);
      return r && { name: r.name, sha256: Buffer.from(r.hex).toString('latin1').toLowerCase(), mode: 'tagged' };
    }
  }
  if (s.length - i < MIN_DIGEST_LINE_LENGTH + (s[i] === BACKSLASH ? 1 : 0)) return undefined;
  const start = i;
  while (i < s.length && !isWhite(s[i])) i++;
  // The digest must be followed by at least one blank.
  if (i === s.length) return undefined;
  const hex = s.subarray(start, i);
  i++;
  if (!validDigits(hex)) return undefined;
  let mode: SumsMode = 'text';
  if (s.length - i === 1 || (s[i] !== SP && s[i] !== STAR)) {
    // "Reversed BSD" form (one blank, then the name): never mixed with the standard form, so an attacker cannot
    // rename a file with leading blanks into a line that means another file.
    if (state.bsdReversed === 0) return undefined;
    state.bsdReversed = 1;
  } else if (state.bsdReversed !== 1) {
    state.bsdReversed = 0;
    mode = s[i++] === STAR ? 'binary' : 'text';
  }
  // Every byte between the mode marker and the end of the line is the name, leading and trailing blanks included.
  let name: Uint8Array | undefined = s.subarray(i);
  if (escaped) name = unescapeName(name);
  if (name === undefined) return undefined;
  return { name: new Uint8Array(name), sha256: Buffer.from(hex).toString('latin1').toLowerCase(), mode };
}

/**
 * parseSums reads a checksum file as `sha256sum -c` does (module doc). Throws ERR_LIMIT_SIZE over SUMS_MAX_BYTES or
 * for a line over SUMS_MAX_LINE_BYTES, ERR_LIMIT_COUNT over SUMS_MAX_LINES, ERR_SUMS_NUL_BYTE for a NUL byte, and in
 * strict mode ERR_SUMS_LINE_MALFORMED for an improperly formatted line.
 */
export function parseSums(input: Uint8Array, options: ParseSumsOptions = {}): ParsedSums {
  if (input.length > SUMS_MAX_BYTES) {
    throw new LimitError('ERR_LIMIT_SIZE', `checksum file is ${input.length} bytes, over the cap of ${SUMS_MAX_BYTES}`);
  }
  const nul = input.indexOf(0);
  if (nul >= 0) {
    throw new FormatError('ERR_SUMS_NUL_BYTE', `checksum file holds a NUL byte at offset ${nul}`, { details: { offset: nul } });
  }
  const state: ParseState = { bsdReversed: -1 };
  const entries: SumsLine[] = [];
  const malformed: number[] = [];
  let pos = 0;
  let line = 0;
  while (pos < input.length) {
    line++;
    if (line > SUMS_MAX_LINES) throw new LimitError('ERR_LIMIT_COUNT', `checksum file has more than ${SUMS_MAX_LINES} lines`);
    let end = input.indexOf(LF, pos);
    if (end < 0) end = input.length;
    if (end - pos > SUMS_MAX_LINE_BYTES) {
      throw new LimitError('ERR_LIMIT_SIZE', `checksum file line ${line} is over ${SUMS_MAX_LINE_BYTES} bytes`, { details: { line } });
    }
    let s = input.subarray(pos, end);
    pos = end + 1;
    if (s[0] === 0x23) continue; // a comment: '#' first
    if (s[s.length - 1] === CR) s = s.subarray(0, -1);
    if (s.length === 0) continue;
    const entry = splitLine(s, state);
    if (entry === undefined) {
      if (options.strict) {
        throw new FormatError('ERR_SUMS_LINE_MALFORMED', `checksum file line ${line} is improperly formatted`, { details: { line } });
      }
      malformed.push(line);
      continue;
    }
    entries.push({ ...entry, line });
  }
  return { entries, malformed };
}

/** toNameBytes gives a name's bytes (strings as UTF-8). */
export function toNameBytes(name: Uint8Array | string): Uint8Array {
  return typeof name === 'string' ? new Uint8Array(Buffer.from(name, 'utf8')) : name;
}

/**
 * formatSumsLine writes one entry exactly as `sha256sum` (text, `--binary`) or `sha256sum --tag` does, "\n"
 * included, after checking that it reads back as the same name and digest (ERR_SUMS_NAME_UNREPRESENTABLE if not).
 */
export function formatSumsLine(entry: SumsEntry): Uint8Array {
  const name = entry.name;
  const shown = Buffer.from(name).toString('utf8');
  const refuse = (why: string): never => {
    throw new UsageError('ERR_SUMS_NAME_UNREPRESENTABLE', `cannot list ${JSON.stringify(shown.slice(0, 200))} in a checksum file: ${why}`);
  };
  if (!/^[0-9a-f]{64}$/.test(entry.sha256)) throw new FormatError('ERR_FORMAT_HEX', 'sha256: expected 64 lowercase hex chars');
  if (name.length === 0) refuse('the name is empty');
  if (name.length === 1 && name[0] === 0x2d) refuse('sha256sum -c reads "-" as standard input');
  if (name.length > SUMS_MAX_NAME_BYTES) refuse(`the name is over ${SUMS_MAX_NAME_BYTES} bytes`);
  if (name.includes(0)) refuse('the name holds a NUL byte');
  const esc = needsEscape(name);
  const body = esc ? escapeName(name) : name;
  const prefix = esc ? '\\' : '';
  const line =
    entry.mode === 'tagged'
      ? Buffer.concat([Buffer.from(`${prefix}SHA256 (`), body, Buffer.from(`) = ${entry.sha256}\n`)])
      : Buffer.concat([Buffer.from(`${prefix}${entry.sha256} ${entry.mode === 'binary' ? '*' : ' '}`), body, Buffer.from('\n')]);
  // Round trip: the line must read back, alone, as this very entry.
  const back = parseSums(line).entries[0];
  if (!back || back.sha256 !== entry.sha256 || back.mode !== entry.mode || !Buffer.from(back.name).equals(name)) {
    refuse('it would not read back as the same name');
  }
  return new Uint8Array(line);
}

/** formatSums writes a whole checksum file (one line per entry, in order). */
export function formatSums(entries: readonly SumsEntry[]): Uint8Array {
  return new Uint8Array(Buffer.concat(entries.map(formatSumsLine)));
}

/**
 * verdictName renders a name as `sha256sum -c` prints it before ": OK" / ": FAILED": escaped and prefixed with `\`
 * when it holds `\`, LF or CR, raw otherwise — `print_filename` of coreutils' digest.c as of 2025, before 9.11.
 * (9.1 escapes only names holding LF and prints `\` and CR raw, so a CR could rewrite the terminal line; 9.11
 * shell-quotes names that need it, `'a b': OK`.) Bytes that are not UTF-8 show as U+FFFD (output is a JS string).
 */
export function verdictName(name: Uint8Array): string {
  const esc = needsEscape(name);
  return (esc ? '\\' : '') + Buffer.from(esc ? escapeName(name) : name).toString('utf8');
}

/**
 * verifySignedSums verifies a DSSE envelope over a checksum file BEFORE the file is used: a threshold of distinct
 * trusted keys (ERR_DSSE_THRESHOLD_UNMET), the payloadType (ERR_DSSE_PAYLOAD_TYPE), and payload bytes equal to
 * `fileBytes` (ERR_SUMS_PAYLOAD_MISMATCH). Returns the verified envelope; parse only its payload.
 */
export function verifySignedSums(env: DsseEnvelope, fileBytes: Uint8Array, keys: EnvelopeKeys, now: Date = new Date()): VerifiedEnvelope {
  const v = verifyEnvelope(env, { keys, payloadType: SHA256SUMS_PAYLOAD_TYPE, now });
  if (!Buffer.from(v.payload).equals(Buffer.from(fileBytes))) {
    throw new VerificationError('ERR_SUMS_PAYLOAD_MISMATCH', `the envelope signs ${v.payload.length} bytes that differ from the ${fileBytes.length} bytes of the checksum file`);
  }
  return v;
}
