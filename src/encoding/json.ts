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
 *
 * Speed (issue 10: an attestation is two documents parsed per signature verified): the parser reads char codes,
 * never one-character strings; a string is scanned in one loop up to its closing quote and sliced once, and only a
 * string holding an escape takes the slower path; integers of up to 15 digits are accumulated, not re-parsed;
 * duplicate keys are found on the object being built (no Set per object). Accepted inputs and every refusal (code,
 * message, offset) are those of the earlier regex-driven parser, kept as test/support/json-reference.ts and checked
 * against it (test/encoding/json-differential.test.ts and the `json` fuzz target).
 */
import { isAscii } from 'node:buffer';
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
/** LONG_RUN: past this many plain characters a string's scan hands over to the regex engine (a DSSE payload). */
const LONG_RUN = 64;
/** PLAIN_RUN matches (sticky) a run of string characters that need no attention: no quote, backslash or control. */
// eslint-disable-next-line no-control-regex -- control characters end the run so the loop can refuse them
const PLAIN_RUN = /[^"\\\x00-\x1f]*/y;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** decodeUtf8 decodes strictly; invalid sequences and a leading BOM give ERR_FORMAT_UTF8. */
export function decodeUtf8(bytes: Uint8Array, what = 'input'): string {
  // ASCII (most signed documents) decodes the same in every ASCII-compatible encoding: one native check, then a
  // latin1 copy, instead of the strict decoder's bookkeeping. ASCII cannot hold a BOM or an invalid sequence.
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
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
  // A string's UTF-8 size is at most 3 bytes per UTF-16 unit: counted exactly only when that bound is over the cap.
  const byteLength = typeof input !== 'string' ? input.length : input.length * 3 <= maxBytes ? input.length : Buffer.byteLength(input);
  if (byteLength > maxBytes) {
    throw new LimitError('ERR_LIMIT_SIZE', `${what} is ${byteLength} bytes, over the cap of ${maxBytes}`, {
      details: { size: byteLength, cap: maxBytes },
    });
  }
  // Text decoded by the strict decoder is well-formed UTF-16; a string argument is checked once here, so that only
  // strings holding \u escapes need a surrogate check of their own (see Parser.string).
  const text = typeof input === 'string' ? input : decodeUtf8(input, what);
  const wellFormed = typeof input !== 'string' || input.isWellFormed();
  return new Parser(text, what, options.maxDepth ?? 64, options.maxValues ?? 1_000_000, options.allowFloats ?? false, wellFormed).run();
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

// Char codes the parser compares against.
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const ONE = 0x31;
const NINE = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const L_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const R_BRACKET = 0x5d;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const L_BRACE = 0x7b;
const R_BRACE = 0x7d;

/** isForbiddenKey: `__proto__`, `constructor` or `prototype`, by length first (most keys are neither 9 nor 11 long). */
function isForbiddenKey(key: string): boolean {
  const n = key.length;
  return (n === 9 && (key === '__proto__' || key === 'prototype')) || (n === 11 && key === 'constructor');
}

/** hexValue is the value of one hex digit's char code, or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}


class Parser {
  private pos = 0;
  private values = 0;
  private readonly s: string;
  private readonly what: string;
  private readonly maxDepth: number;
  private readonly maxValues: number;
  private readonly allowFloats: boolean;
  /** wellFormed: the whole text has no unpaired surrogate, so a string without escapes has none either. */
  private readonly wellFormed: boolean;

  constructor(s: string, what: string, maxDepth: number, maxValues: number, allowFloats: boolean, wellFormed: boolean) {
    this.s = s;
    this.what = what;
    this.maxDepth = maxDepth;
    this.maxValues = maxValues;
    this.allowFloats = allowFloats;
    this.wellFormed = wellFormed;
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
    let p = this.pos;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === SPACE || c === LF || c === CR || c === TAB) p++;
      else break;
    }
    this.pos = p;
  }

  private value(depth: number): JsonValue {
    if (++this.values > this.maxValues) {
      throw new LimitError('ERR_LIMIT_COUNT', `${this.what} has more than ${this.maxValues} values`);
    }
    const c = this.s.charCodeAt(this.pos);
    switch (c) {
      case L_BRACE:
        return this.object(depth + 1);
      case L_BRACKET:
        return this.array(depth + 1);
      case QUOTE:
        return this.string();
      case LOWER_T:
        return this.literal('true', true);
      case LOWER_F:
        return this.literal('false', false);
      case LOWER_N:
        return this.literal('null', null);
      default:
        if (c === MINUS || (c >= ZERO && c <= NINE)) return this.number();
        return this.fail(Number.isNaN(c) ? 'unexpected end of input' : `unexpected character ${JSON.stringify(this.s[this.pos])}`);
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
    const s = this.s;
    this.pos++;
    const out: JsonObject = {};
    this.ws();
    if (s.charCodeAt(this.pos) === R_BRACE) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (s.charCodeAt(this.pos) !== QUOTE) this.fail('expected a string key');
      const keyAt = this.pos;
      const key = this.string();
      if (key.length > JSON_MAX_KEY_CHARS) {
        throw new LimitError('ERR_LIMIT_SIZE', `${this.what}: an object key is ${key.length} characters, over the cap of ${JSON_MAX_KEY_CHARS}`, {
          details: { offset: keyAt, size: key.length, cap: JSON_MAX_KEY_CHARS },
        });
      }
      if (isForbiddenKey(key)) {
        throw new FormatError('ERR_FORMAT_JSON_FORBIDDEN_KEY', `${this.what}: forbidden key ${JSON.stringify(key)}`, {
          details: { offset: keyAt },
        });
      }
      // The object under construction holds exactly the keys seen so far (forbidden ones never get in).
      if (Object.hasOwn(out, key)) {
        throw new FormatError('ERR_FORMAT_JSON_DUPLICATE_KEY', `${this.what}: duplicate key ${JSON.stringify(key)}`, {
          details: { offset: keyAt },
        });
      }
      this.ws();
      if (s.charCodeAt(this.pos) !== COLON) this.fail('expected ":"');
      this.pos++;
      this.ws();
      out[key] = this.value(depth);
      this.ws();
      const c = s.charCodeAt(this.pos++);
      if (c === R_BRACE) return out;
      if (c !== COMMA) this.fail('expected "," or "}"');
    }
  }

  private array(depth: number): JsonValue[] {
    this.checkDepth(depth);
    const s = this.s;
    this.pos++;
    const out: JsonValue[] = [];
    this.ws();
    if (s.charCodeAt(this.pos) === R_BRACKET) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth));
      this.ws();
      const c = s.charCodeAt(this.pos++);
      if (c === R_BRACKET) return out;
      if (c !== COMMA) this.fail('expected "," or "]"');
    }
  }

  private string(): string {
    const s = this.s;
    const start = this.pos + 1; // after the opening quote
    let p = start;
    // The common case: plain characters up to the closing quote, sliced once. Long runs (an envelope's base64
    // payload) are left to the regex engine after LONG_RUN characters.
    const limit = start + LONG_RUN;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === QUOTE) {
        const out = s.slice(start, p);
        this.pos = p + 1;
        if (!this.wellFormed && !out.isWellFormed()) {
          this.pos = p;
          this.fail('string contains an unpaired surrogate');
        }
        return out;
      }
      if (c < SPACE || c === BACKSLASH || p === limit || Number.isNaN(c)) break;
      p++;
    }
    this.pos = p;
    return this.slowString(start);
  }

  /** slowString continues a string at this.pos (its text began at `start`): long runs, escapes and refusals. */
  private slowString(start: number): string {
    const s = this.s;
    let out = '';
    let from = start;
    let escaped = false;
    for (;;) {
      PLAIN_RUN.lastIndex = this.pos;
      PLAIN_RUN.test(s);
      this.pos = PLAIN_RUN.lastIndex;
      const c = s.charCodeAt(this.pos);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === QUOTE) {
        out += s.slice(from, this.pos);
        this.pos++;
        break;
      }
      if (c < SPACE) this.fail('raw control character in string');
      // c is a backslash: the regex stops only at a quote, a backslash, a control character or the end.
      out += s.slice(from, this.pos);
      out += this.escape();
      escaped = true;
      from = this.pos;
    }
    // Only a \u escape can make an unpaired surrogate in well-formed text; other text is checked whole.
    if ((escaped || !this.wellFormed) && !out.isWellFormed()) {
      this.pos--;
      this.fail('string contains an unpaired surrogate');
    }
    return out;
  }

  private escape(): string {
    const e = this.s.charCodeAt(this.pos + 1);
    this.pos += 2;
    switch (e) {
      case QUOTE:
        return '"';
      case BACKSLASH:
        return '\\';
      case 0x2f:
        return '/';
      case 0x62:
        return '\b';
      case LOWER_F:
        return '\f';
      case LOWER_N:
        return '\n';
      case 0x72:
        return '\r';
      case LOWER_T:
        return '\t';
      case 0x75: {
        const s = this.s;
        const p = this.pos;
        const a = hexValue(s.charCodeAt(p));
        const b = hexValue(s.charCodeAt(p + 1));
        const c = hexValue(s.charCodeAt(p + 2));
        const d = hexValue(s.charCodeAt(p + 3));
        if ((a | b | c | d) < 0) this.fail('invalid \\u escape');
        this.pos += 4;
        return String.fromCharCode((a << 12) | (b << 8) | (c << 4) | d);
      }
      default:
        this.pos -= 2;
        return this.fail('invalid escape');
    }
  }

  private number(): number {
    const s = this.s;
    const start = this.pos;
    let p = start;
    let c = s.charCodeAt(p);
    const negative = c === MINUS;
    if (negative) c = s.charCodeAt(++p);
    // RFC 8259 §6: int = zero / ( digit1-9 *DIGIT ), then an optional fraction and exponent, each taken only when
    // complete ("1." and "1e" end the number before the dot or the e, as a sticky regex match would).
    let n = 0;
    if (c === ZERO) {
      p++;
    } else if (c >= ONE && c <= NINE) {
      do {
        n = n * 10 + (c - ZERO);
        c = s.charCodeAt(++p);
      } while (c >= ZERO && c <= NINE);
    } else {
      return this.fail('invalid number');
    }
    const intEnd = p;
    let float = false;
    if (s.charCodeAt(p) === DOT && isDigit(s.charCodeAt(p + 1))) {
      p += 2;
      while (isDigit(s.charCodeAt(p))) p++;
      float = true;
    }
    c = s.charCodeAt(p);
    if (c === LOWER_E || c === UPPER_E) {
      let q = p + 1;
      const sign = s.charCodeAt(q);
      if (sign === PLUS || sign === MINUS) q++;
      if (isDigit(s.charCodeAt(q))) {
        q++;
        while (isDigit(s.charCodeAt(q))) q++;
        p = q;
        float = true;
      }
    }
    if (float && !this.allowFloats) {
      throw new FormatError('ERR_FORMAT_JSON_NUMBER', `${this.what}: number ${s.slice(start, p)} is not an integer`, {
        details: { offset: start },
      });
    }
    // Up to 15 digits the accumulated integer is exact (< 2^53); anything else is converted from its text.
    if (float || intEnd - start > 15) {
      const text = s.slice(start, p);
      n = Number(text);
      if (!Number.isFinite(n) || (!float && !Number.isSafeInteger(n))) {
        throw new FormatError('ERR_FORMAT_JSON_NUMBER', `${this.what}: number ${text} is beyond ±(2^53−1)`, {
          details: { offset: start },
        });
      }
    } else if (negative) {
      n = -n;
    }
    this.pos = p;
    return n;
  }
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}
