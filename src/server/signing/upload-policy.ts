/**
 * server/signing/upload-policy — the gatekeeper's tier rules (POST /v1/verify-and-permit-upload, issue 11): which
 * registered scanners a tier accepts, which artifact types, how many and how large, how old the inner signature may
 * be, which storage destinations a permission may name, and how long a permission lives. One file, JSON or YAML (YAML
 * 1.2 core schema, duplicate keys and custom tags refused), checked against {@link UPLOAD_POLICY_SCHEMA} (ajv, strict,
 * `additionalProperties: false` everywhere, every number bounded). Certus compares a signer string; this is data.
 *
 * ```yaml
 * version: 1
 * permission_ttl_seconds: 900        # 1 – 86,400
 * max_clock_skew_seconds: 300        # 0 – 3,600: inner timestamps this far in the future are still accepted
 * tiers:                             # 1 – 16 tiers, names [a-z][a-z0-9_-]{0,31}
 *   basic:
 *     scanners: ["*"]                # "*" = any registered scanner identity (scope scan), or 1 – 256 names
 *     artifact_types: [sarif, sbom, report, other]
 *     destinations: [raw_s3]         # raw_s3, oci_registry
 *     max_artifacts: 64              # 1 – 1,024
 *     max_artifact_bytes: 104857600  # 1 – 2^40
 *     max_signature_age_seconds: 86400  # 1 – 31,536,000
 * ```
 * Trust boundary: the file is the operator's; it is still parsed bounded (64 KiB, depth 8) and validated.
 */
import { Ajv } from 'ajv';
import { parseDocument } from 'yaml';
import { decodeUtf8, parseJson } from '../../encoding/json.ts';
import { ConfigError, LimitError, PolicyError, isTrustError } from '../../errors.ts';

/** UPLOAD_POLICY_MAX_BYTES caps the policy file. */
export const UPLOAD_POLICY_MAX_BYTES = 64 * 1024;
/** UPLOAD_ARTIFACT_TYPES are the artifact types a gatekeeper request may name (an unknown one is refused 400). */
export const UPLOAD_ARTIFACT_TYPES = ['sarif', 'sbom', 'report', 'image', 'assessment', 'attestation', 'log', 'other'] as const;
/** DESTINATIONS are Certus's storage destinations (`storage_destinations.raw_s3`, `.oci_registry`). */
export const DESTINATIONS = ['raw_s3', 'oci_registry'] as const;
export type Destination = (typeof DESTINATIONS)[number];

/** TierRules are one tier's rules (module comment for units and bounds). */
export interface TierRules {
  scanners: string[];
  artifactTypes: string[];
  destinations: Destination[];
  maxArtifacts: number;
  maxArtifactBytes: number;
  maxSignatureAgeSeconds: number;
}

/** UploadPolicy is a validated policy file. */
export interface UploadPolicy {
  permissionTtlSeconds: number;
  maxClockSkewSeconds: number;
  tiers: ReadonlyMap<string, TierRules>;
}

const TIER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['scanners'],
  properties: {
    scanners: { type: 'array', minItems: 1, maxItems: 256, uniqueItems: true, items: { type: 'string', pattern: '^(\\*|[A-Za-z0-9._@+-]{1,128})$' } },
    artifact_types: { type: 'array', minItems: 1, maxItems: UPLOAD_ARTIFACT_TYPES.length, uniqueItems: true, items: { enum: [...UPLOAD_ARTIFACT_TYPES] } },
    destinations: { type: 'array', minItems: 1, maxItems: DESTINATIONS.length, uniqueItems: true, items: { enum: [...DESTINATIONS] } },
    max_artifacts: { type: 'integer', minimum: 1, maximum: 1024 },
    max_artifact_bytes: { type: 'integer', minimum: 1, maximum: 2 ** 40 },
    max_signature_age_seconds: { type: 'integer', minimum: 1, maximum: 31_536_000 },
  },
} as const;

/** UPLOAD_POLICY_SCHEMA is the JSON Schema of the policy file. */
export const UPLOAD_POLICY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'tiers'],
  properties: {
    version: { const: 1 },
    permission_ttl_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
    max_clock_skew_seconds: { type: 'integer', minimum: 0, maximum: 3_600 },
    tiers: {
      type: 'object',
      minProperties: 1,
      maxProperties: 16,
      propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,31}$' },
      additionalProperties: TIER_SCHEMA,
    },
  },
} as const;

/** DEFAULT_UPLOAD_POLICY is used without --upload-policy: any registered scanner; `verified` may also go to OCI. */
export const DEFAULT_UPLOAD_POLICY_TEXT = `version: 1
permission_ttl_seconds: 900
max_clock_skew_seconds: 300
tiers:
  basic:
    scanners: ["*"]
    destinations: [raw_s3]
  verified:
    scanners: ["*"]
    destinations: [raw_s3, oci_registry]
    max_signature_age_seconds: 3600
`;

type Validator = ((v: unknown) => boolean) & { errors?: Array<{ instancePath: string; keyword: string; message?: string; params: Record<string, unknown> }> | null };
let validator: Validator | undefined;

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
function checkKeys(v: unknown, path: string, what: string): void {
  if (Array.isArray(v)) v.forEach((x, i) => checkKeys(x, `${path}/${i}`, what));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (FORBIDDEN_KEYS.has(k)) throw new ConfigError('ERR_CERTUS_POLICY', `${what}: key "${k}" at ${path || '/'} is refused`);
      checkKeys(x, `${path}/${k}`, what);
    }
  }
}

