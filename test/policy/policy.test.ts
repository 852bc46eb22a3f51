/**
 * The policy gate (src/policy): a table of refusals, each asserting class, code and the rule's name in the message —
 * untrusted builder, missing predicate, stale attestation, subject digest mismatch (a VerificationError, raised
 * before evaluation), severity over the gate, too few signers, unknown policy key — plus the accepting case, YAML,
 * globs, and malformed policy files.
 */
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { test } from 'node:test';
import { keysFromPublicKeys, verifyAttestation, type VerifiedAttestation } from '../../src/attest/index.ts';
import { isTrustError } from '../../src/errors.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';
import { enforcePolicy, evaluatePolicy, matchBuilder, matchGlob, parsePolicy, type Policy, type PolicyEvidence } from '../../src/policy/index.ts';
import { POLICY_SCHEMA } from '../../src/policy/policy.ts';
import { BUILDER, SLSA_V1, SPDX_TYPE, attest, provenance, sha256Hex } from '../support/attest.ts';
import { key, NOW } from '../support/fixtures.ts';

const ART = Buffer.from('app-1.0.tar.gz bytes');
const A = key('policy-a');
const B = key('policy-b');
const KEYS = keysFromPublicKeys([A.publicKey, B.publicKey]);

function verified(env: ReturnType<typeof attest>): VerifiedAttestation {
  return verifyAttestation(env, KEYS, NOW);
}

const prov = (o: Parameters<typeof provenance>[0] = {}, signers = [A]): VerifiedAttestation =>
  verified(attest({ 'app-1.0.tar.gz': ART }, SLSA_V1, provenance(o), signers));
const sbom = (): VerifiedAttestation =>
  verified(attest({ 'app-1.0.tar.gz': ART }, SPDX_TYPE, { spdxVersion: 'SPDX-2.3', creationInfo: { created: '2026-11-21T00:00:00Z' } }, [A]));

const BASE = {
  version: 1,
  required_predicate_types: [SLSA_V1, SPDX_TYPE],
  trusted_builders: ['https://builder.example/*'],
  subject_names: ['*.tar.gz'],
  max_age: '7d',
  source_repositories: ['git+https://git.example/acme/*'],
  max_severity: 'medium',
  signers: { key_ids: [tufKeyId(A.publicKey), tufKeyId(B.publicKey)], threshold: 1 },
};

function policy(over: Record<string, unknown> = {}): Policy {
  return parsePolicy(JSON.stringify({ ...BASE, ...over }));
}

function evidence(over: Partial<PolicyEvidence> = {}): PolicyEvidence {
  return { artifact: { name: 'app-1.0.tar.gz', sha256: sha256Hex(ART) }, attestations: [prov(), sbom()], scan: { maxSeverity: 'low', findings: 1 }, ...over };
}

/** refused runs fn and returns the coded error it throws. */
function refused(fn: () => unknown): { name: string; code: string; message: string; kind: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(isTrustError(e), `expected a coded error, got ${String(e)}`);
    return { name: e.name, code: e.code, message: e.message, kind: e.kind };
  }
  assert.fail('expected a refusal');
}

test('evidence that meets every rule is accepted, with a verdict per rule', () => {
  const d = enforcePolicy(policy(), evidence(), NOW);
  assert.equal(d.accepted, true);
  assert.deepEqual(
    d.verdicts.map((v) => [v.rule, v.ok]),
    [
      ['required_predicate_types', true],
      ['trusted_builders', true],
      ['subject_names', true],
      ['max_age', true],
      ['source_repositories', true],
      ['max_severity', true],
      ['signers', true],
    ],
  );
  assert.equal(d.attestations, 2);
});

