/**
 * keys/key-file — reading and writing Ed25519 key files.
 *
 * Private keys:
 * - PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the format `openssl genpkey -algorithm ed25519` writes;
 * - Custody's sealed PEM (`-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----`, scrypt + AES-256-GCM, crypto/sealed-key);
 * - OpenSSL's `-----BEGIN ENCRYPTED PRIVATE KEY-----` (PBES2), read only, its key derivation bounded first
 *   (keys/pkcs8-encrypted);
 * - a seed file (`--seed-file`): the Ed25519 seed is SHA-256 of the file's UTF-8 text with one trailing newline
 *   removed — FlavorPack's `--key-seed` rule. Deterministic keys are for CI and tests, NOT for production.
 * Private key files are written 0600 in a directory created 0700, atomically, and refused on read when group or
 * others can read them (as ssh does).
 *
 * Public keys are accepted as SPKI PEM, 64 lowercase hex chars, or canonical base64 of the 32 raw bytes.
 * Passphrases come from a file or the CUSTODY_PASSPHRASE environment variable, never from argv.
 */
import { promises as fsp } from 'node:fs';
import { dirname, extname, join, basename } from 'node:path';
import {
  PrivateKey,
  PublicKey,
  isSealedKeyPem,
  openSealedKey,
  privateKeyFromDer,
  privateKeyFromPem,
  sealPrivateKey,
  sha256,
  type OpenSealedKeyOptions,
  type SealOptions,
} from '../crypto/index.ts';
import { decodeBase64, decodeHex } from '../encoding/bytes.ts';
import { decodeUtf8 } from '../encoding/json.ts';
import { ConfigError, FormatError, IoError } from '../errors.ts';
import { pathExists, readFileBounded, writeFileAtomic } from '../io/files.ts';
import { checkEncryptedPkcs8Cost, type Pkcs8CostOptions } from './pkcs8-encrypted.ts';

/** KEY_FILE_MAX_BYTES caps key, seed and passphrase files. */
export const KEY_FILE_MAX_BYTES = 64 * 1024;

/** PassphraseSource says where a passphrase may come from. */
export interface PassphraseSource {
  /** passphraseFile is read (one trailing newline removed). */
  passphraseFile?: string | undefined;
  /** env is consulted for CUSTODY_PASSPHRASE when no file is given. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** readPassphrase returns the passphrase bytes, or undefined when no source is configured. */
export async function readPassphrase(src: PassphraseSource): Promise<Uint8Array | undefined> {
  if (src.passphraseFile !== undefined) {
    const raw = await readFileBounded(src.passphraseFile, { maxBytes: KEY_FILE_MAX_BYTES, what: 'passphrase file' });
    const text = decodeUtf8(raw, 'passphrase file').replace(/\r?\n$/, '');
    if (text.length === 0) throw new ConfigError('ERR_CONFIG_INVALID', `passphrase file ${src.passphraseFile} is empty`);
    return new TextEncoder().encode(text);
  }
  const env = src.env?.CUSTODY_PASSPHRASE;
  if (env !== undefined && env !== '') return new TextEncoder().encode(env);
  return undefined;
}

/** seedToPrivateKey applies FlavorPack's rule: Ed25519 seed = SHA-256(UTF-8 seed text). */
export function seedToPrivateKey(seedText: string): PrivateKey {
  return PrivateKey.fromSeed(sha256(seedText));
}

/** loadSeedFile reads a seed file (one trailing newline removed) and derives the deterministic key. */
export async function loadSeedFile(path: string): Promise<PrivateKey> {
  const raw = await readFileBounded(path, { maxBytes: KEY_FILE_MAX_BYTES, what: 'seed file' });
  const text = decodeUtf8(raw, 'seed file').replace(/\r?\n$/, '');
  if (text.length === 0) throw new ConfigError('ERR_CONFIG_INVALID', `seed file ${path} is empty`);
  return seedToPrivateKey(text);
}

/**
 * parsePrivateKeyPem opens any supported private key PEM; an encrypted one needs a passphrase. options.maxLog2N caps
 * the scrypt cost of a sealed key (crypto/sealed-key OpenSealedKeyOptions; default: the format's whole range) and of
 * an OpenSSL encrypted key using scrypt, options.maxIterations its PBKDF2 count; an OpenSSL key's derivation is
 * bounded in any case (keys/pkcs8-encrypted).
 */
export function parsePrivateKeyPem(pem: string, passphrase: Uint8Array | undefined, options: OpenSealedKeyOptions & Pkcs8CostOptions = {}): PrivateKey {
  if (isSealedKeyPem(pem)) {
    if (!passphrase) {
      throw new ConfigError('ERR_CONFIG_PASSPHRASE_REQUIRED', 'the private key is encrypted and no passphrase was given');
    }
    return privateKeyFromDer(openSealedKey(pem, passphrase, options));
  }
  if (pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    if (!passphrase) {
      throw new ConfigError('ERR_CONFIG_PASSPHRASE_REQUIRED', 'the private key is encrypted and no passphrase was given');
    }
    // OpenSSL runs whatever derivation the file names before anything in it is authenticated: bounded first.
    checkEncryptedPkcs8Cost(pem, options);
    try {
      return privateKeyFromPem(pem, passphrase);
    } catch (e) {
      throw new ConfigError('ERR_CONFIG_PASSPHRASE_WRONG', 'cannot open the encrypted key: wrong passphrase or altered file', {
        cause: e,
      });
    }
  }
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new FormatError('ERR_KEY_INVALID', 'expected a PEM private key (PKCS#8), encrypted or not');
  }
  return privateKeyFromPem(pem);
}

