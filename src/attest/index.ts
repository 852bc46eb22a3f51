/**
 * custody/attest — supply-chain evidence: DSSE envelopes, in-toto statements and their verification.
 */
export {
  DSSE_MAX_ENVELOPE_BYTES,
  DSSE_MAX_SIGNATURES,
  addEnvelopeSignature,
  envelopeFromJson,
  envelopeToJson,
  formatEnvelope,
  formatJsonl,
  keysFromPublicKeys,
  pae,
  parseEnvelope,
  parseJsonl,
  signEnvelope,
  verifyEnvelope,
} from './dsse.ts';
export type { DsseEnvelope, DsseSignature, EnvelopeKeys, VerifiedEnvelope, VerifyEnvelopeOptions } from './dsse.ts';
export {
  INTOTO_PAYLOAD_TYPE,
  STATEMENT_V1,
  encodeStatement,
  findSubject,
  parseStatement,
  requireSubject,
  statementFromJson,
  statementToJson,
} from './statement.ts';
export type { Statement, Subject } from './statement.ts';
export { attestationFromVerified, keysFromRoot, verifyAttestation } from './verify.ts';
export type { VerifiedAttestation } from './verify.ts';
export {
  BUNDLE_MAX_BYTES,
  BUNDLE_V03_LEGACY_MEDIA_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  bundleFromJson,
  bundleToJson,
  formatBundle,
  parseBundle,
} from './sigstore-bundle.ts';
export type { BundleContent, BundleKey, InclusionProof, MessageSignature, SigstoreBundle, TlogEntry } from './sigstore-bundle.ts';
export {
  REKOR_API_VERSION,
  checkTlogBody,
  dsseBody,
  findLogKey,
  hashedrekordBody,
  noteLogId,
  tlogEntryFromLog,
  verifyLogInclusion,
} from './sigstore-tlog.ts';
export type { BodyExpectation, BodyKey, LogAnswer, LogInclusion } from './sigstore-tlog.ts';
export {
  BLOB_PREDICATE_TYPE,
  TRUSTED_ROOT_MEDIA_TYPE,
  blobStatementPayload,
  dsseBundle,
  ed25519SpkiDer,
  logBaseUrl,
  logKeysFromTrustedRoot,
  trustedKeysJson,
  trustedRootJson,
  withTlogEntry,
} from './sigstore-trust.ts';
export { verifyBundle, verifyParsedBundle } from './sigstore-verify.ts';
export type { VerifiedBundle, VerifyBundleOptions } from './sigstore-verify.ts';
export {
  RD_MAX_CONTENT_BYTES,
  isUri,
  parseDigestSet,
  parseResourceDescriptor,
  resourceDescriptorToJson,
} from './resource-descriptor.ts';
export type { ResourceDescriptor } from './resource-descriptor.ts';
export {
  SLSA_MAX_DESCRIPTORS,
  SLSA_PROVENANCE_V1,
  checkTimeOrder,
  parseProvenance,
  provenanceFromStatement,
  provenancePredicate,
  provenanceStatement,
} from './slsa.ts';
export type { BuildDefinition, BuildMetadata, Builder, Provenance, RunDetails } from './slsa.ts';
export {
  SHA256SUMS_PAYLOAD_TYPE,
  SUMS_MAX_BYTES,
  SUMS_MAX_LINES,
  SUMS_MAX_LINE_BYTES,
  SUMS_MAX_NAME_BYTES,
  escapeName,
  formatSums,
  formatSumsLine,
  needsEscape,
  parseSums,
  toNameBytes,
  verdictName,
  verifySignedSums,
} from './sums.ts';
export type { ParseSumsOptions, ParsedSums, SumsEntry, SumsLine, SumsMode } from './sums.ts';
export { checkSums, digestForSums, digestListedFile, resolveName, sumsCheckPassed } from './sums-check.ts';
export type { CheckSumsOptions, FileDigest, SumsReport, SumsVerdict } from './sums-check.ts';
