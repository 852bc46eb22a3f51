/**
 * cli/inputs — reading the files a verifying command starts from: the pinned trust root (TUF root.json, verified
 * here) and a manifest (parsed only), both size-bounded, with coded errors, read synchronously (io/read-sync: a
 * command has nothing to overlap these reads with). Kept apart from cli/common, which also
 * loads signing keys, tokens, HSM URIs and attestation keys, so `custody verify MANIFEST …` imports only what it uses
 * (README, Development: start-up cost is what the command itself needs).
 */
import { resolve } from 'node:path';
import { readFileBoundedSync } from '../io/read-sync.ts';
import { MANIFEST_MAX_BYTES, parseManifest, type Manifest } from '../manifest/manifest.ts';
import { ROOT_MAX_BYTES, parseRoot, verifyPinnedRoot, type RootDocument, type TrustRoot } from '../trust/root.ts';
import type { CommandContext } from './context.ts';

/** abs resolves a user path against the command's cwd. */
export function abs(ctx: Pick<CommandContext, 'cwd'>, p: string): string {
  return resolve(ctx.cwd, p);
}

export function readRootFile(ctx: CommandContext, path: string): RootDocument {
  return parseRoot(readFileBoundedSync(abs(ctx, path), { maxBytes: ROOT_MAX_BYTES, allowSymlink: true, what: 'trust root' }));
}

/** loadTrustRoot reads a pinned root.json and verifies it (self-signed threshold, unexpired). */
export function loadTrustRoot(ctx: CommandContext, path: string): TrustRoot {
  return verifyPinnedRoot(readRootFile(ctx, path), { now: ctx.now() });
}

export function readManifestFile(ctx: CommandContext, path: string): Manifest {
  return parseManifest(readFileBoundedSync(abs(ctx, path), { maxBytes: MANIFEST_MAX_BYTES, allowSymlink: true, what: 'manifest' }));
}
