/**
 * encoding/json — the one parse layer for untrusted JSON (RFC 8259, restricted to I-JSON, RFC 7493).
 *
 * `JSON.parse` silently keeps the last of duplicate keys, accepts lone surrogates, rounds big integers and can be fed
 * `__proto__`. Signed documents must be unambiguous, so this parser refuses, with a coded FormatError or LimitError:
 * - input over `maxBytes` (checked before decoding) and invalid UTF-8 (a BOM is refused too);
 * - nesting deeper than `maxDepth`, more than `maxValues` values in total;
 * - duplicate object keys, and the keys `__proto__`, `constructor` and `prototype` (fastify secure-json-parse);
 * - object keys longer than {@link JSON_MAX_KEY_CHARS} UTF-16 units (ERR_LIMIT_SIZE): V8 hashes a string of 16,384
 *   or more units by its length alone, so same-length long keys all collide in the duplicate-key Set and a crafted
 *   document would cost quadratic time; no key of a document we read comes near the cap;
 * - unpaired UTF-16 surrogates (escaped or not), raw control characters;
 * - numbers with a fraction or exponent (unless `allowFloats`), and integers beyond ±(2^53−1), which would round.
 * It never lets a raw SyntaxError or RangeError escape.
 */
import { FormatError, LimitError } from '../errors.ts';

/** JsonValue is a parsed JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ParseJsonOptions {
  /** maxBytes caps the encoded input (default JSON_DEFAULT_MAX_BYTES). */
  maxBytes?: number;
  /** maxDepth caps nesting of arrays and objects (default 64). */
  maxDepth?: number;
  /** maxValues caps the total number of values (default 1,000,000). */
  maxValues?: number;
  /** allowFloats accepts fractions and exponents (default false: signed documents carry integers only). */
  allowFloats?: boolean;
  /** what names the document in messages ("manifest", "trust root"). */
  what?: string;
}

