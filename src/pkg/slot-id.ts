/**
 * pkg/slot-id — the rules for PSPF/2025 slot ids (FlavorPack v0.3.0 metadata `slots[i].id`).
 *
 * A slot id is a name, not a path: launchers and caches use it as a file or directory name (FlavorPack's launchers
 * name per-slot cache entries after it), so an id must be usable as one path component and nothing more:
 * - not empty, and at most {@link SLOT_ID_MAX_BYTES} bytes of UTF-8 (NAME_MAX on Linux and macOS);
 * - no `/` or `\` (no path separators on any platform), and not `.` or `..` (the only "segments" an id without
 *   separators can have; `.` is refused too because as a directory name it is the parent cache directory itself);
 * - no NUL or control character (C0, DEL, C1): they end C strings, rewrite terminals and break logs.
 * Refused with ERR_PKG_SLOT_ID_INVALID, both when a package is read (in its signed metadata) and when one is
 * written, so Custody never produces a package its own reader refuses.
 *
 * Trust boundary: at read time the id is signed but attacker-chosen (anyone can sign); it is checked right after
 * the signature, before any id reaches a message, a path or a caller.
 */
import { printable } from '../encoding/text.ts';
import { FormatError } from '../errors.ts';

/** SLOT_ID_MAX_BYTES: 255 bytes of UTF-8, the longest file name Linux and macOS accept. */
export const SLOT_ID_MAX_BYTES = 255;

/** slotIdProblem returns why id is not a valid slot id, or undefined when it is. */
export function slotIdProblem(id: string): string | undefined {
  if (id === '') return 'is empty';
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > SLOT_ID_MAX_BYTES) return `is ${bytes} bytes, over the cap of ${SLOT_ID_MAX_BYTES}`;
  if (id.includes('/') || id.includes('\\')) return 'contains a path separator ("/" or "\\")';
  if (id === '.' || id === '..') return 'is a "." or ".." path segment';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return 'contains NUL or a control character';
  // Lone surrogates cannot be written as UTF-8 (they would become U+FFFD): the id would not survive a round trip.
  if (!id.isWellFormed()) return 'is not well-formed Unicode';
  return undefined;
}

/** checkSlotId throws ERR_PKG_SLOT_ID_INVALID unless id follows the rules of the module doc; `where` names it. */
export function checkSlotId(id: string, where: string): void {
  const problem = slotIdProblem(id);
  if (problem !== undefined) {
    throw new FormatError('ERR_PKG_SLOT_ID_INVALID', `${where}: slot id "${printable(id, 80)}" ${problem}; a slot id is a file name, not a path`);
  }
}
