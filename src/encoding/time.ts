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

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** parseDuration reads `<n><unit>` with unit s, m, h, d or w and returns milliseconds. */
export function parseDuration(s: string, what = 'duration'): number {
  const m = /^([1-9][0-9]{0,6})([smhdw])$/.exec(s);
  if (!m) throw new UsageError('ERR_USAGE_ARGUMENT', `${what}: expected a duration like 30d, 12h or 90m, got ${JSON.stringify(s)}`);
  return Number(m[1]) * UNITS[m[2]!]! * 1000;
}
