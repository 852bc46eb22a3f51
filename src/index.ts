/**
 * custody — the public library surface. Every export is named here; types use `export type`.
 */
export {
  ConfigError,
  ERROR_CODES,
  EXIT_CODES,
  FormatError,
  IoError,
  LimitError,
  PolicyError,
  TrustError,
  UsageError,
  VerificationError,
  isTrustError,
} from './errors.ts';
export type { AnyTrustError, ErrorCode, ErrorKind, ExitCode, TrustErrorOptions } from './errors.ts';
export { CUSTODY_VERSION } from './version.ts';

export { ED25519_ACCEPTANCE_RULE, Ed25519VerifyPool, PrivateKey, PublicKey, sealPrivateKey, verifyEd25519 } from './crypto/index.ts';
export type { HashAlgorithm, Signer } from './crypto/index.ts';
export { parseJson } from './encoding/json.ts';
export type { JsonValue, ParseJsonOptions } from './encoding/json.ts';
export { canonicalizeJcs, canonicalizeTuf } from './encoding/canonical.ts';

export { loadPrivateKey, loadPublicKey, parsePublicKey, seedToPrivateKey, writeKeyPair } from './keys/key-file.ts';
export { tufKeyId, tufKeyObject } from './keys/key-id.ts';

export {
  MANIFEST_SIGNER_ROLE,
  createRoot,
  editRoot,
  formatRoot,
  parseRoot,
  signRoot,
  updateRoot,
  updateRootChain,
  verifyPinnedRoot,
} from './trust/root.ts';
export type { RoleName, RootDocument, TrustRoot } from './trust/root.ts';
export { countThreshold } from './trust/threshold.ts';
export type { AuthorizedKey, CandidateSignature, ThresholdResult } from './trust/threshold.ts';

export { MANIFEST_SIGNING_PREFIX, formatManifest, manifestSignedBytes, parseManifest } from './manifest/manifest.ts';
export type { Manifest, ManifestArtifact, ManifestSignature } from './manifest/manifest.ts';
export { createManifest } from './manifest/create.ts';
export { signManifest } from './manifest/sign.ts';
export { verifyManifest } from './manifest/verify.ts';
export type { VerifiedManifest, VerifyManifestOptions } from './manifest/verify.ts';
export { verifyArtifactFile } from './manifest/artifact.ts';
export { MANIFEST_LOG_ENTRY_HEADER, manifestLogEntry, verifyManifestInclusion } from './manifest/log.ts';
export { addSetSignature, formatSignatureSet, parseSignatureSet, verifySignatureSet } from './trust/signature-set.ts';
export type { SignatureSet } from './trust/signature-set.ts';

// Transparency log formats (also at the `custody/tlog` and `custody/note` subpaths).
export { hashLeaf, proveConsistency, proveInclusion, verifyConsistency, verifyInclusion } from './tlog/merkle.ts';
export { formatCheckpoint, openCheckpoint, parseCheckpoint } from './note/checkpoint.ts';
export { openNote, parseVerifierKey, signNote } from './note/note.ts';
export { formatProofFile, parseProofFile, verifyProofFile } from './note/proof.ts';
export type { Checkpoint } from './note/checkpoint.ts';

// Signed packages (also at the `custody/pkg` subpath).
export { isPspfFile, openPackage, verifyPackage, verifyPackageFile, writePackage, extractPackage } from './pkg/index.ts';

// The provider's client (custody fetch), the trust-root pin, and the daemon's audit log.
export { fetchRelease } from './client/provider-client.ts';
export type { DownloadProgress, FetchReleaseOptions, FetchedRelease } from './client/provider-client.ts';
// Installing releases (custody install, rollback, status; docs/install.md).
export { installRelease, rollbackRelease, targetStatus, verifyReleaseDir } from './client/install.ts';
export type { InstallOptions, InstallResult, ReleaseRecord, RollbackResult, TargetStatus } from './client/install.ts';
export { rootFingerprint } from './trust/root.ts';
export { AuditLog, verifyAuditLog } from './audit/audit-log.ts';

// Envelope-encrypted secrets and their KEK keyring (issue 12, docs/keys.md "Secrets").
export { SecretStore, listSecrets } from './secrets/store.ts';
export type { RewrapOptions, RewrapReport, RewrapStep, SecretInfo } from './secrets/store.ts';
export { openSecretStore } from './secrets/open.ts';
export { PassphraseKeyring } from './secrets/keyring.ts';
export type { Keyring, KeyringEntry } from './secrets/keyring.ts';
export { AesGcmKek } from './secrets/kek.ts';
export type { KeyEncryptionKey } from './secrets/kek.ts';
export { parseSecretFile, formatSecretFile } from './secrets/format.ts';