test('the refusal table: class, code and the rule named in the message', () => {
  const other = Buffer.from('other bytes');
  const rows: Array<{ what: string; run: () => unknown; name: string; code: string; rule: string }> = [
    { what: 'untrusted builder', run: () => enforcePolicy(policy(), evidence({ attestations: [prov({ builder: 'https://evil.example/ci' }), sbom()] }), NOW), name: 'PolicyError', code: 'ERR_POLICY_UNTRUSTED_BUILDER', rule: 'trusted_builders' },
    { what: 'missing predicate', run: () => enforcePolicy(policy(), evidence({ attestations: [prov()] }), NOW), name: 'PolicyError', code: 'ERR_POLICY_PREDICATE_MISSING', rule: 'required_predicate_types' },
    { what: 'stale attestation', run: () => enforcePolicy(policy(), evidence(), new Date('2026-12-22T00:00:00Z')), name: 'PolicyError', code: 'ERR_POLICY_STALE', rule: 'max_age' },
    {
      what: 'subject digest mismatch',
      run: () => enforcePolicy(policy(), evidence({ attestations: [prov(), verified(attest({ 'app-1.0.tar.gz': other }, SPDX_TYPE, {}, [A]))] }), NOW),
      name: 'VerificationError',
      code: 'ERR_ATTEST_SUBJECT_MISMATCH',
      rule: `sha256:${sha256Hex(ART)}`,
    },
    { what: 'severity over the gate', run: () => enforcePolicy(policy(), evidence({ scan: { maxSeverity: 'high', findings: 3 } }), NOW), name: 'PolicyError', code: 'ERR_POLICY_SEVERITY', rule: 'max_severity' },
    { what: 'severity without a scan', run: () => enforcePolicy(policy(), evidence({ scan: undefined }), NOW), name: 'PolicyError', code: 'ERR_POLICY_SEVERITY', rule: 'max_severity' },
    { what: 'unknown severity over a critical gate', run: () => enforcePolicy(policy({ max_severity: 'critical' }), evidence({ scan: { maxSeverity: 'unknown', findings: 1 } }), NOW), name: 'PolicyError', code: 'ERR_POLICY_SEVERITY', rule: 'max_severity' },
    {
      what: 'too few signers',
      run: () => enforcePolicy(policy({ signers: { key_ids: [tufKeyId(A.publicKey), tufKeyId(B.publicKey)], threshold: 2 } }), evidence(), NOW),
      name: 'PolicyError',
      code: 'ERR_POLICY_SIGNERS',
      rule: 'signers',
    },
    { what: 'subject name not allowed', run: () => enforcePolicy(policy({ subject_names: ['*.zip'] }), evidence(), NOW), name: 'PolicyError', code: 'ERR_POLICY_SUBJECT_NAME', rule: 'subject_names' },
    { what: 'source repository not allowed', run: () => enforcePolicy(policy(), evidence({ attestations: [prov({ repo: 'git+https://git.example/evil/app' }), sbom()] }), NOW), name: 'PolicyError', code: 'ERR_POLICY_SOURCE_REPOSITORY', rule: 'source_repositories' },
    { what: 'log inclusion required, none verified', run: () => enforcePolicy(policy({ require_log_inclusion: true }), evidence(), NOW), name: 'PolicyError', code: 'ERR_POLICY_LOG_INCLUSION', rule: 'require_log_inclusion' },
    { what: 'unknown policy key', run: () => policy({ trusted_builder: ['x'] }), name: 'ConfigError', code: 'ERR_POLICY_UNKNOWN_KEY', rule: 'trusted_builder' },
    { what: 'unknown nested policy key', run: () => policy({ signers: { key_ids: [tufKeyId(A.publicKey)], threshold: 1, treshold: 2 } }), name: 'ConfigError', code: 'ERR_POLICY_UNKNOWN_KEY', rule: '/signers' },
    { what: 'wrong type', run: () => policy({ max_age: 30 }), name: 'ConfigError', code: 'ERR_POLICY_SCHEMA', rule: '/max_age' },
    { what: 'threshold over the keys', run: () => policy({ signers: { key_ids: [tufKeyId(A.publicKey)], threshold: 2 } }), name: 'ConfigError', code: 'ERR_POLICY_SCHEMA', rule: '/signers/threshold' },
    { what: 'nothing required', run: () => parsePolicy('{"version": 1}'), name: 'ConfigError', code: 'ERR_POLICY_SCHEMA', rule: 'required_predicate_types' },
  ];
  for (const r of rows) {
    const e = refused(r.run);
    assert.equal(e.name, r.name, r.what);
    assert.equal(e.code, r.code, `${r.what}: ${e.message}`);
    assert.ok(e.message.includes(r.rule), `${r.what}: ${JSON.stringify(r.rule)} not in ${JSON.stringify(e.message)}`);
  }
});

