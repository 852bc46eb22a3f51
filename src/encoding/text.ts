/**
 * encoding/text — making untrusted text safe to print on a terminal.
 *
 * Trust boundary: messages relayed from servers (a log's, a witness's or a provider's refusal) and names taken from
 * files are attacker-chosen; printed raw, ESC, CR or BEL sequences could rewrite the terminal or forge output lines.
 */

/**
 * printable escapes C0/C1 control characters, DEL and the Unicode line/paragraph separators (`\x1b`, `\u2028`) and
 * keeps at most `max` characters, so a server-supplied text can neither drive the terminal nor span lines.
 */
export function printable(s: string, max = 300): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.slice(0, max).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16)}`;
  });
}