/** loadPrivateKey reads a private key file, refusing files readable by group or others. */
export async function loadPrivateKey(path: string, src: PassphraseSource = {}): Promise<PrivateKey> {
  const st = await fsp.stat(path).catch(() => undefined);
  if (st && (st.mode & 0o077) !== 0) {
    throw new ConfigError('ERR_CONFIG_KEY_PERMISSIONS', `private key ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)})`, {
      hint: `chmod 600 ${path}`,
    });
  }
  const raw = await readFileBounded(path, { maxBytes: KEY_FILE_MAX_BYTES, what: 'private key file' });
  const pem = decodeUtf8(raw, 'private key file');
  const encrypted = isSealedKeyPem(pem) || pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  return parsePrivateKeyPem(pem, encrypted ? await readPassphrase(src) : undefined);
}

/** parsePublicKey accepts SPKI PEM, 64 lowercase hex chars or base64 of the 32 raw bytes. */
export function parsePublicKey(text: string): PublicKey {
  const t = text.trim();
  if (t.includes('-----BEGIN PUBLIC KEY-----')) return PublicKey.fromPem(t);
  if (t.includes('PRIVATE KEY-----')) {
    throw new FormatError('ERR_KEY_INVALID', 'this is a private key; pass the public key (.pub) instead');
  }
  if (/^[0-9a-fA-F]+$/.test(t)) {
    if (t.length !== 64) throw new FormatError('ERR_KEY_INVALID', `expected 64 hex chars for a public key, got ${t.length}`);
    return PublicKey.fromRaw(decodeHex(t.toLowerCase(), 32, 'public key'));
  }
  try {
    return PublicKey.fromRaw(decodeBase64(t, 32, 'public key'));
  } catch (e) {
    throw new FormatError('ERR_KEY_INVALID', 'expected an SPKI PEM, 64 hex chars or base64 of 32 bytes', { cause: e });
  }
}

/** loadPublicKey reads a public key file, or parses the argument itself when it is inline hex or base64. */
export async function loadPublicKey(pathOrInline: string): Promise<PublicKey> {
  if (/^[0-9a-f]{64}$/.test(pathOrInline)) return parsePublicKey(pathOrInline);
  const raw = await readFileBounded(pathOrInline, { maxBytes: KEY_FILE_MAX_BYTES, allowSymlink: true, what: 'public key file' });
  return parsePublicKey(decodeUtf8(raw, 'public key file'));
}

/** publicKeyPathFor derives `keys/a.pub` from `keys/a.pem`. */
export function publicKeyPathFor(privatePath: string): string {
  const ext = extname(privatePath);
  return join(dirname(privatePath), basename(privatePath, ext) + '.pub');
}

export interface WriteKeyPairOptions {
  /** force replaces existing files. */
  force?: boolean;
  /** passphrase seals the private key (scrypt + AES-256-GCM). */
  passphrase?: Uint8Array | undefined;
  seal?: SealOptions;
}

/**
 * writeKeyPair writes the private key (0600, parent created 0700) and its `.pub` beside it (0644), each atomically.
 * Without `force`, an existing private or public key file gives ERR_IO_EXISTS and nothing is written.
 */
export async function writeKeyPair(privatePath: string, key: PrivateKey, options: WriteKeyPairOptions = {}): Promise<{ publicPath: string }> {
  const publicPath = publicKeyPathFor(privatePath);
  const overwrite = options.force === true;
  const pem = options.passphrase ? sealPrivateKey(key.toPkcs8Der(), options.passphrase, options.seal) : key.toPem();
  if (!overwrite) {
    // Check both before writing either, so a refusal leaves nothing behind.
    for (const p of [privatePath, publicPath]) {
      if (await pathExists(p)) throw new IoError('ERR_IO_EXISTS', `refusing to overwrite ${p}`);
    }
  }
  await writeFileAtomic(privatePath, pem, { mode: 0o600, overwrite, dirMode: 0o700 });
  try {
    await writeFileAtomic(publicPath, key.publicKey.toPem(), { mode: 0o644, overwrite });
  } catch (e) {
    if (!overwrite) await fsp.unlink(privatePath).catch(() => undefined);
    throw e;
  }
  return { publicPath };
}
