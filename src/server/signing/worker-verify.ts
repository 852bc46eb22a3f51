/**
 * server/signing/worker-verify — POST /v1/verify answered by a cluster worker itself (`custody serve --workers N`,
 * server/cluster, server/worker), with the answers of the leader's route (server/signing/plugin, issue 11): a
 * verification is pure reading (the trust root's keys, the token and signature records), so forwarding it to the
 * leader over its socket cost a second HTTP exchange and the leader's one core for every request.
 *
 * What the worker reads, and why it stays correct:
 * - Tokens: its own handle on the auth store (SQLite WAL: concurrent readers see every committed write at their next
 *   statement; PostgreSQL: its own pool). The token is looked up on every request, no cache: one indexed read by
 *   the token's id, so a revocation (by `custody token revoke`, another daemon, or the leader) is refused at the
 *   next request, exactly as by the leader (auth/store duty 1).
 * - Keys: its copy of the pinned trust root the leader sent it (the same bytes the leader verifies with).
 * - Rate limits: the counters live in the leader only (server/signing/plugin SigningLimits), consulted over the
 *   cluster IPC channel, the checks of one event-loop turn in one message. Why there and not limit/N per worker:
 *   connections are spread round-robin, so one client's requests land on any worker in any proportion; limit/N per
 *   worker would refuse a client at a fraction of its limit whenever its connections were unevenly placed, and let
 *   it through at the full limit only by luck. One counter is exact, and costs one IPC round trip per batch, not an
 *   HTTP exchange per request. With both limits off (0) the leader is not asked at all.
 * - What must be recorded (the audit events of refusals and failed verifications) is sent to the leader, batched
 *   per event-loop turn, and appended there to the one hash-chained audit log, with the worker's index.
 *
 * What the worker leaves to the leader (forwarded as before): OIDC bearer JWTs (the leader holds the issuers' keys),
 * bodies that are not `application/json`, and, once the body is read, anything that is not a plain well-formed
 * request: a keyless certificate or `require_inclusion` (they need the CA and the log), and a body that does not
 * parse or does not match the route's schema (so fastify's own refusal is answered, byte for byte). Such a request
 * goes up with its body and `X-Custody-Limits-Counted: 1`, so the leader does not count it twice.
 *
 * Order of checks: authentication (one store read) and the `verify` scope, then the per-address and per-token limits
 * in one question to the leader (the token counted only when it authenticated), then the body (capped at
 * VERIFY_BODY_MAX_BYTES: 413 beyond). The leader itself counts the address before it authenticates; here the store
 * read comes first so that one IPC message carries both counts. X-Request-ID is the caller's when well-formed.
 *
 * Trust boundary: everything in the request is attacker-controlled; the store, the root and the leader are trusted.
 */
import { Ajv } from 'ajv';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { keysFromRoot } from '../../attest/verify.ts';
import { authenticateBearer } from '../../auth/bearer.ts';
import { requireScope, type Principal } from '../../auth/auth.ts';
import { isJwtShaped } from '../../auth/oidc-shape.ts';
import type { AuthStore } from '../../auth/store.ts';
import type { JsonObject } from '../../encoding/json.ts';
import { IoError, LimitError, isTrustError, type TrustError } from '../../errors.ts';
import type { TrustRoot } from '../../trust/root.ts';
import { writeError } from '../provider/read-path.ts';
import type { HttpCounts } from '../ui/counts.ts';
import { checkLimits, type SigningLimits } from './limits.ts';
import { VERIFY_BODY_MAX_BYTES, VERIFY_BODY_SCHEMA, needsLog, requestIdFor, verifyRefusal, verifyRequest, type VerifyBody } from './verify-request.ts';

/** VERIFY_ROUTE is the one route a worker answers itself. */
export const VERIFY_ROUTE = '/v1/verify';

/** LimitCheck is one request's question to the leader: count it for this address (and this token). */
export interface LimitCheck {
  id: number;
  ip: string;
  token?: string | undefined;
}

/** WorkerToLeader are the signing API's messages from a worker; LeaderToWorker the leader's answer to limit checks. */
export type WorkerToLeader = { type: 'v1-limit'; checks: LimitCheck[] } | { type: 'v1-audit'; events: Array<{ event: string; fields: JsonObject }> };
export type LeaderToWorker = { type: 'v1-limited'; results: Array<{ id: number; refused?: string | undefined }> };

/** answerLimitChecks is the leader's side: each check counted against the shared limits, in order. */
export function answerLimitChecks(limits: SigningLimits, m: { checks: LimitCheck[] }): LeaderToWorker {
  return {
    type: 'v1-limited',
    results: m.checks.map((c) => {
      const refused = checkLimits(limits, c.ip, c.token);
      return refused === undefined ? { id: c.id } : { id: c.id, refused: refused.message };
    }),
  };
}

