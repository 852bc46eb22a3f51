/**
 * vuln/scan — matches SBOM components against the offline database with the OSV schema's evaluation algorithm
 * (OSV schema 1.6, "Evaluation": IsVulnerable / IncludedInVersions / IncludedInRanges / BeforeLimits):
 * a version is affected when it is listed in `versions[]`, or when some range, with the version before one of its
 * `limit`s (no limit = `*`), walks its events sorted by version to "vulnerable":
 * `introduced` ≤ v sets it (`"0"` sorts before every version), `fixed` ≤ v clears it, `last_affected` < v clears it.
 *
 * Components are found by purl (vuln/ecosystem maps type and name); a component without a purl, with a purl type
 * OSV has no ecosystem for, or without a version, cannot be matched and is reported through `onWarning`. A range
 * whose events or the component's version cannot be ordered (not SemVer where SemVer is required) is not guessed:
 * when no other range or `versions[]` entry affects the version, the component is reported as an undecided finding
 * (severity 'unknown', `undecided: true`), so that a severity gate fails closed on it, and a warning names the range.
 */
import type { SbomComponents } from '../sbom/read.ts';
import { parsePurl } from '../sbom/purl.ts';
import { isTrustError } from '../errors.ts';
import type { VulnDb } from './db.ts';
import { purlToOsv, releaseMatches } from './ecosystem.ts';
import { severityRank, type OsvAffected, type OsvEvent, type OsvRange, type Severity } from './osv.ts';
import { orderFor, type VersionOrder } from './version.ts';

/** Finding is one vulnerability of one component. */
export interface Finding {
  id: string;
  aliases: string[];
  purl: string;
  name: string;
  version: string;
  severity: Severity;
  /** score: the CVSS v3.x base score, when the severity came from one. */
  score?: number;
  /** fixed: the lowest `fixed` version above the component's version, when the record names one. */
  fixed?: string;
  /**
   * undecided: the record names this package but a range of it cannot order the component's version, so custody
   * cannot tell whether the version is affected; severity is then 'unknown' (fails closed) and `note` says why.
   */
  undecided?: true;
  note?: string;
}

/** ScanResult is every finding (sorted by purl, then id) and the highest severity among them ('none' if none). */
export interface ScanResult {
  findings: Finding[];
  maxSeverity: Severity;
}

export interface ScanOptions {
  /** onWarning receives what could not be evaluated (component or range), one message each. */
  onWarning?: (message: string) => void;
}

/** severityRank is re-exported here for callers of the scan API. */
export { severityRank };
export type { Severity };

function eventVersion(e: OsvEvent): string {
  return 'introduced' in e ? e.introduced : 'fixed' in e ? e.fixed : 'last_affected' in e ? e.last_affected : e.limit;
}

/** rangeVerdict evaluates one range; undefined when it cannot be ordered. */
function rangeVerdict(v: string, range: OsvRange, cmp: VersionOrder): { affected: boolean; fixed?: string } | undefined {
  const order = (a: string, b: string): number | undefined => cmp(a, b);
  if (order(v, v) === undefined) return undefined;
  // BeforeLimits: no limit events means an implicit "*" (infinity).
  const limits = range.events.filter((e): e is { limit: string } => 'limit' in e);
  if (limits.length > 0) {
    let before = false;
    for (const l of limits) {
      if (l.limit.includes('*')) before = true;
      else {
        const c = order(v, l.limit);
        if (c === undefined) return undefined;
        if (c < 0) before = true;
      }
    }
    if (!before) return { affected: false };
  }
  // Sort events by version; introduced "0" is the minimum. An unorderable event makes the range unevaluable.
  const keyed = range.events.filter((e) => !('limit' in e));
  for (const e of keyed) {
    const ver = eventVersion(e);
    if (!('introduced' in e && ver === '0') && order(ver, ver) === undefined) return undefined;
  }
  const sorted = [...keyed].sort((a, b) => {
    const x = eventVersion(a);
    const y = eventVersion(b);
    const ax = 'introduced' in a && x === '0';
    const by = 'introduced' in b && y === '0';
    if (ax || by) return ax && by ? 0 : ax ? -1 : 1;
    return order(x, y)!;
  });
  let vulnerable = false;
  for (const e of sorted) {
    if ('introduced' in e) {
      if (e.introduced === '0' || order(v, e.introduced)! >= 0) vulnerable = true;
    } else if ('fixed' in e) {
      if (order(v, e.fixed)! >= 0) vulnerable = false;
    } else if ('last_affected' in e) {
      if (order(v, e.last_affected)! > 0) vulnerable = false;
    }
  }
  if (!vulnerable) return { affected: false };
  // The fix to report: the lowest fixed event above v.
  let fixed: string | undefined;
  for (const e of sorted) if ('fixed' in e && order(v, e.fixed)! < 0 && (fixed === undefined || order(e.fixed, fixed)! < 0)) fixed = e.fixed;
  return fixed === undefined ? { affected: true } : { affected: true, fixed };
}

