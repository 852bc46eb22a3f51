/**
 * crypto/file-digest-pool — SHA-1 and SHA-256 (FIPS 180-4) of many files on every core, each file read once: the
 * directory walk of an SBOM (SPDX 2.3 §8.4 wants SHA1 per file; SHA-256 is what Custody trusts) spends most of its
 * time in open/fstat/read/close, which a second thread halves.
 *
 * The caller hands a batch of paths to {@link FileDigestPool.run} and works on it too: every thread (the caller and
 * the pool's workers) takes the next item from one shared counter (Atomics), so a worker still starting takes
 * nothing and the caller does all of it. A worker opens each path exactly as the caller's own code does — O_RDONLY |
 * O_NOFOLLOW | O_NONBLOCK, fstat must say a regular file, read to the end through one reused buffer, the size read
 * must equal fstat's — and writes size and digests into shared memory. On ANY failure it records only "failed": the
 * caller redoes that file itself, so errors are the caller's own, in the caller's order. Nothing is cached; every
 * byte of every file is read and hashed each time.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** FileDigest is one file's size and lowercase-hex digests. */
export interface FileDigest {
  size: number;
  sha1: string;
  sha256: string;
}

/** SLOT_BYTES per item in shared memory: status i32 @0, size f64 @8, SHA-1 @16 (20 bytes), SHA-256 @36 (32 bytes). */
const SLOT_BYTES = 72;
/** POOL_MAX_BATCH: the most items one run takes (the caller batches above it). */
export const POOL_MAX_BATCH = 1024;
const STATUS_OK = 1;
const STATUS_FAILED = 2;
/** Control words: [0] next global item index, [1] items completed in the current batch. */
const NEXT = 0;
const DONE = 1;

// CommonJS source evaluated in each worker: node:fs and node:crypto only, no module resolution, same in tsx and dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, fstatSync, readSync, closeSync, constants } = require('node:fs');
const { createHash, hash } = require('node:crypto');
const ctl = new Int32Array(workerData.control);
const res = Buffer.from(workerData.results);
const buf = Buffer.allocUnsafe(1024 * 1024);
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
function digest(path, at) {
  const fd = openSync(path, FLAGS);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return false;
    const first = readSync(fd, buf, 0, buf.length, null);
    let size = first;
    if (first < buf.length) {
      const data = buf.subarray(0, first);
      hash('sha1', data, 'buffer').copy(res, at + 16);
      hash('sha256', data, 'buffer').copy(res, at + 36);
    } else {
      const h1 = createHash('sha1');
      const h256 = createHash('sha256');
      size = 0;
      for (let n = first; n > 0; n = readSync(fd, buf, 0, buf.length, null)) {
        const chunk = buf.subarray(0, n);
        h1.update(chunk);
        h256.update(chunk);
        size += n;
      }
      h1.digest().copy(res, at + 16);
      h256.digest().copy(res, at + 36);
    }
    if (size !== st.size) return false;
    res.writeDoubleLE(size, at + 8);
    return true;
  } finally {
    closeSync(fd);
  }
}
parentPort.on('message', ({ base, paths }) => {
  const end = base + paths.length;
  for (;;) {
    const cur = Atomics.load(ctl, ${NEXT});
    // A batch already finished (or not this one): nothing to take.
    if (cur < base || cur >= end) break;
    if (Atomics.compareExchange(ctl, ${NEXT}, cur, cur + 1) !== cur) continue;
    const at = (cur - base) * ${SLOT_BYTES};
    let ok = false;
    try { ok = digest(paths[cur - base], at); } catch { ok = false; }
    res.writeInt32LE(ok ? ${STATUS_OK} : ${STATUS_FAILED}, at);
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
});
`;

/**
 * FileDigestPool hashes batches of files on `threads` worker threads alongside the caller. close() when done (the
 * workers are unref'd, so a forgotten pool does not keep the process alive).
 */
export class FileDigestPool {
  readonly threads: number;
  readonly #workers: Worker[];
  readonly #control: Int32Array;
  readonly #results: Buffer;
  readonly #ready: Promise<void>;
  #base = 0;

  private constructor(threads: number) {
    this.threads = threads;
    const control = new SharedArrayBuffer(8);
    const results = new SharedArrayBuffer(POOL_MAX_BATCH * SLOT_BYTES);
    this.#control = new Int32Array(control);
    this.#results = Buffer.from(results);
    const online: Array<Promise<void>> = [];
    this.#workers = Array.from({ length: threads }, () => {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { control, results } });
      // A worker that fails to start takes no item; the caller does its share.
      w.on('error', () => undefined);
      // Referenced only while it starts (so whenReady can be awaited); a running pool never keeps the process alive.
      online.push(
        new Promise((resolve) => {
          const settle = (): void => {
            w.unref();
            resolve();
          };
          w.once('online', settle);
          w.once('exit', settle);
        }),
      );
      return w;
    });
    this.#ready = Promise.all(online).then(() => undefined);
  }

  /** whenReady resolves once every worker runs (run() never waits for it: a worker still starting takes nothing). */
  whenReady(): Promise<void> {
    return this.#ready;
  }

  /** create starts a pool of `threads` workers (default: one per core beyond the caller's); undefined on one core. */
  static create(threads = availableParallelism() - 1): FileDigestPool | undefined {
    return threads >= 1 ? new FileDigestPool(threads) : undefined;
  }

  /**
   * run digests `paths` (at most POOL_MAX_BATCH): the caller's thread takes items too and runs `self(i)` for each
   * one it takes. Returns, per item, the digest a worker computed, or undefined for the items the caller ran and
   * those a worker failed on (the caller redoes them to get its own result or error). Synchronous: it returns once
   * every item taken by anyone is done (an exception from `self` is rethrown then, not before: the shared memory is
   * never left to a batch still running).
   */
  run(paths: readonly string[], self: (i: number) => void): Array<FileDigest | undefined> {
    const n = paths.length;
    if (n > POOL_MAX_BATCH) throw new RangeError(`a batch of ${n} files is over ${POOL_MAX_BATCH}`);
    const base = this.#base;
    this.#base += n;
    const ctl = this.#control;
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, NEXT, base);
    for (const w of this.#workers) w.postMessage({ base, paths });
    const mine = new Uint8Array(n);
    let thrown: { e: unknown } | undefined;
    for (let g = Atomics.add(ctl, NEXT, 1); g < base + n; g = Atomics.add(ctl, NEXT, 1)) {
      mine[g - base] = 1;
      try {
        self(g - base);
      } catch (e) {
        thrown ??= { e };
      }
      Atomics.add(ctl, DONE, 1);
    }
    // Wait for the items the workers took (bounded waits, so a lost wake-up only costs a slice).
    for (let done = Atomics.load(ctl, DONE); done < n; done = Atomics.load(ctl, DONE)) Atomics.wait(ctl, DONE, done, 100);
    if (thrown !== undefined) throw thrown.e;
    const res = this.#results;
    const out = new Array<FileDigest | undefined>(n);
    for (let i = 0; i < n; i++) {
      const at = i * SLOT_BYTES;
      if (mine[i] === 1 || res.readInt32LE(at) !== STATUS_OK) continue;
      out[i] = { size: res.readDoubleLE(at + 8), sha1: res.toString('hex', at + 16, at + 36), sha256: res.toString('hex', at + 36, at + 68) };
    }
    return out;
  }

  /** close stops the workers. */
  close(): void {
    for (const w of this.#workers) void w.terminate();
  }
}
