/**
 * auth/bearer — one entry point for the bearer tokens of the signing API: Custody's own tokens (`custody_…`, checked
 * against the store by auth/auth) and, when issuers are configured, OIDC JWTs (auth/oidc). A JWT-shaped bearer with
 * no issuer configured is refused like any token this service did not issue (ERR_AUTH_TOKEN_INVALID).
 *
 * An OIDC caller whose identity was revoked here (`custody identity revoke --oidc IDENTITY`) is refused with
 * ERR_AUTH_IDENTITY_REVOKED; the store is read on every request, as for tokens, so the revocation counts at once.
 */
import { PolicyError } from '../errors.ts';
import { authenticate, type Principal } from './auth.ts';
import { isJwtShaped } from './oidc-shape.ts';
import type { OidcVerifier } from './oidc.ts';
import type { AuthStore } from './store.ts';

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** authenticateBearer authenticates an Authorization header (module comment); throws the coded refusals of both paths. */
export async function authenticateBearer(store: AuthStore, oidc: OidcVerifier | undefined, authorization: string | undefined, now: Date): Promise<Principal> {
  const m = BEARER.exec(authorization ?? '');
  const text = m?.[1];
  if (text === undefined || text.startsWith('custody_') || !isJwtShaped(text)) return authenticate(store, authorization, now.getTime());
  if (oidc === undefined) throw new PolicyError('ERR_AUTH_TOKEN_INVALID', 'the bearer token is not one this service issued (no OIDC issuer is configured)');
  const id = await oidc.verify(text, now);
  if (await store.isOidcIdentityRevoked(id.identity)) throw new PolicyError('ERR_AUTH_IDENTITY_REVOKED', `the OIDC identity ${JSON.stringify(id.identity.slice(0, 200))} was revoked here`);
  return { tokenId: id.callerId, name: id.identity, scopes: id.scopes, kind: 'oidc', identity: id.identity, oidc: id };
}
