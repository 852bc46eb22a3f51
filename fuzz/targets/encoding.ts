/** fuzz/targets/encoding — strict JSON (src/encoding/json.ts) and the canonical encodings (src/encoding/canonical.ts). */
import { isDeepStrictEqual } from 'node:util';
import { canonicalizeJcs, canonicalizeTuf } from '../../src/encoding/canonical.ts';
import { parseJson, type JsonValue } from '../../src/encoding/json.ts';
import { isTrustError } from '../../src/errors.ts';
import { referenceParseJson } from '../../test/support/json-reference.ts';
import { jsonFieldMutations } from '../structured.ts';
import { dec, enc, expectSame, OracleMismatch, sameModel, type FuzzTarget } from '../target.ts';
import { corpusFiles } from './corpus.ts';

const SAMPLE_DOCS: JsonValue[] = [
  { a: 1, b: [true, false, null], c: { d: 'é\u2028\ud83d\ude00', e: -9007199254740991 }, f: '' },
  [1, [2, [3, [4, [5]]]], { x: 'y' }],
  { signed: { _type: 'root', version: 1, keys: { abc: { keytype: 'ed25519', keyval: { public: '00' } } } }, signatures: [] },
  'plain string',
  0,
];

async function seeds(repoRoot: string): Promise<Uint8Array[]> {
  const files = await corpusFiles(repoRoot, (p) => p.endsWith('.json'), 64, 256 * 1024);
  return [...SAMPLE_DOCS.map((d) => enc.encode(JSON.stringify(d))), ...files, enc.encode('{"a":1.5e3,"b":-0.25}')];
}

/** refusal is a coded error's code and message (what the reference comparison looks at), or rethrows anything else. */
function refusal(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!isTrustError(e)) throw e;
    return `${e.code}: ${e.message}`;
  }
}

/**
 * strictJson: parseJson accepts or refuses with a code; it accepts exactly what the parser it replaced
 * (test/support/json-reference.ts) accepts, with the same value, and refuses the rest with the same code and
 * message; where JSON.parse accepts too, it gives the same value.
 */
export const strictJson: FuzzTarget = {
  name: 'json',
  parses: 'strict JSON (encoding/json) vs the reference parser and JSON.parse',
  async make(ctx) {
    return {
      seeds: await seeds(ctx.repoRoot),
      structured: jsonFieldMutations(SAMPLE_DOCS),
      run(input) {
        const floats = input.length % 2 === 0;
        const options = { allowFloats: floats, maxDepth: 32 };
        const refused = refusal(() => parseJson(input, options));
        expectSame(refused === refusal(() => referenceParseJson(input, options)), `parseJson and the reference parser disagree: ${refused ?? 'accepted'}`);
        if (refused === undefined) expectSame(isDeepStrictEqual(parseJson(input, options), referenceParseJson(input, options)), 'parseJson and the reference parser gave different values');
        const ours = parseJson(input, options);
        let theirs: unknown;
        try {
          theirs = JSON.parse(dec.decode(input)) as unknown;
        } catch {
          throw new OracleMismatch(`JSON.parse refused what parseJson accepted: ${JSON.stringify(dec.decode(input).slice(0, 80))}`);
        }
        expectSame(isDeepStrictEqual(ours, theirs), 'parseJson and JSON.parse gave different values');
        return ours;
      },
    };
  },
};

/** canonicalJson: every accepted value canonicalizes, reparses to itself, and canonicalizes to the same bytes again. */
export const canonicalJson: FuzzTarget = {
  name: 'canonical-json',
  parses: 'RFC 8785 JCS and TUF canonical JSON round trips',
  async make(ctx) {
    return {
      seeds: await seeds(ctx.repoRoot),
      structured: jsonFieldMutations(SAMPLE_DOCS),
      run(input) {
        const v = parseJson(input, { allowFloats: true });
        const c = canonicalizeJcs(v);
        const back = parseJson(c, { allowFloats: true });
        expectSame(sameModel(back, v), 'JCS output does not parse back to the same value');
        expectSame(Buffer.from(canonicalizeJcs(back)).equals(c), 'JCS is not idempotent');
        if (!hasFloat(v)) {
          const t = canonicalizeTuf(v);
          expectSame(Buffer.from(canonicalizeTuf(parseJson(enc.encode(JSON.stringify(v))))).equals(t), 'TUF canonical form depends on input formatting');
        }
        return c;
      },
    };
  },
};

function hasFloat(v: JsonValue): boolean {
  if (typeof v === 'number') return !Number.isSafeInteger(v);
  if (Array.isArray(v)) return v.some(hasFloat);
  if (v !== null && typeof v === 'object') return Object.values(v).some(hasFloat);
  return false;
}
