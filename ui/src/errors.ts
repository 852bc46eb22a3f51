/**
 * ui/errors — the dashboard's one error type. Every parser and verifier of ui/src refuses server-supplied bytes by
 * throwing a {@link UiError} (never a SyntaxError, RangeError or DOMException from the platform): the page shows its
 * message, and the fuzz targets of fuzz/targets/ui.ts take any other exception as a finding.
 */

/** UiError is a refusal of server-supplied input, with a lowercase message that names what was wrong. */
export class UiError extends Error {
  override get name(): string {
    return 'UiError';
  }
}
