/**
 * cli/commands/verify-package — `custody verify-package PACKAGE [--quick|--deep|--paranoid] TRUST [--allow-links]
 * [--json]` for PSPF/2025 packages (FlavorPack v0.3.0 layout); `custody verify` delegates here for packages.
 *
 * Trust boundary: the package is attacker-controlled; trust comes from the operator (`--trusted-key`,
 * `CUSTODY_ALLOWED_KEYS`, `--trust ROOT.json`). The signer must match one ("authentic") or the package is refused
 * with ERR_PKG_UNTRUSTED_SIGNER (exit 1) — also when none is configured: trust fails closed. `--allow-any-signer`
 * is the explicit way to accept any signer ("intact, signer not trusted", exit 0).
 */
import { resolve } from 'node:path';
import { PublicKey } from '../../crypto/index.ts';
import { decodeUtf8 } from '../../encoding/json.ts';
import { ConfigError, IoError, UsageError } from '../../errors.ts';
import { openRegularFile, readFileIfExists } from '../../io/files.ts';
import { hashOpenFile } from '../../io/hash-file.ts';
import { isKeyAuthorized, MANIFEST_SIGNER_ROLE } from '../../trust/root.ts';
import { SIGNATURE_SET_MAX_BYTES, checkSignatureSet, parseSignatureSet } from '../../trust/signature-set.ts';
import type { AuthorizeResult } from '../../pkg/trust.ts';
import { loadTrustRoot } from '../common.ts';
import { readFileBounded } from '../../io/files.ts';
import { CUSTODY_ALLOWED_KEYS_ENV, hasTrustPolicy, parseAllowedKeys, publicKeyFromHex, type PackageTrustOption, type PackageTrustPolicy } from '../../pkg/trust.ts';
import { openPackage, type PackageReader } from '../../pkg/reader.ts';
import { verifyPackage } from '../../pkg/verify.ts';
import type { PackageReport, PackageTrust, VerifyLevel } from '../../pkg/pspf.types.ts';
import { parseCommandArgs, type Command, type CommandContext } from '../context.ts';
import { PACKAGE_VERIFY_USAGE, STATUS_AUTHENTIC, STATUS_INTACT } from './verify-package-usage.ts';
import { safe } from './inspect.ts';

/** TRUSTED_KEY_FILE_MAX_BYTES caps a --trusted-key file. */
const TRUSTED_KEY_FILE_MAX_BYTES = 64 * 1024;


/**
 * loadTrustPolicy builds the pinned-key policy from `--trusted-key` values (64 hex chars, `SHA256:` fingerprint, or a
 * file holding an SPKI PEM or 64 hex chars) and the CUSTODY_ALLOWED_KEYS environment variable.
 */
export async function loadTrustPolicy(ctx: CommandContext, trustedKeys: readonly string[]): Promise<PackageTrustPolicy> {
  const keys: PublicKey[] = [];
  const fingerprints: string[] = [];
  for (const k of trustedKeys) {
    if (/^[0-9a-fA-F]{64}$/.test(k)) keys.push(publicKeyFromHex(k, '--trusted-key'));
    else if (k.startsWith('SHA256:')) fingerprints.push(...parseAllowedKeys(k).fingerprints);
    else {
      const text = decodeUtf8(
        await readFileBounded(resolve(ctx.cwd, k), { maxBytes: TRUSTED_KEY_FILE_MAX_BYTES, allowSymlink: true, what: 'trusted key file' }),
        'trusted key file',
      ).trim();
      if (/^[0-9a-fA-F]{64}$/.test(text)) keys.push(publicKeyFromHex(text, k));
      else {
        try {
          keys.push(PublicKey.fromPem(text));
        } catch (e) {
          throw new ConfigError('ERR_CONFIG_INVALID', `--trusted-key ${k}: expected an SPKI PEM public key or 64 hex chars`, { cause: e });
        }
      }
    }
  }
  const env = ctx.env[CUSTODY_ALLOWED_KEYS_ENV];
  if (env !== undefined && env.trim() !== '') {
    const allowed = parseAllowedKeys(env);
    keys.push(...allowed.keys);
    fingerprints.push(...allowed.fingerprints);
  }
  return { keys, fingerprints };
}

