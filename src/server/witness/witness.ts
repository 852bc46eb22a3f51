/**
 * server/witness/witness — a C2SP tlog-witness (c2sp.org/tlog-witness) `add-checkpoint` handler: it verifies a log's
 * checkpoint and the consistency proof from the last checkpoint it cosigned for that log, records the new one, and
 * returns its Ed25519 `cosignature/v1` (c2sp.org/tlog-cosignature).
 *
 * Request body, byte for byte (every line ends in "\n"):
 * ```
 * old <size>                      decimal, no leading zeros; the size the client believes the witness last cosigned
 * <base64 hash>                   0 to 63 consistency proof lines (RFC 6962 §2.1.2), empty when old is 0
 * (empty line)
 * <signed checkpoint note>        may carry other signatures (unknown keys are ignored)
 * ```
 * Answers (the spec's status codes): 200 with cosignature line(s); 400 malformed or old > size; 403 no valid
 * signature by a configured key for the origin; 404 unknown origin; 409 old ≠ recorded size (body `<size>\n`,
 * `Content-Type: text/x.tlog.size`) or same size with another root (a fork); 422 invalid proof.
 *
 * Trust boundary: the request is attacker-controlled (there is no authentication beyond the log's signature). Sizes
 * are capped before conversion, the proof line count is capped, and nothing is recorded or signed unless the log's
 * signature AND the consistency with the recorded tree both verify. Check-and-record is one atomic transaction
 * (WitnessStore.update), and the new state is durable before the cosignature is returned.
 */
import { PrivateKey, type Signer } from '../../crypto/index.ts';
import { ed25519Seed } from '../../crypto/ed25519-seed.ts';
import { decodeBase64 } from '../../encoding/bytes.ts';
import { ConfigError, FormatError, PolicyError, VerificationError, isTrustError } from '../../errors.ts';
import { parseCheckpoint } from '../../note/checkpoint.ts';
import {
  NOTE_SIG_TYPE_COSIGNATURE_V1,
  cosignCheckpoint,
  formatCosignatureVerifierKey,
  newCosigner,
  type Cosigner,
} from '../../note/cosignature.ts';
import { formatNoteKeyText, noteKeyId, openNote, parseNote, parseNoteKeyText, type NoteVerifier } from '../../note/note.ts';
import { bytesEqual, verifyConsistency } from '../../tlog/merkle.ts';
import { loadOrCreateKeyText } from '../log/key-file.ts';
import type { WitnessStore } from './store.ts';

/** MAX_PROOF_LINES is the spec's cap on consistency proof lines ("MUST NOT send more than 63"). */
export const MAX_PROOF_LINES = 63;

/** MAX_ADD_CHECKPOINT_BYTES caps a request body before parsing (a checkpoint with 100 cosignatures is ~10 KiB). */
export const MAX_ADD_CHECKPOINT_BYTES = 256 * 1024;

/** WITNESS_SIZE_CONTENT_TYPE is the content type of a 409 answer carrying the recorded size. */
export const WITNESS_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** WitnessOptions configures a {@link Witness}. */
export interface WitnessOptions {
  cosigner: Cosigner;
  /** logs are the log keys this witness serves; a log's origin is its key name (several keys per origin allowed). */
  logs: readonly NoteVerifier[];
  store: WitnessStore;
  /** now is the clock in milliseconds since the epoch (cosignature timestamps are its whole seconds). */
  now?: () => number;
}

/** AddCheckpointRequest is a parsed add-checkpoint body. */
export interface AddCheckpointRequest {
  old: number;
  proof: Uint8Array[];
  /** note is the signed checkpoint note text. */
  note: string;
}

const OLD_RE = /^old (0|[1-9][0-9]{0,15})$/;

