/**
 * server/provider/stream-buffers: the buddy allocator behind the read path's stream buffers. Random sequences of
 * take, resize and give (seeded) keep the invariants: live blocks never overlap (each holds its own pattern, checked
 * after every step), the slab's free and live bytes add up to the slab, sizes are what was asked or the old buffer,
 * a full slab hands out buffers of their own, and once everything is given back the slab is whole again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamBuffers } from '../../src/server/provider/stream-buffers.ts';

const KiB = 1024;
const OPTS = { slabBytes: 256 * KiB, minBytes: 4 * KiB, maxBytes: 64 * KiB };

/** rng: a small deterministic generator (xorshift32), so a failing sequence can be replayed by its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

test('stream buffers: random take/resize/give keep blocks disjoint, sizes right and the slab accounted', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const p = new StreamBuffers(OPTS);
    const live: Array<{ b: Buffer; tag: number }> = [];
    let tag = 0;
    const fill = (e: { b: Buffer; tag: number }): void => void e.b.fill(e.tag & 0xff);
    const check = (): void => {
      // Blocks are aligned to their size (at least minBytes), so two that overlap share a whole minBytes unit: one
      // byte per unit, and the last, show any overwrite.
      for (const e of live) {
        let ok = e.b[e.b.length - 1] === (e.tag & 0xff);
        for (let i = 0; ok && i < e.b.length; i += OPTS.minBytes) ok = e.b[i] === (e.tag & 0xff);
        assert.ok(ok, `seed ${seed}: a live buffer was overwritten (overlap)`);
      }
      assert.equal(p.inUse, live.reduce((n, e) => n + e.b.length, 0), `seed ${seed}: inUse`);
      const inSlab = live.filter((e) => e.b.buffer.byteLength === OPTS.slabBytes).reduce((n, e) => n + e.b.length, 0);
      assert.equal(p.slabFree + inSlab, OPTS.slabBytes, `seed ${seed}: slab bytes free + live`);
    };
    for (let step = 0; step < 400; step++) {
      const op = r();
      if (op < 0.4 || live.length === 0) {
        const e = { b: p.take(), tag: ++tag };
        assert.equal(e.b.length, OPTS.minBytes);
        fill(e);
        live.push(e);
      } else if (op < 0.8) {
        const e = live[Math.floor(r() * live.length)]!;
        const size = OPTS.minBytes << Math.floor(r() * 5);
        const before = e.b;
        e.b = p.resize(e.b, size);
        assert.ok(e.b.length === size || e.b === before, `seed ${seed}: resize gives the size asked or the old buffer`);
        if (size < before.length && before.buffer.byteLength === OPTS.slabBytes) assert.equal(e.b.length, size, 'shrinking a slab block always succeeds');
        e.tag = ++tag;
        fill(e);
      } else {
        const [e] = live.splice(Math.floor(r() * live.length), 1);
        p.give(e!.b);
      }
      check();
    }
    for (const e of live.splice(0)) p.give(e.b);
    check();
    assert.equal(p.slabFree, OPTS.slabBytes, `seed ${seed}: the slab is whole again`);
    // Whole means merged: it serves slab / max blocks of the largest size.
    const big = Array.from({ length: OPTS.slabBytes / OPTS.maxBytes }, () => p.resize(p.take(), OPTS.maxBytes));
    for (const b of big) assert.equal(b.length, OPTS.maxBytes, `seed ${seed}: merged back into largest blocks`);
  }
});

test('stream buffers: a full slab hands out smallest-size buffers of their own, and a growth it cannot serve keeps the buffer', () => {
  const p = new StreamBuffers(OPTS);
  const inSlab = Array.from({ length: OPTS.slabBytes / OPTS.minBytes }, () => p.take());
  assert.equal(p.slabFree, 0);
  const own = p.take();
  assert.equal(own.length, OPTS.minBytes);
  assert.notEqual(own.buffer.byteLength, OPTS.slabBytes, 'not from the slab');
  assert.equal(p.resize(own, 2 * OPTS.minBytes), own, 'no block to grow into');
  assert.equal(p.resize(inSlab[0]!, 2 * OPTS.minBytes), inSlab[0], 'no block to grow into');
  assert.equal(p.inUse, (inSlab.length + 1) * OPTS.minBytes);
  // Two buddies given back merge, and a growth then fits.
  p.give(inSlab[2]!);
  p.give(inSlab[3]!);
  const grown = p.resize(own, 2 * OPTS.minBytes);
  assert.equal(grown.length, 2 * OPTS.minBytes);
  assert.equal(grown.buffer.byteLength, OPTS.slabBytes);
  assert.throws(() => p.resize(grown, 3 * OPTS.minBytes), RangeError);
  assert.throws(() => p.resize(grown, 2 * OPTS.maxBytes), RangeError);
  assert.throws(() => new StreamBuffers({ ...OPTS, slabBytes: 100_000 }), RangeError);
});
