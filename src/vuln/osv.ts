/**
 * vuln/osv — parses one OSV record (OSV schema 1.6, ossf.github.io/osv-schema: `id`, `modified`, `withdrawn`,
 * `aliases`, `severity[{type, score}]`, `affected[{package{ecosystem, name, purl}, severity, ranges[{type, events}],
 * versions}]`, `database_specific.severity`) into the normalized model the database stores and the scanner evaluates.
 *
 * Trust boundary: records are untrusted input (an export downloaded from osv.dev, or anyone's directory). Each is
 * parsed by encoding/json's bounded parser under OSV_RECORD_MAX_BYTES (ERR_VULN_RECORD_LIMIT) and checked field by
 * field; a missing or mistyped field the evaluation needs, or an event object without exactly one of
 * introduced/fixed/last_affected/limit, is ERR_VULN_RECORD_MALFORMED naming the file. Fields not needed are ignored.
 * Ranges of a type other than SEMVER, ECOSYSTEM and GIT are dropped and counted (`unknownRangeTypes`), never fatal:
 * a future schema may add types. GIT ranges are kept out of evaluation (docs/attestations.md).
 */
import { isJsonObject, parseJson, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { FormatError, LimitError, isTrustError } from '../errors.ts';
import { scoreCvss3 } from './cvss.ts';

/** OSV_RECORD_MAX_BYTES caps one record (8 MiB: the largest osv.dev records, long Debian version lists, are ~1 MiB). */
export const OSV_RECORD_MAX_BYTES = 8 * 1024 * 1024;
/** OSV_MAX_AFFECTED caps affected[] entries per record, OSV_MAX_EVENTS events per range, OSV_MAX_VERSIONS versions. */
export const OSV_MAX_AFFECTED = 10_000;
const OSV_MAX_RANGES = 1_000;
const OSV_MAX_EVENTS = 10_000;
const OSV_MAX_VERSIONS = 200_000;
const OSV_MAX_ID_CHARS = 256;

/** Severity is a finding's qualitative severity; 'unknown' when the record gives nothing custody can score. */
export type Severity = 'none' | 'low' | 'medium' | 'high' | 'critical' | 'unknown';

/** SEVERITY_RANKS orders severities; 'unknown' ranks above 'critical' so that a gate fails closed on it. */
const SEVERITY_RANKS: Readonly<Record<Severity, number>> = { none: 0, low: 1, medium: 2, high: 3, critical: 4, unknown: 5 };

/** severityRank orders severities: none 0 < low 1 < medium 2 < high 3 < critical 4 < unknown 5 (fails closed). */
export function severityRank(s: Severity): number {
  return SEVERITY_RANKS[s];
}

/** OsvEvent is one range event (exactly one kind). */
export type OsvEvent = { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

export interface OsvRange {
  type: 'SEMVER' | 'ECOSYSTEM';
  events: OsvEvent[];
}

/** ScoredSeverity is what a severity[] list (or database_specific.severity) resolves to. */
export interface ScoredSeverity {
  severity: Severity;
  score?: number;
}

export interface OsvAffected {
  ecosystem: string;
  name: string;
  purl?: string;
  versions: string[];
  /** ranges: the SEMVER and ECOSYSTEM ranges (GIT and unknown types dropped). */
  ranges: OsvRange[];
  /** severity: a per-package severity[] (OSV: then the top-level one is absent). */
  severity?: ScoredSeverity;
}

/** OsvRecord is the normalized record. */
export interface OsvRecord {
  id: string;
  modified: string;
  withdrawn?: string;
  aliases: string[];
  severity: ScoredSeverity;
  affected: OsvAffected[];
}

/** ParsedOsv is a record plus what was dropped from it. */
export interface ParsedOsv {
  record: OsvRecord;
  /** unknownRangeTypes lists the range types dropped as unknown (one item per range). */
  unknownRangeTypes: string[];
  /** gitRanges counts GIT ranges (kept out of evaluation). */
  gitRanges: number;
}

class RecordChecker {
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  fail(message: string): never {
    throw new FormatError('ERR_VULN_RECORD_MALFORMED', `osv record ${this.file}: ${message}`, { details: { file: this.file } });
  }

  str(o: JsonObject, key: string, where: string): string {
    const v = o[key];
    if (typeof v !== 'string') this.fail(`${where}.${key} must be a string`);
    return v;
  }

  optStr(o: JsonObject, key: string, where: string): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(`${where}.${key} must be a string`);
    return v;
  }

  arr(o: JsonObject, key: string, where: string, cap: number): JsonValue[] {
    const v = o[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(`${where}.${key} must be an array`);
    if (v.length > cap) {
      throw new LimitError('ERR_VULN_RECORD_LIMIT', `osv record ${this.file}: ${where}.${key} has ${v.length} items, over the cap of ${cap}`, {
        details: { file: this.file, cap },
      });
    }
    return v;
  }

  obj(v: JsonValue | undefined, where: string): JsonObject {
    if (!isJsonObject(v)) this.fail(`${where} must be an object`);
    return v;
  }

  strings(o: JsonObject, key: string, where: string, cap: number): string[] {
    return this.arr(o, key, where, cap).map((x, i) => (typeof x === 'string' ? x : this.fail(`${where}.${key}[${i}] must be a string`)));
  }
}

/** GHSA database_specific.severity (and the like): LOW, MODERATE, MEDIUM, HIGH, CRITICAL. */
const TEXT_SEVERITY: Readonly<Record<string, Severity>> = {
  none: 'none',
  negligible: 'low',
  low: 'low',
  moderate: 'medium',
  medium: 'medium',
  high: 'high',
  important: 'high',
  critical: 'critical',
};

/**
 * resolveSeverity picks the severity of a severity[] list: the highest CVSS v3.x base score it holds; else the
 * Ubuntu priority; else database_specific.severity; else 'unknown' (CVSS v2 and v4 vectors are not scored).
 */
function resolveSeverity(c: RecordChecker, list: JsonValue[], where: string, dbSeverity: string | undefined): ScoredSeverity {
  let best: ScoredSeverity | undefined;
  let ubuntu: Severity | undefined;
  for (const [i, raw] of list.entries()) {
    const s = c.obj(raw, `${where}[${i}]`);
    const type = c.str(s, 'type', `${where}[${i}]`);
    const score = c.str(s, 'score', `${where}[${i}]`);
    if (type === 'CVSS_V3') {
      const r = scoreCvss3(score);
      if (r && (best === undefined || r.score > best.score!)) best = { severity: r.rating, score: r.score };
    } else if (type === 'Ubuntu') ubuntu ??= TEXT_SEVERITY[score.toLowerCase()];
  }
  if (best) return best;
  if (ubuntu) return { severity: ubuntu };
  const text = dbSeverity === undefined ? undefined : TEXT_SEVERITY[dbSeverity.toLowerCase()];
  return { severity: text ?? 'unknown' };
}

/**
 * parseOsvRecord parses one record's bytes (`file` names it in errors) under the checks of the module doc.
 *
 * @example
 * const { record, unknownRangeTypes } = parseOsvRecord(bytes, 'GHSA-xxxx.json');
 */
export function parseOsvRecord(bytes: Uint8Array, file: string): ParsedOsv {
  if (bytes.length > OSV_RECORD_MAX_BYTES) {
    throw new LimitError('ERR_VULN_RECORD_LIMIT', `osv record ${file} is ${bytes.length} bytes, over the cap of ${OSV_RECORD_MAX_BYTES}`, {
      details: { file, size: bytes.length, cap: OSV_RECORD_MAX_BYTES },
    });
  }
  const c = new RecordChecker(file);
  let doc: JsonValue;
  try {
    doc = parseJson(bytes, { maxBytes: OSV_RECORD_MAX_BYTES, maxDepth: 64, allowFloats: true, what: `osv record ${file}` });
  } catch (e) {
    if (isTrustError(e) && e.kind === 'limit') {
      throw new LimitError('ERR_VULN_RECORD_LIMIT', `osv record ${file}: ${e.message}`, { cause: e, details: { file } });
    }
    throw new FormatError('ERR_VULN_RECORD_MALFORMED', `osv record ${file}: ${isTrustError(e) ? e.message : 'not json'}`, { cause: e, details: { file } });
  }
  const o = c.obj(doc, 'record');
  const id = c.str(o, 'id', 'record');
  // eslint-disable-next-line no-control-regex
  if (id === '' || id.length > OSV_MAX_ID_CHARS || /[\x00-\x20\x7f]/.test(id)) c.fail('id must be 1-256 visible characters');
  const modified = c.str(o, 'modified', 'record');
  const withdrawn = c.optStr(o, 'withdrawn', 'record');
  const aliases = c.strings(o, 'aliases', 'record', OSV_MAX_AFFECTED);
  const dbSpecific = isJsonObject(o.database_specific) ? o.database_specific : undefined;
  const dbSeverity = dbSpecific && typeof dbSpecific.severity === 'string' ? dbSpecific.severity : undefined;
  const severity = resolveSeverity(c, c.arr(o, 'severity', 'record', 100), 'record.severity', dbSeverity);
  const unknownRangeTypes: string[] = [];
  let gitRanges = 0;
  const affected: OsvAffected[] = [];
  for (const [i, raw] of c.arr(o, 'affected', 'record', OSV_MAX_AFFECTED).entries()) {
    const where = `affected[${i}]`;
    const a = c.obj(raw, where);
    const versions = c.strings(a, 'versions', where, OSV_MAX_VERSIONS);
    const ranges: OsvRange[] = [];
    for (const [j, rr] of c.arr(a, 'ranges', where, OSV_MAX_RANGES).entries()) {
      const rw = `${where}.ranges[${j}]`;
      const r = c.obj(rr, rw);
      const type = c.str(r, 'type', rw);
      if (type === 'GIT') {
        gitRanges++;
        continue;
      }
      if (type !== 'SEMVER' && type !== 'ECOSYSTEM') {
        unknownRangeTypes.push(type.slice(0, 64));
        continue;
      }
      const events: OsvEvent[] = [];
      for (const [k, er] of c.arr(r, 'events', rw, OSV_MAX_EVENTS).entries()) {
        const e = c.obj(er, `${rw}.events[${k}]`);
        const keys = Object.keys(e);
        // OSV schema "Requirements": only a single type is allowed in each event object.
        if (keys.length !== 1) c.fail(`${rw}.events[${k}] must have exactly one of introduced, fixed, last_affected, limit`);
        const key = keys[0]!;
        const value = e[key];
        if (typeof value !== 'string' || value === '') return c.fail(`${rw}.events[${k}].${key} must be a non-empty string`);
        if (key === 'introduced') events.push({ introduced: value });
        else if (key === 'fixed') events.push({ fixed: value });
        else if (key === 'last_affected') events.push({ last_affected: value });
        else if (key === 'limit') events.push({ limit: value });
        else c.fail(`${rw}.events[${k}] has the unknown event ${JSON.stringify(key.slice(0, 64))}`);
      }
      if (!events.some((e) => 'introduced' in e)) c.fail(`${rw}.events must contain an introduced event`);
      ranges.push({ type, events });
    }
    // A package-less entry (GIT ranges of a C project, say) cannot match a purl; it is kept out of the index.
    if (a.package === undefined) continue;
    const pkg = c.obj(a.package, `${where}.package`);
    const entry: OsvAffected = {
      ecosystem: c.str(pkg, 'ecosystem', `${where}.package`),
      name: c.str(pkg, 'name', `${where}.package`),
      versions,
      ranges,
    };
    const purl = c.optStr(pkg, 'purl', `${where}.package`);
    if (purl !== undefined) entry.purl = purl;
    if (a.severity !== undefined) entry.severity = resolveSeverity(c, c.arr(a, 'severity', where, 100), `${where}.severity`, dbSeverity);
    affected.push(entry);
  }
  const record: OsvRecord = { id, modified, aliases, severity, affected };
  if (withdrawn !== undefined) record.withdrawn = withdrawn;
  return { record, unknownRangeTypes, gitRanges };
}
