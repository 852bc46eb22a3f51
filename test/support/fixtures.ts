/** test/support/fixtures — deterministic keys, roots and manifests for the core tests. */
import { PrivateKey, sha256, type PublicKey } from '../../src/crypto/index.ts';
import { toManifest, type Manifest } from '../../src/manifest/manifest.ts';
import { createRoot, signRoot, verifyPinnedRoot, type RoleName, type RootDocument, type TrustRoot } from '../../src/trust/root.ts';

export const NOW = new Date('2026-11-22T00:00:00Z');

/** key returns the deterministic test key named `name` (seed = SHA-256 of "custody-test-<name>"). */
export function key(name: string): PrivateKey {
  return PrivateKey.fromSeed(sha256(`custody-test-${name}`));
}

/** rootOf builds a root whose four roles use `keys` with `threshold`, signed by `signers`. */
export function rootOf(keys: PrivateKey[], threshold: number, signers: PrivateKey[] = keys, opts: { version?: number; expires?: Date; roles?: Partial<Record<RoleName, { keys: PrivateKey[]; threshold: number }>> } = {}): RootDocument {
  const spec = (r: RoleName): { keys: PublicKey[]; threshold: number } => {
    const o = opts.roles?.[r];
    return { keys: (o?.keys ?? keys).map((k) => k.publicKey), threshold: o?.threshold ?? threshold };
  };
  let doc = createRoot({
    expires: opts.expires ?? new Date('2027-11-22T00:00:00Z'),
    ...(opts.version === undefined ? {} : { version: opts.version }),
    roles: { root: spec('root'), targets: spec('targets'), snapshot: spec('snapshot'), timestamp: spec('timestamp') },
  });
  for (const s of signers) doc = signRoot(doc, s);
  return doc;
}

export function trusted(doc: RootDocument): TrustRoot {
  return verifyPinnedRoot(doc, { now: NOW });
}

/** manifestOf makes an unsigned manifest with the given artifacts. */
export function manifestOf(artifacts: Record<string, { filename: string; data: Uint8Array }>, sequence = 7): Manifest {
  const arts: Record<string, { filename: string; size_bytes: number; hash: string }> = {};
  for (const [name, a] of Object.entries(artifacts)) {
    arts[name] = { filename: a.filename, size_bytes: a.data.length, hash: 'sha256:' + Buffer.from(sha256(a.data)).toString('hex') };
  }
  return toManifest({
    manifest_version: 1,
    version: '1.2.3',
    channel: 'stable',
    arch: 'x86_64',
    created_at: '2026-11-21T00:00:00Z',
    expires_at: '2026-12-21T00:00:00Z',
    sequence,
    artifacts: arts,
    signatures: [],
  });
}