/** PACKAGE_TRUST_OPTIONS are the parseArgs options that configure package trust (verify and extract). */
export const PACKAGE_TRUST_OPTIONS = {
  'trusted-key': { type: 'string', multiple: true },
  trust: { type: 'string' },
  signatures: { type: 'string' },
  'allow-any-signer': { type: 'boolean' },
} as const;

/** PackageTrustValues are the parsed values of {@link PACKAGE_TRUST_OPTIONS}. */
export interface PackageTrustValues {
  'trusted-key'?: string[] | undefined;
  trust?: string | undefined;
  signatures?: string | undefined;
  'allow-any-signer'?: boolean | undefined;
}

/** ResolvedPackageTrust is the trust option for the library plus the check to run once the package was read. */
export interface ResolvedPackageTrust {
  trust: PackageTrustOption;
  /**
   * recheck refuses a package whose open file (the reader's descriptor) does not hash to the digest the signature
   * set was judged on (only with --trust): a file swapped between hashing and opening is caught.
   */
  recheck: (reader: PackageReader) => Promise<void>;
}

/**
 * resolvePackageTrust turns the trust options into the library's required `trust` option. The three ways to trust
 * a signer (`--trusted-key`, CUSTODY_ALLOWED_KEYS, `--trust ROOT.json`) combine; `--allow-any-signer` is the explicit
 * alternative and may not be combined with them. With none of the four, the policy is empty and the library refuses
 * every signer (ERR_PKG_UNTRUSTED_SIGNER): trust fails closed.
 */
export async function resolvePackageTrust(ctx: CommandContext, values: PackageTrustValues, pkgPath: string): Promise<ResolvedPackageTrust> {
  const none = (): Promise<void> => Promise.resolve();
  const policy = await loadTrustPolicy(ctx, values['trusted-key'] ?? []);
  if (values.signatures !== undefined && values.trust === undefined) {
    throw new UsageError('ERR_USAGE_ARGUMENT', '--signatures needs --trust ROOT.json to say whose signatures count');
  }
  if (values['allow-any-signer'] === true) {
    if (hasTrustPolicy(policy) || values.trust !== undefined) {
      const given = [
        ...(values['trusted-key']?.length ? ['--trusted-key'] : []),
        ...(values.trust !== undefined ? ['--trust'] : []),
        ...(hasTrustPolicy(policy) && !values['trusted-key']?.length ? [CUSTODY_ALLOWED_KEYS_ENV] : []),
      ];
      throw new UsageError('ERR_USAGE_ARGUMENT', `--allow-any-signer accepts every signer; it cannot be combined with ${given.join(', ')}`);
    }
    return { trust: { anySigner: true }, recheck: none };
  }
  if (values.trust === undefined) return { trust: policy, recheck: none };
  // With a trust root, the digest the signature set covers is taken before and after verification: the verdict
  // is about these exact bytes, and a file swapped meanwhile is refused.
  const digestBefore = await fileSha256(pkgPath);
  policy.authorize = await trustRootAuthorizer(ctx, values.trust, pkgPath, values.signatures, digestBefore);
  return {
    trust: policy,
    recheck: async (reader) => {
      if ((await reader.sha256()) !== digestBefore) throw new IoError('ERR_IO_READ_FAILED', `${pkgPath} changed while it was verified`);
    },
  };
}

/** fileSha256 hashes a whole regular file (streaming) and returns lowercase hex. */
export async function fileSha256(path: string): Promise<string> {
  const { fh, size } = await openRegularFile(path);
  try {
    return (await hashOpenFile(fh, size, ['sha256'], path)).sha256;
  } finally {
    await fh.close();
  }
}

/**
 * trustRootAuthorizer returns the authorize hook for `--trust ROOT.json`: the signer's key is a key of the root's
 * "targets" role, or a signature set over the package digest meets the role's threshold.
 */
async function trustRootAuthorizer(
  ctx: CommandContext,
  rootPath: string,
  pkgPath: string,
  sigsPath: string | undefined,
  digest: string,
): Promise<(k: PublicKey) => AuthorizeResult> {
  const root = loadTrustRoot(ctx, rootPath);
  const now = ctx.now();
  const options = { maxBytes: SIGNATURE_SET_MAX_BYTES, allowSymlink: true, what: 'signature set' };
  // An explicit --signatures must exist; the default PACKAGE.sigs may be absent.
  const bytes = sigsPath !== undefined ? await readFileBounded(resolve(ctx.cwd, sigsPath), options) : await readFileIfExists(pkgPath + '.sigs', options);
  const set = bytes ? parseSignatureSet(bytes) : undefined;
  const threshold = set ? checkSignatureSet(set, digest, root, now) : undefined;
  return (k) => {
    if (isKeyAuthorized(root, MANIFEST_SIGNER_ROLE, k, now)) return 'trust-root';
    if (threshold?.met) return 'threshold-signatures';
    return false;
  };
}

