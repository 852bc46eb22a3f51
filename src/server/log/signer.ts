/**
 * server/log/signer — the log's checkpoint signer over C2SP signed notes: it signs `formatCheckpoint(origin, size,
 * root)` with the log's Ed25519 note key (c2sp.org/tlog-checkpoint: "the key name SHOULD equal the origin"), and
 * opens its own stored checkpoints with the matching verifier (cosignatures from witnesses are ignored there).
 */
import { PrivateKey, type Signer } from '../../crypto/index.ts';
import { ConfigError } from '../../errors.ts';
import { formatCheckpoint, openCheckpoint } from '../../note/checkpoint.ts';
import {
  formatSignerKey,
  formatVerifierKey,
  newNoteSigner,
  newNoteVerifier,
  parseSignerKey,
  signNote,
  type Ed25519NoteSigner,
  type Ed25519NoteVerifier,
} from '../../note/note.ts';
import type { CheckpointSigner } from '../../log/sequencer.ts';
import { loadOrCreateKeyText } from './key-file.ts';

/** LogKey is the log's note key pair: signer, verifier and the verifier key text clients pin. */
export interface LogKey {
  signer: Ed25519NoteSigner;
  verifier: Ed25519NoteVerifier;
  /** vkey is `<origin>+<8 hex>+<base64>`, printed at start. */
  vkey: string;
  /** created is true when this start created the key. */
  created: boolean;
}

/** loadOrCreateLogKey loads the signer key at path (created on first use) and checks it is named `origin`. */
export async function loadOrCreateLogKey(path: string, origin: string): Promise<LogKey> {
  return loadOrCreateLogKeyFrom(() => loadOrCreateKeyText(path, () => formatSignerKey(origin, PrivateKey.generate())), origin, path);
}

/** LogKeySource returns the key text, making it with `create` when there is none (e.g. the daemon's secret store). */
export type LogKeySource = (create: () => string) => Promise<{ text: string; created: boolean }>;

/** loadOrCreateLogKeyFrom is loadOrCreateLogKey over another source of the key text; `where` names it in errors. */
export async function loadOrCreateLogKeyFrom(source: LogKeySource, origin: string, where: string): Promise<LogKey> {
  const { text, created } = await source(() => formatSignerKey(origin, PrivateKey.generate()));
  const signer = parseSignerKey(text);
  if (signer.name !== origin) {
    throw new ConfigError('ERR_CONFIG_INVALID', `the log key in ${where} is for origin ${signer.name}, not ${origin}`, {
      hint: 'pass the --origin the data directory was created with, or use another --data directory',
    });
  }
  const verifier = newNoteVerifier(origin, signer.publicKey);
  return { signer, verifier, vkey: formatVerifierKey(origin, signer.publicKey), created };
}

/** logKeyFromSigner makes the log's note key of a signer held elsewhere (a PKCS#11 token): never created, not a file. */
export function logKeyFromSigner(origin: string, signer: Signer): LogKey {
  const note = newNoteSigner(origin, signer);
  return { signer: note, verifier: newNoteVerifier(origin, signer.publicKey), vkey: formatVerifierKey(origin, signer.publicKey), created: false };
}

/** noteCheckpointSigner adapts a note key to the sequencer's {@link CheckpointSigner}. */
export function noteCheckpointSigner(origin: string, signer: Ed25519NoteSigner, verifier: Ed25519NoteVerifier): CheckpointSigner {
  return {
    sign: (size, root) => signNote(formatCheckpoint({ origin, size, rootHash: root }), [signer]),
    open: (text) => {
      const { checkpoint } = openCheckpoint(text, verifier, { origin });
      return { size: checkpoint.size, root: checkpoint.rootHash };
    },
  };
}
