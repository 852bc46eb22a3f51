/**
 * test/support/json-reference — the strict JSON parser of src/encoding/json.ts as it was before its charCode rewrite
 * (commit 75acb8c), kept verbatim as the reference of the differential tests (test/encoding/json-differential.test.ts)
 * and the `json` fuzz target: the fast parser must accept exactly what this one accepts, with the same value, and
 * refuse the rest with the same code, message and offset.
 */
import { FormatError, LimitError } from '../../src/errors.ts';
import { JSON_DEFAULT_MAX_BYTES, JSON_MAX_KEY_CHARS, type JsonValue, type JsonObject, type ParseJsonOptions } from '../../src/encoding/json.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** decodeUtf8 is the pre-rewrite strict decoder (TextDecoder only, no ASCII fast path). */
function decodeUtf8(bytes: Uint8Array, what = 'input'): string {
  let s: string;
  try {
    s = utf8.decode(bytes);
  } catch (e) {
    throw new FormatError('ERR_FORMAT_UTF8', `${what} is not valid utf-8`, { cause: e });
  }
  if (s.charCodeAt(0) === 0xfeff) throw new FormatError('ERR_FORMAT_UTF8', `${what} starts with a byte order mark`);
  return s;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
// eslint-disable-next-line no-control-regex -- control characters end the run so the loop can refuse them
const PLAIN_RUN = /[^"\\\x00-\x1f]*/y;

/** referenceParseJson is the pre-rewrite parseJson. */
export function referenceParseJson(input: Uint8Array | string, options: ParseJsonOptions = {}): JsonValue {
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
