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
export { keysFromRoot, verifyAttestation } from './verify.ts';
export type { VerifiedAttestation } from './verify.ts';
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
