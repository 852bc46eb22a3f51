/**
 * server/key-use — key use on record (issue 12): every signature the daemon makes is an event of its hash-chained
 * audit log (audit/audit-log, docs/audit.md), so an auditor can tell which key signed what, and when, from the same
 * tamper-evident record `custody audit verify` checks.
 *
 * Event `key.used`, fields:
 * ```
 * {"key_id":"<TUF key id: 64 hex>","purpose":"manifest"|"signing-api"|"checkpoint","digest":"sha256:<64 hex>"}
 * ```
 * `digest` is SHA-256 of the exact bytes handed to the key (the message Ed25519 signs: a manifest's signing input,
 * a DSSE PAE, a checkpoint note's text), never the bytes themselves; `key_id` is the public key's TUF key id
 * (keys/key-id). The daemon wraps its signers once, where it assembles them (server/daemon `daemonSigners`); a
 * signer handed to a plugin is always a recording one. Recording is asynchronous (the append is fsynced in call
 * order by the audit log); a failed append is logged and does not stop the signature, as for every audit event.
 */
import { sha256, type Signer } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import type { JsonObject } from '../encoding/json.ts';
import { tufKeyId } from '../keys/key-id.ts';
import type { Ed25519NoteSigner } from '../note/note.ts';

/** KEY_USED_EVENT is the audit event of one signature. */
export const KEY_USED_EVENT = 'key.used';

/** KeyPurpose says what a signature was for. */
export type KeyPurpose = 'manifest' | 'signing-api' | 'checkpoint';

/** RecordEvent appends an audit event (the daemon's `record`: fire and forget, errors logged). */
export type RecordEvent = (event: string, fields: JsonObject) => void;

function keyUse(keyId: string, purpose: KeyPurpose, message: Uint8Array): JsonObject {
  return { key_id: keyId, purpose, digest: `sha256:${encodeHex(sha256(message))}` };
}

/** recordingSigner returns a Signer that records each signature of `signer` as a `key.used` event. */
export function recordingSigner(signer: Signer, purpose: KeyPurpose, record: RecordEvent): Signer {
  const keyId = tufKeyId(signer.publicKey);
  return {
    publicKey: signer.publicKey,
    sign(message: Uint8Array): Uint8Array {
      const sig = signer.sign(message);
      record(KEY_USED_EVENT, keyUse(keyId, purpose, message));
      return sig;
    },
  };
}

/** recordingNoteSigner does the same for a signed-note key (the log's checkpoints). */
export function recordingNoteSigner(signer: Ed25519NoteSigner, purpose: KeyPurpose, record: RecordEvent): Ed25519NoteSigner {
  const keyId = tufKeyId(signer.publicKey);
  return {
    name: signer.name,
    keyId: signer.keyId,
    publicKey: signer.publicKey,
    sign(text: Uint8Array): Uint8Array {
      const sig = signer.sign(text);
      record(KEY_USED_EVENT, keyUse(keyId, purpose, text));
      return sig;
    },
  };
}