/** parseAddCheckpoint parses an add-checkpoint body; throws ERR_WITNESS_REQUEST (400) for anything malformed. */
export function parseAddCheckpoint(body: Uint8Array): AddCheckpointRequest {
  const fail = (why: string): never => {
    throw new FormatError('ERR_WITNESS_REQUEST', `malformed add-checkpoint request: ${why}`);
  };
  if (body.length > MAX_ADD_CHECKPOINT_BYTES) return fail(`larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return fail('not UTF-8');
  }
  let pos = text.indexOf('\n');
  if (pos < 0) return fail('expected an "old <size>" line');
  // Size line length is capped by the regex (≤ 16 digits) before Number() converts it.
  const m = OLD_RE.exec(text.slice(0, pos));
  if (!m) return fail('expected "old <size>" in decimal without leading zeros');
  const old = Number(m[1]);
  if (!Number.isSafeInteger(old)) return fail('old size above 2^53−1');
  const proof: Uint8Array[] = [];
  for (;;) {
    const next = text.indexOf('\n', pos + 1);
    if (next < 0) return fail('expected an empty line before the checkpoint');
    const line = text.slice(pos + 1, next);
    pos = next;
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES) return fail(`more than ${MAX_PROOF_LINES} proof lines`);
    try {
      proof.push(decodeBase64(line, 32, 'proof hash'));
    } catch {
      return fail(`proof line ${proof.length + 1} is not a base64 SHA-256 hash`);
    }
  }
  const note = text.slice(pos + 1);
  if (note.length === 0) return fail('the checkpoint is missing');
  return { old, proof, note };
}

/** Witness answers add-checkpoint requests. */
export class Witness {
  readonly #o: Required<WitnessOptions>;
  readonly #byOrigin = new Map<string, NoteVerifier[]>();

  constructor(options: WitnessOptions) {
    this.#o = { now: Date.now, ...options };
    for (const v of options.logs) {
      const list = this.#byOrigin.get(v.name) ?? [];
      list.push(v);
      this.#byOrigin.set(v.name, list);
    }
  }

  /** origins lists the logs this witness serves. */
  get origins(): string[] {
    return [...this.#byOrigin.keys()];
  }

  /**
   * addCheckpoint handles one request body and returns the cosignature line(s) to answer with, or throws a coded
   * error whose httpStatus is the spec's status (ERR_WITNESS_CONFLICT carries `details.size` for the 409 body).
   */
  addCheckpoint(body: Uint8Array): string {
    const req = parseAddCheckpoint(body);
    // The origin is the first line of the (still unverified) note text; it only selects the keys to verify with.
    let origin: string;
    try {
      origin = parseNote(req.note).text.split('\n', 1)[0]!;
    } catch (e) {
      throw new FormatError('ERR_WITNESS_REQUEST', 'malformed add-checkpoint request: the checkpoint is not a signed note', { cause: e });
    }
    const keys = this.#byOrigin.get(origin);
    if (keys === undefined) {
      // c2sp.org/tlog-witness: unknown origin → 404.
      throw new PolicyError('ERR_WITNESS_UNKNOWN_LOG', `this witness does not follow ${JSON.stringify(origin.slice(0, 200))}`);
    }
    let text: string;
    try {
      text = openNote(req.note, keys).text;
    } catch (e) {
      if (isTrustError(e) && (e.code === 'ERR_NOTE_UNKNOWN_KEY' || e.code === 'ERR_NOTE_SIGNATURE_INVALID')) {
        // c2sp.org/tlog-witness: none of the signatures verify against a trusted key → 403.
        throw new VerificationError('ERR_WITNESS_BAD_SIGNATURE', `the checkpoint of ${origin} has no valid signature by its log key`, {
          cause: e,
        });
      }
      throw e;
    }
    const cp = parseCheckpoint(text);
    // c2sp.org/tlog-witness: old size greater than the checkpoint size → 400.
    if (req.old > cp.size) {
      throw new FormatError('ERR_WITNESS_OLD_SIZE', `expected an old size at most ${cp.size}, got ${req.old}`);
    }
    this.#o.store.update(origin, (cur) => {
      const curSize = cur?.size ?? 0;
      // c2sp.org/tlog-witness: old size ≠ the latest cosigned size → 409 with that size.
      if (req.old !== curSize) {
        throw new PolicyError('ERR_WITNESS_CONFLICT', `expected old size ${curSize}, got ${req.old}`, { details: { size: curSize } });
      }
      if (req.old === cp.size) {
        // c2sp.org/tlog-witness: same size → the roots must be identical, else 409 (this is evidence of a fork).
        if (cur !== null && !bytesEqual(cur.root, cp.rootHash)) {
          throw new VerificationError('ERR_WITNESS_ROOT_MISMATCH', `the log signed two different roots for size ${cp.size}`, {
            details: { size: cp.size },
          });
        }
        if (req.proof.length !== 0) throw new VerificationError('ERR_WITNESS_PROOF_INVALID', 'expected an empty proof for equal sizes');
      } else if (req.old === 0) {
        // c2sp.org/tlog-witness: "The proof MUST be empty if the old size is zero."
        if (req.proof.length !== 0) throw new VerificationError('ERR_WITNESS_PROOF_INVALID', 'expected an empty proof from old size 0');
      } else {
        try {
          verifyConsistency(req.old, cp.size, req.proof, cur!.root, cp.rootHash);
        } catch (e) {
          // c2sp.org/tlog-witness: the consistency proof doesn't verify → 422 (nothing recorded, nothing signed).
          throw new VerificationError('ERR_WITNESS_PROOF_INVALID', `the proof from ${req.old} to ${cp.size} does not verify`, {
            cause: e,
          });
        }
      }
      return { next: { size: cp.size, root: cp.rootHash }, result: undefined };
    });
    // Recorded durably above; only now is the cosignature produced.
    return cosignCheckpoint(text, this.#o.cosigner, Math.floor(this.#o.now() / 1000));
  }
}

/** WitnessKey is a witness's cosigning key and its verifier key text. */
export interface WitnessKey {
  cosigner: Cosigner;
  vkey: string;
  created: boolean;
}

const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';

/** witnessKeyFromSigner makes the witness key of a signer held elsewhere (a PKCS#11 token) under `name`. */
export function witnessKeyFromSigner(name: string, signer: Signer, now: () => number = Date.now): WitnessKey {
  const cosigner = newCosigner(name, signer, { unixTime: () => Math.floor(now() / 1000) });
  return { cosigner, vkey: formatCosignatureVerifierKey(name, signer.publicKey), created: false };
}

/** DEFAULT_WITNESS_NAME names a new witness key when no name is given. */
export const DEFAULT_WITNESS_NAME = 'custody-witness';

/**
 * loadOrCreateWitnessKey loads (or creates, 0600) the witness key file, one line
 * `PRIVATE+KEY+<name>+<id>+base64(0x04 || seed)` (the signed-note signer key text with the cosignature/v1 type).
 * Without a requested name, an existing key keeps its own name and a new one is named {@link DEFAULT_WITNESS_NAME}.
 */
export async function loadOrCreateWitnessKey(
  path: string,
  requestedName: string | undefined,
  now: () => number = Date.now,
): Promise<WitnessKey> {
  const name = requestedName ?? DEFAULT_WITNESS_NAME;
  const { text, created } = await loadOrCreateKeyText(path, () => {
    const key = PrivateKey.generate();
    const seed = ed25519Seed(key);
    try {
      return PRIVATE_KEY_PREFIX + formatNoteKeyText(name, noteKeyId(name, NOTE_SIG_TYPE_COSIGNATURE_V1, key.publicKey.raw), NOTE_SIG_TYPE_COSIGNATURE_V1, seed);
    } finally {
      seed.fill(0);
    }
  });
  if (!text.startsWith(PRIVATE_KEY_PREFIX)) throw new ConfigError('ERR_CONFIG_INVALID', `${path}: expected a PRIVATE+KEY+ witness key`);
  const k = parseNoteKeyText(text.slice(PRIVATE_KEY_PREFIX.length), 'witness key');
  if (k.type !== NOTE_SIG_TYPE_COSIGNATURE_V1 || k.key.length !== 32) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${path}: expected a cosignature/v1 (type 0x04) Ed25519 seed`);
  }
  const key = PrivateKey.fromSeed(k.key);
  k.key.fill(0);
  if (noteKeyId(k.name, NOTE_SIG_TYPE_COSIGNATURE_V1, key.publicKey.raw) !== k.keyId) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${path}: the key id does not match the key`);
  }
  if (requestedName !== undefined && k.name !== requestedName) {
    throw new ConfigError('ERR_CONFIG_INVALID', `the witness key in ${path} is named ${k.name}, not ${name}`, {
      hint: 'pass the --name the data directory was created with, or use another --data directory',
    });
  }
  const cosigner = newCosigner(k.name, key, { unixTime: () => Math.floor(now() / 1000) });
  return { cosigner, vkey: formatCosignatureVerifierKey(k.name, key.publicKey), created };
}
