/**
 * pkg/launcher — the placeholder launcher Custody puts at offset 0 of packages built without `--launcher`.
 *
 * PSPF/2025 (FlavorPack v0.3.0) starts every package with a native launcher executable; Custody does not ship one.
 * The placeholder is a fixed POSIX shell script (identical bytes in every package, so packing stays
 * deterministic): run directly, it explains itself on stderr and exits 64 (EX_USAGE) before the shell reaches the
 * binary data that follows. Its SHA-256 is signed in the metadata like any launcher's.
 *
 * Trust boundary: the launcher is the code a user runs; Custody verifies it against the signed digest (deep).
 */

/** PLACEHOLDER_LAUNCHER_TEXT is the exact script text (UTF-8, LF line ends). */
export const PLACEHOLDER_LAUNCHER_TEXT = [
  '#!/bin/sh',
  '# Custody placeholder launcher for a PSPF/2025 package (no native launcher was packed).',
  '# Verify and unpack the package instead: custody verify PACKAGE && custody extract PACKAGE OUTPUT',
  'echo "custody: this PSPF/2025 package has no launcher; run: custody extract $0 OUTPUT" >&2',
  'exit 64',
  '',
].join('\n');

/** PLACEHOLDER_LAUNCHER is the placeholder's bytes. */
export const PLACEHOLDER_LAUNCHER: Uint8Array = new TextEncoder().encode(PLACEHOLDER_LAUNCHER_TEXT);

/** PLACEHOLDER_LAUNCHER_TOOL names it in the signed metadata (`launcher.tool`). */
export const PLACEHOLDER_LAUNCHER_TOOL = 'custody-placeholder-launcher';
