/**
 * cli/common — loading the files commands share (trust roots, manifests, keys, bearer tokens, PostgreSQL connection
 * strings) with coded errors, and writing outputs atomically. The trust root and manifest readers live in cli/inputs.
 */
import { promises as fsp } from 'node:fs';
import { keysFromPublicKeys, type EnvelopeKeys } from '../attest/dsse.ts';
import { keysFromRoot } from '../attest/verify.ts';
import { P256PublicKey, type PublicKey, type Signer } from '../crypto/index.ts';
import { decodeUtf8 } from '../encoding/json.ts';
import { ConfigError, UsageError, isTrustError } from '../errors.ts';
import { readFileBounded, writeFileAtomic, writeFilesAtomic } from '../io/files.ts';
import type { Pkcs11Signer } from '../hsm/pkcs11.ts';
import { isPkcs11Uri } from '../hsm/uri.ts';
import { KEY_FILE_MAX_BYTES, loadPrivateKey, loadSeedFile, parsePublicKey } from '../keys/key-file.ts';
import { tufKeyId } from '../keys/key-id.ts';
import { TOKEN_FILE_MAX_BYTES, parseTokenText } from '../server/http.ts';
import type { CommandContext } from './context.ts';
import { abs, loadTrustRoot } from './inputs.ts';

// The input readers moved to cli/inputs (so `custody verify` need not load this module); every command still finds them here.
export { abs, loadTrustRoot, readManifestFile, readRootFile } from './inputs.ts';

/** EnvelopeKeyOptions are the `--trust ROOT.json` | `--key PUB…` [`--threshold N`] options of the verifying commands. */
export interface EnvelopeKeyOptions {
  trust?: string | undefined;
  keys?: readonly string[] | undefined;
  /** threshold goes with keys (default 1); a trust root sets its own. */
  threshold?: number | undefined;
  /** p256 also accepts ECDSA P-256 SPKI PEM key files (cosign.pub), returned apart: only verify-blob reads them. */
  p256?: boolean;
}

/** TrustedKeys are the Ed25519 keys and threshold a verifying command trusts, and any P-256 keys it was given. */
export interface TrustedKeys {
  keys: EnvelopeKeys;
  p256: P256PublicKey[];
}

/**
 * loadEnvelopeKeys resolves whose signatures count, the same way for every verifying command: `--trust ROOT.json`
 * (the root's targets role: keys, threshold, revocations) or `--key PUB…` (a file: SPKI PEM, hex or base64; or 64
 * hex inline) with `--threshold N` of them, default 1. The threshold counts DISTINCT keys (by TUF key id): the same
 * key given twice is one key, so `--key a.pub --key a.pub --threshold 2` is refused rather than never met. Throws
 * ERR_USAGE_ARGUMENT for neither or both, a threshold with --trust, or a threshold outside 1..distinct keys.
 */
