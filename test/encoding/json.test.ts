/**
 * The strict JSON layer: one row per malformed input, asserting class and code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBase64, decodeHex } from '../../src/encoding/bytes.ts';
import { canonicalizeJcs, canonicalizeTuf } from '../../src/encoding/canonical.ts';
import { parseJson, type JsonValue } from '../../src/encoding/json.ts';
import { parseTimestamp } from '../../src/encoding/time.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { assertCode } from '../support/assert.ts';

const rows: Array<[string, string | Uint8Array, ErrorCode]> = [
  ['truncated', '{"a":1', 'ERR_FORMAT_JSON'],
  ['trailing garbage', '{"a":1} x', 'ERR_FORMAT_JSON'],
  ['single quotes', "{'a':1}", 'ERR_FORMAT_JSON'],
  ['trailing comma', '{"a":1,}', 'ERR_FORMAT_JSON'],
  ['raw control char', '{"a":"x\u0001"}', 'ERR_FORMAT_JSON'],
  ['bad escape', '{"a":"\\x"}', 'ERR_FORMAT_JSON'],
  ['lone surrogate escape', '{"a":"\\ud800"}', 'ERR_FORMAT_JSON'],
  ['duplicate key', '{"a":1,"a":2}', 'ERR_FORMAT_JSON_DUPLICATE_KEY'],
  ['duplicate key after escape', '{"a":1,"\\u0061":2}', 'ERR_FORMAT_JSON_DUPLICATE_KEY'],
  ['__proto__', '{"__proto__":{"x":1}}', 'ERR_FORMAT_JSON_FORBIDDEN_KEY'],
  ['constructor', '{"a":{"constructor":1}}', 'ERR_FORMAT_JSON_FORBIDDEN_KEY'],
  ['number beyond 2^53', '{"a":9007199254740993}', 'ERR_FORMAT_JSON_NUMBER'],
  ['negative beyond 2^53', '[-9007199254740993]', 'ERR_FORMAT_JSON_NUMBER'],
  ['fraction', '{"a":1.5}', 'ERR_FORMAT_JSON_NUMBER'],
  ['exponent', '{"a":1e3}', 'ERR_FORMAT_JSON_NUMBER'],
  ['leading zero', '{"a":01}', 'ERR_FORMAT_JSON'],
  ['invalid utf-8', new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), 'ERR_FORMAT_UTF8'],
  ['overlong utf-8', new Uint8Array([0x22, 0xc0, 0xaf, 0x22]), 'ERR_FORMAT_UTF8'],
  ['byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), 'ERR_FORMAT_UTF8'],
  ['too deep', '['.repeat(65) + ']'.repeat(65), 'ERR_LIMIT_DEPTH'],
  ['too large', '"' + 'a'.repeat(5 * 1024 * 1024) + '"', 'ERR_LIMIT_SIZE'],
  ['object key over JSON_MAX_KEY_CHARS (4,096)', '{"' + 'k'.repeat(4097) + '":1}', 'ERR_LIMIT_SIZE'],
  ['long key after an escape', '{"\\u0061' + 'k'.repeat(4096) + '":1}', 'ERR_LIMIT_SIZE'],
];

for (const [name, input, code] of rows) {
  test(`parseJson refuses ${name} with ${code}`, () => assertCode(() => parseJson(input), code));
}

test('parseJson accepts what it should, and deep nesting does not blow the stack', () => {
  assert.deepEqual(parseJson('{"a":[1,-2,true,null,"\\u00e9\\n"],"b":{}}'), { a: [1, -2, true, null, 'é\n'], b: {} });
  assert.equal(parseJson('9007199254740991'), 9007199254740991);
  assert.equal(parseJson('1.5', { allowFloats: true }), 1.5);
  assertCode(() => parseJson('['.repeat(100000)), 'ERR_LIMIT_DEPTH');
  // A key of exactly the cap is fine (the cap is on keys, not on string values).
  assert.deepEqual(Object.keys(parseJson(`{"${'k'.repeat(4096)}":"${'v'.repeat(20_000)}"}`) as object), ['k'.repeat(4096)]);
  assertCode(() => parseJson('[' + '1,'.repeat(20) + '1]', { maxValues: 10 }), 'ERR_LIMIT_COUNT');
  const o = parseJson('{"toString":1}') as Record<string, JsonValue>;
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
});

test('RFC 8785 canonical JSON: sorted keys, no whitespace, ES number and string forms, key order independent', () => {
  const a = canonicalizeJcs({ b: 1, a: [true, null, 'x"y\u2028'], c: { z: -0, y: 1e21 } });
  assert.equal(new TextDecoder().decode(a), '{"a":[true,null,"x\\"y\u2028"],"b":1,"c":{"y":1e+21,"z":0}}');
  // RFC 8785 §3.2.3 sorts by UTF-16 code units: "\u20ac" (€) sorts before "\ud83d\ude00" (😀), and "\r" before "1".
  const b = canonicalizeJcs({ '\u{1F600}': 1, '\u20ac': 2, '1': 3, '\r': 4 });
  assert.equal(new TextDecoder().decode(b), '{"\\r":4,"1":3,"€":2,"😀":1}');
  assert.deepEqual(canonicalizeJcs({ x: 1, y: 2 }), canonicalizeJcs({ y: 2, x: 1 }));
});

test('TUF canonical JSON escapes only quote and backslash and refuses non-integers', () => {
  assert.equal(new TextDecoder().decode(canonicalizeTuf({ b: 'a\n"\\', a: [1, false] })), '{"a":[1,false],"b":"a\n\\"\\\\"}');
  assert.throws(() => canonicalizeTuf({ a: 1.5 }));
});

test('strict hex, base64 and timestamps', () => {
  assert.deepEqual(decodeHex('00ff', 2), new Uint8Array([0, 255]));
  assertCode(() => decodeHex('00FF'), 'ERR_FORMAT_HEX');
  assertCode(() => decodeHex('0g'), 'ERR_FORMAT_HEX');
  assertCode(() => decodeHex('abc'), 'ERR_FORMAT_HEX');
  assertCode(() => decodeHex('00', 2), 'ERR_FORMAT_HEX');
  assert.deepEqual(decodeBase64('AAE=', 2), new Uint8Array([0, 1]));
  assertCode(() => decodeBase64('AAF='), 'ERR_FORMAT_BASE64'); // non-zero padding bits
  assertCode(() => decodeBase64('AAE'), 'ERR_FORMAT_BASE64');
  assertCode(() => decodeBase64('AA E='), 'ERR_FORMAT_BASE64');
  assertCode(() => decodeBase64('AAE=', 3), 'ERR_FORMAT_BASE64');
  assert.equal(parseTimestamp('2026-11-22T00:00:00Z').toISOString(), '2026-11-22T00:00:00.000Z');
  assert.equal(parseTimestamp('2026-11-22T01:00:00+01:00').toISOString(), '2026-11-22T00:00:00.000Z');
  for (const bad of ['2026-02-30T00:00:00Z', '2026-11-22 00:00:00Z', '2026-11-22T00:00:00', '1', '2026-11-22T24:00:00Z']) {
    assertCode(() => parseTimestamp(bad), 'ERR_FORMAT_SCHEMA');
  }
});
