/**
 * crypto/ed25519-pool — Ed25519 verification of many signatures on every core: a persistent pool of worker threads
 * (one per core by default), each given whole batches in one message, so the cost of messaging is paid per batch,
 * not per signature. Same acceptance rule as `verifyEd25519` (ED25519_ACCEPTANCE_RULE: OpenSSL 3 through
 * node:crypto in each worker).
 *
 * Wire format of a batch (one transferred ArrayBuffer, no copy back and forth): per item, the 32-byte raw public
 * key, the 64-byte signature, the message length as u32 little-endian, the message. The answer is one byte per
 * item, 1 = valid. Workers cache up to WORKER_KEY_CACHE parsed keys (parsing a key per verification costs half the
 * throughput).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { FormatError } from '../errors.ts';
import { ED25519_SIGNATURE_BYTES, type PublicKey } from './ed25519.ts';

/** VerifyItem is one signature to check. */
export interface VerifyItem {
  publicKey: PublicKey;
  message: Uint8Array;
  signature: Uint8Array;
}

/** MIN_SPLIT_ITEMS: a batch smaller than this goes to one worker whole (splitting costs more than it saves). */
const MIN_SPLIT_ITEMS = 64;
/** WORKER_KEY_CACHE: parsed keys each worker keeps; past it the cache starts over. */
const WORKER_KEY_CACHE = 4096;
const ITEM_HEADER_BYTES = 32 + 64 + 4;

// CommonJS source evaluated in each worker: node:crypto only, no module resolution, same in tsx and in dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
parentPort.on('message', ({ id, buf, n }) => {
  const b = Buffer.from(buf);
  const out = new Uint8Array(n);
  let off = 0;
  let lastRaw;
  let lastKey;
  for (let i = 0; i < n; i++) {
    const raw = b.subarray(off, off + 32);
    const sig = b.subarray(off + 32, off + 96);
    const len = b.readUInt32LE(off + 96);
    const msg = b.subarray(off + 100, off + 100 + len);
    off += 100 + len;
    // Batches usually repeat a key: compare with the last one before building a cache tag.
    if (lastRaw === undefined || !raw.equals(lastRaw)) {
      const tag = raw.toString('latin1');
      lastKey = keys.get(tag);
      if (lastKey === undefined) {
        if (keys.size >= ${WORKER_KEY_CACHE}) keys.clear();
        lastKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
        keys.set(tag, lastKey);
      }
      lastRaw = Buffer.from(raw);
    }
    const key = lastKey;
    let ok = false;
    try { ok = verify(null, msg, key, sig); } catch { ok = false; }
    out[i] = ok ? 1 : 0;
  }
  parentPort.postMessage({ id, out: out.buffer }, [out.buffer]);
});
`;

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: Uint8Array) => void; reject: (e: Error) => void }>;
}

/** Ed25519VerifyPool verifies batches of signatures on a fixed set of worker threads; close() when done. */
export class Ed25519VerifyPool {
  readonly threads: number;
  readonly #slots: Slot[];
  #next = 0;
  #ids = 0;
  #closed = false;

  /** constructor starts `threads` workers (default: the number of cores). They do not keep the process alive. */
  constructor(threads = availableParallelism()) {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`ed25519 pool: threads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.#slots = Array.from({ length: threads }, () => this.#start());
  }

  #start(): Slot {
    // node:worker_threads is loaded here, not at import: it costs every CLI start ~5 ms of CPU otherwise.
    const { Worker: WorkerThread } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const worker = new WorkerThread(WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', ({ id, out }: { id: number; out: ArrayBuffer }) => {
      const p = slot.pending.get(id);
      slot.pending.delete(id);
      if (slot.pending.size === 0) worker.unref();
      p?.resolve(new Uint8Array(out));
    });
    const fail = (e: Error): void => {
      for (const p of slot.pending.values()) p.reject(e);
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`ed25519 pool: worker exited with code ${code}`)));
    return slot;
  }

  #send(slot: Slot, items: readonly VerifyItem[]): Promise<Uint8Array> {
    let total = 0;
    for (const it of items) total += ITEM_HEADER_BYTES + it.message.length;
    const buf = Buffer.allocUnsafeSlow(total);
    let off = 0;
    for (const it of items) {
      buf.set(it.publicKey.raw, off);
      buf.set(it.signature, off + 32);
      buf.writeUInt32LE(it.message.length, off + 96);
      buf.set(it.message, off + 100);
      off += ITEM_HEADER_BYTES + it.message.length;
    }
    const id = this.#ids++;
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, buf: buf.buffer, n: items.length }, [buf.buffer]);
    });
  }

  /**
   * verifyBatch returns, for each item in order, whether its signature is valid. A signature that is not 64 bytes
   * throws ERR_KEY_SIGNATURE_LENGTH before anything is sent (the contract of verifyEd25519).
   */
  async verifyBatch(items: readonly VerifyItem[]): Promise<boolean[]> {
    if (this.#closed) throw new Error('ed25519 pool: verifyBatch after close');
    for (const it of items) {
      if (it.signature.length !== ED25519_SIGNATURE_BYTES) {
        throw new FormatError('ERR_KEY_SIGNATURE_LENGTH', `expected a 64-byte signature, got ${it.signature.length} bytes`);
      }
    }
    if (items.length === 0) return [];
    const parts = items.length < MIN_SPLIT_ITEMS ? 1 : this.threads;
    const size = Math.ceil(items.length / parts);
    const answers = await Promise.all(
      Array.from({ length: Math.ceil(items.length / size) }, (_, i) => {
        const slot = this.#slots[this.#next++ % this.threads]!;
        return this.#send(slot, items.slice(i * size, (i + 1) * size));
      }),
    );
    const out: boolean[] = [];
    for (const a of answers) for (const b of a) out.push(b === 1);
    return out;
  }

  /** close stops the workers; batches still pending are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
