/**
 * note/note — C2SP signed notes (c2sp.org/signed-note, the format of golang.org/x/mod sumdb/note) with Ed25519
 * signatures (signature type 0x01).
 *
 * A signed note, byte for byte (UTF-8, no control characters other than newline):
 * ```
 * <text: one or more lines, the last ending in "\n">
 * "\n"                                              (blank line; the LAST blank line separates text from signatures)
 * "— " <key name> " " base64(key id (4, big-endian) || signature) "\n"     (one or more; "—" is U+2014 em dash)
 * ```
 * Keys (text forms of golang.org/x/mod sumdb/note; key id = SHA-256(name || 0x0A || type || public key)[:4]):
 * ```
 * verifier key   <name>+<key id, 8 lowercase hex>+base64(0x01 || 32-byte Ed25519 public key)
 * signer key     PRIVATE+KEY+<name>+<key id>+base64(0x01 || 32-byte Ed25519 seed)        (secret!)
 * ```
 * Key names are non-empty and contain no Unicode space, no "+" and (our addition, so every note we sign can be
 * opened) no control character. Other signature types (0x04 witness cosignatures: note/cosignature) plug in through
 * the {@link NoteSigner}/{@link NoteVerifier} interfaces; a future version may add post-quantum types the same way.
 *
 * Ed25519 verification follows `ED25519_ACCEPTANCE_RULE` of crypto/ed25519 (RFC 8032 strict, as OpenSSL 3 checks
 * it: canonical S and point encodings, cofactorless equation).
 *
 * Trust boundary (`openNote`): the note bytes are attacker-controlled. They are checked (size cap first, UTF-8,
 * control characters, signature-line syntax, at most {@link MAX_NOTE_SIGNATURES} signatures) before any signature is
 * verified. Signatures from unknown keys — unknown name/key-id pairs — are ignored, as the spec requires, even when
 * they share a name or an id with a known key. Every signature from a known key is verified, and one bad signature
 * rejects the whole note (`ERR_NOTE_SIGNATURE_INVALID`), so a tampered note never passes on the strength of another
 * signature. Repeated signatures by one key count once. The text is returned only when at least one known key
 * verified it (otherwise `ERR_NOTE_UNKNOWN_KEY`).
 */
import { ed25519Seed } from '../crypto/ed25519-seed.ts';
import { PrivateKey, PublicKey, sha256Concat, verifyEd25519, type Signer } from '../crypto/index.ts';
import { decodeBase64, encodeBase64 } from '../encoding/bytes.ts';
import { ConfigError, FormatError, LimitError, VerificationError, isTrustError } from '../errors.ts';

/** NOTE_SIG_TYPE_ED25519 is the signature type byte of plain Ed25519 note signatures (c2sp.org/signed-note). */
export const NOTE_SIG_TYPE_ED25519 = 0x01;

/**
 * MAX_NOTE_BYTES caps a note before parsing: 1 MiB. A checkpoint with a hundred Ed25519 cosignatures is about 10 KiB;
 * the cap leaves room for the ~5 KiB post-quantum signatures the spec warns about.
 */
export const MAX_NOTE_BYTES = 1 << 20;

/** MAX_NOTE_SIGNATURES caps the signature lines of a note (the spec requires accepting at least 16; Go uses 100). */
export const MAX_NOTE_SIGNATURES = 100;

/** MAX_NOTE_KEY_CHARS caps the text form of a key before parsing. */
export const MAX_NOTE_KEY_CHARS = 4096;

const EM_DASH_PREFIX = '\u2014 ';
const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** NoteSigner signs note texts with one key (Go `note.Signer`). */
export interface NoteSigner {
  /** name is the key name written in the signature line. */
  readonly name: string;
  /** keyId is the uint32 key id (0..2^32−1) written before the signature. */
  readonly keyId: number;
  /** sign returns the signature of the note text bytes (without the key id). It must not throw for valid text. */
  sign(text: Uint8Array): Uint8Array;
}

