/**
 * cli/commands/keys — `custody keygen` and `custody key show`.
 */
import { PrivateKey, type PublicKey } from '../../crypto/index.ts';
import { decodeUtf8 } from '../../encoding/json.ts';
import { ConfigError, UsageError } from '../../errors.ts';
import { readFileBounded } from '../../io/files.ts';
import {
  KEY_FILE_MAX_BYTES,
  loadSeedFile,
  parsePrivateKeyPem,
  parsePublicKey,
  readPassphrase,
  writeKeyPair,
} from '../../keys/key-file.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { abs } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';

function describe(ctx: CommandContext, k: PublicKey, extra: Record<string, unknown> = {}): void {
  ctx.print(`key id:      ${tufKeyId(k)}`);
  ctx.print(`public key:  ${k.hex}`);
  ctx.print(`fingerprint: ${k.fingerprint}`);
  ctx.result({ key_id: tufKeyId(k), public_key: k.hex, fingerprint: k.fingerprint, ...extra });
}

export const keygen: Command = {
  summary: 'make an Ed25519 key pair (PKCS#8 PEM 0600 + SPKI .pub)',
  usage: `usage: custody keygen --output FILE [--force] [--encrypt] [--passphrase-file F] [--seed-file F]

Writes FILE (PKCS#8 PEM private key, mode 0600, parent directory created 0700) and FILE with the extension
replaced by .pub (SPKI PEM public key). Prints the key id (the TUF key id: hex SHA-256 of the canonical JSON
{"keytype":"ed25519","keyval":{"public":"<hex>"},"scheme":"ed25519"}, the id trust roots, manifests and signature
sets use), the raw public key in hex and an SSH-style fingerprint (for display only).

options:
  --output FILE           private key path (required)
  --force                 replace existing key files (default: refuse)
  --encrypt               encrypt the private key (scrypt + AES-256-GCM); passphrase from --passphrase-file
                          or CUSTODY_PASSPHRASE — never from the command line
  --passphrase-file F     read the passphrase from F (implies --encrypt)
  --seed-file F           deterministic key: seed = SHA-256 of F's UTF-8 text (FlavorPack's --key-seed rule).
                          For CI and tests only, NOT for production.

example:
  custody keygen --output keys/dev-signing-key.pem`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, {
      output: { type: 'string' },
      force: { type: 'boolean' },
      encrypt: { type: 'boolean' },
      'passphrase-file': { type: 'string' },
      'seed-file': { type: 'string' },
    }, false);
    const output = abs(ctx, requireOption(values.output, 'output'));
    const key = values['seed-file'] !== undefined ? await loadSeedFile(abs(ctx, values['seed-file'])) : PrivateKey.generate();
    let passphrase: Uint8Array | undefined;
    if (values.encrypt || values['passphrase-file'] !== undefined) {
      const pf = values['passphrase-file'];
      passphrase = await readPassphrase({ passphraseFile: pf === undefined ? undefined : abs(ctx, pf), env: ctx.env });
      if (!passphrase) {
        throw new ConfigError('ERR_CONFIG_PASSPHRASE_REQUIRED', '--encrypt needs a passphrase');
      }
    }
    const { publicPath } = await writeKeyPair(output, key, { force: values.force === true, passphrase });
    ctx.print(`private key: ${output}${passphrase ? ' (encrypted)' : ''}`);
    ctx.print(`public key:  ${publicPath}`);
    describe(ctx, key.publicKey, { private_key_path: output, public_key_path: publicPath, encrypted: passphrase !== undefined });
    return 0;
  },
};

export const keyShow: Command = {
  summary: 'print the key id, raw public key and fingerprint of a key file',
  usage: `usage: custody key show FILE [--passphrase-file F]

FILE may be a public key (SPKI PEM, 64 hex chars, base64 of 32 bytes) or a private key (PKCS#8 PEM, encrypted or
not; an encrypted one needs --passphrase-file or CUSTODY_PASSPHRASE).`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { 'passphrase-file': { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one key file');
    const path = abs(ctx, positionals[0]!);
    const text = decodeUtf8(await readFileBounded(path, { maxBytes: KEY_FILE_MAX_BYTES, allowSymlink: true, what: 'key file' }), 'key file');
    let pub: PublicKey;
    if (text.includes('PRIVATE KEY-----')) {
      const pf = values['passphrase-file'];
      const encrypted = text.includes('ENCRYPTED PRIVATE KEY-----');
      const pass = encrypted ? await readPassphrase({ passphraseFile: pf === undefined ? undefined : abs(ctx, pf), env: ctx.env }) : undefined;
      pub = parsePrivateKeyPem(text, pass).publicKey;
    } else {
      pub = parsePublicKey(text);
    }
    describe(ctx, pub);
    return 0;
  },
};
