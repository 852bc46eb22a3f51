/**
 * policy/policy — the policy file of the attestation gate: plain JSON or YAML 1.2 (package `yaml`), checked against
 * one JSON Schema (draft 2020-12 subset, ajv) with `additionalProperties: false` everywhere, so that a misspelt key is
 * refused rather than silently ignored (a typo must never weaken a policy). docs/attestations.md "Policy" documents
 * every key; {@link POLICY_SCHEMA} is the normative list.
 *
 * ```json
 * {
 *   "version": 1,
 *   "required_predicate_types": ["https://slsa.dev/provenance/v1"],
 *   "trusted_builders": ["https://builder.example/ci@v1", "https://github.com/actions/runner/*"],
 *   "subject_names": ["*.tar.gz"],
 *   "max_age": "30d",
 *   "source_repositories": ["git+https://git.example/acme/*"],
 *   "max_severity": "medium",
 *   "signers": { "key_ids": ["<64 hex>"], "threshold": 1 },
 *   "require_log_inclusion": false
 * }
 * ```
 * Trust boundary: the policy is the operator's (trusted) configuration, but it is still read bounded: at most
 * POLICY_MAX_BYTES, YAML aliases capped, `__proto__`/`constructor` keys refused by the JSON parser and here for YAML.
 */
import { createRequire } from 'node:module';
import type * as AjvModule from 'ajv';
import type * as YamlModule from 'yaml';
import { decodeUtf8, parseJson, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { ConfigError, LimitError, isTrustError } from '../errors.ts';
import type { Severity } from './severity.ts';

/** POLICY_MAX_BYTES caps a policy file (a policy is a few hundred bytes; lists of patterns stay small). */
export const POLICY_MAX_BYTES = 256 * 1024;
/** POLICY_MAX_PATTERNS caps each list of the policy. */
export const POLICY_MAX_PATTERNS = 256;


/** Policy is a checked policy file. Absent keys impose nothing, except `required_predicate_types` (required). */
export interface Policy {
  version: 1;
  /** required_predicate_types: for each type, at least one verified attestation of it must name the artifact. */
  requiredPredicateTypes: string[];
  /** trusted_builders: SLSA `runDetails.builder.id` patterns (exact, or a prefix ending in `*`). */
  trustedBuilders?: string[];
  /** subject_names: glob patterns the subject name (of the artifact's digest) must match. */
  subjectNames?: string[];
  /** max_age in milliseconds (from `<n>{s,m,h,d,w}`). */
  maxAgeMs?: number;
  maxAge?: string;
  /** source_repositories: glob patterns of the provenance's source URIs. */
  sourceRepositories?: string[];
  /** max_severity: the highest vulnerability severity accepted. */
  maxSeverity?: Exclude<Severity, 'unknown'>;
  /** signers: each attestation must be signed by `threshold` of these TUF key ids. */
  signers?: { keyIds: string[]; threshold: number };
  /** require_log_inclusion: each attestation must carry a verified transparency-log inclusion. */
  requireLogInclusion?: boolean;
}

const patterns = (what: string): Record<string, unknown> => ({
  type: 'array',
  minItems: 1,
  maxItems: POLICY_MAX_PATTERNS,
  items: { type: 'string', minLength: 1, maxLength: 1024 },
  description: what,
});

/** POLICY_SCHEMA is the JSON Schema of a policy file: every key custody knows, nothing else. */
export const POLICY_SCHEMA = {
  $id: 'https://custody.invalid/schemas/policy-v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'required_predicate_types'],
  properties: {
    version: { const: 1 },
    required_predicate_types: patterns('predicate type URIs; each must be attested'),
    trusted_builders: patterns('SLSA builder ids, exact or a prefix ending in *'),
    subject_names: patterns('glob patterns of the subject name'),
    max_age: { type: 'string', pattern: '^[1-9][0-9]{0,6}[smhdw]$' },
    source_repositories: patterns('glob patterns of the source repository URIs'),
    max_severity: { enum: ['none', 'low', 'medium', 'high', 'critical'] },
    signers: {
      type: 'object',
      additionalProperties: false,
      required: ['key_ids', 'threshold'],
      properties: {
        key_ids: { type: 'array', minItems: 1, maxItems: POLICY_MAX_PATTERNS, uniqueItems: true, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
        threshold: { type: 'integer', minimum: 1, maximum: POLICY_MAX_PATTERNS },
      },
    },
    require_log_inclusion: { type: 'boolean' },
  },
} as const;

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}
type Validator = ((v: unknown) => boolean) & { errors?: AjvError[] | null };
let validator: Validator | undefined;

/**
 * lib requires ajv or yaml on first use: each is some 50 ms of module loading at start, which `verify-attestation
 * --help`, a usage error or a command that never reads a policy should not pay (issue 9, cold start).
 */
function lib<T>(name: 'ajv' | 'yaml'): T {
  return createRequire(import.meta.url)(name) as T;
}

/**
 * compiled compiles the schema on first use (no work at module load). POLICY_SCHEMA is a constant of this module,
 * checked against the JSON Schema meta-schema by test/policy: so ajv neither adds nor compiles the meta-schema here
 * (`meta: false`, `validateSchema: false`), which was three quarters of the compile (65 → 14 ms measured).
 */
function compiled(): Validator {
  if (validator === undefined) {
    const { Ajv } = lib<typeof AjvModule>('ajv');
    validator = new Ajv({ allErrors: true, strict: true, meta: false, validateSchema: false }).compile(POLICY_SCHEMA) as Validator;
  }
  return validator;
}

/** FORBIDDEN_KEYS are refused in YAML as the JSON parser refuses them (prototype pollution). */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function checkKeys(v: unknown, path: string): void {
  if (Array.isArray(v)) v.forEach((x, i) => checkKeys(x, `${path}/${i}`));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (FORBIDDEN_KEYS.has(k)) throw new ConfigError('ERR_POLICY_SCHEMA', `policy: key "${k}" at ${path || '/'} is refused`);
      checkKeys(x, `${path}/${k}`);
    }
  }
}

