/**
 * attest/slsa — the SLSA Provenance predicate, v1.0 (slsa.dev/spec/v1.0/provenance), predicateType
 * `https://slsa.dev/provenance/v1`, carried in an in-toto Statement v1.
 *
 * The predicate, field names exactly as the spec writes them (JSON lowerCamelCase of provenance.proto):
 * ```
 * { "buildDefinition": { "buildType": TypeURI,                       REQUIRED
 *                        "externalParameters": {…},                  REQUIRED (may be {})
 *                        "internalParameters": {…},
 *                        "resolvedDependencies": [ResourceDescriptor] },
 *   "runDetails": { "builder": { "id": TypeURI,                       REQUIRED
 *                                "version": {string: string},
 *                                "builderDependencies": [ResourceDescriptor] },
 *                   "metadata": { "invocationId": string, "startedOn": RFC 3339, "finishedOn": RFC 3339 },
 *                   "byproducts": [ResourceDescriptor] } }
 * ```
 * Parsing follows the spec's parsing rules: unknown fields are ignored (a later 1.x may add some), and null reads as
 * absent. A missing or mistyped required field is ERR_SLSA_SCHEMA; a startedOn after its finishedOn is
 * ERR_SLSA_TIME_ORDER (the document contradicts itself). Every list, map and string is bounded; the JSON below the
 * predicate was already bounded in depth and size by encoding/json.
 *
 * The predicate says what the builder claims. It is trusted only as far as the envelope's signers are, which
 * attest/verify establishes first; a policy (src/policy) decides which builder ids and build types to accept.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { formatTimestamp, parseTimestamp } from '../encoding/time.ts';
import { FormatError, LimitError, isTrustError } from '../errors.ts';
import {
  optionalString,
  parseResourceDescriptor,
  resourceDescriptorToJson,
  RD_MAX_STRING_CHARS,
  type ResourceDescriptor,
} from './resource-descriptor.ts';
import type { Statement, Subject } from './statement.ts';

/** SLSA_PROVENANCE_V1 is the predicateType of SLSA Provenance v1.x (the spec: always this string, never v1.0). */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** SLSA_MAX_DESCRIPTORS caps each list of ResourceDescriptors (a lockfile's dependencies fit well below it). */
export const SLSA_MAX_DESCRIPTORS = 100_000;
/** SLSA_MAX_VERSION_ENTRIES caps the entries of runDetails.builder.version. */
export const SLSA_MAX_VERSION_ENTRIES = 64;

/** BuildDefinition is the input of the build: what was asked (external) and what the platform chose (internal). */
export interface BuildDefinition {
  buildType: string;
  externalParameters: JsonObject;
  internalParameters?: JsonObject;
  resolvedDependencies?: ResourceDescriptor[];
}

/** Builder identifies the build platform; `id` is what a verifier's policy trusts. */
export interface Builder {
  id: string;
  version?: Record<string, string>;
  builderDependencies?: ResourceDescriptor[];
}

/** BuildMetadata describes this run; every field is optional. */
export interface BuildMetadata {
  invocationId?: string;
  startedOn?: Date;
  finishedOn?: Date;
}

/** RunDetails is who ran the build and how the run went. */
export interface RunDetails {
  builder: Builder;
  metadata?: BuildMetadata;
  byproducts?: ResourceDescriptor[];
}

/** Provenance is a parsed SLSA Provenance v1 predicate. */
export interface Provenance {
  buildDefinition: BuildDefinition;
  runDetails: RunDetails;
}

function schema(message: string): FormatError {
  return new FormatError('ERR_SLSA_SCHEMA', message);
}

const AS_URI = { uri: true } as const;
const TIMESTAMP_MAX = { max: 64 } as const;

function requiredObject(obj: JsonObject, field: string, where: string): JsonObject {
  const v = obj[field];
  if (v === undefined || v === null) throw schema(`${where}: "${field}" is required`);
  if (!isJsonObject(v)) throw schema(`${where}: "${field}" must be an object`);
  return v;
}

function optionalObject(obj: JsonObject, field: string, where: string): JsonObject | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (!isJsonObject(v)) throw schema(`${where}: "${field}" must be an object`);
  return v;
}

