/**
 * note — C2SP signed notes (Ed25519), tlog checkpoints, witness cosignatures (cosignature/v1) and offline
 * tlog-proof@v1 files.
 */
export {
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  NOTE_SIG_TYPE_ED25519,
  formatNote,
  formatSignerKey,
  formatVerifierKey,
  isValidKeyName,
  newNoteSigner,
  newNoteVerifier,
  noteKeyId,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from './note.ts';
export type {
  Ed25519NoteSigner,
  Ed25519NoteVerifier,
  Note,
  NoteSignature,
  NoteSigner,
  NoteVerifier,
  VerifiedNote,
  VerifiedNoteSignature,
} from './note.ts';
export { MAX_CHECKPOINT_SIZE_DIGITS, formatCheckpoint, openCheckpoint, parseCheckpoint } from './checkpoint.ts';
export type { Checkpoint, OpenCheckpointOptions, OpenedCheckpoint } from './checkpoint.ts';
export {
  COSIGNATURE_V1_BYTES,
  NOTE_SIG_TYPE_COSIGNATURE_V1,
  cosignCheckpoint,
  cosignatureMessage,
  cosignatureTimestamp,
  formatCosignatureVerifierKey,
  newCosignatureVerifier,
  newCosigner,
  parseCosignatureVerifierKey,
  verifyCosignature,
} from './cosignature.ts';
export type { CosignatureVerifier, Cosigner, CosignerOptions, VerifiedCosignature, VerifyCosignatureOptions } from './cosignature.ts';
export { MAX_PROOF_FILE_HASHES, TLOG_PROOF_V1_HEADER, formatProofFile, parseProofFile, verifyProofFile } from './proof.ts';
export type { ProofFile, ProofFileInput, ProofLeaf, VerifiedProofFile, VerifyProofFileOptions } from './proof.ts';
