/**
 * cli/commands/keys — `custody keygen` and `custody key show`.
 */
import { PrivateKey, type PublicKey } from '../../crypto/index.ts';
import { decodeUtf8 } from '../../encoding/json.ts';
import { ConfigError, IoError, UsageError } from '../../errors.ts';
import { isPkcs11Uri } from '../../hsm/uri.ts';
import { pathExists, readFileBounded, writeFileAtomic } from '../../io/files.ts';
import {
  KEY_FILE_MAX_BYTES,
  loadSeedFile,
  parsePrivateKeyPem,
  parsePublicKey,
  publicKeyPathFor,
  readPassphrase,
  writeKeyPair,
} from '../../keys/key-file.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { abs, openTokenKey } from '../common.ts';
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
       custody keygen --pkcs11 'pkcs11:token=T;object=LABEL?pin-source=file:PIN' --output FILE [--force]

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
  --pkcs11 URI            make the key pair inside a PKCS#11 token instead (RFC 7512 URI naming token= and
                          object=; module from ?module-path= or CUSTODY_PKCS11_MODULE, PIN from
                          ?pin-source=file:F or CUSTODY_PKCS11_PIN). The private key is non-extractable and
                          sensitive: it never leaves the token. Only FILE.pub is written (FILE itself is not); sign
                          with --key 'pkcs11:…' afterwards (docs/keys.md, "PKCS#11").

examples:
  custody keygen --output keys/dev-signing-key.pem
  custody keygen --pkcs11 'pkcs11:token=custody;object=release-1?pin-source=file:pin.txt' --output keys/release-1`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, {
      output: { type: 'string' },
      force: { type: 'boolean' },
      encrypt: { type: 'boolean' },
      'passphrase-file': { type: 'string' },
      'seed-file': { type: 'string' },
      pkcs11: { type: 'string' },
    }, false);
    const output = abs(ctx, requireOption(values.output, 'output'));
    if (values.pkcs11 !== undefined) {
      if (values.encrypt || values['passphrase-file'] !== undefined || values['seed-file'] !== undefined) {
        throw new UsageError('ERR_USAGE_ARGUMENT', '--pkcs11 makes the key in the token: --encrypt, --passphrase-file and --seed-file do not apply');
      }
      return keygenInToken(ctx, values.pkcs11, output, values.force === true);
    }
    // FILE.pub is derived from FILE by replacing its extension: `--output x.pub` would write the public key over the
    // private key just written, losing it.
    if (publicKeyPathFor(output) === output) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--output ${values.output}: the public key goes to FILE with its extension replaced by .pub, which is FILE itself; name the private key file, e.g. key.pem`);
    }
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

/** keygenInToken makes the key pair in the token and writes only the `.pub` (refused first if it exists). */
async function keygenInToken(ctx: CommandContext, uri: string, output: string, force: boolean): Promise<number> {
  const publicPath = publicKeyPathFor(output);
  // Checked before the token is touched: a refusal must leave no key behind in the token either.
  if (!force && (await pathExists(publicPath))) throw new IoError('ERR_IO_EXISTS', `refusing to overwrite ${publicPath}`);
  const { generatePkcs11Key } = await import('../../hsm/pkcs11.ts');
  const g = await generatePkcs11Key(uri, { cwd: ctx.cwd, env: ctx.env, warn: (m) => ctx.stderr(`custody: warning: ${m}\n`) });
  try {
    await writeFileAtomic(publicPath, g.publicKey.toPem(), { mode: 0o644, overwrite: force, dirMode: 0o700 });
  } catch (e) {
    ctx.stderr(`custody: warning: the key ${g.uri} was made in the token but its .pub could not be written\n`);
    throw e;
  }
  ctx.print(`token key:   ${g.uri}`);
  ctx.print(`public key:  ${publicPath}`);
  describe(ctx, g.publicKey, { pkcs11_uri: g.uri, public_key_path: publicPath });
  return 0;
}

export const keyShow: Command = {
  summary: 'print the key id, raw public key and fingerprint of a key file',
  usage: `usage: custody key show FILE [--passphrase-file F]
       custody key show 'pkcs11:token=T;object=LABEL?pin-source=file:PIN'

FILE may be a public key (SPKI PEM, 64 hex chars, base64 of 32 bytes) or a private key (PKCS#8 PEM, encrypted or
not; an encrypted one needs --passphrase-file or CUSTODY_PASSPHRASE). A pkcs11: URI shows the token key it names
(the key is opened as for signing: module from ?module-path= or CUSTODY_PKCS11_MODULE, PIN from ?pin-source=).

example:
  custody key show keys/dev-signing-key.pub`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { 'passphrase-file': { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one key file');
    if (isPkcs11Uri(positionals[0]!)) {
      const signer = await openTokenKey(ctx, positionals[0]!);
      try {
        ctx.print(`token key:   ${signer.uri}`);
        describe(ctx, signer.publicKey, { pkcs11_uri: signer.uri });
      } finally {
        signer.close();
      }
      return 0;
    }
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