function requiredUri(obj: JsonObject, field: string, where: string): string {
  const v = obj[field];
  if (v === undefined || v === null || v === '') throw schema(`${where}: "${field}" is required`);
  const s = optionalString(obj, field, where, 'ERR_SLSA_SCHEMA', AS_URI);
  if (s === undefined) throw schema(`${where}: "${field}" is required`);
  return s;
}

function descriptors(obj: JsonObject, field: string, where: string): ResourceDescriptor[] | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw schema(`${where}: "${field}" must be an array of ResourceDescriptors`);
  if (v.length > SLSA_MAX_DESCRIPTORS) throw new LimitError('ERR_LIMIT_COUNT', `${where}: "${field}" has ${v.length} entries, over the cap of ${SLSA_MAX_DESCRIPTORS}`);
  return v.map((d: JsonValue, i) => parseResourceDescriptor(d, `${where}.${field}[${i}]`, 'ERR_SLSA_SCHEMA'));
}

function timestamp(obj: JsonObject, field: string, where: string): Date | undefined {
  const s = optionalString(obj, field, where, 'ERR_SLSA_SCHEMA', TIMESTAMP_MAX);
  if (s === undefined) return undefined;
  try {
    return parseTimestamp(s, `${where}.${field}`);
  } catch (e) {
    if (isTrustError(e)) throw new FormatError('ERR_SLSA_SCHEMA', e.message, { cause: e });
    throw e;
  }
}

/** checkTimeOrder refuses a run that finished before it started (ERR_SLSA_TIME_ORDER). */
export function checkTimeOrder(startedOn: Date | undefined, finishedOn: Date | undefined): void {
  if (startedOn !== undefined && finishedOn !== undefined && startedOn.getTime() > finishedOn.getTime()) {
    throw new FormatError(
      'ERR_SLSA_TIME_ORDER',
      `provenance: startedOn ${startedOn.toISOString()} is after finishedOn ${finishedOn.toISOString()}`,
    );
  }
}

function parseBuilder(v: JsonObject): Builder {
  const where = 'runDetails.builder';
  const builder: Builder = { id: requiredUri(v, 'id', where) };
  const version = optionalObject(v, 'version', where);
  if (version !== undefined) {
    const entries = Object.entries(version);
    if (entries.length > SLSA_MAX_VERSION_ENTRIES) {
      throw new LimitError('ERR_LIMIT_COUNT', `${where}.version has ${entries.length} entries, over the cap of ${SLSA_MAX_VERSION_ENTRIES}`);
    }
    const out: Record<string, string> = {};
    for (const [k, value] of entries) {
      if (typeof value !== 'string') throw schema(`${where}.version: "${printable(k, 40)}" must map to a string`);
      if (value.length > RD_MAX_STRING_CHARS) throw new LimitError('ERR_LIMIT_SIZE', `${where}.version: "${printable(k, 40)}" is over ${RD_MAX_STRING_CHARS} characters`);
      out[k] = value;
    }
    builder.version = out;
  }
  const deps = descriptors(v, 'builderDependencies', where);
  if (deps !== undefined) builder.builderDependencies = deps;
  return builder;
}

/**
 * parseProvenance reads a SLSA Provenance v1 predicate (the statement's `predicate`, already bounded JSON).
 * Throws ERR_SLSA_SCHEMA for a missing or mistyped field, ERR_SLSA_TIME_ORDER, ERR_LIMIT_* over the caps.
 */
