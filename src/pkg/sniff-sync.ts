/**
 * pkg/sniff-sync — pkg/sniff's `isPspfFile`, synchronous (io/read-sync), for `custody verify`, which sniffs its first
 * file before it knows which verifier to load (issue 9: an asynchronous open and read cost a fresh process ~3 ms).
 * Same answer as pkg/sniff: a regular file (a final symlink followed) at least a trailer long whose last 4 bytes
 * are the PSPF/2025 end magic. The two are to become one when pkg/sniff next changes (its fuzz closures: the PSPF
 * targets, whose campaign a change restarts).
 */
import { closeSync } from 'node:fs';
import { openRegularFileSync, readTailSync, type OpenedFile } from '../io/read-sync.ts';
import { PSPF_END_MAGIC, PSPF_TRAILER_BYTES } from './trailer.ts';

/** isPspfFileSync says whether path ends with the PSPF/2025 end magic; it verifies nothing. Unreadable: false. */
export function isPspfFileSync(path: string): boolean {
  let file: OpenedFile;
  try {
    file = openRegularFileSync(path, true);
  } catch {
    return false;
  }
  try {
    if (file.size < PSPF_TRAILER_BYTES) return false;
    const tail = readTailSync(file, 4);
    return tail.length === 4 && tail.every((b, i) => b === PSPF_END_MAGIC[i]);
  } catch {
    return false;
  } finally {
    closeSync(file.fd);
  }
}
