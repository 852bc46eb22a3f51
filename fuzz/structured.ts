/**
 * fuzz/structured — the structured engine: fast-check arbitraries that start from VALID documents and mutate them
 * field by field, so inputs get past the first length or schema check and reach the deep checks (signatures,
 * thresholds, cross-field rules). Three shapes cover every target: JSON documents (a field replaced, deleted,
 * duplicated or added), line-oriented text (signed notes, checkpoints, proofs, PEM: a line or token replaced) and
 * fixed binary layouts (PSPF index, slot descriptors, tar headers: a field set to a boundary value).
 */
import fc from 'fast-check';
import { enc } from './target.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = Array<string | number>;

function paths(v: Json, prefix: Path = [], out: Path[] = []): Path[] {
  if (out.length > 4096) return out;
  if (prefix.length > 0) out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k]!, [...prefix, k], out);
  return out;
}

/** evilJson are values a field might hold instead of the right one: type confusion and boundaries. */
export const evilJson: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53) + 1, '', ' ', '0', 'sha256:', 'ed25519',
    '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-13-45T25:61:61Z', [], {}, [[[]]], { '': '' }, '\u0000', '../x', '/abs', 'a'.repeat(300),
    'sha256:' + '0'.repeat(64), '0'.repeat(64), 'AAAA', '=', 'a/b', '.', '..'),
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

function clone(v: Json): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}

function apply(doc: Json, path: Path, op: number, value: Json): Json {
  const root = clone(doc);
  let parent: Json = root;
  for (const k of path.slice(0, -1)) parent = (parent as Record<string, Json>)[k as string]!;
  const last = path[path.length - 1]!;
  const cur = (parent as Record<string, Json>)[last as string]!;
  if (Array.isArray(parent)) {
    const i = last as number;
    if (op === 1) parent.splice(i, 1);
    else if (op === 2) parent.splice(i, 0, clone(cur));
    else parent[i] = value;
  } else if (parent !== null && typeof parent === 'object') {
    const o = parent as Record<string, Json>;
    if (op === 1) delete o[last as string];
    else if (op === 2) o[`${String(last)}_x`] = value;
    else if (op === 3 && typeof cur === 'string') o[last as string] = cur + (typeof value === 'string' ? value : '');
    else if (op === 4 && typeof cur === 'string') o[last as string] = cur.slice(0, Math.floor(cur.length / 2));
    else if (op === 5 && typeof cur === 'number') o[last as string] = cur + (typeof value === 'number' && Number.isSafeInteger(value) ? Math.sign(value) : 1);
    else o[last as string] = value;
  }
  return root;
}

/** jsonFieldMutations yields the documents with 1–3 fields changed, serialized compactly or indented. */
export function jsonFieldMutations(docs: readonly Json[]): fc.Arbitrary<Uint8Array> {
  const withPaths = docs.map((d) => ({ d, p: paths(d) }));
  return fc
    .tuple(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 6 }), evilJson), { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([which, edits, pretty]) => {
      const { d, p } = withPaths[which % withPaths.length]!;
      let doc = d;
      for (const [pi, op, value] of edits) {
        const ps = paths(doc);
        if (ps.length === 0 || p.length === 0) break;
        try {
          doc = apply(doc, ps[pi % ps.length]!, op, value);
        } catch {
          /* a path gone after an earlier edit: keep the document as is */
        }
      }
      return enc.encode(JSON.stringify(doc, null, pretty ? 2 : undefined));
    });
}

const evilLine = fc.oneof(
  fc.constantFrom('', ' ', '\t', '—', '— ', '— a b', '-- x', '0', '-1', '18446744073709551616', '00', 'AAAA', '====', 'a'.repeat(500), '\r', '+', '\u0000'),
  fc.string({ maxLength: 60 }),
  fc.base64String({ maxLength: 120 }),
  fc.bigInt({ min: -1n, max: 2n ** 64n }).map(String),
);

/** lineMutations yields the texts with 1–3 lines replaced, deleted, duplicated, or a token within a line changed. */
export function lineMutations(texts: readonly string[]): fc.Arbitrary<Uint8Array> {
  const split = texts.map((t) => t.split('\n'));
  return fc
    .tuple(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 4 }), evilLine), { minLength: 1, maxLength: 3 }))
    .map(([which, edits]) => {
      const lines = [...split[which % split.length]!];
      for (const [li, op, value] of edits) {
        if (lines.length === 0) lines.push('');
        const i = li % lines.length;
        if (op === 0) lines[i] = value;
        else if (op === 1) lines.splice(i, 1);
        else if (op === 2) lines.splice(i, 0, lines[i]!);
        else if (op === 3) lines.splice(i, 0, value);
        else {
          const words = lines[i]!.split(' ');
          words[li % words.length] = value;
          lines[i] = words.join(' ');
        }
      }
      return enc.encode(lines.join('\n'));
    });
}

/** BinaryField names a fixed-size integer field of a binary layout (offset and size in bytes). */
export interface BinaryField {
  offset: number;
  size: 1 | 2 | 4 | 8;
}

/** fieldMutations yields the binary documents with 1–3 fields set to boundary or random values (both byte orders). */
export function fieldMutations(bins: readonly Uint8Array[], fields: readonly BinaryField[]): fc.Arbitrary<Uint8Array> {
  const value = fc.oneof(fc.constantFrom(0n, 1n, 0x7fn, 0x80n, 0xffn, 0xffffn, 0x7fffffffn, 0xffffffffn, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
  return fc
    .tuple(fc.nat(), fc.array(fc.tuple(fc.nat(), value, fc.boolean()), { minLength: 1, maxLength: 3 }))
    .map(([which, edits]) => {
      const out = bins[which % bins.length]!.slice();
      const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
      for (const [fi, v, le] of edits) {
        const f = fields[fi % fields.length]!;
        if (f.offset + f.size > out.length) continue;
        const x = v & ((1n << BigInt(f.size * 8)) - 1n);
        if (f.size === 1) dv.setUint8(f.offset, Number(x));
        else if (f.size === 2) dv.setUint16(f.offset, Number(x), le);
        else if (f.size === 4) dv.setUint32(f.offset, Number(x), le);
        else dv.setBigUint64(f.offset, x, le);
      }
      return out;
    });
}

/** bytesMutations wraps a byte-producing arbitrary of seeds with random raw edits (for formats without fields). */
export function withTail(arb: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(arb, fc.uint8Array({ maxLength: 16 }), fc.boolean()).map(([b, t, end]) => {
    if (!end) return b;
    const out = new Uint8Array(b.length + t.length);
    out.set(b);
    out.set(t, b.length);
    return out;
  });
}
