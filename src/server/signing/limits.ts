/**
 * server/signing/limits — the signing API's rate limits (issue 11: per token and per client address on sign and
 * verify, 429 + Retry-After): one-second windows of server/http RequestLimiter. In a cluster (server/cluster) the
 * leader holds the only counters; workers ask it over IPC (server/signing/worker-verify), so a limit holds across
 * workers.
 */
import type { TrustError } from '../../errors.ts';
import { RequestLimiter } from '../http.ts';

/** COUNTED_HEADER marks a request a cluster worker already counted against the limits (server/signing/plugin trustCountedHeader). */
export const COUNTED_HEADER = 'x-custody-limits-counted';

/** SigningLimits are the signing API's rate limits: per client address (every /v1 request that signs, verifies or
 * authenticates) and per token (sign and verify, counted after authentication). */
export interface SigningLimits {
  ip: RequestLimiter;
  token: RequestLimiter;
}

/** signingLimits makes the counters of {@link SigningLimits} (requests per second; 0 = off). */
export function signingLimits(perIp = 50, perToken = 20): SigningLimits {
  return { ip: new RequestLimiter(perIp, 0, 'ERR_HTTP_RATE_LIMITED'), token: new RequestLimiter(perToken, 0, 'ERR_HTTP_RATE_LIMITED') };
}

/**
 * checkLimits counts one request from `ip` and, when that passes and `tokenId` is given, one for the token: the
 * order of the plugin's own hooks (the address first, before authentication). Returns the refusal, if any.
 */
export function checkLimits(l: SigningLimits, ip: string, tokenId: string | undefined): TrustError | undefined {
  return l.ip.checkAddress(ip) ?? (tokenId === undefined ? undefined : l.token.check(tokenId));
}
