/**
 * cli/commands/verify — `custody verify MANIFEST ARTIFACT… --trust ROOT.json`, or `custody verify PACKAGE …` (the
 * same as `custody verify-package`). The first file is a package when it is named `*.psp`, when a package-only
 * option is given (PACKAGE_ONLY_OPTIONS), or when it ends with the PSPF end magic; so a damaged package (its end
 * magic gone) is still refused by the package verifier with an ERR_PKG_… code, never by the manifest verifier.
 */
import { isPspfFileSync } from '../../pkg/sniff-sync.ts';
import { abs } from '../inputs.ts';
import type { Command, CommandContext } from '../context.ts';
import { runManifestVerify } from './manifest-verify.ts';
import { PACKAGE_VERIFY_USAGE } from './verify-package-usage.ts';

/** VALUE_OPTIONS are the options of either verifier that take a value (the next argument is not a file). */
const VALUE_OPTIONS = new Set(['--trust', '--state', '--require-log', '--log-proof', '--trusted-key', '--signatures']);

/** PACKAGE_ONLY_OPTIONS are options only the package verifier knows: with one of them, the input is a package. */
const PACKAGE_ONLY_OPTIONS = new Set(['--quick', '--deep', '--paranoid', '--trusted-key', '--allow-any-signer', '--signatures', '--allow-links']);

/** PACKAGE_SUFFIX: a file named `*.psp` is a package whatever its content. */
const PACKAGE_SUFFIX = '.psp';

/** isPackageInvocation decides which verifier handles the command line (see the module doc). */
function isPackageInvocation(ctx: CommandContext, argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const options = end < 0 ? argv : argv.slice(0, end);
  if (options.some((a) => PACKAGE_ONLY_OPTIONS.has(a.split('=')[0]!))) return true;
  const first = firstPositional(argv);
  if (first === undefined) return false;
  if (first.toLowerCase().endsWith(PACKAGE_SUFFIX)) return true;
  return isPspfFileSync(abs(ctx, first));
}

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
    // Each verifier's modules load only when its kind of file is given (the package side pulls in pkg/ and codecs).
    if (isPackageInvocation(ctx, ctx.argv)) return (await import('./verify-package.ts')).runPackageVerify(ctx);
    return runManifestVerify(ctx);
  },
};
