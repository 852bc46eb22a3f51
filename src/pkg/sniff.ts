/**
 * pkg/sniff — tells a PSPF/2025 package from other files by its end magic, without loading the reader, the
 * metadata codecs or anything else of pkg/ (so `custody verify MANIFEST …` stays cheap to start).
 */
import { openRegularFile } from '../io/files.ts';
import { PSPF_END_MAGIC, PSPF_TRAILER_BYTES } from './trailer.ts';

/**
 * isPspfFile says whether path is a regular file that ends with the PSPF/2025 end magic (and is long enough to hold
 * a trailer). It reads 4 bytes; it verifies nothing. Unreadable paths are not PSPF files.
 */
export async function isPspfFile(path: string): Promise<boolean> {
  let opened: Awaited<ReturnType<typeof openRegularFile>>;
  try {
    opened = await openRegularFile(path, true);
  } catch {
    return false;
  }
  try {
    if (opened.size < PSPF_TRAILER_BYTES) return false;
    const tail = Buffer.alloc(4);
    const { bytesRead } = await opened.fh.read(tail, 0, 4, opened.size - 4);
    return bytesRead === 4 && tail.every((b, i) => b === PSPF_END_MAGIC[i]);
  } catch {
    return false;
  } finally {
    await opened.fh.close();
  }
}