/** readPolicyDocument parses JSON (when the text starts with `{`) or YAML into plain values, bounded. */
function readPolicyDocument(input: Uint8Array | string, what: string): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > POLICY_MAX_BYTES) throw new LimitError('ERR_LIMIT_SIZE', `${what} is ${size} bytes, over the cap of ${POLICY_MAX_BYTES}`);
  const text = typeof input === 'string' ? input : decodeUtf8(input, what);
  if (text.trimStart().startsWith('{')) {
    try {
      return parseJson(text, { maxBytes: POLICY_MAX_BYTES, maxDepth: 8, what });
    } catch (e) {
      if (isTrustError(e) && e.kind === 'format') throw new ConfigError('ERR_POLICY_SCHEMA', `${what}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return undefined;
}

function readYaml(text: string, what: string): unknown {
  // YAML 1.2 core schema: no custom tags, duplicate keys are errors, aliases capped (a "billion laughs" is refused).
  const doc = lib<typeof YamlModule>('yaml').parseDocument(text, { version: '1.2', schema: 'core', uniqueKeys: true, prettyErrors: false, strict: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) throw new ConfigError('ERR_POLICY_SCHEMA', `${what}: not valid YAML: ${printable(problem.message.split('\n')[0] ?? '', 200)}`);
  try {
    return doc.toJS({ maxAliasCount: 64 }) as unknown;
  } catch (e) {
    throw new ConfigError('ERR_POLICY_SCHEMA', `${what}: ${printable((e as Error).message, 200)}`, { cause: e });
  }
}

/**
 * parsePolicy reads a policy file (JSON or YAML) and checks it against {@link POLICY_SCHEMA}. An unknown key is
 * ERR_POLICY_UNKNOWN_KEY naming its path (`/signers/keyids`); any other mismatch ERR_POLICY_SCHEMA with its path.
 */
export function parsePolicy(input: Uint8Array | string, what = 'policy'): Policy {
  let doc = readPolicyDocument(input, what);
  if (doc === undefined) doc = readYaml(typeof input === 'string' ? input : decodeUtf8(input, what), what);
  checkKeys(doc, '');
  const validate = compiled();
  if (!validate(doc)) {
    const errors = validate.errors ?? [];
    const unknown = errors.find((e) => e.keyword === 'additionalProperties');
    if (unknown !== undefined) {
      const prop = unknown.params['additionalProperty'];
      const key = typeof prop === 'string' ? prop : '';
      throw new ConfigError('ERR_POLICY_UNKNOWN_KEY', `${what}: unknown key "${printable(key, 80)}" at ${unknown.instancePath || '/'}`, {
        details: { path: `${unknown.instancePath}/${key}` },
      });
    }
    const first = errors[0];
    const at = first === undefined ? '/' : first.instancePath || '/';
    throw new ConfigError('ERR_POLICY_SCHEMA', `${what}: ${at} ${first?.message ?? 'does not match the schema'}`, {
      details: { errors: errors.slice(0, 8).map((e) => ({ path: e.instancePath || '/', message: e.message ?? e.keyword })) },
    });
  }
  return toPolicy(doc as JsonValue as Record<string, JsonValue>);
}

const UNITS_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

function toPolicy(d: Record<string, JsonValue>): Policy {
  const strings = (k: string): string[] | undefined => (d[k] === undefined ? undefined : (d[k] as string[]).slice());
  const p: Policy = { version: 1, requiredPredicateTypes: strings('required_predicate_types')! };
  const tb = strings('trusted_builders');
  if (tb) p.trustedBuilders = tb;
  const sn = strings('subject_names');
  if (sn) p.subjectNames = sn;
  const sr = strings('source_repositories');
  if (sr) p.sourceRepositories = sr;
  if (typeof d.max_age === 'string') {
    p.maxAge = d.max_age;
    p.maxAgeMs = Number(d.max_age.slice(0, -1)) * UNITS_MS[d.max_age.slice(-1)]!;
  }
  if (typeof d.max_severity === 'string') p.maxSeverity = d.max_severity as Policy['maxSeverity'] & string;
  const s = d.signers as { key_ids: string[]; threshold: number } | undefined;
  if (s !== undefined) {
    if (s.threshold > s.key_ids.length) {
      throw new ConfigError('ERR_POLICY_SCHEMA', `policy: /signers/threshold ${s.threshold} is more than the ${s.key_ids.length} key ids listed`);
    }
    p.signers = { keyIds: s.key_ids.slice(), threshold: s.threshold };
  }
  if (typeof d.require_log_inclusion === 'boolean') p.requireLogInclusion = d.require_log_inclusion;
  return p;
}
