/**
 * vuln/cvss — the CVSS v3.x BASE score from a vector string, as the FIRST specifications define it: CVSS v3.1
 * Specification Document §7.1 (base equations), §7.4 (metric values), Appendix A (Roundup), §5 (qualitative
 * severity rating scale); v3.0 vectors use the v3.0 Roundup (smallest number with one decimal ≥ the input).
 *
 * Only the base metrics are scored; temporal and environmental metrics in the vector are checked for syntax and
 * otherwise ignored (OSV and NVD publish base scores). CVSS v4.0 (a lookup over macro vectors, not a formula) is
 * not scored here: callers fall back to the database's own severity.
 *
 * Trust boundary: vectors come from OSV records (untrusted). A malformed vector (unknown prefix, a metric missing,
 * repeated or unknown, a value out of its set) yields `undefined`, never an exception or a made-up score.
 */

/** CvssRating is the CVSS v3.1 §5 qualitative rating. */
export type CvssRating = 'none' | 'low' | 'medium' | 'high' | 'critical';

/** Cvss3Score is a scored vector. */
export interface Cvss3Score {
  version: '3.0' | '3.1';
  score: number;
  rating: CvssRating;
}

// CVSS v3.1 §7.4, Table 16: metric values.
const AV: Readonly<Record<string, number>> = { N: 0.85, A: 0.62, L: 0.55, P: 0.2 };
const AC: Readonly<Record<string, number>> = { L: 0.77, H: 0.44 };
const PR_UNCHANGED: Readonly<Record<string, number>> = { N: 0.85, L: 0.62, H: 0.27 };
const PR_CHANGED: Readonly<Record<string, number>> = { N: 0.85, L: 0.68, H: 0.5 };
const UI: Readonly<Record<string, number>> = { N: 0.85, R: 0.62 };
const CIA: Readonly<Record<string, number>> = { H: 0.56, L: 0.22, N: 0 };
const BASE_METRICS = ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'] as const;
// CVSS v3.1 §6 / Table 15: the other metrics a vector may carry, with their allowed values.
const OTHER_METRICS: Readonly<Record<string, readonly string[]>> = {
  E: ['X', 'U', 'P', 'F', 'H'],
  RL: ['X', 'O', 'T', 'W', 'U'],
  RC: ['X', 'U', 'R', 'C'],
  CR: ['X', 'L', 'M', 'H'],
  IR: ['X', 'L', 'M', 'H'],
  AR: ['X', 'L', 'M', 'H'],
  MAV: ['X', 'N', 'A', 'L', 'P'],
  MAC: ['X', 'L', 'H'],
  MPR: ['X', 'N', 'L', 'H'],
  MUI: ['X', 'N', 'R'],
  MS: ['X', 'U', 'C'],
  MC: ['X', 'N', 'L', 'H'],
  MI: ['X', 'N', 'L', 'H'],
  MA: ['X', 'N', 'L', 'H'],
};
const BASE_VALUES: Readonly<Record<(typeof BASE_METRICS)[number], readonly string[]>> = {
  AV: Object.keys(AV),
  AC: Object.keys(AC),
  PR: Object.keys(PR_UNCHANGED),
  UI: Object.keys(UI),
  S: ['U', 'C'],
  C: Object.keys(CIA),
  I: Object.keys(CIA),
  A: Object.keys(CIA),
};

/**
 * roundup31 is CVSS v3.1 Appendix A: the smallest number, to one decimal place, ≥ the input, computed on integers
 * so that floating-point noise (4.000000000000001) does not round up.
 */
export function roundup31(x: number): number {
  const i = Math.round(x * 100_000);
  return i % 10_000 === 0 ? i / 100_000 : (Math.floor(i / 10_000) + 1) / 10;
}

/** roundup30 is the CVSS v3.0 Roundup: ceiling to one decimal place. */
function roundup30(x: number): number {
  return Math.ceil(x * 10) / 10;
}

/** cvssRating maps a score to CVSS v3.1 §5: 0.0 none, 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical. */
export function cvssRating(score: number): CvssRating {
  if (score === 0) return 'none';
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  if (score < 9) return 'high';
  return 'critical';
}

/**
 * scoreCvss3 parses a CVSS v3.0/v3.1 vector ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") and returns its base
 * score and rating, or undefined when the vector is malformed.
 *
 * @example
 * scoreCvss3('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'); // { version: '3.1', score: 9.8, rating: 'critical' }
 */
export function scoreCvss3(vector: string): Cvss3Score | undefined {
  if (vector.length > 256) return undefined;
  const parts = vector.split('/');
  const prefix = parts.shift();
  const version = prefix === 'CVSS:3.1' ? '3.1' : prefix === 'CVSS:3.0' ? '3.0' : undefined;
  if (version === undefined) return undefined;
  const m = new Map<string, string>();
  for (const p of parts) {
    const kv = /^([A-Z]{1,3}):([A-Z])$/.exec(p);
    if (!kv) return undefined;
    const [, key, value] = kv as unknown as [string, string, string];
    if (m.has(key)) return undefined;
    const allowed = (BASE_VALUES as Readonly<Record<string, readonly string[]>>)[key] ?? OTHER_METRICS[key];
    if (allowed === undefined || !allowed.includes(value)) return undefined;
    m.set(key, value);
  }
  for (const k of BASE_METRICS) if (!m.has(k)) return undefined;
  const v = (k: (typeof BASE_METRICS)[number]): string => m.get(k)!;
  const changed = v('S') === 'C';
  // CVSS v3.1 §7.1: ISS, Impact, Exploitability, Base Score.
  const iss = 1 - (1 - CIA[v('C')]!) * (1 - CIA[v('I')]!) * (1 - CIA[v('A')]!);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  const exploitability = 8.22 * AV[v('AV')]! * AC[v('AC')]! * (changed ? PR_CHANGED : PR_UNCHANGED)[v('PR')]! * UI[v('UI')]!;
  const roundup = version === '3.1' ? roundup31 : roundup30;
  let score: number;
  if (impact <= 0) score = 0;
  else if (changed) score = roundup(Math.min(1.08 * (impact + exploitability), 10));
  else score = roundup(Math.min(impact + exploitability, 10));
  return { version, score, rating: cvssRating(score) };
}
