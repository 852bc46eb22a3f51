/**
 * policy/evaluate — the policy gate: one pure function, {@link evaluatePolicy}, from a policy and VERIFIED evidence
 * about one artifact to a decision listing every rule and its verdict. Evidence problems (a bad signature, an
 * artifact that is no subject, a bad inclusion proof) are VerificationErrors raised by the verifiers before this runs
 * (attest/verify, attest/statement `requireSubject`); this function only judges evidence that is already good, so a
 * refusal here is a PolicyError (ERR_POLICY_*) whose message names the rule (the policy key) that refused.
 *
 * Predicates read (field names as the specs write them):
 * - SLSA Provenance v1 (https://slsa.dev/provenance/v1): builder `runDetails.builder.id`; time
 *   `runDetails.metadata.finishedOn`, else `startedOn`; sources every `buildDefinition.resolvedDependencies[].uri`
 *   and the string values `buildDefinition.externalParameters.source`, `.repository` and `.workflow.repository`.
 * - SLSA Provenance v0.2 (https://slsa.dev/provenance/v0.2): `builder.id`; `metadata.buildFinishedOn`, else
 *   `buildStartedOn`; `materials[].uri` and `invocation.configSource.uri`.
 * - SPDX 2.x documents: time `creationInfo.created`; CycloneDX BOMs: time `metadata.timestamp`.
 * in-toto Statement v1 has no time of its own: an attestation whose predicate gives none has no time.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { parseTimestamp } from '../encoding/time.ts';
import { printable } from '../encoding/text.ts';
import { PolicyError, type CodesOf } from '../errors.ts';
import { SLSA_PROVENANCE_V1, parseProvenance, type Provenance } from '../attest/slsa.ts';
import { requireSubject } from '../attest/statement.ts';
import type { VerifiedAttestation } from '../attest/verify.ts';
import type { Policy } from './policy.ts';
import { SEVERITIES, type Severity } from './severity.ts';

/** SLSA_PROVENANCE_TYPES are the predicate types read as build provenance. */
export const SLSA_PROVENANCE_TYPES: ReadonlySet<string> = new Set([SLSA_PROVENANCE_V1, 'https://slsa.dev/provenance/v0.2']);
/** CLOCK_SKEW_MS: an attestation dated up to this far in the future is accepted (builders' clocks differ). */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** LogInclusion is a verified transparency-log inclusion of one attestation. */
export interface LogInclusion {
  origin: string;
  index: number;
  treeSize: number;
}

/** ScanSummary is the result of a vulnerability scan of the artifact's components (src/vuln). */
export interface ScanSummary {
  maxSeverity: Severity;
  /** findings counts the matched advisories. */
  findings: number;
}

/** PolicyEvidence is verified evidence about one artifact. */
export interface PolicyEvidence {
  /** artifact is what is judged: a name for messages and its SHA-256 (lowercase hex). */
  artifact: { name: string; sha256: string };
  /** attestations are verified (threshold of trusted keys); those naming another digest are ignored. */
  attestations: readonly VerifiedAttestation[];
  /** scan is the vulnerability scan of the components the SBOM attestations list, when one was made. */
  scan?: ScanSummary | undefined;
  /** inclusions maps an attestation's signedDigest to its verified log inclusion. */
  inclusions?: ReadonlyMap<string, LogInclusion> | undefined;
}

/** RuleName is a policy key that makes a rule. */
export type RuleName =
  | 'required_predicate_types'
  | 'trusted_builders'
  | 'subject_names'
  | 'max_age'
  | 'source_repositories'
  | 'max_severity'
  | 'signers'
  | 'require_log_inclusion';

/** Verdict is one rule's judgement. */
export interface Verdict {
  rule: RuleName;
  ok: boolean;
  /** code is the refusal's code when not ok. */
  code?: CodesOf<'policy'>;
  message: string;
}

/** Decision is the whole judgement of one artifact: accepted only when every rule is. */
export interface Decision {
  artifact: { name: string; sha256: string };
  accepted: boolean;
  verdicts: Verdict[];
  /** attestations counts the verified attestations that name the artifact. */
  attestations: number;
}

