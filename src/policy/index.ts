/**
 * custody/policy — the attestation policy gate: a policy file (JSON or YAML, every key known) and one pure function
 * judging verified evidence under it (docs/attestations.md "Policy").
 */
export { POLICY_MAX_BYTES, POLICY_SCHEMA, parsePolicy } from './policy.ts';
export type { Policy } from './policy.ts';
export { SEVERITIES } from './severity.ts';
export type { Severity } from './severity.ts';
export { CLOCK_SKEW_MS, SLSA_PROVENANCE_TYPES, assertAccepted, attestationTime, enforcePolicy, evaluatePolicy, matchBuilder, matchGlob } from './evaluate.ts';
export { ATTESTATION_FILE_SUFFIX, verifyAttestationFile } from './evidence.ts';
export type { Decision, LogInclusion, PolicyEvidence, RuleName, ScanSummary, Verdict } from './evaluate.ts';
