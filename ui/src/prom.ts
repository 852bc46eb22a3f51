/**
 * ui/prom — the Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats) as the
 * daemon's `GET /metrics` writes it, read by the Health page. Lines are `# HELP …`, `# TYPE …`, other `#` comments,
 * blank lines, or samples:
 * ```
 * metric_name{label="value",other="v\"q\\n"} 12.5 [timestamp]
 * ```
 * Names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`, label values with the escapes `\\`, `\"`,
 * `\n`; values are Go floats (`NaN`, `+Inf`, `-Inf` included). The figures are the daemon's own word (nothing here is
 * verified), but the text is still untrusted input: sizes and counts are capped and every refusal is a UiError.
 */
import { UiError } from './errors.ts';

/** PROM_MAX_BYTES, PROM_MAX_SAMPLES, PROM_MAX_LABELS cap what is parsed. */
export const PROM_MAX_BYTES = 2 * 1024 * 1024;
export const PROM_MAX_SAMPLES = 20_000;
export const PROM_MAX_LABELS = 32;

/** Sample is one sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)$/;

/** parsePrometheusText reads the exposition text into samples (comments skipped), or throws a UiError. */
export function parsePrometheusText(text: string): Sample[] {
  if (text.length > PROM_MAX_BYTES) throw new UiError(`metrics text over ${PROM_MAX_BYTES} bytes`);
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '' || line.startsWith('#')) continue;
    if (out.length >= PROM_MAX_SAMPLES) throw new UiError(`more than ${PROM_MAX_SAMPLES} samples`);
    out.push(parseSample(line, n + 1));
  }
  return out;
}

function parseSample(line: string, n: number): Sample {
  const bad = (what: string): UiError => new UiError(`metrics line ${n}: ${what}`);
  const name = NAME.exec(line)?.[0];
  if (name === undefined) throw bad('expected a metric name');
  let i = name.length;
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  if (line[i] === '{') {
    i++;
    let count = 0;
    while (line[i] !== '}') {
      if (++count > PROM_MAX_LABELS) throw bad(`more than ${PROM_MAX_LABELS} labels`);
      const ln = LABEL_NAME.exec(line.slice(i, i + 256))?.[0];
      if (ln === undefined) throw bad('expected a label name');
      i += ln.length;
      if (line[i] !== '=' || line[i + 1] !== '"') throw bad('expected ="');
      i += 2;
      let v = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw bad('unterminated label value');
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i + 1];
          if (e === '\\' || e === '"') v += e;
          else if (e === 'n') v += '\n';
          else throw bad('bad escape in a label value');
          i += 2;
        } else {
          v += c;
          i++;
        }
      }
      i++; // the closing quote
      if (Object.prototype.hasOwnProperty.call(labels, ln)) throw bad(`label ${ln} twice`);
      labels[ln] = v;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw bad('expected , or }');
    }
    i++;
  }
  if (line[i] !== ' ') throw bad('expected a space before the value');
  const rest = line.slice(i + 1).split(' ');
  if (rest.length > 2) throw bad('expected a value and an optional timestamp');
  const raw = rest[0]!;
  if (!VALUE.test(raw)) throw bad('malformed value');
  if (rest.length === 2 && !/^-?\d{1,19}$/.test(rest[1]!)) throw bad('malformed timestamp');
  const value = raw === 'NaN' ? Number.NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
  return { name, labels, value };
}

/** sum adds the values of the samples named `name` whose labels include every pair of `match`. */
export function sum(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v) && Number.isFinite(s.value)) total += s.value;
  }
  return total;
}
