/**
 * cli/commands/printable — escaping of text that came from untrusted input (OSV records, SBOMs, archive entry names)
 * before it reaches a terminal: control characters (C0, DEL, C1) are printed as \xNN.
 */

/** safe escapes control characters as \xNN. */
export function safe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
