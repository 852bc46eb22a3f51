/**
 * hsm/health — whether a signer can still sign, for a daemon's /health: a key held in a token (hsm/pkcs11) reports
 * the outcome of its last use; a file key is always healthy.
 */
import type { Signer } from '../crypto/index.ts';

/** SignerHealth is `ok` or the reason the key is unusable (never a secret). */
export interface SignerHealth {
  ok: boolean;
  reason?: string;
}

/** signerHealth asks a signer that can tell (a Pkcs11Signer's `health()`); others are healthy. */
export function signerHealth(s: Signer): SignerHealth {
  const h = (s as Signer & { health?: unknown }).health;
  if (typeof h !== 'function') return { ok: true };
  return (h as () => SignerHealth).call(s);
}
