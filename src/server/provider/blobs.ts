/**
 * server/provider/blobs — the provider's content-addressed artifact store: every artifact it ever signed, named by
 * the SHA-256 of its bytes, immutable once written.
 *
 * Layout: `DIR/sha256/<first 2 hex>/<64 hex>` (files 0644, directories 0755).
 *
 * Duties: a blob appears under its name only once its bytes are durable (temp file, fsync, link into place, fsync
 * the directory) and its name is the SHA-256 of exactly those bytes, computed while copying — never a digest
 * supplied by the caller. So a source file that changes while it is imported cannot put bytes under a wrong name,
 * and what the daemon signs is what it serves. Blobs are never rewritten: importing the same content again is a
 * no-op.
 */
import { constants, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { createMultiHasher } from '../../crypto/index.ts';
import { IoError, LimitError, VerificationError, isTrustError, toIoError } from '../../errors.ts';
import { pathExists, syncDir, tempPath, writeFully } from '../../io/files.ts';
import { HASH_CHUNK_BYTES } from '../../io/hash-file.ts';

/** SHA256_HEX matches a blob name. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** BlobInfo is a stored blob. */
export interface BlobInfo {
  sha256: string;
  size: number;
}

/** BlobStore is the provider's content-addressed store rooted at one directory. */
export class BlobStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** pathOf is the file of a blob (the name must be 64 lowercase hex; checked, since it may come from a URL). */
  pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error('blobs: pathOf needs 64 lowercase hex');
    return join(this.dir, 'sha256', sha256.slice(0, 2), sha256);
  }

  /** stat returns the blob's size, or undefined when it is not stored. */
  async stat(sha256: string): Promise<BlobInfo | undefined> {
    try {
      const st = await fsp.lstat(this.pathOf(sha256));
      return st.isFile() ? { sha256, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }

  /** importHandle copies an open file from offset 0 into the store (the caller keeps and closes the handle). */
  async importHandle(fh: fsp.FileHandle, size: number, maxBytes: number, what: string): Promise<BlobInfo> {
    if (size > maxBytes) throw new LimitError('ERR_LIMIT_SIZE', `${what} is ${size} bytes, over the cap of ${maxBytes}`);
    return this.#store(
      (async function* () {
        const buf = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
        let pos = 0;
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          if (pos > maxBytes) throw new LimitError('ERR_LIMIT_SIZE', `${what} grew over the cap of ${maxBytes} bytes`);
          yield buf.subarray(0, bytesRead);
        }
      })(),
    );
  }

  /** removeTemporaries deletes what an interrupted import left in DIR/tmp (call before serving). */
  async removeTemporaries(): Promise<void> {
    await fsp.rm(join(this.dir, 'tmp'), { recursive: true, force: true }).catch((e: unknown) => {
      throw toIoError(e, join(this.dir, 'tmp'), 'write');
    });
  }

  /**
   * importStream stores bytes from a stream (an upload). When `expect` is given the stored digest must equal it,
   * else nothing is stored and ERR_PROVIDER_BLOB_MISMATCH is thrown; more than maxBytes gives ERR_LIMIT_SIZE.
   */
  async importStream(source: AsyncIterable<Uint8Array>, maxBytes: number, expect?: string): Promise<BlobInfo> {
    return this.#store(
      (async function* () {
        let n = 0;
        for await (const chunk of source) {
          n += chunk.length;
          if (n > maxBytes) throw new LimitError('ERR_LIMIT_SIZE', `the upload is over the cap of ${maxBytes} bytes`);
          yield chunk;
        }
      })(),
      expect,
    );
  }

  async #store(chunks: AsyncIterable<Uint8Array>, expect?: string): Promise<BlobInfo> {
    const tmpDir = join(this.dir, 'tmp');
    await fsp.mkdir(tmpDir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw toIoError(e, tmpDir, 'write');
    });
    const tmp = tempPath(tmpDir, 'blob');
    const hasher = await createMultiHasher(['sha256']);
    let fh: fsp.FileHandle | undefined;
    let size = 0;
    try {
      fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      for await (const c of chunks) {
        hasher.update(c);
        await writeFully(fh, c);
        size += c.length;
      }
      await fh.sync();
      // What is on disk must be what was hashed: a short write anywhere shows here.
      if ((await fh.stat()).size !== size) throw new IoError('ERR_IO_WRITE_FAILED', `blob store: wrote ${size} bytes, the file has fewer`);
      await fh.close();
      fh = undefined;
      const sha256 = hasher.digest().sha256;
      if (expect !== undefined && sha256 !== expect) {
        throw new VerificationError('ERR_PROVIDER_BLOB_MISMATCH', `expected sha256:${expect}, the upload hashes to sha256:${sha256}`);
      }
      const final = this.pathOf(sha256);
      if (!(await pathExists(final))) {
        const dir = join(this.dir, 'sha256', sha256.slice(0, 2));
        // A new prefix directory (or sha256/ itself) must survive a crash too: fsync the parent of each one created.
        const first = await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
        if (first !== undefined) {
          for (let d = dir; d.length >= first.length; d = dirname(d)) await syncDir(dirname(d));
        }
        // link() never replaces: a concurrent import of the same bytes wins the race harmlessly.
        await fsp.link(tmp, final).catch((e: unknown) => {
          if ((e as { code?: string }).code !== 'EEXIST') throw e;
        });
        await syncDir(dir);
      }
      return { sha256, size };
    } catch (e) {
      if (isTrustError(e)) throw e;
      throw toIoError(e, this.dir, 'write');
    } finally {
      await fh?.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
    }
  }
}

/**
 * BlobCache keeps the bytes of small blobs in memory (least recently used first out), so the hot path of a boot
 * storm — the same kernel and initramfs requested by every client — costs no open/stat/read per request. Safe
 * because blobs are immutable and named by their digest: an entry can never be stale.
 */
export class BlobCache {
  readonly #entries = new Map<string, Buffer>();
  /** #newest is the most recently used key (the last in #entries' order), or undefined. */
  #newest: string | undefined;
  #bytes = 0;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;

  /** maxBytes caps the whole cache; blobs over maxEntryBytes are never cached (they are streamed). */
  constructor(maxBytes: number, maxEntryBytes: number) {
    this.maxBytes = maxBytes;
    this.maxEntryBytes = maxEntryBytes;
  }

  get(sha256: string): Buffer | undefined {
    const b = this.#entries.get(sha256);
    if (b !== undefined && sha256 !== this.#newest) {
      // Map keeps insertion order: re-inserting marks the entry most recently used (already so for the one asked
      // for last: a boot storm asks for the same blob over and over).
      this.#entries.delete(sha256);
      this.#entries.set(sha256, b);
      this.#newest = sha256;
    }
    return b;
  }

  /** has tells whether a blob is cached, without marking it used. */
  has(sha256: string): boolean {
    return this.#entries.has(sha256);
  }

  set(sha256: string, data: Buffer): void {
    if (data.length > this.maxEntryBytes || data.length > this.maxBytes || this.#entries.has(sha256)) return;
    this.#entries.set(sha256, data);
    this.#newest = sha256;
    this.#bytes += data.length;
    for (const [k, v] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= v.length;
    }
  }
}