/** trustLine renders the verdict for humans. */
export function trustLine(trust: PackageTrust): string {
  if (trust.kind === 'self-signed') return STATUS_INTACT;
  const via = {
    'pinned-key': 'pinned key',
    fingerprint: `${CUSTODY_ALLOWED_KEYS_ENV} fingerprint`,
    authorize: 'policy hook',
    'trust-root': 'trust root key',
    'threshold-signatures': 'threshold signatures of the trust root',
  }[trust.via];
  return `${STATUS_AUTHENTIC} (signer trusted by ${via})`;
}

/** reportJson renders a report for --json. */
export function reportJson(r: PackageReport): Record<string, unknown> {
  return {
    path: r.path,
    level: r.level,
    status: r.trust.kind === 'self-signed' ? STATUS_INTACT : STATUS_AUTHENTIC,
    trust: r.trust.kind === 'self-signed' ? { kind: r.trust.kind } : { kind: r.trust.kind, via: r.trust.via },
    package: { name: r.name, version: r.version },
    signer: { publicKey: r.signer.hex, fingerprint: r.signer.fingerprint },
    launcherVerified: r.launcherVerified,
    slots: r.slots,
    ...(r.entries ? { entries: r.entries } : {}),
  };
}

/**
 * runPackageVerify handles `custody verify PACKAGE …` for a PSPF package; ctx.argv holds the arguments after the
 * command word. Returns 0 or throws a coded error.
 */
export async function runPackageVerify(ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(ctx.argv, {
    quick: { type: 'boolean' },
    deep: { type: 'boolean' },
    paranoid: { type: 'boolean' },
    'allow-links': { type: 'boolean' },
    ...PACKAGE_TRUST_OPTIONS,
  });
  if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `expected one PACKAGE, got ${positionals.length} arguments`);
  const levels = (['quick', 'deep', 'paranoid'] as const).filter((l) => values[l] === true);
  if (levels.length > 1) throw new UsageError('ERR_USAGE_ARGUMENT', `pass at most one of --quick, --deep, --paranoid (got ${levels.map((l) => '--' + l).join(' ')})`);
  const level: VerifyLevel = levels[0] ?? 'deep';
  const path = positionals[0]!;
  const full = resolve(ctx.cwd, path);
  const { trust, recheck } = await resolvePackageTrust(ctx, values, full);
  const reader = await openPackage(full);
  let report: PackageReport;
  try {
    report = await verifyPackage(reader, { level, trust, extract: { allowLinks: values['allow-links'] === true } });
    await recheck(reader);
  } finally {
    await reader.close();
  }
  const checked =
    level === 'quick'
      ? 'index, metadata signature and slot table'
      : `index, metadata signature, launcher and ${report.slots.length}/${report.slots.length} slots against the signed sha-256` +
        (level === 'paranoid' ? `, safe extraction of ${report.entries?.length ?? 0} entries` : '');
  ctx.print(`${path}: ${trustLine(report.trust)}`);
  ctx.print(`  package: ${safe(report.name)} ${safe(report.version)}`);
  ctx.print(`  verified (${level}): ${checked}`);
  ctx.print(`  signer: ed25519 ${report.signer.hex} (${report.signer.fingerprint})`);
  if (report.trust.kind === 'self-signed' && !ctx.json) {
    ctx.stderr(`custody: hint: --allow-any-signer: anyone can sign a package with their own key; pass --trusted-key ${report.signer.hex} only if you trust this signer\n`);
  }
  ctx.result(reportJson(report));
  return 0;
}

/** verifyPackageCommand is `custody verify-package`: the explicit form of `custody verify PACKAGE`. */
export const verifyPackageCommand: Command = {
  summary: 'verify a PSPF/2025 package (signature, every byte, signer trust)',
  usage: PACKAGE_VERIFY_USAGE,
  run: runPackageVerify,
};
