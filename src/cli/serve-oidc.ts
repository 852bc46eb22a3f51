/**
 * cli/serve-oidc — the OIDC and development-mode options of `custody serve` (docs/signing-api.md "OIDC and keyless
 * signing", "Development mode"): reading the flags into {@link OidcVerifierOptions}, and the development token.
 *
 * Flags: `--oidc-issuer URL` (repeatable), and `--oidc-audience AUD`, `--oidc-identity-claim email|sub`,
 * `--oidc-scopes S,…` each given once (they apply to every issuer) or once per issuer, in the order of the issuers.
 */
import { join } from 'node:path';
import { authenticate, createToken, parseScopeList } from '../auth/auth.ts';
import { OIDC_IDENTITY_CLAIMS, type OidcIdentityClaim } from '../auth/oidc-shape.ts';
import type { OidcIssuerConfig, OidcVerifierOptions } from '../auth/oidc.ts';
import type { AuthStore } from '../auth/store.ts';
import { UsageError, isTrustError } from '../errors.ts';
import { readFileIfExists, writeFileAtomic } from '../io/files.ts';

/** OIDC_SERVE_OPTIONS are the parseArgs options of the flags above. */
export const OIDC_SERVE_OPTIONS = {
  'oidc-issuer': { type: 'string', multiple: true },
  'oidc-audience': { type: 'string', multiple: true },
  'oidc-identity-claim': { type: 'string', multiple: true },
  'oidc-scopes': { type: 'string', multiple: true },
  dev: { type: 'boolean' },
} as const;

/** oidcOptions reads the flags (module comment); undefined when no issuer is given. */
export function oidcOptions(v: { 'oidc-issuer'?: string[] | undefined; 'oidc-audience'?: string[] | undefined; 'oidc-identity-claim'?: string[] | undefined; 'oidc-scopes'?: string[] | undefined }): OidcVerifierOptions | undefined {
  const issuers = v['oidc-issuer'] ?? [];
  if (issuers.length === 0) {
    for (const f of ['oidc-audience', 'oidc-identity-claim', 'oidc-scopes'] as const) {
      if (v[f] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `--${f} needs --oidc-issuer`);
    }
    return undefined;
  }
  const pick = (flag: 'oidc-audience' | 'oidc-identity-claim' | 'oidc-scopes', i: number, fallback: string | undefined): string => {
    const list = v[flag] ?? [];
    if (list.length > 1 && list.length !== issuers.length) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--${flag}: give it once, or once per --oidc-issuer (${issuers.length}), got ${list.length}`);
    }
    const value = list.length === 1 ? list[0] : (list[i] ?? fallback);
    if (value === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `--oidc-issuer needs --${flag}`);
    return value;
  };
  const configs: OidcIssuerConfig[] = issuers.map((issuer, i) => {
    const claim = pick('oidc-identity-claim', i, 'email');
    if (!(OIDC_IDENTITY_CLAIMS as readonly string[]).includes(claim)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--oidc-identity-claim: expected email or sub, got ${JSON.stringify(claim.slice(0, 40))}`);
    }
    return { issuer, audience: pick('oidc-audience', i, undefined), identityClaim: claim as OidcIdentityClaim, scopes: parseScopeList(pick('oidc-scopes', i, 'sign,verify')) };
  });
  return { issuers: configs };
}

/** DEV_TOKEN_FILE is the development token of `custody serve --dev`, in the data directory. */
export const DEV_TOKEN_FILE = 'dev.token';
/** DEV_TOKEN_TTL_MS: a development token lives 30 days (a new one is made when it expired or was revoked). */
export const DEV_TOKEN_TTL_MS = 30 * 86_400_000;

/**
 * ensureDevToken returns the path of DATA/dev.token: an API token with every scope, made (0600) unless the file holds
 * one the store still accepts. It is an ordinary token (listed by `custody token list`, revocable).
 */
export async function ensureDevToken(store: AuthStore, dataDir: string, now: Date): Promise<{ path: string; created: boolean }> {
  const path = join(dataDir, DEV_TOKEN_FILE);
  const old = await readFileIfExists(path, { maxBytes: 256, what: 'development token' });
  if (old !== undefined) {
    try {
      await authenticate(store, `Bearer ${old.toString('utf8').trim()}`, now.getTime());
      return { path, created: false };
    } catch (e) {
      if (!isTrustError(e) || e.kind !== 'policy') throw e;
    }
  }
  const t = await createToken(store, { name: 'dev', scopes: ['sign', 'verify', 'permit', 'upload', 'admin'], now: now.getTime(), ttlMs: DEV_TOKEN_TTL_MS });
  await writeFileAtomic(path, `${t.token}\n`, { mode: 0o600 });
  return { path, created: true };
}