export function parseProvenance(predicate: JsonObject): Provenance {
  const bd = requiredObject(predicate, 'buildDefinition', 'provenance');
  const buildDefinition: BuildDefinition = {
    buildType: requiredUri(bd, 'buildType', 'buildDefinition'),
    externalParameters: requiredObject(bd, 'externalParameters', 'buildDefinition'),
  };
  const internal = optionalObject(bd, 'internalParameters', 'buildDefinition');
  if (internal !== undefined) buildDefinition.internalParameters = internal;
  const resolved = descriptors(bd, 'resolvedDependencies', 'buildDefinition');
  if (resolved !== undefined) buildDefinition.resolvedDependencies = resolved;

  const rd = requiredObject(predicate, 'runDetails', 'provenance');
  const runDetails: RunDetails = { builder: parseBuilder(requiredObject(rd, 'builder', 'runDetails')) };
  const md = optionalObject(rd, 'metadata', 'runDetails');
  if (md !== undefined) {
    const metadata: BuildMetadata = {};
    const invocationId = optionalString(md, 'invocationId', 'runDetails.metadata', 'ERR_SLSA_SCHEMA');
    if (invocationId !== undefined) metadata.invocationId = invocationId;
    const startedOn = timestamp(md, 'startedOn', 'runDetails.metadata');
    if (startedOn !== undefined) metadata.startedOn = startedOn;
    const finishedOn = timestamp(md, 'finishedOn', 'runDetails.metadata');
    if (finishedOn !== undefined) metadata.finishedOn = finishedOn;
    checkTimeOrder(startedOn, finishedOn);
    runDetails.metadata = metadata;
  }
  const byproducts = descriptors(rd, 'byproducts', 'runDetails');
  if (byproducts !== undefined) runDetails.byproducts = byproducts;
  return { buildDefinition, runDetails };
}

/** provenanceFromStatement parses the predicate of a statement whose predicateType is SLSA v1 (else ERR_SLSA_PREDICATE_TYPE). */
export function provenanceFromStatement(statement: Statement): Provenance {
  if (statement.predicateType !== SLSA_PROVENANCE_V1) {
    throw new FormatError(
      'ERR_SLSA_PREDICATE_TYPE',
      `statement predicateType is "${printable(statement.predicateType, 80)}", expected "${SLSA_PROVENANCE_V1}"`,
    );
  }
  return parseProvenance(statement.predicate);
}

/** formatSlsaTime writes whole seconds as `YYYY-MM-DDTHH:MM:SSZ`, and milliseconds when the instant has them. */
function formatSlsaTime(d: Date): string {
  return d.getUTCMilliseconds() === 0 ? formatTimestamp(d) : d.toISOString();
}

/**
 * provenancePredicate renders the predicate JSON in the spec's field order, absent optional fields omitted, and
 * checks it by parsing it back: what it returns is what parseProvenance accepts (else the same coded errors).
 */
export function provenancePredicate(p: Provenance): JsonObject {
  const bd = p.buildDefinition;
  const buildDefinition: JsonObject = { buildType: bd.buildType, externalParameters: bd.externalParameters };
  if (bd.internalParameters !== undefined) buildDefinition['internalParameters'] = bd.internalParameters;
  if (bd.resolvedDependencies !== undefined) buildDefinition['resolvedDependencies'] = bd.resolvedDependencies.map(resourceDescriptorToJson);

  const b = p.runDetails.builder;
  const builder: JsonObject = { id: b.id };
  if (b.version !== undefined) builder['version'] = { ...b.version };
  if (b.builderDependencies !== undefined) builder['builderDependencies'] = b.builderDependencies.map(resourceDescriptorToJson);
  const runDetails: JsonObject = { builder };
  const md = p.runDetails.metadata;
  if (md !== undefined) {
    const metadata: JsonObject = {};
    if (md.invocationId !== undefined) metadata['invocationId'] = md.invocationId;
    if (md.startedOn !== undefined) metadata['startedOn'] = formatSlsaTime(md.startedOn);
    if (md.finishedOn !== undefined) metadata['finishedOn'] = formatSlsaTime(md.finishedOn);
    runDetails['metadata'] = metadata;
  }
  if (p.runDetails.byproducts !== undefined) runDetails['byproducts'] = p.runDetails.byproducts.map(resourceDescriptorToJson);

  const predicate: JsonObject = { buildDefinition, runDetails };
  parseProvenance(predicate);
  return predicate;
}

/** provenanceStatement is the in-toto statement (without `_type`, as encodeStatement takes it) of `p` for `subject`. */
export function provenanceStatement(subject: Subject[], p: Provenance): Omit<Statement, 'type'> {
  return { subject, predicateType: SLSA_PROVENANCE_V1, predicate: provenancePredicate(p) };
}
