/**
 * auth/oidc-shape — what is known of an OIDC bearer token without verifying it, and without loading jose: whether a
 * bearer value has the shape of a compact JWS (RFC 7515 §7.1, so it goes down the OIDC path of auth/oidc), the cap
 * on its size, and which claims may name the caller. A cluster worker and the CLI's flag parsing need only this;
 * auth/oidc, which verifies, loads jose where an issuer is configured. Also where the keyless CA (auth/keyless-ca,
 * loaded with its ASN.1 libraries only where it is used) keeps its files in a data directory.
 */
import { join } from 'node:path';

/** OIDC_TOKEN_MAX_BYTES caps a bearer JWT (real ID tokens are 1–2 KiB). */
export const OIDC_TOKEN_MAX_BYTES = 16 * 1024;
/** OIDC_IDENTITY_CLAIMS: which claim names the caller. */
export const OIDC_IDENTITY_CLAIMS = ['email', 'sub'] as const;
export type OidcIdentityClaim = (typeof OIDC_IDENTITY_CLAIMS)[number];

const JWS_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** isJwtShaped tells whether a bearer value looks like a compact JWS (and so is meant for the OIDC path). */
export function isJwtShaped(text: string): boolean {
  return text.length <= OIDC_TOKEN_MAX_BYTES && JWS_RE.test(text);
}

/** KEYLESS_CA_KEY_FILE and KEYLESS_CA_CERT_FILE: the keyless CA's key and certificate, relative to the data dir. */
export const KEYLESS_CA_KEY_FILE = join('keys', 'keyless-ca.pem');
export const KEYLESS_CA_CERT_FILE = join('trust', 'keyless-ca.pem');
