/**
 * cli/commands/verify — `custody verify MANIFEST ARTIFACT… --trust ROOT.json` (the guide's `phase-verify`), or
 * `custody verify PACKAGE [--quick|--deep|--paranoid]` when the first file is a PSPF package (end magic at EOF-4).
 */
import { isPspfFile } from '../../pkg/sniff.ts';
import { abs } from '../common.ts';
import type { Command } from '../context.ts';
import { runManifestVerify } from './manifest.ts';
import { PACKAGE_VERIFY_USAGE } from './verify-package-usage.ts';

/** VALUE_OPTIONS are the options of either verifier that take a value (the next argument is not a file). */
const VALUE_OPTIONS = new Set(['--trust', '--state', '--require-log', '--log-proof', '--trusted-key', '--signatures']);

function firstPositional(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1];
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

export const verify: Command = {
  summary: 'verify artifacts against a signed manifest, or a PSPF package',
  usage: `usage: custody verify MANIFEST ARTIFACT… --trust ROOT.json [--state FILE] [--require-log VKEY [--log-proof F]] [--json]

Verifies the manifest (threshold of trusted keys, expiry, rollback with --state), then each ARTIFACT: it must be
an entry of the manifest by filename, with the signed size, then every supported signed hash (streamed).
Exit 0 all verified, 1 refused (DO NOT USE the artifact), 2 usage/config error.

example:
  custody verify m2.json art/vmlinuz art/initramfs.img --trust root.json

${PACKAGE_VERIFY_USAGE}`,
  async run(ctx) {
    const first = firstPositional(ctx.argv);
    // Each verifier's modules load only when its kind of file is given (the package side pulls in pkg/ and codecs).
    if (first !== undefined && (await isPspfFile(abs(ctx, first)))) return (await import('./verify-package.ts')).runPackageVerify(ctx);
    return runManifestVerify(ctx);
  },
};