function readDocument(text: string, what: string): unknown {
  if (text.trimStart().startsWith('{')) {
    try {
      return parseJson(text, { maxBytes: UPLOAD_POLICY_MAX_BYTES, maxDepth: 8, what });
    } catch (e) {
      if (isTrustError(e) && (e.kind === 'format' || e.kind === 'limit')) throw new ConfigError('ERR_CERTUS_POLICY', `${what}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  const doc = parseDocument(text, { version: '1.2', schema: 'core', uniqueKeys: true, prettyErrors: false, strict: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) throw new ConfigError('ERR_CERTUS_POLICY', `${what}: not valid YAML: ${(problem.message.split('\n')[0] ?? '').slice(0, 200)}`);
  try {
    return doc.toJS({ maxAliasCount: 64 }) as unknown;
  } catch (e) {
    throw new ConfigError('ERR_CERTUS_POLICY', `${what}: ${String((e as Error).message).slice(0, 200)}`, { cause: e });
  }
}

/** parseUploadPolicy reads and validates a policy file (JSON or YAML), else ConfigError ERR_CERTUS_POLICY naming the path. */
export function parseUploadPolicy(input: Uint8Array | string, what = 'upload policy'): UploadPolicy {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > UPLOAD_POLICY_MAX_BYTES) throw new LimitError('ERR_LIMIT_SIZE', `${what} is ${size} bytes, over the cap of ${UPLOAD_POLICY_MAX_BYTES}`);
  const doc = readDocument(typeof input === 'string' ? input : decodeUtf8(input, what), what);
  checkKeys(doc, '', what);
  validator ??= new Ajv({ allErrors: true, strict: true }).compile(UPLOAD_POLICY_SCHEMA) as Validator;
  if (!validator(doc)) {
    const e = validator.errors?.[0];
    const extra = e?.keyword === 'additionalProperties' ? ` ("${String(e.params['additionalProperty']).slice(0, 80)}")` : '';
    throw new ConfigError('ERR_CERTUS_POLICY', `${what}: ${e?.instancePath || '/'} ${e?.message ?? 'does not match the schema'}${extra}`);
  }
  const d = doc as {
    permission_ttl_seconds?: number;
    max_clock_skew_seconds?: number;
    tiers: Record<string, { scanners: string[]; artifact_types?: string[]; destinations?: Destination[]; max_artifacts?: number; max_artifact_bytes?: number; max_signature_age_seconds?: number }>;
  };
  const tiers = new Map<string, TierRules>();
  for (const [name, t] of Object.entries(d.tiers)) {
    tiers.set(name, {
      scanners: t.scanners,
      artifactTypes: t.artifact_types ?? [...UPLOAD_ARTIFACT_TYPES],
      destinations: t.destinations ?? [...DESTINATIONS],
      maxArtifacts: t.max_artifacts ?? 64,
      maxArtifactBytes: t.max_artifact_bytes ?? 1024 * 1024 * 1024,
      maxSignatureAgeSeconds: t.max_signature_age_seconds ?? 86_400,
    });
  }
  return { permissionTtlSeconds: d.permission_ttl_seconds ?? 900, maxClockSkewSeconds: d.max_clock_skew_seconds ?? 300, tiers };
}

/** PermitRequest is what the policy judges: the tier, the verified scanner, the artifacts, the destinations asked. */
export interface PermitRequest {
  tier: string;
  scanner: string;
  signedAt: number;
  artifacts: ReadonlyArray<{ name: string; size: number; type: string }>;
  destinations: readonly Destination[];
  now: number;
}

/**
 * evaluateUploadPolicy applies the tier's rules, one pure function: returns the tier's rules or throws PolicyError
 * ERR_CERTUS_TIER_UNKNOWN, ERR_CERTUS_POLICY_DENIED (scanner, type, count, size, destination) or
 * ERR_CERTUS_SIGNATURE_STALE (the inner signature is older than the tier allows, or from the future).
 */
export function evaluateUploadPolicy(p: UploadPolicy, r: PermitRequest): TierRules {
  const t = p.tiers.get(r.tier);
  if (t === undefined) throw new PolicyError('ERR_CERTUS_TIER_UNKNOWN', `tier "${r.tier.slice(0, 40)}" is not in the upload policy (tiers: ${[...p.tiers.keys()].join(', ')})`);
  const deny = (why: string): never => {
    throw new PolicyError('ERR_CERTUS_POLICY_DENIED', `tier "${r.tier}": ${why}`);
  };
  if (!t.scanners.includes('*') && !t.scanners.includes(r.scanner)) deny(`scanner "${r.scanner}" is not accepted for this tier`);
  if (r.artifacts.length > t.maxArtifacts) deny(`expected at most ${t.maxArtifacts} artifacts, got ${r.artifacts.length}`);
  for (const a of r.artifacts) {
    if (!t.artifactTypes.includes(a.type)) deny(`artifact "${a.name}" has type "${a.type}", expected one of ${t.artifactTypes.join(', ')}`);
    if (a.size > t.maxArtifactBytes) deny(`artifact "${a.name}" is ${a.size} bytes, over the tier's cap of ${t.maxArtifactBytes}`);
  }
  for (const d of r.destinations) if (!t.destinations.includes(d)) deny(`destination ${d} is not allowed (allowed: ${t.destinations.join(', ')})`);
  const age = (r.now - r.signedAt) / 1000;
  if (age > t.maxSignatureAgeSeconds) throw new PolicyError('ERR_CERTUS_SIGNATURE_STALE', `the inner signature is ${Math.floor(age)} s old, over the tier's ${t.maxSignatureAgeSeconds} s`);
  if (-age > p.maxClockSkewSeconds) throw new PolicyError('ERR_CERTUS_SIGNATURE_STALE', `the inner signature is dated ${Math.ceil(-age)} s in the future`);
  return t;
}
