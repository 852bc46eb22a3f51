/**
 * cli/commands/verify — `custody verify MANIFEST ARTIFACT… --trust ROOT.json` (the guide's `phase-verify`).
 * A PSPF package (end magic at EOF-4) is handed to the package verifier when it is available.
 */
import type { Command } from '../context.ts';
import { runManifestVerify } from './manifest.ts';

export const verify: Command = {
  summary: 'verify artifacts against a signed manifest (or a PSPF package)',
  usage: `usage: custody verify MANIFEST ARTIFACT… --trust ROOT.json [--state FILE] [--json]

Verifies the manifest (threshold of trusted keys, expiry, rollback with --state), then each ARTIFACT: it must be
an entry of the manifest by filename, with the signed size, then every supported signed hash (streamed).
Exit 0 all verified, 1 refused (DO NOT USE the artifact), 2 usage/config error.

example:
  custody verify m2.json art/vmlinuz art/initramfs.img --trust root.json`,
  run: runManifestVerify,
};