/** LIMIT_WAIT_MS bounds a worker's wait for the leader's answer; past it the request is refused 503 (no leader). */
const LIMIT_WAIT_MS = 10_000;
/** AUDIT_BATCH_MAX caps the events of one audit message. */
const AUDIT_BATCH_MAX = 256;

/**
 * LeaderLink batches a worker's questions and records to the leader: everything asked or recorded in one event-loop
 * turn goes in one message. `send` is process.send of the worker; call {@link LeaderLink.receive} with the leader's
 * messages.
 */
export class LeaderLink {
  readonly #send: (m: WorkerToLeader) => void;
  #next = 0;
  #checks: LimitCheck[] = [];
  #events: Array<{ event: string; fields: JsonObject }> = [];
  #scheduled = false;
  readonly #waiting = new Map<number, { resolve: (refused: string | undefined) => void; timer: NodeJS.Timeout }>();

  constructor(send: (m: WorkerToLeader) => void) {
    this.#send = send;
  }

  /** limit asks the leader to count a request; resolves the refusal message, or undefined when it may go on. */
  limit(ip: string, token: string | undefined): Promise<string | undefined> {
    const id = ++this.#next;
    this.#checks.push({ id, ip, ...(token === undefined ? {} : { token }) });
    this.#schedule();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve('\0unreachable');
      }, LIMIT_WAIT_MS);
      timer.unref();
      this.#waiting.set(id, { resolve, timer });
    });
  }

  /** record queues an audit event for the leader's audit log. */
  record(event: string, fields: JsonObject): void {
    this.#events.push({ event, fields });
    if (this.#events.length >= AUDIT_BATCH_MAX) this.#flush();
    else this.#schedule();
  }

  /** receive handles a message of the leader (other messages are ignored). */
  receive(m: { type?: unknown }): void {
    if (m.type !== 'v1-limited') return;
    for (const r of (m as LeaderToWorker).results) {
      const w = this.#waiting.get(r.id);
      if (w === undefined) continue;
      this.#waiting.delete(r.id);
      clearTimeout(w.timer);
      w.resolve(r.refused);
    }
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#checks.length > 0) this.#send({ type: 'v1-limit', checks: this.#checks.splice(0) });
    if (this.#events.length > 0) this.#send({ type: 'v1-audit', events: this.#events.splice(0) });
  }
}

/** WorkerVerifyOptions configure {@link workerVerifyHandler}. */
export interface WorkerVerifyOptions {
  /** store is the worker's own handle on the auth store. */
  store: AuthStore;
  root: TrustRoot;
  /** index of the worker (in audit events). */
  index: number;
  /** mode labels every answer like the leader's (`custody-mode: development` with --dev). */
  mode: 'production' | 'development';
  /** headers are added to every answer (X-Custody-Worker). */
  headers: readonly string[];
  /** link reaches the leader: limits (when `limits` is true) and audit events. */
  link: LeaderLink;
  /** limits: the leader counts sign and verify requests (false when both signing limits are 0). */
  limits: boolean;
  /** forward passes a request to the leader: streaming its body (none given), or with the body already read. */
  forward: (req: IncomingMessage, res: ServerResponse, body?: Buffer) => void;
  onError: (e: unknown) => void;
  /**
   * counts: the worker's response counters (server/ui/counts). An answer the worker gives itself is counted as the
   * leader's fastify counts the same route (handler "app", POST, its status, and its latency), so a scrape cannot
   * tell who answered; a request it forwards is counted by the leader, and a 502 for an unreachable leader as the
   * front's, like the forwarder's.
   */
  counts?: HttpCounts | undefined;
  now?: () => Date;
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;
const JSON_TYPE = /^application\/json\s*(?:;|$)/i;
/** POISON: bodies naming these keys go to the leader, whose parser refuses them (fastify's prototype-poisoning rule). */
const POISON = /"(?:__proto__|constructor)"/;

/**
 * workerVerifyHandler returns the worker's handler of POST /v1/verify (module comment). It answers every request it
 * is given: itself, or by forwarding.
 */
export function workerVerifyHandler(o: WorkerVerifyOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const now = o.now ?? (() => new Date());
  const context = { store: o.store, rootKeys: keysFromRoot(o.root) };
  const ajv = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: true, allErrors: false, strict: false });
  const valid = ajv.compile(VERIFY_BODY_SCHEMA);
  const dev = o.mode === 'development' ? ['custody-mode', 'development'] : [];
  const unreachable = new IoError('ERR_IO_NETWORK', 'the provider could not reach its leader process', { hint: 'retry; the operator finds the cause in the provider log' });

  return (req, res) => {
    const started = performance.now();
    /** counted records one answer of this worker (module comment of WorkerVerifyOptions.counts). */
    const counted = (status: number, front = false): void => {
      if (o.counts === undefined) return;
      if (front) {
        o.counts.add('front', req.method, status);
        return;
      }
      o.counts.add('app', req.method, status);
      o.counts.observe(req.method, (performance.now() - started) / 1000);
    };
    const rid = requestIdFor(req.headers['x-request-id']);
    const ip = req.socket.remoteAddress ?? '';
    // writeError sets Cache-Control itself; answers add it.
    const extra = ['x-request-id', rid, ...dev, ...o.headers];
    const bearer = BEARER.exec(req.headers.authorization ?? '')?.[1];
    // OIDC callers and bodies of other types: the leader's (module comment). Nothing was counted yet.
    if ((bearer !== undefined && !bearer.startsWith('custody_') && isJwtShaped(bearer)) || !JSON_TYPE.test(req.headers['content-type'] ?? '')) {
      o.forward(req, res);
      return;
    }
    let principal: Principal | undefined;
    const audit = (event: string, fields: JsonObject): void => {
      o.link.record(event, {
        ...fields,
        ip,
        request_id: rid,
        ...(principal === undefined ? {} : { caller_id: principal.tokenId, caller: principal.name }),
        worker: o.index,
      });
    };
    /** refuse answers a coded refusal as the leader's error handler does (audited unless 429; closing unless 400). */
    const refuse = (e: TrustError): void => {
      if (e.httpStatus !== 429) audit('signapi.refused', { route: VERIFY_ROUTE, code: e.code });
      counted(e.httpStatus, e === unreachable);
      writeError(res, e, e.httpStatus !== 400 && e.httpStatus < 500 ? [...extra, 'connection', 'close'] : extra);
    };
    const failed = (e: unknown): void => {
      if (!isTrustError(e) || e.httpStatus >= 500) o.onError(e);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      refuse(isTrustError(e) ? e : new IoError('ERR_HTTP_INTERNAL', 'internal error'));
    };

    void (async () => {
      let authError: unknown;
      try {
        principal = await authenticateBearer(o.store, undefined, req.headers.authorization, now());
        requireScope(principal, 'verify');
      } catch (e) {
        if (!isTrustError(e) || e.httpStatus >= 500) throw e;
        authError = e;
      }
      if (o.limits) {
        const refused = await o.link.limit(ip, authError === undefined ? principal?.tokenId : undefined);
        if (refused === '\0unreachable') throw unreachable;
        if (refused !== undefined) return refuse(new IoError('ERR_HTTP_RATE_LIMITED', refused));
      }
      if (authError !== undefined) return refuse(authError as TrustError);

      const body = await readBody(req, res);
      if (body === undefined) return refuse(new LimitError('ERR_SIGNAPI_TOO_LARGE', 'the request body is over the cap of this route'));
      const text = body.toString('utf8');
      let b: unknown;
      try {
        b = POISON.test(text) ? undefined : JSON.parse(text);
      } catch {
        b = undefined;
      }
      if (b === undefined || !valid(b) || needsLog(b)) {
        o.forward(req, res, body);
        return;
      }
      const vb = b as VerifyBody;
      const verifiedAt = now();
      let answer: JsonObject;
      try {
        answer = await verifyRequest(context, vb, verifiedAt);
      } catch (e) {
        if (!isTrustError(e) || e.httpStatus >= 500) throw e;
        audit('signapi.verify_failed', { artifact: vb.artifact, code: e.code });
        answer = verifyRefusal(e, verifiedAt);
      }
      const out = JSON.stringify(answer);
      counted(200);
      res.writeHead(200, ['content-type', 'application/json; charset=utf-8', 'cache-control', 'no-store', 'content-length', String(Buffer.byteLength(out)), ...extra]);
      res.end(out);
    })().catch(failed);
  };
}

/**
 * readBody reads a request body of at most VERIFY_BODY_MAX_BYTES; undefined when it is larger (declared or sent:
 * the rest is not read, the connection closes after the refusal). Tells a client waiting for "100 Continue" to send.
 */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > VERIFY_BODY_MAX_BYTES) return Promise.resolve(undefined);
  if (/^100-continue$/i.test(req.headers.expect ?? '')) res.writeContinue();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > VERIFY_BODY_MAX_BYTES) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/**
 * openWorkerStore opens the worker's own handle on the auth store the leader uses (auth/open), keyed like the
 * leader's when the daemon runs with --secrets (`tokenKey`, base64: auth/token-key).
 */
export async function openWorkerStore(where: { dataDir: string; postgres?: { url: string; schema?: string | undefined } | undefined; tokenKey?: string | undefined }): Promise<AuthStore> {
  const { openAuthStore } = await import('../../auth/open.ts');
  const store = await openAuthStore(where);
  if (where.tokenKey === undefined) return store;
  const { withTokenKey } = await import('../../auth/token-key.ts');
  const key = Buffer.from(where.tokenKey, 'base64');
  try {
    return withTokenKey(store, key);
  } finally {
    key.fill(0);
  }
}
