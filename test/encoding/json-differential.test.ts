/**
 * The strict JSON parser (src/encoding/json.ts, rewritten for speed in issue 10) against the parser it replaced
 * (test/support/json-reference.ts): over every JSON file of the test tree, fast-check documents, and mutations of
 * them that hit the corners (escapes, surrogates, numbers, duplicate and forbidden keys, depth and value caps), both
 * accept with deep-equal values, or both refuse with the same error class, code, message and details.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseJson, type ParseJsonOptions } from '../../src/encoding/json.ts';
import { isTrustError } from '../../src/errors.ts';
import { referenceParseJson } from '../support/json-reference.ts';

type Outcome = { ok: true; value: unknown } | { ok: false; name: string; code: string; message: string; details: unknown };

function outcome(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    assert.ok(isTrustError(e), `an uncoded error escaped: ${String(e)}`);
    return { ok: false, name: e.name, code: e.code, message: e.message, details: e.details };
  }
}

/** same asserts both parsers agree on one input under one set of options; returns whether they accepted it. */
function same(input: string | Uint8Array, options: ParseJsonOptions): boolean {
  const ours = outcome(() => parseJson(input, options));
  const ref = outcome(() => referenceParseJson(input, options));
  assert.deepStrictEqual(ours, ref, `the parsers disagree on ${JSON.stringify(typeof input === 'string' ? input.slice(0, 200) : Buffer.from(input).toString('latin1').slice(0, 200))}`);
  return ours.ok;
}

const OPTION_SETS: ParseJsonOptions[] = [{}, { allowFloats: true }, { maxDepth: 3, maxValues: 12 }, { allowFloats: true, maxDepth: 1 }];

async function jsonFiles(dir: string): Promise<string[]> {
  const all = await fsp.readdir(dir, { recursive: true });
  return all.filter((p) => p.endsWith('.json') || p.endsWith('.jsonl')).sort().map((p) => join(dir, p));
}

test('every JSON file of the test tree: same value or same refusal, as bytes and as text', async () => {
  const files = await jsonFiles(join(import.meta.dirname, '..'));
  assert.ok(files.length > 20, `expected a corpus of JSON files, found ${files.length}`);
  let accepted = 0;
  for (const f of files) {
    const bytes = new Uint8Array(await fsp.readFile(f));
    const lines = f.endsWith('.jsonl') ? Buffer.from(bytes).toString('utf8').split('\n') : [];
    for (const options of OPTION_SETS) {
      if (same(bytes, options)) accepted++;
      same(Buffer.from(bytes).toString('latin1'), options);
      for (const line of lines) same(line, options);
    }
  }
  assert.ok(accepted > files.length, `too few documents accepted (${accepted}) for the corpus to mean anything`);
});

test('hand-picked corners: same value or same refusal', () => {
  const long = 'x'.repeat(70);
  const cases = [
    '', ' ', '{', '[', '"', '"abc', '"\\', '"\\u12', '"\\u12g4"', '"\\x"', '"\\uD800"', '"\\uDC00\\uD800"', '"\\uD83D\\uDE00"',
    '"\ud800"', '"a\ud800b"', `{"${long}\\n":1}`, `{"${long}":1,"${long}":2}`, '{"a":1,"a":2}', '{"a":1,"b":{"a":2}}', '{"\\u0061":1,"a":2}',
    '{"__proto__":1}', '{"constructor":1}', '{"prototype":{}}', '{"toString":1,"valueOf":2,"hasOwnProperty":3}', '{"__proto_":1}',
    '0', '-0', '-', '-a', '01', '1.', '1.e3', '1e', '1e+', '1E-2', '1.5', '-0.0', '2e308', '9007199254740991', '9007199254740992',
    '-9007199254740991', '-9007199254740992', '123456789012345', '1234567890123456', '-123456789012345', '0.1e1',
    'true', 'tru', 'false ', 'null', 'nul', '[1,]', '[,1]', '{"a" 1}', '{"a":1,}', '{,}', '{1:2}', '[1 2]', '[]', '{}', ' [ ] ',
    '\ufeff{}', '{} x', '"\u0001"', '"\u007f"', '"é€😀"', `["${'A'.repeat(5000)}\\"${'B'.repeat(100)}"]`, `"${'A'.repeat(100)}`,
    `{"${'k'.repeat(4097)}":1}`, `{"${'k'.repeat(4096)}":1}`, '[[[[[]]]]]', '{"a":{"b":{"c":{"d":1}}}}', '[1,2,3,4,5,6,7,8,9,10,11,12,13]',
  ];
  for (const c of cases) for (const options of OPTION_SETS) same(c, options);
  for (const c of cases) same(Buffer.from(c, 'utf8'), {});
  same(new Uint8Array([0x22, 0xff, 0x22]), {});
  same(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), {});
  same('{"a":1}', { maxBytes: 3 });
});

/** MUTATION_ALPHABET: the characters that change a JSON document's meaning or validity. */
const MUTATION_ALPHABET = ['"', '\\', '{', '}', '[', ']', ':', ',', '0', '1', '9', '-', '+', '.', 'e', 'E', 'u', 'n', 't', 'f', ' ', '\n', '\u0000', '\u001f', '\ud800', '\udc00', 'é', '__proto__', '"a"', 'D800', '\\u', '\\ud800'];

const mutation = fc.record({
  at: fc.nat(),
  del: fc.nat({ max: 3 }),
  insert: fc.array(fc.constantFrom(...MUTATION_ALPHABET), { maxLength: 3 }).map((xs) => xs.join('')),
});

function mutate(text: string, ms: Array<{ at: number; del: number; insert: string }>): string {
  let t = text;
  for (const m of ms) {
    const at = t.length === 0 ? 0 : m.at % (t.length + 1);
    t = t.slice(0, at) + m.insert + t.slice(at + m.del);
  }
  return t;
}

const jsonText = fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(undefined, 1, '\t')).map(([v, indent]) => JSON.stringify(v, null, indent) ?? 'null');
const keyedText = fc
  .dictionary(fc.constantFrom('a', 'b', 'digest', 'sha256', 'uri', 'x'.repeat(65), '__proto__', '1', '0'), fc.oneof(fc.integer(), fc.string(), fc.double()), { maxKeys: 6 })
  .map((o) => JSON.stringify(o));

test('fast-check documents and their mutations: same value or same refusal', () => {
  fc.assert(
    fc.property(fc.oneof(jsonText, keyedText), fc.array(mutation, { maxLength: 4 }), fc.constantFrom(...OPTION_SETS), (text, ms, options) => {
      same(text, options);
      const m = mutate(text, ms);
      same(m, options);
      same(Buffer.from(m, 'utf8'), options);
      // Duplicating the first member of an object, wherever it is, must be refused by both.
      const dup = m.replace(/\{("[^"\\]*":[^,{}[\]]*),/, '{$1,$1,');
      same(dup, options);
    }),
    { numRuns: 3000, seed: 20261201 },
  );
});

test('fast-check strings (unicode, surrogates, controls) as values and keys', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.boolean(), (s, asKey) => {
      const lit = JSON.stringify(s);
      // JSON.stringify escapes lone surrogates and controls; also try the raw characters between quotes.
      for (const t of asKey ? [`{${lit}:1}`, `{"${s}":1}`] : [lit, `"${s}"`]) {
        same(t, {});
        same(Buffer.from(t, 'utf8'), {});
      }
    }),
    { numRuns: 2000, seed: 20261202 },
  );
});
