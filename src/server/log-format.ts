/**
 * server/log-format — how the daemons write their pino log on stderr (no framework or storage imported here: the
 * workers of server/cluster load it too): JSON lines (for collectors, and whenever
 * stderr is not a terminal) or readable lines on a terminal (`--log-format pretty`, the default on a TTY):
 * ```
 * 16:42:07 INFO  provider listening  url=http://127.0.0.1:8080 releases=1
 * 16:42:09 WARN  stored release no longer verifies  channel=stable arch=x86_64 code=ERR_MANIFEST_EXPIRED
 * ```
 * The pretty form is a small formatter over the JSON line pino produces (the same redaction applies: it only ever
 * sees what the JSON line holds). pino-pretty would do more, at the cost of a dependency and a worker thread;
 * an operator who wants it pipes `--log-format json` into it.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** REDACT_PATHS lists where a bearer token could appear in a log record; pino replaces them. */
export const REDACT_PATHS = ['req.headers.authorization', 'request.headers.authorization', 'headers.authorization', 'authorization', 'token'];

/** loggerOptions are the daemon's pino options: the level, and every path of REDACT_PATHS censored. */
export function loggerOptions(level = 'info'): LoggerOptions {
  return { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
}

/** createLogger returns a pino logger writing JSON lines on stderr, secrets redacted. */
export function createLogger(level = 'info'): Logger {
  return pino(loggerOptions(level), pino.destination({ dest: 2, sync: false }));
}

/** LogFormat is the form of the daemon's log lines. */
export type LogFormat = 'json' | 'pretty';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
/** OMITTED are pino's own fields, shown elsewhere in a pretty line or not at all. */
const OMITTED: ReadonlySet<string> = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** defaultLogFormat is pretty on a terminal, JSON otherwise. */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return stream.isTTY === true ? 'pretty' : 'json';
}

function value(v: unknown): string {
  if (typeof v === 'string') return /^[\x21-\x7e]*$/.test(v) && !v.includes('"') && v !== '' ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object' && 'message' in v && typeof v.message === 'string') return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

/** prettyLine renders one pino JSON line as `HH:MM:SS LEVEL message  key=value …\n` (the line itself if not JSON). */
export function prettyLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${line}\n`;
  }
  const t = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 19) : '--:--:--';
  const level = LEVELS[rec.level as number] ?? String(rec.level);
  const fields = Object.entries(rec)
    .filter(([k]) => !OMITTED.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  return `${t} ${level} ${typeof rec.msg === 'string' ? rec.msg : ''}${fields === '' ? '' : `  ${fields}`}\n`;
}

/** prettyDestination writes pretty lines to `out` (stderr by default). */
export function prettyDestination(out: { write(s: string): unknown } = process.stderr): DestinationStream {
  return { write: (line: string) => void out.write(prettyLine(line.endsWith('\n') ? line.slice(0, -1) : line)) };
}

/** createDaemonLogger returns the daemon's logger on stderr in the given form, secrets redacted. */
export function createDaemonLogger(level = 'info', format: LogFormat = defaultLogFormat()): Logger {
  return format === 'pretty' ? pino(loggerOptions(level), prettyDestination()) : createLogger(level);
}