/** NoteVerifier verifies signatures of one key (Go `note.Verifier`). */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  /**
   * verify reports whether `signature` (the bytes after the key id) is valid for the note text bytes. It returns
   * false, never throws, for a malformed signature.
   */
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** Ed25519NoteVerifier is the {@link NoteVerifier} of a type-0x01 key. */
export interface Ed25519NoteVerifier extends NoteVerifier {
  readonly publicKey: PublicKey;
}

/** Ed25519NoteSigner is the {@link NoteSigner} of a type-0x01 key. */
export interface Ed25519NoteSigner extends NoteSigner {
  readonly publicKey: PublicKey;
}

/** NoteSignature is one signature line of a note, parsed but not verified. */
export interface NoteSignature {
  readonly name: string;
  /** keyId: 0..2^32−1. */
  readonly keyId: number;
  /** signature is the signature proper, after the 4-byte key id (at least 1 byte). */
  readonly signature: Uint8Array;
}

/** Note is a note's text and its signatures, parsed but not verified: never act on its text. */
export interface Note {
  /** text ends in "\n" and excludes the separating blank line. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** VerifiedNoteSignature is a signature a known key verified. */
export interface VerifiedNoteSignature extends NoteSignature {
  readonly verifier: NoteVerifier;
}

/** VerifiedNote is what {@link openNote} returns: the text, the verified signatures and the ignored ones. */
export interface VerifiedNote {
  readonly text: string;
  /** verified holds one entry per known key that signed (duplicates count once), in note order. */
  readonly verified: readonly VerifiedNoteSignature[];
  /** unverified holds the signatures of unknown keys (ignored; identical lines once). */
  readonly unverified: readonly NoteSignature[];
}

// ---------------------------------------------------------------------------------------------------------------
// Keys.

/** isValidKeyName reports whether name may name a note key: non-empty, well-formed, no space, "+" or control. */
export function isValidKeyName(name: string): boolean {
  if (typeof name !== 'string' || name.length === 0 || !name.isWellFormed()) return false;
  // c2sp.org/signed-note: key names MUST NOT contain any Unicode spaces or plus (U+002B).
  if (/[\s\u0085+]/u.test(name)) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/**
 * noteKeyId returns the key id SHA-256(name || 0x0A || type || publicKey)[:4] as a uint32 (c2sp.org/signed-note).
 */
export function noteKeyId(name: string, type: number, publicKey: Uint8Array): number {
  // c2sp.org/signed-note: key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]
  const h = sha256Concat(utf8.encode(name), Uint8Array.of(0x0a, type), publicKey);
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

/** NoteKeyText is the parsed text form of a note key (verifier or signer). */
export interface NoteKeyText {
  readonly name: string;
  readonly keyId: number;
  /** type is the signature type byte (0x01 Ed25519, 0x04 cosignature/v1, …). */
  readonly type: number;
  /** key is the key material after the type byte (public key, or seed for signer keys). */
  readonly key: Uint8Array;
}

/**
 * parseNoteKeyText splits `<name>+<hex id>+<base64 type||key>` into its parts (checking syntax only; the caller
 * checks the id against the public key). Used by the typed parsers here and in note/cosignature.
 */
export function parseNoteKeyText(text: string, what = 'verifier key'): NoteKeyText {
  const fail = (why: string): never => {
    // The text may be a secret key: never echo it.
    throw new FormatError('ERR_NOTE_KEY_INVALID', `malformed ${what}: ${why}`);
  };
  if (typeof text !== 'string') return fail('expected a string');
  if (text.length > MAX_NOTE_KEY_CHARS) return fail(`longer than ${MAX_NOTE_KEY_CHARS} characters`);
  const p1 = text.indexOf('+');
  const p2 = p1 < 0 ? -1 : text.indexOf('+', p1 + 1);
  if (p2 < 0) return fail('expected <name>+<key id>+<key>');
  const name = text.slice(0, p1);
  const id = text.slice(p1 + 1, p2);
  if (!isValidKeyName(name)) return fail('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(id)) return fail('expected a key id of 8 lowercase hex digits');
  let raw: Uint8Array;
  try {
    raw = decodeBase64(text.slice(p2 + 1));
  } catch {
    return fail('the key is not canonical base64');
  }
  if (raw.length < 2) return fail('the key is empty');
  return { name, keyId: Number.parseInt(id, 16), type: raw[0]!, key: raw.subarray(1) };
}

/** formatNoteKeyText renders `<name>+<hex id>+base64(type || key)`. */
export function formatNoteKeyText(name: string, keyId: number, type: number, key: Uint8Array): string {
  if (!isValidKeyName(name)) throw new FormatError('ERR_NOTE_KEY_INVALID', 'invalid key name');
  const material = new Uint8Array(1 + key.length);
  material[0] = type;
  material.set(key, 1);
  return `${name}+${keyIdHex(keyId)}+${encodeBase64(material)}`;
}

/** newNoteVerifier returns the Ed25519 (type 0x01) verifier of `publicKey` under `name`. */
export function newNoteVerifier(name: string, publicKey: PublicKey): Ed25519NoteVerifier {
  if (!isValidKeyName(name)) throw new FormatError('ERR_NOTE_KEY_INVALID', 'invalid key name');
  const keyId = noteKeyId(name, NOTE_SIG_TYPE_ED25519, publicKey.raw);
  return {
    name,
    keyId,
    publicKey,
    verify(text, signature) {
      // c2sp.org/signed-note: Ed25519 signatures per RFC 8032 over the note text; anything but 64 bytes is invalid.
      return signature.length === 64 && verifyEd25519(publicKey, text, signature);
    },
  };
}

/** newNoteSigner returns the Ed25519 (type 0x01) signer of `privateKey` (a file key or a token key) under `name`. */
export function newNoteSigner(name: string, privateKey: Signer): Ed25519NoteSigner {
  if (!isValidKeyName(name)) throw new FormatError('ERR_NOTE_KEY_INVALID', 'invalid key name');
  const publicKey = privateKey.publicKey;
  return {
    name,
    keyId: noteKeyId(name, NOTE_SIG_TYPE_ED25519, publicKey.raw),
    publicKey,
    sign: (text) => privateKey.sign(text),
  };
}

/**
 * parseVerifierKey parses an Ed25519 verifier key `<name>+<id>+base64(0x01 || key)`, checking that the id matches.
 * Throws `ERR_NOTE_KEY_INVALID` when malformed or mismatched and `ERR_KEY_UNSUPPORTED` for another type byte (use
 * `parseCosignatureVerifierKey` for witness keys, type 0x04).
 *
 * @example
 * const log = parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
 */
export function parseVerifierKey(text: string): Ed25519NoteVerifier {
  const k = parseNoteKeyText(text);
  if (k.type !== NOTE_SIG_TYPE_ED25519) {
    throw new FormatError('ERR_KEY_UNSUPPORTED', `expected an ed25519 note key (type 0x01), got type 0x${hex2(k.type)}`);
  }
  const publicKey = toPublicKey(k.key);
  const v = newNoteVerifier(k.name, publicKey);
  // c2sp.org/signed-note: the key id is derived from name and key; a mismatch means a corrupted or forged key text.
  if (v.keyId !== k.keyId) throw new FormatError('ERR_NOTE_KEY_INVALID', 'malformed verifier key: the key id does not match');
  return v;
}

/** formatVerifierKey renders the Ed25519 verifier key text of `publicKey` under `name`. */
export function formatVerifierKey(name: string, publicKey: PublicKey): string {
  return formatNoteKeyText(name, noteKeyId(name, NOTE_SIG_TYPE_ED25519, publicKey.raw), NOTE_SIG_TYPE_ED25519, publicKey.raw);
}

/**
 * parseSignerKey parses `PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)`, checking the id against the derived public
 * key. Errors never contain the key text.
 */
export function parseSignerKey(text: string): Ed25519NoteSigner {
  if (typeof text !== 'string' || !text.startsWith(PRIVATE_KEY_PREFIX)) {
    throw new FormatError('ERR_NOTE_KEY_INVALID', 'malformed signer key: expected the PRIVATE+KEY+ prefix');
  }
  const k = parseNoteKeyText(text.slice(PRIVATE_KEY_PREFIX.length), 'signer key');
  if (k.type !== NOTE_SIG_TYPE_ED25519) {
    throw new FormatError('ERR_KEY_UNSUPPORTED', `expected an ed25519 note key (type 0x01), got type 0x${hex2(k.type)}`);
  }
  if (k.key.length !== 32) throw new FormatError('ERR_NOTE_KEY_INVALID', 'malformed signer key: expected a 32-byte seed');
  const signer = newNoteSigner(k.name, PrivateKey.fromSeed(k.key));
  k.key.fill(0);
  if (signer.keyId !== k.keyId) throw new FormatError('ERR_NOTE_KEY_INVALID', 'malformed signer key: the key id does not match');
  return signer;
}

/** formatSignerKey renders the secret signer key text of `privateKey` under `name`; keep it secret. */
export function formatSignerKey(name: string, privateKey: PrivateKey): string {
  const seed = ed25519Seed(privateKey);
  try {
    const id = noteKeyId(name, NOTE_SIG_TYPE_ED25519, privateKey.publicKey.raw);
    return PRIVATE_KEY_PREFIX + formatNoteKeyText(name, id, NOTE_SIG_TYPE_ED25519, seed);
  } finally {
    seed.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Notes.

interface ParsedNote extends Note {
  readonly textBytes: Uint8Array;
}

/**
 * parseNote checks the syntax of a signed note and splits it into text and signatures without verifying anything.
 * Throws `FormatError('ERR_NOTE_MALFORMED')`, or `LimitError` (`ERR_LIMIT_SIZE`, `ERR_LIMIT_COUNT`) past the caps.
 */
export function parseNote(input: string | Uint8Array): Note {
  const { text, signatures } = parseNoteInternal(input);
  return { text, signatures };
}

function parseNoteInternal(input: string | Uint8Array): ParsedNote {
  const bytes = noteBytes(input, 'note');
  // c2sp.org/signed-note: the text is separated from the signatures by the last empty line.
  const split = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).lastIndexOf('\n\n');
  if (split < 0) throw malformed('expected a blank line before the signatures');
  const textBytes = bytes.subarray(0, split + 1);
  const sigBytes = bytes.subarray(split + 2);
  if (sigBytes.length === 0 || sigBytes[sigBytes.length - 1] !== 0x0a) {
    throw malformed('expected at least one signature line ending in a newline');
  }
  const lines = strictUtf8.decode(sigBytes).slice(0, -1).split('\n');
  // Count before decoding anything: bounds the work an attacker can cause.
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new LimitError('ERR_LIMIT_COUNT', `expected at most ${MAX_NOTE_SIGNATURES} signatures, got ${lines.length}`);
  }
  const signatures = lines.map((line, i) => parseSignatureLine(line, i));
  return { text: strictUtf8.decode(textBytes), textBytes, signatures };
}

/** parseSignatureLine parses `— <name> <base64>` (without the newline). */
function parseSignatureLine(line: string, i: number): NoteSignature {
  // c2sp.org/signed-note: em dash (U+2014), space, key name, space, base64-encoded signature, newline.
  if (!line.startsWith(EM_DASH_PREFIX)) throw malformed(`signature line ${i + 1} does not start with "— "`);
  const rest = line.slice(EM_DASH_PREFIX.length);
  const sp = rest.indexOf(' ');
  if (sp < 0) throw malformed(`signature line ${i + 1}: expected "— <name> <base64>"`);
  const name = rest.slice(0, sp);
  if (!isValidKeyName(name)) throw malformed(`signature line ${i + 1}: invalid key name`);
  let raw: Uint8Array;
  try {
    raw = decodeBase64(rest.slice(sp + 1));
  } catch {
    throw malformed(`signature line ${i + 1}: the signature is not canonical base64`);
  }
  // c2sp.org/signed-note: 4-byte big-endian key ID, then at least one byte of signature.
  if (raw.length < 5) throw malformed(`signature line ${i + 1}: expected a key id and a signature, got ${raw.length} bytes`);
  const keyId = ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0;
  return { name, keyId, signature: raw.subarray(4) };
}

/**
 * formatNote renders a note from its text and at least one signature. Checks the text rules and the caps, so that
 * every note it writes can be opened.
 */
export function formatNote(note: Note): string {
  checkText(note.text);
  if (note.signatures.length === 0) throw malformed('a signed note needs at least one signature');
  if (note.signatures.length > MAX_NOTE_SIGNATURES) {
    throw new LimitError('ERR_LIMIT_COUNT', `expected at most ${MAX_NOTE_SIGNATURES} signatures, got ${note.signatures.length}`);
  }
  let out = note.text + '\n';
  for (const s of note.signatures) out += formatSignatureLine(s);
  if (utf8.encode(out).length > MAX_NOTE_BYTES) {
    throw new LimitError('ERR_LIMIT_SIZE', `expected a note of at most ${MAX_NOTE_BYTES} bytes`);
  }
  return out;
}

/** formatSignatureLine renders one signature line, `— <name> base64(keyId || signature)\n`. */
export function formatSignatureLine(sig: NoteSignature): string {
  if (!isValidKeyName(sig.name)) throw malformed('invalid key name in a signature');
  if (!Number.isInteger(sig.keyId) || sig.keyId < 0 || sig.keyId > 0xffffffff) throw malformed('key id is not a uint32');
  if (!(sig.signature instanceof Uint8Array) || sig.signature.length === 0) throw malformed('empty signature');
  const raw = new Uint8Array(4 + sig.signature.length);
  new DataView(raw.buffer).setUint32(0, sig.keyId);
  raw.set(sig.signature, 4);
  return `${EM_DASH_PREFIX}${sig.name} ${encodeBase64(raw)}\n`;
}

/**
 * signNote signs `note` (a text, or a parsed note whose signatures are kept) with each signer and returns the signed
 * note. A kept signature by the same name and key id as a signer is replaced, as in Go's `note.Sign`.
 *
 * @example
 * const signed = signNote(formatCheckpoint(cp), [newNoteSigner('example.com/log', key)]);
 */
export function signNote(note: string | Note, signers: readonly NoteSigner[]): string {
  const text = typeof note === 'string' ? note : note.text;
  const kept = typeof note === 'string' ? [] : note.signatures;
  const textBytes = checkText(text);
  const fresh: NoteSignature[] = signers.map((s) => {
    const signature = s.sign(textBytes);
    if (!(signature instanceof Uint8Array)) throw new Error('note: signer returned no bytes');
    return { name: s.name, keyId: s.keyId, signature };
  });
  const replaced = (k: NoteSignature): boolean => fresh.some((f) => f.name === k.name && f.keyId === k.keyId);
  return formatNote({ text, signatures: [...kept.filter((k) => !replaced(k)), ...fresh] });
}

/**
 * openNote verifies a signed note against the known keys and returns its text with the signatures that verified.
 * Unknown keys are ignored. Throws `VerificationError` — `ERR_NOTE_SIGNATURE_INVALID` when a known key's signature
 * fails, `ERR_NOTE_UNKNOWN_KEY` when no known key signed — `FormatError('ERR_NOTE_MALFORMED')` or `LimitError` for
 * malformed or oversized input, and `ConfigError('ERR_CONFIG_INVALID')` when two known keys share name and id.
 *
 * @example
 * const { text } = openNote(bytes, [parseVerifierKey(vkey)]);
 */
export function openNote(input: string | Uint8Array, verifiers: readonly NoteVerifier[]): VerifiedNote {
  const known = new Map<string, NoteVerifier>();
  for (const v of verifiers) {
    const key = `${v.name}+${keyIdHex(v.keyId)}`;
    if (known.has(key)) {
      // Two configured keys with one name and id: the configuration is ambiguous (Go ambiguousVerifierError).
      throw new ConfigError('ERR_CONFIG_INVALID', `two verifier keys share the name and key id ${key}`);
    }
    known.set(key, v);
  }
  const note = parseNoteInternal(input);
  const verified: VerifiedNoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seenVerified = new Set<string>();
  const seenUnverified = new Set<string>();
  for (const sig of note.signatures) {
    const key = `${sig.name}+${keyIdHex(sig.keyId)}`;
    const v = known.get(key);
    if (v === undefined) {
      // c2sp.org/signed-note: verifiers MUST ignore signatures from unknown keys.
      const line = key + encodeBase64(sig.signature);
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        unverified.push(sig);
      }
      continue;
    }
    // c2sp.org/signed-note: a known key's signature MUST be verified, and a failure rejects the whole note — also for
    // a repeated line, so a bad copy cannot hide behind a good one.
    if (!v.verify(note.textBytes, sig.signature)) {
      throw new VerificationError('ERR_NOTE_SIGNATURE_INVALID', `the signature by ${key} does not verify`, {
        details: { key },
      });
    }
    // Count each key once, however many times it signed (no duplicate counting toward thresholds).
    if (seenVerified.has(key)) continue;
    seenVerified.add(key);
    verified.push({ ...sig, verifier: v });
  }
  if (verified.length === 0) {
    // c2sp.org/signed-note: if no signature from a known key verifies, clients MUST reject the note.
    throw new VerificationError('ERR_NOTE_UNKNOWN_KEY', `no trusted key signed the note (${unverified.length} unknown signatures)`, {
      details: { keys: unverified.map((s) => `${s.name}+${keyIdHex(s.keyId)}`) },
    });
  }
  return { text: note.text, verified, unverified };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

/**
 * noteBytes turns note input into bytes after the size cap, UTF-8 and control-character checks
 * (c2sp.org/signed-note: valid UTF-8, no ASCII control characters other than newline).
 */
function noteBytes(input: string | Uint8Array, what: string): Uint8Array {
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    // Size cap before encoding: a UTF-16 unit never encodes to less than one byte.
    if (input.length > MAX_NOTE_BYTES) throw new LimitError('ERR_LIMIT_SIZE', `expected a ${what} of at most ${MAX_NOTE_BYTES} bytes`);
    if (!input.isWellFormed()) throw malformed(`the ${what} is not valid UTF-8`);
    bytes = utf8.encode(input);
  } else if (input instanceof Uint8Array) {
    bytes = input;
  } else {
    throw malformed(`expected the ${what} as a string or bytes`);
  }
  if (bytes.length > MAX_NOTE_BYTES) {
    throw new LimitError('ERR_LIMIT_SIZE', `expected a ${what} of at most ${MAX_NOTE_BYTES} bytes, got ${bytes.length}`);
  }
  for (let i = 0; i < bytes.length; i++) {
    // UTF-8 continuation and lead bytes are ≥ 0x80, so a byte scan finds exactly the ASCII controls.
    const b = bytes[i]!;
    if (b < 0x20 && b !== 0x0a) throw malformed(`control character 0x${hex2(b)} at byte ${i}`);
  }
  try {
    strictUtf8.decode(bytes);
  } catch (e) {
    if (isTrustError(e)) throw e;
    throw malformed(`the ${what} is not valid UTF-8`);
  }
  return bytes;
}

/** checkText enforces the text rules on a note text about to be signed and returns its bytes. */
function checkText(text: string): Uint8Array {
  if (typeof text !== 'string') throw malformed('expected the note text as a string');
  const bytes = noteBytes(text, 'note text');
  // c2sp.org/signed-note: the text ends in a newline (and so is never empty).
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) throw malformed('the note text must end with a newline');
  return bytes;
}

function malformed(why: string): FormatError {
  return new FormatError('ERR_NOTE_MALFORMED', `malformed note: ${why}`);
}

function toPublicKey(raw: Uint8Array): PublicKey {
  try {
    return PublicKey.fromRaw(raw);
  } catch (e) {
    throw new FormatError('ERR_NOTE_KEY_INVALID', 'malformed verifier key: not an ed25519 public key', { cause: e });
  }
}

/** keyIdHex renders a key id as 8 lowercase hex digits, the form in key texts and messages. */
export function keyIdHex(keyId: number): string {
  return (keyId >>> 0).toString(16).padStart(8, '0');
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}
