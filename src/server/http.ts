/**
 * server/http — what every Custody HTTP surface shares: the JSON refusal body, mapping thrown errors to coded
 * errors, and bearer-token checks.
 *
 * Every refusal is `{ "ok": false, "code": "ERR_…", "message": "…", "hint": "…" }` with the HTTP status of its code
 * (errors.ts ERROR_CODES) and `Cache-Control: no-store`.
 *
 * Trust boundary: the Authorization header is attacker-controlled. Tokens are compared as SHA-256 digests in
 * constant time over every configured token (no early exit), so timing reveals neither content, length, nor which
 * token matched. Tokens never appear in logs (server/log/server `REDACT_PATHS`) or in error messages.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, preParsingAsyncHookHandler } from 'fastify';
import { constantTimeEqual, sha256 } from '../crypto/index.ts';
import { IoError, PolicyError, type CodesOf, type TrustError } from '../errors.ts';

/** sendError renders a coded error as the JSON refusal body with its HTTP status. */
export function sendError(reply: FastifyReply, e: TrustError): FastifyReply {
  if (e.httpStatus === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  return reply.code(e.httpStatus).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(e.toJSON());
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** BearerCheck tells whether a request carries an accepted token, or throws the coded refusal. */
export type BearerCheck = (req: FastifyRequest) => Promise<void>;

/**
 * bearerCheck returns an onRequest hook accepting any of `tokens`; refusals use `code` (e.g. ERR_LOG_UNAUTHORIZED).
 * `onRefused` is told about each refusal (audit), never with the presented token.
 */
export function bearerCheck(tokens: readonly Uint8Array[], code: CodesOf<'policy'>, onRefused?: (req: FastifyRequest, reason: string) => void): BearerCheck {
  if (tokens.length === 0) throw new Error('http: bearerCheck needs at least one token');
  const digests = tokens.map((t) => sha256(t));
  return (req) => {
    const m = BEARER.exec(req.headers.authorization ?? '');
    let ok = false;
    if (m) {
      const got = sha256(m[1]!);
      for (const d of digests) ok = constantTimeEqual(got, d) || ok;
    }
    if (!ok) {
      const reason = m ? 'the bearer token is not accepted' : 'expected an Authorization: Bearer header';
      onRefused?.(req, reason);
      return Promise.reject(new PolicyError(code, reason));
    }
    return Promise.resolve();
  };
}

/**
 * authorizeBeforeBody turns a bearer check into a preParsing hook: it runs after every onRequest hook (so the rate
 * limits count refused requests too) and before a single byte of the body is read.
 */
export function authorizeBeforeBody(check: BearerCheck): preParsingAsyncHookHandler {
  return async (req, _reply, payload) => {
    await check(req);
    return payload;
  };
}

/**
 * addGlobalRateLimit caps the requests of everyone together at `rate` per second (a token bucket holding one
 * second's worth) with an onRequest hook on `app`, so it covers every route below it, 404s included.
 */
export function addGlobalRateLimit(app: FastifyInstance, rate: number): void {
  let tokens = rate;
  let last = Date.now();
  app.addHook('onRequest', (_req, reply, done) => {
    const now = Date.now();
    tokens = Math.min(rate, tokens + ((now - last) / 1000) * rate);
    last = now;
    if (tokens >= 1) {
      tokens -= 1;
      done();
      return;
    }
    reply.header('retry-after', '1');
    done(new IoError('ERR_PROVIDER_RATE_LIMITED', `the provider serves at most ${rate} requests per second`));
  });
}
