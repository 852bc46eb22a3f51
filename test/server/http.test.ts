/**
 * server/http `toHttpError`: what fastify reports without a code becomes a neutral coded error (no ERR_LOG_… answer
 * for a provider or witness failure); each surface names its own codes where it has them. Checked in-process and
 * against the real witness and provider routes.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { pino } from 'pino';
import { IoError, LimitError } from '../../src/errors.ts';
import { sendError, toHttpError } from '../../src/server/http.ts';
import { startWitnessServer } from '../../src/server/witness/server.ts';
import { tmpDir } from '../support/tmp.ts';

test('toHttpError: neutral defaults, per-surface mappings, coded errors kept', () => {
  const internal = toHttpError(new Error('boom'));
  assert.equal(internal.code, 'ERR_HTTP_INTERNAL');
  assert.equal(internal.httpStatus, 500);
  assert.ok(!internal.message.includes('boom'), 'internal details stay in the server log');
  assert.equal(toHttpError(Object.assign(new Error('x'), { statusCode: 429 })).code, 'ERR_HTTP_RATE_LIMITED');
  assert.equal(toHttpError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 })).code, 'ERR_LIMIT_SIZE');
  assert.equal(toHttpError(Object.assign(new Error('Bad JSON'), { statusCode: 400 })).code, 'ERR_USAGE_ARGUMENT');
  for (const e of [internal, toHttpError(Object.assign(new Error('x'), { statusCode: 429 }))]) assert.ok(!e.code.startsWith('ERR_LOG_'));
  // A surface names its own.
  const mapped = toHttpError(new Error('boom'), {
    internal: () => new IoError('ERR_LOG_STORAGE', 'internal error'),
    tooLarge: () => new LimitError('ERR_LOG_ENTRY_TOO_LARGE', 'too large'),
  });
  assert.equal(mapped.code, 'ERR_LOG_STORAGE');
  const kept = new IoError('ERR_PROVIDER_NOT_FOUND', 'x');
  assert.equal(toHttpError(kept), kept);
});

test('a failing route answers 500 ERR_HTTP_INTERNAL with the coded body', async () => {
  const app = Fastify({ logger: false });
  app.setErrorHandler((err, _req, reply) => sendError(reply, toHttpError(err)));
  app.get('/boom', () => {
    throw new Error('disk on fire at /secret/path');
  });
  const r = await app.inject({ method: 'GET', url: '/boom' });
  assert.equal(r.statusCode, 500);
  const j = r.json<{ code: string; message: string }>();
  assert.equal(j.code, 'ERR_HTTP_INTERNAL');
  assert.ok(!j.message.includes('/secret/path'));
  await app.close();
});

test('the witness answers an over-long body with ERR_LIMIT_SIZE, not a log code', async (t) => {
  const w = await startWitnessServer({ dataDir: join(tmpDir(t), 'w'), logs: [], host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  t.after(() => w.close());
  const r = await fetch(`${w.url}/add-checkpoint`, { method: 'POST', body: 'x'.repeat(1024 * 1024) });
  assert.equal(r.status, 413);
  assert.equal(((await r.json()) as { code: string }).code, 'ERR_LIMIT_SIZE');
});

/** heldOpen opens a connection that sends one request and the start of another: 'open' once answered, 'closed' if closed first. */
function heldOpen(t: { after: (f: () => void) => void }, port: number): Promise<'open' | 'closed'> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    t.after(() => c.destroy());
    let settled = false;
    const done = (s: 'open' | 'closed'): void => {
      if (!settled) resolve(s);
      settled = true;
    };
    c.on('connect', () => c.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\n'));
    c.on('data', (d: Buffer) => {
      if (d.toString('latin1').startsWith('HTTP/1.1 ')) done('open');
    });
    c.on('close', () => done('closed'));
    c.on('error', () => undefined);
  });
}

test('the witness answers a rate-limited request and an unknown path with coded errors, and caps one address\'s connections', async (t) => {
  const w = await startWitnessServer({ dataDir: join(tmpDir(t), 'w'), logs: [], host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), rateLimitPerIp: 1, maxConnectionsPerIp: 2 });
  t.after(() => w.close());
  const first = await fetch(`${w.url}/nope`);
  assert.equal(first.status, 404);
  assert.equal(((await first.json()) as { code: string }).code, 'ERR_IO_NOT_FOUND');
  // One request a second: asking again at once is refused (a new second may start in between: ask a few times).
  let limited: Response | undefined;
  for (let i = 0; i < 20 && limited === undefined; i++) {
    const r = await fetch(`${w.url}/nope`);
    if (r.status === 429) limited = r;
    else await r.arrayBuffer();
  }
  assert.ok(limited !== undefined, 'a 429 came');
  assert.equal(limited.headers.get('retry-after'), '1');
  assert.equal(((await limited.json()) as { code: string }).code, 'ERR_HTTP_RATE_LIMITED');
  // Two connections held from one address: a third is closed as soon as it is accepted (a witness of its own: the
  // requests above keep their connections alive).
  const w2 = await startWitnessServer({ dataDir: join(tmpDir(t), 'w2'), logs: [], host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), maxConnectionsPerIp: 2 });
  t.after(() => w2.close());
  const port = Number(new URL(w2.url).port);
  const states = [await heldOpen(t, port), await heldOpen(t, port), await heldOpen(t, port)];
  assert.deepEqual(states, ['open', 'open', 'closed']);
});