const SEVERITY_RANK: Readonly<Record<Severity, number>> = Object.fromEntries(SEVERITIES.map((s, i) => [s, i])) as Record<Severity, number>;

/**
 * matchGlob matches `s` against a glob: `*` any run of characters (`/` included), `?` one character, everything
 * else itself. Linear-time two-pointer matching (no regular expression, no backtracking blow-up).
 */
export function matchGlob(pattern: string, s: string): boolean {
  const p = [...pattern];
  const t = [...s];
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === t[ti]))) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else return false;
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** matchBuilder: a builder pattern is an exact id, or a prefix when it ends in `*` (nothing else is special). */
export function matchBuilder(pattern: string, id: string): boolean {
  return pattern.endsWith('*') ? id.startsWith(pattern.slice(0, -1)) : id === pattern;
}

function obj(v: JsonValue | undefined): JsonObject | undefined {
  return isJsonObject(v) ? v : undefined;
}
function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * provenanceOf parses an SLSA v1 predicate with attest/slsa (undefined when malformed: such evidence satisfies no rule;
 * verifyAttestationFile refuses it before evaluation with ERR_SLSA_SCHEMA).
 */
function provenanceOf(a: VerifiedAttestation): Provenance | undefined {
  try {
    return parseProvenance(a.statement.predicate);
  } catch {
    return undefined;
  }
}

/** ProvenanceFacts are what the rules read from a provenance predicate. */
interface ProvenanceFacts {
  builderId: string | undefined;
  sources: string[];
}

function provenanceFacts(a: VerifiedAttestation): ProvenanceFacts | undefined {
  const p = a.statement.predicate;
  if (a.statement.predicateType === SLSA_PROVENANCE_V1) {
    const prov = provenanceOf(a);
    if (prov === undefined) return { builderId: undefined, sources: [] };
    const ext = prov.buildDefinition.externalParameters;
    const sources: string[] = [];
    for (const d of prov.buildDefinition.resolvedDependencies ?? []) if (d.uri !== undefined) sources.push(d.uri);
    for (const v of [ext.source, ext.repository, obj(ext.workflow)?.repository]) if (typeof v === 'string') sources.push(v);
    return { builderId: prov.runDetails.builder.id, sources };
  }
  if (a.statement.predicateType === 'https://slsa.dev/provenance/v0.2') {
    const sources: string[] = [];
    for (const m of Array.isArray(p.materials) ? p.materials : []) {
      const u = str(obj(m)?.uri);
      if (u !== undefined) sources.push(u);
    }
    const cfg = str(obj(obj(p.invocation)?.configSource)?.uri);
    if (cfg !== undefined) sources.push(cfg);
    return { builderId: str(obj(p.builder)?.id), sources };
  }
  return undefined;
}

/** attestationTime is the time an attestation's predicate gives (see the module doc), or undefined. */
export function attestationTime(a: VerifiedAttestation): Date | undefined {
  const p = a.statement.predicate;
  let t: string | undefined;
  if (a.statement.predicateType === SLSA_PROVENANCE_V1) {
    const md = provenanceOf(a)?.runDetails.metadata;
    return md?.finishedOn ?? md?.startedOn;
  } else if (a.statement.predicateType === 'https://slsa.dev/provenance/v0.2') {
    const md = obj(p.metadata);
    t = str(md?.buildFinishedOn) ?? str(md?.buildStartedOn);
  } else if (isJsonObject(p.creationInfo)) {
    t = str(p.creationInfo.created);
  } else if (isJsonObject(p.metadata) && p.bomFormat === 'CycloneDX') {
    t = str(p.metadata.timestamp);
  }
  if (t === undefined) return undefined;
  try {
    return parseTimestamp(t, 'attestation time');
  } catch {
    return undefined; // a malformed time is no time: max_age then refuses for want of one
  }
}

function subjectNameOf(a: VerifiedAttestation, sha256: string): string | undefined {
  return a.statement.subject.find((s) => s.digest['sha256'] === sha256)?.name;
}

function quote(s: string): string {
  return JSON.stringify(printable(s, 200));
}

