/**
 * cli/commands/extract — `custody extract PACKAGE [SLOT] OUTPUT`: safe extraction of a PSPF/2025 package
 * (FlavorPack v0.3.0 layout).
 *
 * Trust boundary: the package is verified at the deep level first (signature, launcher, every slot against the
 * signed sha-256), the signer is judged like `custody verify-package` (`--trusted-key`, CUSTODY_ALLOWED_KEYS,
 * `--trust ROOT.json`, or explicitly any signer with `--allow-any-signer`; nothing configured refuses), and the
 * content is extracted under archive/extract's rules into a temporary directory next to OUTPUT that is renamed into
 * place only if every entry passed: a refused package writes nothing.
 */
import { resolve } from 'node:path';
import { UsageError } from '../../errors.ts';
import { extractPackage } from '../../pkg/extract.ts';
import { openPackage } from '../../pkg/reader.ts';
import { verifyPackage } from '../../pkg/verify.ts';
import { parseCommandArgs, type Command, type CommandContext } from '../context.ts';
import { safe } from './inspect.ts';
import { PACKAGE_TRUST_OPTIONS, reportJson, resolvePackageTrust, trustLine } from './verify-package.ts';
import { PACKAGE_TRUST_USAGE } from './verify-package-usage.ts';

export const extract: Command = {
  summary: 'extract a PSPF/2025 package (every slot, or one) safely into a new directory',
  usage: `usage: custody extract PACKAGE [SLOT] OUTPUT (--trusted-key KEY… | --trust ROOT.json | --allow-any-signer) [--allow-links] [--json]

Verifies PACKAGE (deep: signature, launcher, every slot's bytes against the signed sha-256; the signer as in
\`custody verify-package\`), then writes every slot's decoded content under OUTPUT at its signed target ({workenv} is
OUTPUT): tar slots are unpacked, other slots become one file. Nothing else is written. With SLOT (an index or an
id) only that slot is extracted, and OUTPUT is that file or directory.

OUTPUT must not exist (or be an empty directory). Extraction happens in a temporary directory next to it and is
renamed into place only when every entry passed the rules: no absolute paths or "..", no links (unless
--allow-links, and then only links that stay inside), no devices or fifos, no setuid/setgid/sticky bits, no
duplicate or case-colliding names, caps on size, entry count and compression ratio. A refused package writes
nothing.

${PACKAGE_TRUST_USAGE}
  --allow-links       accept symlinks and hardlinks that stay inside OUTPUT

examples:
  custody extract app.psp out/ --trust root.json
  custody extract app.psp 0 hello.txt --allow-any-signer
  custody extract app.psp tree-xz tree/ --trusted-key dd3773c6435a7f915de513313dc1bedb9d071eee19497b3cd38e1b2b7cb6fe19`,
  run: async (ctx: CommandContext): Promise<number> => {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      'allow-links': { type: 'boolean' },
      ...PACKAGE_TRUST_OPTIONS,
    });
    if (positionals.length < 2 || positionals.length > 3) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `expected PACKAGE [SLOT] OUTPUT, got ${positionals.length} arguments`);
    }
    const pkgPath = resolve(ctx.cwd, positionals[0]!);
    const slot = positionals.length === 3 ? positionals[1]! : undefined;
    const output = resolve(ctx.cwd, positionals[positionals.length - 1]!);
    if (output === pkgPath) throw new UsageError('ERR_USAGE_ARGUMENT', 'OUTPUT must not be the package itself');
    const { trust, recheck } = await resolvePackageTrust(ctx, values, pkgPath);
    const reader = await openPackage(pkgPath);
    try {
      const report = await verifyPackage(reader, { level: 'deep', trust });
      // With --trust, the file must still be the one whose digest the verdict covers before anything is written.
      await recheck(reader);
      const result = await extractPackage(reader, output, {
        trust,
        allowLinks: values['allow-links'] === true,
        contentsVerified: true,
        ...(slot === undefined ? {} : { slot }),
      });
      const slots = slot === undefined ? reader.model.slots.length : 1;
      ctx.print(
        `extracted ${result.files} files${result.links > 0 ? `, ${result.links} links` : ''} (${result.bytes} bytes) from ${slots} slot${slots === 1 ? '' : 's'} of ${safe(report.name)} ${safe(report.version)} into ${positionals[positionals.length - 1]!}`,
      );
      ctx.print(`signer: ${trustLine(report.trust)} (ed25519 ${report.signer.hex})`);
      if (report.trust.kind === 'self-signed' && !ctx.json) {
        ctx.stderr(`custody: hint: --allow-any-signer: the signer is not trusted; pass --trusted-key or --trust ROOT.json to require a known signer\n`);
      }
      ctx.result({ ...reportJson(report), output, files: result.files, links: result.links, bytes: result.bytes, entries: result.entries });
      return 0;
    } finally {
      await reader.close();
    }
  },
};
