/**
 * The fast paths of the strict decoders keep their strictness: JSON strings are scanned in plain runs by a regex
 * (an envelope's payload is one long string), and base64 is judged canonical by re-encoding alone. Each refusal
 * below is tested at the start, middle and end of a long string, where a run boundary falls.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBase64, decodeBase64Either } from '../../src/encoding/bytes.ts';
import { parseJson } from '../../src/encoding/json.ts';
import { assertCode } from '../support/assert.ts';

test('JSON strings: long plain runs parse; escapes, quotes, control characters and lone surrogates are handled anywhere', () => {
  const long = 'A'.repeat(5000);
  assert.deepEqual(parseJson(`{"p":"${long}"}`), { p: long });
  assert.deepEqual(parseJson(`["${long}\\n${long}\\"", "é€😀"]`), [`${long}\n${long}"`, 'é€😀']);
  assert.deepEqual(parseJson('["", "\\\\", "a\\u0041b"]'), ['', '\\', 'aAb']);
  for (const at of [0, 2500, 5000]) {
    const withChar = (c: string): string => `["${long.slice(0, at)}${c}${long.slice(at)}"]`;
    assertCode(() => parseJson(withChar('\u0001')), 'ERR_FORMAT_JSON');
    assertCode(() => parseJson(withChar('\n')), 'ERR_FORMAT_JSON');
    assertCode(() => parseJson(withChar('\u001f')), 'ERR_FORMAT_JSON');
    assertCode(() => parseJson(withChar('\\q')), 'ERR_FORMAT_JSON');
    assertCode(() => parseJson(withChar('\ud800')), 'ERR_FORMAT_JSON');
    assertCode(() => parseJson(withChar('\\udc00')), 'ERR_FORMAT_JSON');
    // DEL and non-ASCII are plain characters in JSON.
    assert.deepEqual(parseJson(withChar('\u007f')), [`${long.slice(0, at)}\u007f${long.slice(at)}`]);
  }
  assertCode(() => parseJson(`["${long}`), 'ERR_FORMAT_JSON');
  assertCode(() => parseJson(`["${long}\\`), 'ERR_FORMAT_JSON');
});

test('base64: exactly one spelling per alphabet, judged by re-encoding', () => {
  const bytes = Buffer.from([0xfb, 0xff, 0xfe, 0x01, 0x02]);
  assert.deepEqual(Buffer.from(decodeBase64('+//+AQI=')), bytes);
  assert.deepEqual(decodeBase64(''), new Uint8Array());
  for (const bad of ['-__-AQI=', '+//+AQI', '+//+AQI==', '+//+AQJ=', ' +//+AQI=', '+//+AQI=\n', '+//+A!QI=', '+/_+AQI=', '====']) {
    assertCode(() => decodeBase64(bad), 'ERR_FORMAT_BASE64');
  }
  for (const ok of ['+//+AQI=', '-__-AQI=', '-__-AQI']) assert.deepEqual(Buffer.from(decodeBase64Either(ok)), bytes);
  for (const bad of ['+/_-AQI=', '-__-AQJ', '-__-AQI==', '+//+AQI', '+//+AQ I=', '=']) {
    assertCode(() => decodeBase64Either(bad), 'ERR_FORMAT_BASE64');
  }
});