/**
 * evaluatePolicy judges verified evidence about one artifact under a policy at time `now`: every rule the policy
 * sets, in the order of the policy's documentation, each with its verdict. It never throws for a refusal; see
 * {@link assertAccepted}. Pure: no I/O, no clock but `now`.
 */
export function evaluatePolicy(policy: Policy, evidence: PolicyEvidence, now: Date): Decision {
  const sha = evidence.artifact.sha256;
  // Only evidence about these bytes counts: an attestation for another digest says nothing about this artifact.
  const atts = evidence.attestations.filter((a) => subjectNameOf(a, sha) !== undefined);
  const provenance = atts.map((a) => ({ a, f: provenanceFacts(a) })).filter((x): x is { a: VerifiedAttestation; f: ProvenanceFacts } => x.f !== undefined);
  const verdicts: Verdict[] = [];
  const pass = (rule: RuleName, message: string): void => void verdicts.push({ rule, ok: true, message });
  const fail = (rule: RuleName, code: CodesOf<'policy'>, message: string): void => void verdicts.push({ rule, ok: false, code, message });

  // required_predicate_types: one verified attestation of each type names the artifact.
  const missing = policy.requiredPredicateTypes.filter((t) => !atts.some((a) => a.statement.predicateType === t));
  if (missing.length > 0) {
    fail('required_predicate_types', 'ERR_POLICY_PREDICATE_MISSING', `no verified attestation of type ${missing.map(quote).join(', ')} names the artifact (${atts.length} do)`);
  } else pass('required_predicate_types', `${policy.requiredPredicateTypes.length} predicate type(s) attested`);

  if (policy.trustedBuilders !== undefined) {
    const tb = policy.trustedBuilders;
    const bad = provenance.find((x) => x.f.builderId === undefined || !tb.some((p) => matchBuilder(p, x.f.builderId!)));
    if (provenance.length === 0) fail('trusted_builders', 'ERR_POLICY_UNTRUSTED_BUILDER', 'no SLSA provenance names the artifact, so no builder can be trusted');
    else if (bad !== undefined) {
      fail('trusted_builders', 'ERR_POLICY_UNTRUSTED_BUILDER', bad.f.builderId === undefined ? 'a provenance names no builder id' : `builder ${quote(bad.f.builderId)} is not trusted`);
    } else pass('trusted_builders', `builder ${quote(provenance[0]!.f.builderId!)} trusted`);
  }

  if (policy.subjectNames !== undefined) {
    const sn = policy.subjectNames;
    const bad = atts.map((a) => subjectNameOf(a, sha)!).find((n) => !sn.some((p) => matchGlob(p, n)));
    if (atts.length === 0) fail('subject_names', 'ERR_POLICY_SUBJECT_NAME', 'no attestation names the artifact');
    else if (bad !== undefined) fail('subject_names', 'ERR_POLICY_SUBJECT_NAME', `subject name ${quote(bad)} matches no allowed pattern`);
    else pass('subject_names', 'subject names allowed');
  }

  if (policy.maxAgeMs !== undefined) {
    const timed = atts.map((a) => ({ a, t: attestationTime(a) })).filter((x): x is { a: VerifiedAttestation; t: Date } => x.t !== undefined);
    const old = timed.find((x) => now.getTime() - x.t.getTime() > policy.maxAgeMs!);
    const future = timed.find((x) => x.t.getTime() - now.getTime() > CLOCK_SKEW_MS);
    if (timed.length === 0) fail('max_age', 'ERR_POLICY_STALE', 'no attestation of the artifact carries a time (SLSA finishedOn/startedOn, SPDX created, CycloneDX timestamp)');
    else if (old !== undefined) {
      fail('max_age', 'ERR_POLICY_STALE', `the ${quote(old.a.statement.predicateType)} attestation is dated ${old.t.toISOString()}, older than ${policy.maxAge ?? `${policy.maxAgeMs} ms`}`);
    } else if (future !== undefined) {
      fail('max_age', 'ERR_POLICY_STALE', `the ${quote(future.a.statement.predicateType)} attestation is dated ${future.t.toISOString()}, in the future`);
    } else pass('max_age', `${timed.length} dated attestation(s) within ${policy.maxAge ?? ''}`);
  }

  if (policy.sourceRepositories !== undefined) {
    const sr = policy.sourceRepositories;
    const bad = provenance.find((x) => !x.f.sources.some((s) => sr.some((p) => matchGlob(p, s))));
    if (provenance.length === 0) fail('source_repositories', 'ERR_POLICY_SOURCE_REPOSITORY', 'no SLSA provenance names the artifact, so its source is unknown');
    else if (bad !== undefined) {
      fail('source_repositories', 'ERR_POLICY_SOURCE_REPOSITORY', `provenance sources ${bad.f.sources.length === 0 ? '(none)' : bad.f.sources.slice(0, 4).map(quote).join(', ')} match no allowed pattern`);
    } else pass('source_repositories', 'source repository allowed');
  }

  if (policy.maxSeverity !== undefined) {
    const scan = evidence.scan;
    if (scan === undefined) fail('max_severity', 'ERR_POLICY_SEVERITY', 'no vulnerability scan of the artifact was made (pass --vulndb and an SBOM attestation)');
    else if (SEVERITY_RANK[scan.maxSeverity] > SEVERITY_RANK[policy.maxSeverity]) {
      fail('max_severity', 'ERR_POLICY_SEVERITY', `highest vulnerability severity is ${scan.maxSeverity} (${scan.findings} finding(s)), over ${policy.maxSeverity}`);
    } else pass('max_severity', `highest vulnerability severity ${scan.maxSeverity}`);
  }

  if (policy.signers !== undefined) {
    const want = new Set(policy.signers.keyIds);
    const counts = atts.map((a) => new Set(a.signers.filter((k) => want.has(k))).size);
    const low = counts.findIndex((n) => n < policy.signers!.threshold);
    if (atts.length === 0) fail('signers', 'ERR_POLICY_SIGNERS', 'no attestation names the artifact');
    else if (low >= 0) {
      fail('signers', 'ERR_POLICY_SIGNERS', `the ${quote(atts[low]!.statement.predicateType)} attestation is signed by ${counts[low]}/${policy.signers.threshold} required keys`);
    } else pass('signers', `each attestation signed by ≥ ${policy.signers.threshold} required keys`);
  }

  if (policy.requireLogInclusion === true) {
    const bad = atts.find((a) => evidence.inclusions?.get(a.signedDigest) === undefined);
    if (atts.length === 0) fail('require_log_inclusion', 'ERR_POLICY_LOG_INCLUSION', 'no attestation names the artifact');
    else if (bad !== undefined) fail('require_log_inclusion', 'ERR_POLICY_LOG_INCLUSION', `the ${quote(bad.statement.predicateType)} attestation has no verified log inclusion`);
    else pass('require_log_inclusion', 'every attestation logged');
  }

  return { artifact: { ...evidence.artifact }, accepted: verdicts.every((v) => v.ok), verdicts, attestations: atts.length };
}

/** assertAccepted returns an accepted decision, or throws the PolicyError of its first refusing rule. */
export function assertAccepted(d: Decision): Decision {
  const bad = d.verdicts.find((v) => !v.ok);
  if (bad === undefined) return d;
  throw new PolicyError(bad.code!, `${printable(d.artifact.name, 200)}: policy rule "${bad.rule}" refused: ${bad.message}`, {
    details: { artifact: d.artifact, rule: bad.rule, verdicts: d.verdicts },
  });
}

/**
 * enforcePolicy is the gate as `custody verify-attestation` runs it: every attestation given must name the
 * artifact's digest (else ERR_ATTEST_SUBJECT_MISMATCH, a VerificationError: the evidence is about other bytes), then
 * the policy is evaluated and a refusal thrown as its PolicyError. Returns the accepted decision.
 */
export function enforcePolicy(policy: Policy, evidence: PolicyEvidence, now: Date): Decision {
  for (const a of evidence.attestations) requireSubject(a.statement, evidence.artifact.sha256);
  return assertAccepted(evaluatePolicy(policy, evidence, now));
}
