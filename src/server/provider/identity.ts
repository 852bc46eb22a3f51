/**
 * server/provider/identity — who the provider daemon is: its manifest signing key, the trust root that authorizes
 * that key, and the bearer token its write paths accept. Made on first start in the data directory (development
 * defaults), or taken from operator-supplied files.
 *
 * Data directory layout (directories 0700, secrets 0600, every file written atomically):
 * ```
 * DIR/keys/signer.pem   manifest signing key (PKCS#8 PEM, or Custody's sealed PEM opened with CUSTODY_PASSPHRASE)
 * DIR/keys/signer.pub   its SPKI PEM
 * DIR/keys/root.pem     the development root key that signed trust/1.root.json (move it offline for real use)
 * DIR/trust/root.json   the current trust root (TUF root.json); DIR/trust/<N>.root.json keeps every version
 * DIR/admin.token       bearer token for POST /log/add and /admin/… (one line, 43 base64url characters)
 * ```
 * The trust-root fingerprint printed at start is `sha256:<hex of SHA-256(root.json bytes as served)>`: a client can
 * pin it and bootstrap from `/trust/root.json` (`custody fetch --root-fingerprint`).
 *
 * Trust boundary: everything here is operator input. The daemon refuses to start when its key is not authorized by
 * the root's `targets` role or when that role needs more signatures than the daemon alone can give, because every
 * manifest it signed would then be refused by clients.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { PrivateKey, randomBytes, type Signer } from '../../crypto/index.ts';
import { ConfigError, toIoError } from '../../errors.ts';
import { pathExists, readFileBounded, writeFileAtomic } from '../../io/files.ts';
import { loadPrivateKey, writeKeyPair, type PassphraseSource } from '../../keys/key-file.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import {
  MANIFEST_SIGNER_ROLE,
  ROOT_MAX_BYTES,
  createRoot,
  formatRoot,
  isKeyAuthorized,
  parseRoot,
  rootFingerprint,
  signRoot,
  verifyPinnedRoot,
  type TrustRoot,
} from '../../trust/root.ts';
import { TOKEN_FILE_MAX_BYTES, parseTokenText } from '../http.ts';
import { loadOrCreateKeyText } from '../log/key-file.ts';
import { describeSource, loadOrCreateStoredText, resolveSecretSource } from '../daemon-secrets.ts';
import type { SecretStore } from '../../secrets/store.ts';

/** DEV_ROOT_VALIDITY_MS: a development root is valid for a year. */
export const DEV_ROOT_VALIDITY_MS = 365 * 86_400_000;
/** ROOT_EXPIRY_WARNING_MS: the daemon warns at start when its root expires within 30 days. */
export const ROOT_EXPIRY_WARNING_MS = 30 * 86_400_000;

/** IdentityOptions says where the identity comes from. */
export interface IdentityOptions {
  dataDir: string;
  /** keyFile replaces DIR/keys/signer.pem (never created). */
  keyFile?: string | undefined;
  /** signer replaces both: a key held elsewhere (a PKCS#11 token, hsm/pkcs11), opened by the caller. */
  signer?: Signer | undefined;
  /**
   * previousSigners are the keys being rotated out: each also signs every manifest while the root still authorizes
   * it (the transition), and is dropped with a warning once the root no longer names it.
   */
  previousSigners?: readonly Signer[] | undefined;
  /** trustFile replaces DIR/trust/root.json (never created). */
  trustFile?: string | undefined;
  /** tokenFile replaces DIR/admin.token (never created). */
  tokenFile?: string | undefined;
  passphrase: PassphraseSource;
  /** secrets keeps the admin token and the signer key's passphrase in a secret store (server/daemon-secrets). */
  secrets?: SecretStore | undefined;
  now: Date;
}

/** ProviderIdentity is the loaded identity. */
export interface ProviderIdentity {
  signer: Signer;
  /** previousSigners are the rotated-out keys that still sign (authorized by the root); empty outside a rotation. */
  previousSigners: Signer[];
  root: TrustRoot;
  /** rootBytes are the bytes of root.json exactly as served and fingerprinted. */
  rootBytes: Uint8Array;
  /** fingerprint is `sha256:<hex>` of rootBytes. */
  fingerprint: string;
  /** rootDir holds `<N>.root.json` versions (served for root rotation), or undefined with --trust. */
  rootDir: string | undefined;
  token: Uint8Array;
  tokenPath: string;
  /** created lists what this start made (for the banner): 'signer key', 'root key', 'trust root', 'token'. */
  created: string[];
  warnings: string[];
}

