/**
 * server/provider/stream-buffers — the read buffers of the streams of large artifacts in one process, carved from one
 * slab by a binary buddy allocator (Knuth, TAOCP vol. 1 §2.5): blocks are powers of two from `minBytes` up, a block
 * is split in halves to serve a smaller request, and a freed block merges with its free buddy.
 *
 * Why a slab: a stream's buffer changes size as streams come and go (server/provider/read-path), and with a fresh
 * Buffer per size every change left the old one for the garbage collector. Under a storm of a thousand downloads
 * that garbage, not the buffers in use, set the peak resident size (bench/sections/provider-memory). Blocks of the
 * slab are reused at once and allocate nothing but a Buffer view.
 *
 * When the slab has no block of the smallest size left (more streams than the budget allows at the smallest chunk),
 * a stream gets a buffer of its own of that size; those go to a short spare list when given back.
 */

/** SPARE_MAX bounds the spare list: smallest-size buffers kept, outside the slab, for the next stream. */
const SPARE_MAX = 64;

export interface StreamBuffersOptions {
  /** slabBytes is the slab's size: a power of two, at least maxBytes. */
  slabBytes: number;
  /** minBytes is the smallest block: a power of two. */
  minBytes: number;
  /** maxBytes is the largest block handed out: a power of two in [minBytes, slabBytes]. */
  maxBytes: number;
}

const isPow2 = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;

export class StreamBuffers {
  readonly #o: StreamBuffersOptions;
  #slab: ArrayBuffer | undefined;
  /** #free[k] holds the offsets of the free blocks of minBytes × 2^k. */
  readonly #free: Array<Set<number>>;
  readonly #spare: Buffer[] = [];
  /** #inUse is the size of the buffers handed out and not given back, slab and spare. */
  #inUse = 0;

  constructor(o: StreamBuffersOptions) {
    if (![o.slabBytes, o.minBytes, o.maxBytes].every(isPow2) || o.minBytes > o.maxBytes || o.maxBytes > o.slabBytes || o.slabBytes > 2 ** 30) {
      throw new RangeError('stream-buffers: sizes must be powers of two with min ≤ max ≤ slab ≤ 1 GiB');
    }
    this.#o = o;
    const orders = Math.log2(o.slabBytes / o.minBytes) + 1;
    this.#free = Array.from({ length: orders }, () => new Set<number>());
    this.#free[orders - 1]!.add(0);
  }

  /** inUse is the size of the buffers handed out and not given back. */
  get inUse(): number {
    return this.#inUse;
  }

  /** slabFree is the size of the free blocks of the slab. */
  get slabFree(): number {
    let n = 0;
    for (const [k, set] of this.#free.entries()) n += set.size * (this.#o.minBytes << k);
    return n;
  }

  /** take hands out a smallest-size buffer: from the slab while it has room, else a spare or a new one. */
  take(): Buffer {
    const b = this.#block(0) ?? this.#spare.pop() ?? Buffer.allocUnsafe(this.#o.minBytes);
    this.#inUse += b.length;
    return b;
  }

  /**
   * resize returns a buffer of `size` bytes (a power of two in [minBytes, maxBytes]) in place of `b`, whose bytes it
   * does not keep, and gives `b` back; or `b` itself when the slab has no block of that size. Call it only once the
   * socket took the last write from `b`.
   */
  resize(b: Buffer, size: number): Buffer {
    if (!isPow2(size) || size < this.#o.minBytes || size > this.#o.maxBytes) throw new RangeError('stream-buffers: bad size');
    if (size === b.length) return b;
    // Give back first: shrinking a slab block then always finds room (its own halves).
    this.give(b);
    const k = Math.log2(size / this.#o.minBytes);
    const nb = this.#block(k);
    if (nb !== undefined) {
      this.#inUse += nb.length;
      return nb;
    }
    // No block of that size: take b back (a growth the slab cannot serve; b's block, just freed, is still free or
    // merged, so take it out again by its offset).
    return this.#retake(b);
  }

  /**
   * give takes a buffer back. Call it only when no read into it is in flight and no write from it can still go out:
   * the socket took the last write, or the connection is closed (a closed socket writes nothing more).
   */
  give(b: Buffer): void {
    this.#inUse -= b.length;
    if (this.#slab !== undefined && b.buffer === this.#slab) {
      this.#release(b.byteOffset, Math.log2(b.length / this.#o.minBytes));
    } else if (b.length === this.#o.minBytes && this.#spare.length < SPARE_MAX) {
      this.#spare.push(b);
    }
  }

  /** #block takes a free block of order k out of the slab (splitting a larger one), or undefined. */
  #block(k: number): Buffer | undefined {
    let j = k;
    while (j < this.#free.length && this.#free[j]!.size === 0) j++;
    if (j === this.#free.length) return undefined;
    const off = this.#free[j]!.values().next().value as number;
    this.#free[j]!.delete(off);
    // Split down to order k: the upper half of each split stays free.
    while (j > k) {
      j--;
      this.#free[j]!.add(off + (this.#o.minBytes << j));
    }
    this.#slab ??= new ArrayBuffer(this.#o.slabBytes);
    return Buffer.from(this.#slab, off, this.#o.minBytes << k);
  }

  /** #release frees the block of order k at off, merging it with its buddy while the buddy is free. */
  #release(off: number, k: number): void {
    while (k < this.#free.length - 1) {
      const buddy = off ^ (this.#o.minBytes << k);
      if (!this.#free[k]!.delete(buddy)) break;
      off = Math.min(off, buddy);
      k++;
    }
    this.#free[k]!.add(off);
  }

  /** #retake takes the block `b` occupied (just given back, possibly merged since) out of the slab again. */
  #retake(b: Buffer): Buffer {
    if (this.#slab === undefined || b.buffer !== this.#slab) {
      // A spare (smallest size): give() put it on the spare list, or dropped it when the list was full.
      const i = this.#spare.lastIndexOf(b);
      if (i >= 0) this.#spare.splice(i, 1);
      this.#inUse += b.length;
      return b;
    }
    const want = b.byteOffset;
    const k = Math.log2(b.length / this.#o.minBytes);
    // Find the free block that now contains it, and split it down around it.
    let j = k;
    let off = want;
    while (j < this.#free.length && !this.#free[j]!.has(off)) {
      j++;
      off = want & ~((this.#o.minBytes << j) - 1);
    }
    if (j === this.#free.length) throw new Error('stream-buffers: a block given back is not free');
    this.#free[j]!.delete(off);
    while (j > k) {
      j--;
      const half = this.#o.minBytes << j;
      // Keep the half holding `want`; the other half stays free.
      if (want >= off + half) {
        this.#free[j]!.add(off);
        off += half;
      } else {
        this.#free[j]!.add(off + half);
      }
    }
    this.#inUse += b.length;
    return b;
  }
}
