/**
 * server/witness/plugin — the witness's HTTP face as an encapsulated fastify plugin (no module-level state):
 * `POST <prefix>/add-checkpoint` (c2sp.org/tlog-witness). Refusals are JSON `{ ok: false, code, message, hint }` with
 * the spec's status codes, except the 409 "old size mismatch" answer, whose body the spec fixes: the recorded size in
 * decimal and a newline, `Content-Type: text/x.tlog.size`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LimitError, isTrustError, type TrustError } from '../../errors.ts';
import { toHttpError } from '../http.ts';
import { MAX_ADD_CHECKPOINT_BYTES, WITNESS_SIZE_CONTENT_TYPE, type Witness } from './witness.ts';

/** WitnessPluginOptions are the options of {@link witnessPlugin}. */
export interface WitnessPluginOptions {
  witness: Witness;
}

function send(reply: FastifyReply, e: TrustError): FastifyReply {
  reply.code(e.httpStatus).header('cache-control', 'no-store');
  if (e.code === 'ERR_WITNESS_CONFLICT' && typeof e.details?.size === 'number') {
    // c2sp.org/tlog-witness: 409 body = the latest cosigned size in decimal + "\n", Content-Type text/x.tlog.size.
    return reply.type(WITNESS_SIZE_CONTENT_TYPE).send(`${e.details.size}\n`);
  }
  return reply.type('application/json; charset=utf-8').send(e.toJSON());
}

/** witnessPlugin registers POST /add-checkpoint on an encapsulated fastify context. */
export function witnessPlugin(app: FastifyInstance, opts: WitnessPluginOptions): Promise<void> {
  const { witness } = opts;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_ADD_CHECKPOINT_BYTES }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toHttpError(
      err,
      () => new LimitError('ERR_LIMIT_SIZE', `expected an add-checkpoint body of at most ${MAX_ADD_CHECKPOINT_BYTES} bytes`),
    );
    if (e.httpStatus >= 500 && !isTrustError(err)) req.log.error({ err }, 'witness route failed');
    else req.log.info({ code: e.code }, e.message);
    return send(reply, e);
  });
  app.post('/add-checkpoint', { bodyLimit: MAX_ADD_CHECKPOINT_BYTES }, (req, reply) => {
    const body = req.body instanceof Uint8Array ? req.body : new Uint8Array(0);
    const lines = witness.addCheckpoint(body);
    return reply.code(200).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(lines);
  });
  return Promise.resolve();
}
