/**
 * cli/common — loading the files commands share (trust roots, manifests, keys) with coded errors, and writing
 * outputs atomically.
 */
import { resolve } from 'node:path';
import type { PrivateKey } from '../crypto/index.ts';
import { UsageError } from '../errors.ts';
import { readFileBounded, writeFileAtomic } from '../io/files.ts';
import { loadPrivateKey, loadSeedFile } from '../keys/key-file.ts';
import { MANIFEST_MAX_BYTES, parseManifest, type Manifest } from '../manifest/manifest.ts';
import { ROOT_MAX_BYTES, parseRoot, verifyPinnedRoot, type RootDocument, type TrustRoot } from '../trust/root.ts';
import type { CommandContext } from './context.ts';

/** abs resolves a user path against the command's cwd. */
export function abs(ctx: CommandContext, p: string): string {
  return resolve(ctx.cwd, p);
}

export async function readRootFile(ctx: CommandContext, path: string): Promise<RootDocument> {
  return parseRoot(await readFileBounded(abs(ctx, path), { maxBytes: ROOT_MAX_BYTES, allowSymlink: true, what: 'trust root' }));
}

/** loadTrustRoot reads a pinned root.json and verifies it (self-signed threshold, unexpired). */
export async function loadTrustRoot(ctx: CommandContext, path: string): Promise<TrustRoot> {
  return verifyPinnedRoot(await readRootFile(ctx, path), { now: ctx.now() });
}

export async function readManifestFile(ctx: CommandContext, path: string): Promise<Manifest> {
  return parseManifest(await readFileBounded(abs(ctx, path), { maxBytes: MANIFEST_MAX_BYTES, allowSymlink: true, what: 'manifest' }));
}

/** loadSigningKey loads --key (PEM, passphrase from --passphrase-file or CUSTODY_PASSPHRASE) or --seed-file. */
export async function loadSigningKey(
  ctx: CommandContext,
  opts: { key?: string | undefined; seedFile?: string | undefined; passphraseFile?: string | undefined },
): Promise<PrivateKey> {
  if (opts.key !== undefined && opts.seedFile !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass either --key or --seed-file, not both');
  if (opts.seedFile !== undefined) return loadSeedFile(abs(ctx, opts.seedFile));
  if (opts.key === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --key');
  return loadPrivateKey(abs(ctx, opts.key), {
    passphraseFile: opts.passphraseFile === undefined ? undefined : abs(ctx, opts.passphraseFile),
    env: ctx.env,
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