/**
 * isAffected applies IsVulnerable to one affected[] entry: `versions[]` exactly, then each SEMVER/ECOSYSTEM range.
 * Returns undefined when not affected; `unevaluable` lists ranges that could not be ordered.
 */
export function isAffected(
  version: string,
  affected: Pick<OsvAffected, 'ecosystem' | 'versions' | 'ranges'>,
  unevaluable: string[] = [],
): { fixed?: string } | undefined {
  let hit: { fixed?: string } | undefined = affected.versions.includes(version) ? {} : undefined;
  for (const range of affected.ranges) {
    const cmp = orderFor(range.type, affected.ecosystem.split(':')[0]!);
    const r = rangeVerdict(version, range, cmp);
    if (r === undefined) {
      unevaluable.push(range.type);
      continue;
    }
    if (r.affected) {
      hit ??= {};
      if (r.fixed !== undefined && (hit.fixed === undefined || (cmp(r.fixed, hit.fixed) ?? 0) < 0)) hit.fixed = r.fixed;
    }
  }
  return hit;
}

/**
 * scanComponents matches components (from sbom/read) against the database and returns the findings, one per
 * (vulnerability id, purl), sorted by purl then id, and the highest severity ('none' without findings).
 *
 * @example
 * const db = openVulnDb(path);
 * try { const r = scanComponents(db, readSbomComponents(bytes).components); } finally { db.close(); }
 */
export function scanComponents(db: VulnDb, components: SbomComponents['components'], options: ScanOptions = {}): ScanResult {
  const warn = options.onWarning ?? ((): void => undefined);
  const findings = new Map<string, Finding>();
  for (const c of components) {
    if (c.purl === undefined) {
      warn(`component ${JSON.stringify(c.name)} has no purl; not matched`);
      continue;
    }
    let ref;
    try {
      ref = purlToOsv(parsePurl(c.purl, `purl of ${c.name}`));
    } catch (e) {
      if (!isTrustError(e)) throw e;
      warn(`component ${JSON.stringify(c.name)}: ${e.message}; not matched`);
      continue;
    }
    if (ref === undefined) {
      warn(`component ${JSON.stringify(c.name)}: purl type of ${c.purl} has no OSV ecosystem; not matched`);
      continue;
    }
    const version = ref.version ?? c.version;
    if (version === undefined) {
      warn(`component ${JSON.stringify(c.name)} (${c.purl}) has no version; not matched`);
      continue;
    }
    for (const { vuln, affected } of db.lookup(ref.ecosystem, ref.name)) {
      if (!releaseMatches(affected.ecosystem, ref.distro)) continue;
      const unevaluable: string[] = [];
      const hit = isAffected(version, affected, unevaluable);
      for (const t of unevaluable) warn(`${vuln.id}: a ${t} range cannot order version ${JSON.stringify(version)} of ${c.purl}; reported as undecided (severity unknown)`);
      const key = `${c.purl}\u0000${vuln.id}`;
      const prior = findings.get(key);
      let f: Finding;
      if (hit === undefined) {
        if (unevaluable.length === 0) continue;
        // Not guessed, and not passed either: an undecided finding ranks 'unknown', above critical.
        const note = `a ${unevaluable.join(', ')} range cannot order version ${version}; affected or not is undecided`;
        f = { id: vuln.id, aliases: vuln.aliases, purl: c.purl, name: c.name, version, severity: 'unknown', undecided: true, note };
      } else {
        const sev = affected.severity ?? vuln.severity;
        f = { id: vuln.id, aliases: vuln.aliases, purl: c.purl, name: c.name, version, severity: sev.severity };
        if (sev.score !== undefined) f.score = sev.score;
        if (hit.fixed !== undefined) f.fixed = hit.fixed;
      }
      if (prior === undefined || severityRank(f.severity) > severityRank(prior.severity)) findings.set(key, prior?.fixed !== undefined && f.fixed === undefined ? { ...f, fixed: prior.fixed } : f);
    }
  }
  const list = [...findings.values()].sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let maxSeverity: Severity = 'none';
  for (const f of list) if (severityRank(f.severity) > severityRank(maxSeverity)) maxSeverity = f.severity;
  return { findings: list, maxSeverity };
}