/** loadOrCreateIdentity loads the identity, creating the development defaults that are missing. */
export async function loadOrCreateIdentity(o: IdentityOptions): Promise<ProviderIdentity> {
  const created: string[] = [];
  const warnings: string[] = [];
  const keysDir = join(o.dataDir, 'keys');
  const trustDir = join(o.dataDir, 'trust');

  // 1. The signing key (a token-held signer, or a key file whose passphrase may come from the secret store:
  // server/daemon-secrets).
  const passSource = await resolveSecretSource('signerPassphrase', o);
  let passphrase = o.passphrase;
  if (passSource.kind === 'store') {
    const raw = await passSource.store.get(passSource.name);
    passphrase = { env: { CUSTODY_PASSPHRASE: Buffer.from(raw).toString('utf8') } };
    raw.fill(0);
  }
  let signerKey: Signer;
  if (o.signer !== undefined) {
    signerKey = o.signer;
  } else if (o.keyFile !== undefined) {
    signerKey = await loadPrivateKey(o.keyFile, passphrase);
  } else {
    const path = join(keysDir, 'signer.pem');
    if (!(await pathExists(path))) {
      await writeKeyPair(path, PrivateKey.generate());
      created.push('signer key');
    }
    signerKey = await loadPrivateKey(path, passphrase);
  }

  // 2. The trust root.
  let rootPath: string;
  if (o.trustFile !== undefined) {
    rootPath = o.trustFile;
  } else {
    rootPath = join(trustDir, 'root.json');
    if (!(await pathExists(rootPath))) {
      await createDevRoot(keysDir, trustDir, signerKey, o.now);
      created.push('root key', 'trust root');
    }
  }
  const rootBytes = await readFileBounded(rootPath, { maxBytes: ROOT_MAX_BYTES, allowSymlink: true, what: 'trust root' });
  const root = verifyPinnedRoot(parseRoot(rootBytes), { now: o.now });
  if (!isKeyAuthorized(root, MANIFEST_SIGNER_ROLE, signerKey.publicKey, o.now)) {
    throw new ConfigError('ERR_PROVIDER_SIGNER_UNAUTHORIZED', `the signing key ${tufKeyId(signerKey.publicKey)} is not a current ${MANIFEST_SIGNER_ROLE} key of the trust root (version ${root.version})`, {
      hint: `add it with \`custody trust add-key --role ${MANIFEST_SIGNER_ROLE}\` and sign the new root, or start with the key the root names (--key)`,
    });
  }
  const threshold = root.roles[MANIFEST_SIGNER_ROLE].threshold;
  if (threshold > 1) {
    throw new ConfigError('ERR_PROVIDER_SIGNER_UNAUTHORIZED', `the trust root needs ${threshold} ${MANIFEST_SIGNER_ROLE} signatures; the daemon alone gives 1`, {
      hint: 'serve from a root whose targets threshold is 1, or sign releases offline with `custody sign-manifest` by each key holder',
    });
  }
  const previousSigners: Signer[] = [];
  for (const p of o.previousSigners ?? []) {
    const id = tufKeyId(p.publicKey);
    if (p.publicKey.equals(signerKey.publicKey)) {
      throw new ConfigError('ERR_CONFIG_INVALID', `the previous key ${id} is the signing key itself`);
    }
    // The transition ends when the root stops naming the old key: from then on it would only add a signature nobody
    // counts (and, revoked, one that marks the manifest as signed by a revoked key).
    if (isKeyAuthorized(root, MANIFEST_SIGNER_ROLE, p.publicKey, o.now)) previousSigners.push(p);
    else warnings.push(`the previous key ${id} is no longer a ${MANIFEST_SIGNER_ROLE} key of the trust root (version ${root.version}); manifests are signed by the new key only`);
  }
  if (root.expires.getTime() - o.now.getTime() < ROOT_EXPIRY_WARNING_MS) {
    warnings.push(`the trust root expires at ${root.expires.toISOString()}; publish a new version with \`custody trust update\``);
  }

  // 3. The bearer token (server/daemon-secrets resolves where it lives).
  const tokenSource = await resolveSecretSource('adminToken', o);
  const tokenPath = describeSource(tokenSource);
  let tokenText: string;
  if (tokenSource.kind === 'store') {
    const r = await loadOrCreateStoredText(tokenSource.store, tokenSource.name, () => Buffer.from(randomBytes(32)).toString('base64url'));
    tokenText = r.text;
    if (r.created) created.push('token');
  } else if (o.tokenFile !== undefined) {
    const raw = await readFileBounded(o.tokenFile, { maxBytes: TOKEN_FILE_MAX_BYTES, allowSymlink: true, what: 'token file' });
    tokenText = raw.toString('utf8');
  } else {
    const r = await loadOrCreateKeyText(tokenPath, () => Buffer.from(randomBytes(32)).toString('base64url'));
    tokenText = r.text;
    if (r.created) created.push('token');
  }
  const token = parseTokenText(tokenText, tokenPath);

  return {
    signer: signerKey,
    previousSigners,
    root,
    rootBytes,
    fingerprint: rootFingerprint(rootBytes),
    rootDir: o.trustFile === undefined ? trustDir : undefined,
    token,
    tokenPath,
    created,
    warnings,
  };
}

/** createDevRoot makes a 1-of-1 root (root role: a fresh root key; the other roles: the signer) and writes it. */
async function createDevRoot(keysDir: string, trustDir: string, signer: Signer, now: Date): Promise<void> {
  const rootKeyPath = join(keysDir, 'root.pem');
  // A root key left by an interrupted first start is reused rather than overwritten.
  let rootKey: PrivateKey;
  if (await pathExists(rootKeyPath)) rootKey = await loadPrivateKey(rootKeyPath);
  else await writeKeyPair(rootKeyPath, (rootKey = PrivateKey.generate()));
  const one = (k: Signer) => ({ keys: [k.publicKey], threshold: 1 });
  const doc = signRoot(
    createRoot({
      roles: { root: one(rootKey), targets: one(signer), snapshot: one(signer), timestamp: one(signer) },
      expires: new Date(Math.floor((now.getTime() + DEV_ROOT_VALIDITY_MS) / 1000) * 1000),
    }),
    rootKey,
  );
  const text = formatRoot(doc);
  try {
    await fsp.mkdir(trustDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw toIoError(e, trustDir, 'write');
  }
  await writeFileAtomic(join(trustDir, `${doc.version}.root.json`), text, { mode: 0o644 });
  await writeFileAtomic(join(trustDir, 'root.json'), text, { mode: 0o644 });
}