export async function loadEnvelopeKeys(ctx: CommandContext, o: EnvelopeKeyOptions): Promise<TrustedKeys> {
  const paths = o.keys ?? [];
  if (o.trust !== undefined && paths.length > 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass either --trust ROOT.json or --key K.pub…, not both');
  if (o.trust !== undefined) {
    if (o.threshold !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', '--threshold goes with --key; a trust root sets its own threshold');
    return { keys: keysFromRoot(loadTrustRoot(ctx, o.trust)), p256: [] };
  }
  if (paths.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass --trust ROOT.json or one or more --key K.pub to say whose signatures count');
  const ed: PublicKey[] = [];
  const p256: P256PublicKey[] = [];
  for (const k of paths) {
    if (/^[0-9a-f]{64}$/.test(k)) {
      ed.push(parsePublicKey(k));
      continue;
    }
    const text = decodeUtf8(await readFileBounded(abs(ctx, k), { maxBytes: KEY_FILE_MAX_BYTES, allowSymlink: true, what: 'public key file' }), 'public key file');
    if (o.p256 === true) {
      // A cosign.pub is an ECDSA P-256 SPKI PEM; Custody's .pub files are Ed25519 SPKI PEM (or hex/base64 raw keys).
      try {
        p256.push(P256PublicKey.fromPem(text));
        continue;
      } catch (e) {
        if (!isTrustError(e) || (e.code !== 'ERR_KEY_UNSUPPORTED' && e.code !== 'ERR_KEY_INVALID')) throw e;
      }
    }
    ed.push(parsePublicKey(text));
  }
  const distinct = new Set(ed.map((k) => tufKeyId(k))).size;
  // Only P-256 keys (verify-blob): no Ed25519 threshold to meet; the P-256 path needs one trusted key.
  if (distinct === 0 && o.threshold === undefined) return { keys: keysFromPublicKeys([]), p256 };
  const t = o.threshold ?? 1;
  if (t < 1 || t > distinct) throw new UsageError('ERR_USAGE_ARGUMENT', `--threshold ${t}: expected 1 to the ${distinct} distinct Ed25519 --key given`);
  return { keys: keysFromPublicKeys(ed, t), p256 };
}

/**
 * loadSigningKey loads --key (PEM, passphrase from --passphrase-file or CUSTODY_PASSPHRASE; or a `pkcs11:` URI naming
 * a key in a token, hsm/pkcs11) or --seed-file. Every command that signs takes its key here, so each accepts a token.
 */
export async function loadSigningKey(
  ctx: CommandContext,
  opts: { key?: string | undefined; seedFile?: string | undefined; passphraseFile?: string | undefined },
): Promise<Signer> {
  if (opts.key !== undefined && opts.seedFile !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass either --key or --seed-file, not both');
  if (opts.seedFile !== undefined) return loadSeedFile(abs(ctx, opts.seedFile));
  if (opts.key === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --key');
  if (isPkcs11Uri(opts.key)) return openTokenKey(ctx, opts.key);
  return loadPrivateKey(abs(ctx, opts.key), {
    passphraseFile: opts.passphraseFile === undefined ? undefined : abs(ctx, opts.passphraseFile),
    env: ctx.env,
  });
}

/** openTokenKey opens the Ed25519 key a `pkcs11:` URI names, relative pin-source paths against the command's cwd. */
export async function openTokenKey(ctx: CommandContext, uri: string, poolSize?: number): Promise<Pkcs11Signer> {
  // Loaded on demand: the native addon is not needed by commands that sign with files.
  const { openPkcs11Signer } = await import('../hsm/pkcs11.ts');
  return openPkcs11Signer(uri, {
    cwd: ctx.cwd,
    env: ctx.env,
    ...(poolSize === undefined ? {} : { poolSize }),
    warn: (m) => ctx.stderr(`custody: warning: ${m}\n`),
  });
}

/** writeOutput writes a command's output file atomically, refusing to overwrite one of its inputs. */
export async function writeOutput(
  ctx: CommandContext,
  output: string,
  data: string | Uint8Array,
  opts: { inputs?: string[]; force?: boolean; mode?: number } = {},
): Promise<string> {
  const out = abs(ctx, output);
  for (const i of opts.inputs ?? []) {
    if (abs(ctx, i) === out) throw new UsageError('ERR_USAGE_ARGUMENT', `the output ${output} is also an input; choose another path`);
  }
  await writeFileAtomic(out, data, { mode: opts.mode ?? 0o644, overwrite: opts.force ?? true });
  return out;
}

/**
 * writeOutputs writes outputs that go together (io/files writeFilesAtomic): either all of them replace their targets
 * or, on failure, none does and no file that existed before is removed. Each output is checked against the inputs
 * and the others as writeOutput does. Returns the absolute paths, in order.
 */
export async function writeOutputs(
  ctx: CommandContext,
  outputs: ReadonlyArray<{ output: string; data: string | Uint8Array; force?: boolean; mode?: number }>,
  opts: { inputs?: string[] } = {},
): Promise<string[]> {
  const paths = outputs.map((o) => abs(ctx, o.output));
  for (const [i, o] of outputs.entries()) {
    for (const inp of opts.inputs ?? []) {
      if (abs(ctx, inp) === paths[i]) throw new UsageError('ERR_USAGE_ARGUMENT', `the output ${o.output} is also an input; choose another path`);
    }
    if (paths.indexOf(paths[i]!) !== i) throw new UsageError('ERR_USAGE_ARGUMENT', `${o.output} is named for two outputs; choose another path`);
  }
  await writeFilesAtomic(outputs.map((o, i) => ({ path: paths[i]!, data: o.data, mode: o.mode ?? 0o644, overwrite: o.force ?? true })));
  return paths;
}

/**
 * readSecretFile reads a small file holding a secret (a token, a connection string) as text, at most `maxBytes`,
 * and warns when it is readable by group or others.
 */
export async function readSecretFile(ctx: CommandContext, path: string, what: string, maxBytes = TOKEN_FILE_MAX_BYTES): Promise<string> {
  const p = abs(ctx, path);
  const text = decodeUtf8(await readFileBounded(p, { maxBytes, what, allowSymlink: true }), what);
  const st = await fsp.stat(p);
  if ((st.mode & 0o077) !== 0) ctx.stderr(`custody: warning: ${path} is readable by group or others; chmod 600 it\n`);
  return text;
}

/** readTokenFile reads a bearer token: one line of at least 16 visible ASCII characters. */
export async function readTokenFile(ctx: CommandContext, path: string): Promise<Uint8Array> {
  return parseTokenText(await readSecretFile(ctx, path, 'token file'), path);
}

/**
 * postgresOption reads where a log keeps its state in PostgreSQL: the connection string (it may hold a password, so
 * never from the command line) from `--postgres-url-file F` or CUSTODY_POSTGRES_URL, and `--postgres-schema`.
 * `--shared-log` (`shared`) lets several processes append to that one log (log/sequencer "Shared mode").
 */
export async function postgresOption(
  ctx: CommandContext,
  urlFile: string | undefined,
  schema: string | undefined,
  shared?: boolean,
): Promise<{ url: string; schema?: string | undefined; shared?: boolean | undefined } | undefined> {
  let url: string | undefined;
  if (urlFile !== undefined) {
    url = (await readSecretFile(ctx, urlFile, 'postgres url file')).trim();
  } else if (ctx.env.CUSTODY_POSTGRES_URL) {
    url = ctx.env.CUSTODY_POSTGRES_URL;
  }
  if (url === undefined) {
    if (schema !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', '--postgres-schema needs --postgres-url-file or CUSTODY_POSTGRES_URL');
    if (shared === true) throw new UsageError('ERR_USAGE_ARGUMENT', '--shared-log needs --postgres-url-file or CUSTODY_POSTGRES_URL (a shared log lives in PostgreSQL)');
    return undefined;
  }
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError('ERR_CONFIG_INVALID', 'the postgres connection string must start with postgres:// or postgresql://');
  }
  return shared === true ? { url, schema, shared } : { url, schema };
}
