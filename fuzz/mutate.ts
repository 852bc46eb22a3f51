/**
 * fuzz/mutate — the byte-level mutation engine: a seeded PRNG and the mutators of issue 16 (bit flips, truncation,
 * splicing, length-field edits, repeated blocks), in the spirit of AFL's and libFuzzer's havoc stage (we read their
 * descriptions; nothing is copied). Mutations stack: each input is a seed with 1–6 of them applied. Inputs never grow
 * past `maxBytes`.
 */

/** Rng is a small deterministic PRNG (splitmix32): the same seed gives the same campaign. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** u32 returns the next 32-bit value. */
  u32(): number {
    this.#s = (this.#s + 0x9e3779b9) >>> 0;
    let z = this.#s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }
  /** below returns an integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x39, 0x3a, 0x5b, 0x5c, 0x5d, 0x7b, 0x7d, 0xc0, 0xe2, 0xf0];
// Decimal numbers a length or count field might be set to: boundaries of the int types and of safe integers.
const INTERESTING_NUMBERS = [
  '0', '-1', '1', '-0', '00', '01', '255', '256', '65535', '65536', '2147483647', '2147483648', '4294967295', '4294967296',
  '9007199254740991', '9007199254740992', '18446744073709551615', '99999999999999999999999', '1e400', '1.5', '0x10', '',
];
const INTERESTING_INTS = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
const TOKENS = ['"', '\\', '\\u0000', '\\ud800', '\n', '\r\n', ' ', '{', '}', '[', ']', ',', ':', 'null', 'true', '"__proto__"', '−', '—', '\u2028', '\ufeff', '\x00', '%', '/', '../', '=', '+'];

const te = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

type Mutator = (b: Uint8Array, rng: Rng, pool: readonly Uint8Array[]) => Uint8Array;

const bitFlip: Mutator = (b, rng) => {
  if (b.length === 0) return Uint8Array.of(rng.below(256));
  const out = b.slice();
  const flips = 1 + rng.below(8);
  for (let i = 0; i < flips; i++) {
    const at = rng.below(out.length);
    out[at] = out[at]! ^ (1 << rng.below(8));
  }
  return out;
};

const setByte: Mutator = (b, rng) => {
  if (b.length === 0) return Uint8Array.of(rng.pick(INTERESTING_BYTES));
  const out = b.slice();
  out[rng.below(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.below(256);
  return out;
};

const truncate: Mutator = (b, rng) => (rng.chance(0.5) ? b.subarray(0, rng.below(b.length + 1)) : b.subarray(rng.below(b.length + 1)));

const deleteRange: Mutator = (b, rng) => {
  const a = rng.below(b.length + 1);
  const n = 1 + rng.below(Math.min(64, b.length - a + 1));
  return concat(b.subarray(0, a), b.subarray(Math.min(b.length, a + n)));
};

const insertBytes: Mutator = (b, rng) => {
  const at = rng.below(b.length + 1);
  const ins = rng.chance(0.5) ? te.encode(rng.pick(TOKENS)) : Uint8Array.from({ length: 1 + rng.below(16) }, () => rng.below(256));
  return concat(b.subarray(0, at), ins, b.subarray(at));
};

// Splicing: the head of one input and the tail of another (or a block of another pasted in).
const splice: Mutator = (b, rng, pool) => {
  const other = pool.length > 0 ? rng.pick(pool) : b;
  if (rng.chance(0.5)) return concat(b.subarray(0, rng.below(b.length + 1)), other.subarray(rng.below(other.length + 1)));
  const s = rng.below(other.length + 1);
  const block = other.subarray(s, s + 1 + rng.below(256));
  const at = rng.below(b.length + 1);
  return concat(b.subarray(0, at), block, b.subarray(at));
};

// Repeated blocks: one slice repeated 2–64 times in place (nesting, duplicate keys, duplicate entries).
const repeatBlock: Mutator = (b, rng) => {
  if (b.length === 0) return b;
  const s = rng.below(b.length);
  const block = b.subarray(s, s + 1 + rng.below(Math.min(128, b.length - s)));
  const times = 2 + rng.below(63);
  return concat(b.subarray(0, s), ...Array.from({ length: times }, () => block), b.subarray(s + block.length));
};

// Length-field edits, text: a run of ASCII digits replaced by a boundary number or nudged by ±1.
const editDecimal: Mutator = (b, rng) => {
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < b.length && runs.length < 256; ) {
    if (b[i]! >= 0x30 && b[i]! <= 0x39) {
      const s = i;
      while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
      runs.push([s, i]);
    } else i++;
  }
  if (runs.length === 0) return insertBytes(b, rng, []);
  const [s, e] = rng.pick(runs);
  const cur = Number(new TextDecoder().decode(b.subarray(s, e)));
  const repl = rng.chance(0.3) && Number.isSafeInteger(cur) ? String(cur + (rng.chance(0.5) ? 1 : -1)) : rng.pick(INTERESTING_NUMBERS);
  return concat(b.subarray(0, s), te.encode(repl), b.subarray(e));
};

// Length-field edits, binary: a 1/2/4/8-byte little- or big-endian integer set to a boundary value or nudged.
const editBinaryInt: Mutator = (b, rng) => {
  const width = rng.pick([1, 2, 4, 8]);
  if (b.length < width) return setByte(b, rng, []);
  const out = b.slice();
  const align = rng.chance(0.7) ? width : 1;
  const at = Math.floor(rng.below(out.length - width + 1) / align) * align;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const le = rng.chance(0.5);
  const v = rng.chance(0.3) ? b.length + rng.below(3) - 1 : rng.pick(INTERESTING_INTS);
  if (width === 1) dv.setUint8(at, v & 0xff);
  else if (width === 2) dv.setUint16(at, v & 0xffff, le);
  else if (width === 4) dv.setUint32(at, v >>> 0, le);
  else dv.setBigUint64(at, rng.chance(0.2) ? 0xffffffffffffffffn : BigInt(v >>> 0), le);
  return out;
};

const MUTATORS: readonly Mutator[] = [bitFlip, setByte, truncate, deleteRange, insertBytes, splice, repeatBlock, editDecimal, editBinaryInt];

/** mutate applies 1–6 stacked mutations to `input`, splicing from `pool`; the result is at most maxBytes long. */
export function mutate(input: Uint8Array, rng: Rng, pool: readonly Uint8Array[], maxBytes: number): Uint8Array {
  let b = input;
  const n = 1 + rng.below(rng.chance(0.5) ? 2 : 6);
  for (let i = 0; i < n; i++) {
    b = rng.pick(MUTATORS)(b, rng, pool);
    if (b.length > maxBytes) b = b.subarray(0, maxBytes);
  }
  return b;
}

/** randomBytes returns up to `max` random bytes (the corpus-free baseline). */
export function randomBytes(rng: Rng, max: number): Uint8Array {
  return Uint8Array.from({ length: rng.below(max + 1) }, () => rng.below(256));
}