/** JSON_DEFAULT_MAX_BYTES: 4 MiB, far above any manifest or root we sign. */
export const JSON_DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
/** JSON_MAX_KEY_CHARS caps an object key (UTF-16 units), well under V8's 16,384-unit hashing threshold. */
export const JSON_MAX_KEY_CHARS = 4096;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** PLAIN_RUN matches (sticky) a run of string characters that need no attention: no quote, backslash or control. */
// eslint-disable-next-line no-control-regex -- control characters end the run so the loop can refuse them
const PLAIN_RUN = /[^"\\\x00-\x1f]*/y;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** decodeUtf8 decodes strictly; invalid sequences and a leading BOM give ERR_FORMAT_UTF8. */
export function decodeUtf8(bytes: Uint8Array, what = 'input'): string {
  let s: string;
  try {
    s = utf8.decode(bytes);
  } catch (e) {
    throw new FormatError('ERR_FORMAT_UTF8', `${what} is not valid utf-8`, { cause: e });
  }
  if (s.charCodeAt(0) === 0xfeff) throw new FormatError('ERR_FORMAT_UTF8', `${what} starts with a byte order mark`);
  return s;
}

/** parseJson parses untrusted JSON under the rules above. */
export function parseJson(input: Uint8Array | string, options: ParseJsonOptions = {}): JsonValue {
  const what = options.what ?? 'document';
  const maxBytes = options.maxBytes ?? JSON_DEFAULT_MAX_BYTES;
  const byteLength = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (byteLength > maxBytes) {
    throw new LimitError('ERR_LIMIT_SIZE', `${what} is ${byteLength} bytes, over the cap of ${maxBytes}`, {
      details: { size: byteLength, cap: maxBytes },
    });
  }
  const text = typeof input === 'string' ? input : decodeUtf8(input, what);
  return new Parser(text, what, options.maxDepth ?? 64, options.maxValues ?? 1_000_000, options.allowFloats ?? false).run();
}

/** parseJsonObject parses and requires a top-level object. */
export function parseJsonObject(input: Uint8Array | string, options: ParseJsonOptions = {}): JsonObject {
  const v = parseJson(input, options);
  if (!isJsonObject(v)) throw new FormatError('ERR_FORMAT_SCHEMA', `${options.what ?? 'document'} must be a json object`);
  return v;
}

/** isJsonObject narrows a value to a plain object. */
export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Parser {
  private pos = 0;
  private values = 0;
  private readonly s: string;
  private readonly what: string;
  private readonly maxDepth: number;
  private readonly maxValues: number;
  private readonly allowFloats: boolean;

  constructor(s: string, what: string, maxDepth: number, maxValues: number, allowFloats: boolean) {
    this.s = s;
    this.what = what;
    this.maxDepth = maxDepth;
    this.maxValues = maxValues;
    this.allowFloats = allowFloats;
  }

  run(): JsonValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.pos !== this.s.length) this.fail('unexpected data after the json value');
    return v;
  }

  private fail(msg: string): never {
    throw new FormatError('ERR_FORMAT_JSON', `${this.what}: ${msg} at offset ${this.pos}`, {
      details: { offset: this.pos },
    });
  }

  private ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else return;
    }
  }

  private value(depth: number): JsonValue {
    if (++this.values > this.maxValues) {
      throw new LimitError('ERR_LIMIT_COUNT', `${this.what} has more than ${this.maxValues} values`);
    }
    const c = this.s[this.pos];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
    }
  }

  private literal<T extends JsonValue>(word: string, v: T): T {
    if (this.s.startsWith(word, this.pos)) {
      this.pos += word.length;
      return v;
    }
    return this.fail('invalid literal');
  }

  private checkDepth(depth: number): void {
    if (depth > this.maxDepth) {
      throw new LimitError('ERR_LIMIT_DEPTH', `${this.what} nests deeper than ${this.maxDepth} levels`);
    }
  }

  private object(depth: number): JsonObject {
    this.checkDepth(depth);
    this.pos++;
    const out: JsonObject = {};
    const seen = new Set<string>();
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"') this.fail('expected a string key');
      const keyAt = this.pos;
      const key = this.string();
      if (key.length > JSON_MAX_KEY_CHARS) {
        throw new LimitError('ERR_LIMIT_SIZE', `${this.what}: an object key is ${key.length} characters, over the cap of ${JSON_MAX_KEY_CHARS}`, {
          details: { offset: keyAt, size: key.length, cap: JSON_MAX_KEY_CHARS },
        });
      }
      if (FORBIDDEN_KEYS.has(key)) {
        throw new FormatError('ERR_FORMAT_JSON_FORBIDDEN_KEY', `${this.what}: forbidden key ${JSON.stringify(key)}`, {
          details: { offset: keyAt },
        });
      }
      if (seen.has(key)) {
        throw new FormatError('ERR_FORMAT_JSON_DUPLICATE_KEY', `${this.what}: duplicate key ${JSON.stringify(key)}`, {
          details: { offset: keyAt },
        });
      }
      seen.add(key);
      this.ws();
      if (this.s[this.pos] !== ':') this.fail('expected ":"');
      this.pos++;
      this.ws();
      out[key] = this.value(depth);
      this.ws();
      const c = this.s[this.pos++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }

  private array(depth: number): JsonValue[] {
    this.checkDepth(depth);
    this.pos++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth));
      this.ws();
      const c = this.s[this.pos++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }

  private string(): string {
    const s = this.s;
    this.pos++; // opening quote
    let out = '';
    let start = this.pos;
    for (;;) {
      // Runs of plain characters are skipped by the regex engine (an envelope's payload is one long base64 string);
      // the loop below then sees only a quote, a backslash, a control character or the end.
      PLAIN_RUN.lastIndex = this.pos;
      PLAIN_RUN.test(s);
      this.pos = PLAIN_RUN.lastIndex;
      const c = s.charCodeAt(this.pos);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === 0x22) {
        out += s.slice(start, this.pos);
        this.pos++;
        break;
      }
      if (c < 0x20) this.fail('raw control character in string');
      if (c === 0x5c) {
        out += s.slice(start, this.pos);
        out += this.escape();
        start = this.pos;
        continue;
      }
      this.pos++;
    }
    if (!out.isWellFormed()) {
      this.pos--;
      this.fail('string contains an unpaired surrogate');
    }
    return out;
  }

  private escape(): string {
    const e = this.s[this.pos + 1];
    this.pos += 2;
    switch (e) {
      case '"':
        return '"';
      case '\\':
        return '\\';
      case '/':
        return '/';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'u': {
        const hex = this.s.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape');
        this.pos += 4;
        return String.fromCharCode(parseInt(hex, 16));
      }
      default:
        this.pos -= 2;
        return this.fail('invalid escape');
    }
  }

  private number(): number {
    const re = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.s);
    if (!m) return this.fail('invalid number');
    const text = m[0];
    if ((m[1] !== undefined || m[2] !== undefined) && !this.allowFloats) {
      throw new FormatError('ERR_FORMAT_JSON_NUMBER', `${this.what}: number ${text} is not an integer`, {
        details: { offset: this.pos },
      });
    }
    const n = Number(text);
    if (!Number.isFinite(n) || (m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(n))) {
      throw new FormatError('ERR_FORMAT_JSON_NUMBER', `${this.what}: number ${text} is beyond ±(2^53−1)`, {
        details: { offset: this.pos },
      });
    }
    this.pos += text.length;
    return n;
  }
}
