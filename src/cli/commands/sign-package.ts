/**
 * cli/commands/sign-package — `custody sign-package FILE --key KEY.pem`: adds a detached signature over the file's
 * SHA-256 to FILE.sigs (trust/signature-set), so a threshold of trust-root keys can vouch for a package.
 */
import { basename } from 'node:path';
import { UsageError } from '../../errors.ts';
import { readFileIfExists } from '../../io/files.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { SIGNATURE_SET_MAX_BYTES, addSetSignature, formatSignatureSet, parseSignatureSet } from '../../trust/signature-set.ts';
import { abs, loadSigningKey, writeOutput } from '../common.ts';
import { parseCommandArgs, requireOption, type Command } from '../context.ts';
import { fileSha256 } from './verify-package.ts';

export const signPackage: Command = {
  summary: 'add a detached signature over a package (or any file) to FILE.sigs',
  usage: `usage: custody sign-package FILE --key KEY.pem [--signatures FILE.sigs] [--passphrase-file F]

Signs "custody-signature-set:v1:sha256:<hex of FILE>" and adds it to the signature set (default FILE.sigs,
created if missing; a set for a different file is refused). \`custody verify FILE --trust ROOT.json\` accepts the
package when a threshold of distinct keys of the root's "targets" role signed.

example:
  custody sign-package app.psp --key k/a.pem && custody sign-package app.psp --key k/b.pem
  custody verify app.psp --trust root.json`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      key: { type: 'string' },
      'seed-file': { type: 'string' },
      signatures: { type: 'string' },
      'passphrase-file': { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one FILE');
    const file = abs(ctx, positionals[0]!);
    const sigsPath = abs(ctx, values.signatures ?? positionals[0]! + '.sigs');
    const key = await loadSigningKey(ctx, { key: values['seed-file'] === undefined ? requireOption(values.key, 'key') : undefined, seedFile: values['seed-file'], passphraseFile: values['passphrase-file'] });
    const digest = await fileSha256(file);
    const existing = await readFileIfExists(sigsPath, { maxBytes: SIGNATURE_SET_MAX_BYTES, what: 'signature set' });
    const current = existing ? parseSignatureSet(existing) : undefined;
    const next = addSetSignature(current, basename(file), digest, key);
    await writeOutput(ctx, sigsPath, formatSignatureSet(next), { inputs: [positionals[0]!] });
    ctx.print(`signed sha256:${digest} by ${tufKeyId(key.publicKey)}; ${next.signatures.length} signature(s) → ${sigsPath}`);
    ctx.result({ output: sigsPath, sha256: digest, key_id: tufKeyId(key.publicKey), signatures: next.signatures.length });
    return 0;
  },
};
