/**
 * encoding/time — RFC 3339 timestamps and human durations.
 *
 * `parseTimestamp` accepts RFC 3339 date-times (`2026-11-22T00:00:00Z`, optional fraction, `Z` or `±hh:mm`) and
 * refuses anything else, including impossible dates (`2026-02-30`). `formatTimestamp` writes whole seconds in UTC
 * with `Z`, the form Custody signs. `parseDuration` reads `<n>{s,m,h,d,w}` (e.g. `30d`).
 */
import { FormatError, UsageError } from '../errors.ts';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** parseTimestamp parses an RFC 3339 date-time into a Date. */
export function parseTimestamp(s: unknown, what = 'timestamp'): Date {
  const m = typeof s === 'string' ? RFC3339.exec(s) : null;
  if (!m) return timestampFail(s, what);
  const date = new Date(s as string);
  if (Number.isNaN(date.getTime())) return timestampFail(s, what);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const sec = Number(m[6]);
  // Reject dates JavaScript would roll over (Feb 30 → Mar 2) by checking the calendar fields round-trip.
  const probe = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
  if (probe.getUTCDate() !== d || probe.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || sec > 60) return timestampFail(s, what);
  return date;
}

function timestampFail(s: unknown, what: string): never {
  throw new FormatError('ERR_FORMAT_SCHEMA', `${what}: expected an RFC 3339 timestamp, got ${JSON.stringify(s)?.slice(0, 40)}`);
}

/** formatTimestamp renders whole seconds in UTC: `YYYY-MM-DDTHH:MM:SSZ`. */
export function formatTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** DurationOptions bounds a duration; `bareSeconds` lets a number without unit mean seconds (`--timeout 30`). */
export interface DurationOptions {
  minMs?: number;
  maxMs?: number;
  bareSeconds?: boolean;
}

/**
 * parseDuration reads `<n><unit>`, unit one of ms, s, m, h, d, w (n at most 9 digits), and returns milliseconds
 * within [minMs (default 1), maxMs (default 100 years)]: the one duration grammar of every flag and file. `what`
 * names the value in the refusal (`--expires`).
 */
export function parseDuration(s: string, what = 'duration', o: DurationOptions = {}): number {
  const minMs = o.minMs ?? 1;
  const maxMs = o.maxMs ?? 100 * 365 * 86_400_000;
  const m = /^([0-9]{1,9})(ms|s|m|h|d|w)?$/.exec(s);
  const unit = m === null ? undefined : m[2] === undefined ? (o.bareSeconds === true ? 1_000 : undefined) : UNIT_MS[m[2]];
  const ms = unit === undefined ? NaN : Number(m![1]) * unit;
  if (!(ms >= minMs && ms <= maxMs)) {
    const range = o.minMs === undefined && o.maxMs === undefined ? '' : ` between ${formatMs(minMs)} and ${formatMs(maxMs)}`;
    throw new UsageError('ERR_USAGE_ARGUMENT', `${what}: expected a duration such as 30d, 12h, 15m, 30s or 500ms${range}, got ${JSON.stringify(s.slice(0, 40))}`);
  }
  return ms;
}

function formatMs(ms: number): string {
  for (const [u, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= n && ms % n === 0) return `${ms / n}${u}`;
  }
  return `${ms}ms`;
}