test('a verified log inclusion satisfies require_log_inclusion; attestations about other bytes are ignored by evaluate', () => {
  const p = prov();
  const s = sbom();
  const inclusions = new Map([
    [p.signedDigest, { origin: 'log.example', index: 3, treeSize: 9 }],
    [s.signedDigest, { origin: 'log.example', index: 4, treeSize: 9 }],
  ]);
  assert.equal(enforcePolicy(policy({ require_log_inclusion: true }), evidence({ attestations: [p, s], inclusions }), NOW).accepted, true);
  const other = verified(attest({ 'x.tar.gz': 'x' }, SLSA_V1, provenance({ builder: 'https://evil.example/' }), [A]));
  const d = evaluatePolicy(policy(), evidence({ attestations: [p, s, other] }), NOW);
  assert.equal(d.accepted, true);
  assert.equal(d.attestations, 2);
});

test('a future-dated attestation (beyond clock skew) is refused by max_age', () => {
  const e = refused(() => enforcePolicy(policy(), evidence({ attestations: [prov({ finishedOn: '2026-11-23T00:00:00Z' }), sbom()] }), NOW));
  assert.equal(e.code, 'ERR_POLICY_STALE');
  assert.match(e.message, /max_age.*future/);
});

test('YAML policies read as JSON ones; duplicate keys and forbidden keys are refused', () => {
  const yaml = `version: 1
required_predicate_types:
  - ${SLSA_V1}
trusted_builders: ["${BUILDER}"]
max_age: 30d
`;
  const p = parsePolicy(yaml);
  assert.deepEqual(p.trustedBuilders, [BUILDER]);
  assert.equal(p.maxAgeMs, 30 * 86_400_000);
  assert.equal(refused(() => parsePolicy(yaml + 'max_age: 1d\n')).code, 'ERR_POLICY_SCHEMA');
  assert.equal(refused(() => parsePolicy(yaml + '__proto__: {x: 1}\n')).code, 'ERR_POLICY_SCHEMA');
  assert.equal(refused(() => parsePolicy(yaml + 'max_agee: 1d\n')).code, 'ERR_POLICY_UNKNOWN_KEY');
  assert.equal(refused(() => parsePolicy('{"version": 1, "required_predicate_types": ["x"], "version": 1}')).code, 'ERR_POLICY_SCHEMA');
  assert.equal(refused(() => parsePolicy('x'.repeat(300_000))).code, 'ERR_LIMIT_SIZE');
  assert.equal(refused(() => parsePolicy('a: &a [1]\nb: [*a, *a, *a]\n'.replace('b:', 'b:'))).kind, 'config');
});

test('globs and builder patterns', () => {
  assert.ok(matchGlob('*.tar.gz', 'app-1.0.tar.gz'));
  assert.ok(matchGlob('git+https://git.example/acme/*', 'git+https://git.example/acme/app@refs/heads/main'));
  assert.ok(!matchGlob('git+https://git.example/acme/*', 'git+https://git.example/acmeevil/app'));
  assert.ok(matchGlob('a?c', 'abc'));
  assert.ok(!matchGlob('a?c', 'ac'));
  assert.ok(matchGlob('*a*b*c*', 'xxaxxbxxcxx'));
  // Linear time: a pathological pattern answers at once.
  assert.ok(!matchGlob('*a'.repeat(50) + 'b', 'a'.repeat(5000)));
  assert.ok(matchBuilder('https://b.example/*', 'https://b.example/x'));
  assert.ok(!matchBuilder('https://b.example/ci', 'https://b.example/ci2'));
  assert.ok(matchBuilder('https://b.example/ci?v=1', 'https://b.example/ci?v=1'));
});

test('POLICY_SCHEMA is a valid JSON Schema (parsePolicy compiles it without the meta-schema check)', () => {
  const ajv = new Ajv({ strict: true });
  assert.equal(ajv.validateSchema(POLICY_SCHEMA), true, JSON.stringify(ajv.errors));
  // And the lean validator parsePolicy compiles agrees with a fully checked one on accepted and refused documents.
  const full = ajv.compile(POLICY_SCHEMA);
  const good = { version: 1, required_predicate_types: [SLSA_V1], max_age: '30d', signers: { key_ids: ['a'.repeat(64)], threshold: 1 } };
  assert.equal(full(good), true);
  assert.deepEqual(parsePolicy(JSON.stringify(good)).requiredPredicateTypes, [SLSA_V1]);
  for (const bad of [{ ...good, max_age: '30y' }, { ...good, extra: 1 }, { ...good, version: 2 }]) {
    assert.equal(full(bad), false);
    assert.throws(() => parsePolicy(JSON.stringify(bad)), (e: unknown) => isTrustError(e) && e.kind === 'config');
  }
});
