/**
 * pkg/trust — who may sign a PSPF/2025 package (FlavorPack v0.3.0 layout).
 *
 * The reference verifies against the public key embedded in the package index, so anyone can re-sign a modified
 * package with their own key: a verified signature only proves the package is INTACT. Trust is therefore closed by
 * default: verifying or extracting a package takes a required {@link PackageTrustOption}, and one that configures
 * nothing refuses every signer with ERR_PKG_UNTRUSTED_SIGNER. Custody's trust models:
 * - any signer (`{ anySigner: true }`, the CLI's `--allow-any-signer`): explicitly reported as "intact, signer not
 *   trusted";
 * - pre-shared keys: pinned public keys (`--trusted-key HEX|PEMFILE`) or an allow-list of raw hex keys or
 *   `SHA256:<base64>` fingerprints (`CUSTODY_ALLOWED_KEYS`); a match makes the package "authentic";
 * - trust-root authorization: the `authorize(publicKey)` hook, which the core's TUF root module (src/trust/) can
 *   implement ("is this key authorized for packages by the current root?").
 * When nothing accepts the signer — or nothing is configured — the package is refused with ERR_PKG_UNTRUSTED_SIGNER
 * (a PolicyError: the evidence is valid, the signer is not accepted).
 *
 * Trust boundary: the policy is operator input; the signer key is attacker-controlled until matched here.
 */
import { PublicKey } from '../crypto/ed25519.ts';
import { ConfigError, PolicyError } from '../errors.ts';
import type { PackageTrust } from './pspf.types.ts';

/** PackageTrustPolicy is plain data plus one hook. */
export interface PackageTrustPolicy {
  /** keys are pinned public keys. */
  keys?: readonly PublicKey[];
  /** fingerprints are `SHA256:<unpadded base64 of SHA-256(raw key)>` strings (PublicKey.fingerprint). */
  fingerprints?: readonly string[];
  /**
   * authorize is asked about the signer when no pinned key or fingerprint matched; returning true makes the package
   * authentic. Intended for the trust root (src/trust/): e.g. `(k) => root.authorizesPackageKey(k)`.
   */
  authorize?: (key: PublicKey) => AuthorizeResult | Promise<AuthorizeResult>;
}

/** AnySigner accepts every signer explicitly: the verdict is "intact, signer not trusted" (self-signed). */
export interface AnySigner {
  anySigner: true;
}

/**
 * PackageTrustOption is the required `trust` option of package verification and extraction: pinned keys and/or
 * fingerprints, a trust-root hook, or `{ anySigner: true }`. A policy that configures none of these refuses.
 */
export type PackageTrustOption = PackageTrustPolicy | AnySigner;

/** AuthorizeResult: false refuses; true, or the name of the mechanism that vouched, accepts. */
export type AuthorizeResult = boolean | 'trust-root' | 'threshold-signatures';

/** CUSTODY_ALLOWED_KEYS_ENV names the environment variable holding the allow-list. */
export const CUSTODY_ALLOWED_KEYS_ENV = 'CUSTODY_ALLOWED_KEYS';

/** hasTrustPolicy says whether a policy configures any way to accept a signer (keys, fingerprints or a hook). */
export function hasTrustPolicy(p: PackageTrustPolicy): boolean {
  return (p.keys?.length ?? 0) > 0 || (p.fingerprints?.length ?? 0) > 0 || p.authorize !== undefined;
}

function isAnySigner(t: PackageTrustOption): t is AnySigner {
  return (t as Partial<AnySigner>).anySigner === true;
}

/**
 * parseAllowedKeys reads a comma-separated list of 64-hex raw keys and `SHA256:` fingerprints (whitespace around
 * items ignored). Throws ERR_CONFIG_INVALID for anything else, so a typo never silently trusts nothing.
 */
export function parseAllowedKeys(list: string): { keys: PublicKey[]; fingerprints: string[] } {
  const keys: PublicKey[] = [];
  const fingerprints: string[] = [];
  for (const raw of list.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    if (/^[0-9a-fA-F]{64}$/.test(item)) {
      keys.push(publicKeyFromHex(item, CUSTODY_ALLOWED_KEYS_ENV));
    } else if (/^SHA256:[A-Za-z0-9+/]{43}$/.test(item)) {
      fingerprints.push(item);
    } else {
      throw new ConfigError('ERR_CONFIG_INVALID', `${CUSTODY_ALLOWED_KEYS_ENV}: expected 64 hex chars or SHA256:<43 base64 chars>, got ${JSON.stringify(item.slice(0, 80))}`);
    }
  }
  return { keys, fingerprints };
}

/** publicKeyFromHex parses a raw Ed25519 key written as 64 hex chars (either case). */
export function publicKeyFromHex(hex: string, what = 'trusted key'): PublicKey {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError('ERR_CONFIG_INVALID', `${what}: expected 64 hex chars`);
  try {
    return PublicKey.fromRaw(new Uint8Array(Buffer.from(hex, 'hex')));
  } catch (e) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${what}: not an ed25519 public key`, { cause: e });
  }
}

/**
 * evaluateTrust returns the trust verdict for a verified signer: self-signed under `{ anySigner: true }`,
 * authentic when the policy accepts the signer, and ERR_PKG_UNTRUSTED_SIGNER otherwise — including when `trust`
 * is missing (a JavaScript caller) or configures nothing: trust fails closed.
 */
export async function evaluateTrust(signer: PublicKey, trust: PackageTrustOption | undefined): Promise<PackageTrust> {
  if (trust !== undefined && isAnySigner(trust)) return { kind: 'self-signed' };
  const policy: PackageTrustPolicy = trust ?? {};
  if (!hasTrustPolicy(policy)) {
    throw new PolicyError(
      'ERR_PKG_UNTRUSTED_SIGNER',
      `the package is intact, but no trusted key, allowed-keys list or trust root is configured to accept its signer ${signer.hex} (${signer.fingerprint})`,
      { details: { publicKey: signer.hex, fingerprint: signer.fingerprint, configured: false } },
    );
  }
  if (policy.keys?.some((k) => k.equals(signer))) return { kind: 'authentic', via: 'pinned-key', key: signer };
  if (policy.fingerprints?.includes(signer.fingerprint)) return { kind: 'authentic', via: 'fingerprint', key: signer };
  if (policy.authorize) {
    // Only an explicit yes counts: a hook (untyped JavaScript, say) answering undefined, null or anything else
    // than the documented values refuses, so the policy fails closed.
    const r: unknown = await policy.authorize(signer);
    if (r === true) return { kind: 'authentic', via: 'authorize', key: signer };
    if (r === 'trust-root' || r === 'threshold-signatures') return { kind: 'authentic', via: r, key: signer };
  }
  throw new PolicyError('ERR_PKG_UNTRUSTED_SIGNER', `the package is intact but signed by an untrusted key ${signer.hex} (${signer.fingerprint})`, {
    details: { publicKey: signer.hex, fingerprint: signer.fingerprint, configured: true },
  });
}
