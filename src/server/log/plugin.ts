/**
 * server/log/plugin — the HTTP face of one log as an encapsulated fastify plugin, mountable under
 * `/log/` in `custody serve` or on its own by `custody log serve`. It holds no module-level state: everything it
 * uses arrives in its options.
 *
 * Routes (relative to the mount prefix):
 * ```
 * POST /add                         write path: bearer token, raw entry body (≤ 65,535 bytes), rate limited;
 *                                   200 {"index": n, "checkpoint": "<signed note>", "proof": ["<base64>", …]}
 *                                   once the entry is durable and covered by that checkpoint
 * GET  /checkpoint                  C2SP tlog-tiles checkpoint, text/plain; charset=utf-8, short cache
 * GET  /tile/<L>/<N>[.p/<W>]        C2SP tlog-tiles Merkle tile, application/octet-stream, immutable
 * GET  /tile/entries/<N>[.p/<W>]    C2SP tlog-tiles entry bundle, application/octet-stream, immutable
 * ```
 * Every refusal is JSON `{ ok: false, code, message, hint }` with the status of its code (`TrustError.httpStatus`);
 * no input can crash the process or leak a raw exception.
 *
 * Trust boundary: request bodies, paths and headers are attacker-controlled. The token check is constant-time over
 * SHA-256 digests (so neither content nor length leaks) and runs before the body is read.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { encodeBase64 } from '../../encoding/bytes.ts';
import { IoError, isTrustError, FormatError, LimitError } from '../../errors.ts';
import { addressKey, authorizeBeforeBody, clientAddress, bearerCheck, sendError, toHttpError } from '../http.ts';
import type { AddResult } from '../../log/sequencer.ts';
import { MAX_ENTRY_BYTES, type PublishedCheckpoint } from '../../log/storage.ts';
import type { LogServiceConfig } from './config.ts';

/** LogHttpBackend is what the plugin needs from a running log (see server/log/service.ts). */
export interface LogHttpBackend {
  /** add resolves once the entry is durable and covered by a published checkpoint. */
  add(entry: Uint8Array): Promise<AddResult>;
  /** checkpoint is the latest published checkpoint, or null if none yet. */
  checkpoint(): PublishedCheckpoint | null;
  /** readTile returns the bytes of a tile or entry bundle path (`tile/…`), or throws a coded error (404 if absent). */
  readTile(path: string): Promise<Uint8Array>;
}

/** LogPluginOptions are the options of {@link logPlugin}. */
export interface LogPluginOptions {
  backend: LogHttpBackend;
  /** tokens are the accepted bearer tokens (raw bytes); at least one. */
  tokens: readonly Uint8Array[];
  config: Pick<LogServiceConfig, 'checkpointMaxAgeS' | 'tileMaxAgeS' | 'addRateLimitPerMinute'>;
  /**
   * registerRateLimit registers @fastify/rate-limit for the POST /add limit (default true). Pass false when an
   * enclosing instance registered it already (custody serve does, for every route): it may be registered only once.
   */
  registerRateLimit?: boolean;
}

/** logPlugin registers the log routes on an encapsulated fastify context (use `prefix: '/log'`). */
export async function logPlugin(app: FastifyInstance, opts: LogPluginOptions): Promise<void> {
  const { backend, config } = opts;
  let lastCheckpoint = '';
  let lastCheckpointJson = '""';

  // Raw bodies only: whatever the content type, the entry is the bytes of the body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_ENTRY_BYTES }, (_req, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toHttpError(err, {
      tooLarge: () => new LimitError('ERR_LOG_ENTRY_TOO_LARGE', `expected an entry of at most ${MAX_ENTRY_BYTES} bytes`, { details: { cap: MAX_ENTRY_BYTES } }),
      // A failure of the log's own route: the entry was not acknowledged (ERR_LOG_STORAGE's hint says to retry).
      internal: () => new IoError('ERR_LOG_STORAGE', 'internal error', { hint: 'retry; if it persists, check the server log' }),
    });
    if (e.httpStatus >= 500 && !isTrustError(err)) req.log.error({ err }, 'log route failed');
    else req.log.debug({ code: e.code }, e.message);
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new IoError('ERR_IO_NOT_FOUND', `no such log resource: ${req.method} ${req.url.split('?')[0] ?? ''}`, {
      hint: 'the log serves POST add, GET checkpoint and GET tile/… (c2sp.org/tlog-tiles)',
    })),
  );

  if (opts.registerRateLimit !== false) {
    await app.register(rateLimit, {
      global: false,
      // The plugin throws what errorResponseBuilder returns; the error handler above renders it.
      errorResponseBuilder: (_req, ctx) =>
        new IoError('ERR_LOG_RATE_LIMITED', `rate limit of ${ctx.max} entries per minute exceeded; retry in ${ctx.after}`, {
          details: { max: ctx.max, retryAfter: ctx.after },
        }),
    });
  }

  /** authorize checks the bearer token after the rate limit and before the body is read (preParsing). */
  const authorize = authorizeBeforeBody(bearerCheck(opts.tokens, 'ERR_LOG_UNAUTHORIZED'));

  app.post(
    '/add',
    {
      bodyLimit: MAX_ENTRY_BYTES,
      preParsing: authorize,
      // Counted per address key (server/http addressKey): an IPv6 client by its /64.
      config: { rateLimit: { max: config.addRateLimitPerMinute, timeWindow: 60_000, keyGenerator: (req: FastifyRequest) => addressKey(clientAddress(req)) } },
    },
    async (req, reply) => {
      const body = req.body;
      if (!(body instanceof Uint8Array) || body.length === 0) {
        throw new FormatError('ERR_LOG_ENTRY_EMPTY', 'expected the entry bytes as the request body, got an empty body');
      }
      const r = await backend.add(body);
      // The JSON is written by hand: a batch shares one checkpoint, so its escaped form is computed once per
      // checkpoint; base64 needs no escaping. Shape: {"index": n, "checkpoint": "<note>", "proof": ["<b64>", …]}.
      if (r.checkpoint !== lastCheckpoint) {
        lastCheckpoint = r.checkpoint;
        lastCheckpointJson = JSON.stringify(r.checkpoint);
      }
      let proof = '';
      for (const h of r.proof) proof += (proof === '' ? '"' : ',"') + encodeBase64(h) + '"';
      return reply
        .header('cache-control', 'no-store')
        .type('application/json; charset=utf-8')
        .send(`{"index":${r.index},"checkpoint":${lastCheckpointJson},"proof":[${proof}]}`);
    },
  );

  app.get('/checkpoint', (_req, reply) => {
    const cp = backend.checkpoint();
    if (cp === null) {
      return sendError(reply, new IoError('ERR_LOG_CLOSED', 'the log has not published a checkpoint yet'));
    }
    // C2SP tlog-tiles: mutable, "headers SHOULD prevent caching beyond a few seconds".
    return reply
      .header('cache-control', `public, max-age=${config.checkpointMaxAgeS}`)
      .type('text/plain; charset=utf-8')
      .send(cp.text);
  });

  app.get('/tile/*', async (req, reply) => {
    const rest = (req.params as { '*'?: string })['*'] ?? '';
    const data = await backend.readTile(`tile/${rest}`);
    // C2SP tlog-tiles: tiles and bundles are immutable, "caching headers SHOULD be long-lived".
    return reply
      .header('cache-control', `public, max-age=${config.tileMaxAgeS}, immutable`)
      .type('application/octet-stream')
      .send(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}
