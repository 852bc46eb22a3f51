/**
 * The log's fastify plugin in-process (fastify inject, fastify Testing.md) over a fake backend: authentication,
 * body limits, rate limiting, headers and the JSON error shape — one row per bad input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { IoError } from '../../src/errors.ts';
import { logPlugin, type LogHttpBackend } from '../../src/server/log/plugin.ts';

const TOKEN = 'test-token-0123456789abcdef';

function fakeBackend(): LogHttpBackend & { added: Uint8Array[] } {
  const added: Uint8Array[] = [];
  return {
    added,
    add: (entry) => {
      added.push(entry);
      return Promise.resolve({ index: added.length - 1, checkpoint: 'cp\n', size: added.length, proof: [new Uint8Array(32)] });
    },
    checkpoint: () => ({ size: 1, text: 'example.test/log\n1\nAAAA\n\n— x y\n' }),
    readTile: (path) =>
      path === 'tile/0/000.p/1'
        ? Promise.resolve(new Uint8Array(32))
        : Promise.reject(new IoError('ERR_LOG_TILE_NOT_FOUND', `no tile ${path}`)),
  };
}

async function app(backend: LogHttpBackend, rate = 1_000): Promise<FastifyInstance> {
  const a = Fastify({ logger: false });
  await a.register(logPlugin, {
    prefix: '/log',
    backend,
    tokens: [new TextEncoder().encode(TOKEN)],
    config: { checkpointMaxAgeS: 1, tileMaxAgeS: 31_536_000, addRateLimitPerMinute: rate },
  });
  await a.ready();
  return a;
}

test('POST /log/add returns index, checkpoint and base64 proof', async () => {
  const b = fakeBackend();
  const a = await app(b);
  const r = await a.inject({
    method: 'POST',
    url: '/log/add',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    payload: '{"raw":"bytes, not parsed"}',
  });
  assert.equal(r.statusCode, 200, r.body);
  assert.deepEqual(r.json(), { index: 0, checkpoint: 'cp\n', proof: ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='] });
  assert.equal(Buffer.from(b.added[0]!).toString(), '{"raw":"bytes, not parsed"}', 'the body is the entry, whatever its content type');
  await a.close();
});

test('GET /log/checkpoint and tiles carry the C2SP content types and cache headers', async () => {
  const a = await app(fakeBackend());
  const cp = await a.inject({ method: 'GET', url: '/log/checkpoint' });
  assert.equal(cp.statusCode, 200);
  assert.equal(cp.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(cp.headers['cache-control'], 'public, max-age=1');
  const tile = await a.inject({ method: 'GET', url: '/log/tile/0/000.p/1' });
  assert.equal(tile.statusCode, 200);
  assert.equal(tile.headers['content-type'], 'application/octet-stream');
  assert.equal(tile.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(tile.rawPayload.length, 32);
  await a.close();
});

test('bad input over HTTP: coded 4xx JSON, never a crash', async () => {
  const a = await app(fakeBackend());
  const auth = { authorization: `Bearer ${TOKEN}` };
  const rows: Array<{ name: string; req: InjectOptions; status: number; code: string }> = [
    { name: 'no token', req: { method: 'POST', url: '/log/add', payload: 'x' }, status: 401, code: 'ERR_LOG_UNAUTHORIZED' },
    {
      name: 'wrong token',
      req: { method: 'POST', url: '/log/add', headers: { authorization: 'Bearer nope' }, payload: 'x' },
      status: 401,
      code: 'ERR_LOG_UNAUTHORIZED',
    },
    {
      name: 'token prefix',
      req: { method: 'POST', url: '/log/add', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, payload: 'x' },
      status: 401,
      code: 'ERR_LOG_UNAUTHORIZED',
    },
    {
      name: 'basic auth',
      req: { method: 'POST', url: '/log/add', headers: { authorization: `Basic ${TOKEN}` }, payload: 'x' },
      status: 401,
      code: 'ERR_LOG_UNAUTHORIZED',
    },
    {
      name: 'oversized entry',
      req: { method: 'POST', url: '/log/add', headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(65_536) },
      status: 413,
      code: 'ERR_LOG_ENTRY_TOO_LARGE',
    },
    {
      name: 'empty entry',
      req: { method: 'POST', url: '/log/add', headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(0) },
      status: 400,
      code: 'ERR_LOG_ENTRY_EMPTY',
    },
    { name: 'missing tile', req: { method: 'GET', url: '/log/tile/0/001' }, status: 404, code: 'ERR_LOG_TILE_NOT_FOUND' },
    { name: 'unknown route', req: { method: 'GET', url: '/log/nope' }, status: 404, code: 'ERR_IO_NOT_FOUND' },
    { name: 'GET add', req: { method: 'GET', url: '/log/add' }, status: 404, code: 'ERR_IO_NOT_FOUND' },
  ];
  for (const row of rows) {
    const r = await a.inject(row.req);
    assert.equal(r.statusCode, row.status, `${row.name}: ${r.body}`);
    const body = r.json<{ ok: boolean; code: string; message: string; hint: string }>();
    assert.equal(body.ok, false, row.name);
    assert.equal(body.code, row.code, row.name);
    assert.ok(body.hint.length > 0, row.name);
    assert.ok(!r.body.includes(TOKEN), `${row.name}: the token is never echoed`);
  }
  // Exactly-at-the-cap entries are accepted.
  const max = await a.inject({ method: 'POST', url: '/log/add', headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(65_535, 7) });
  assert.equal(max.statusCode, 200, max.body);
  await a.close();
});

test('POST /log/add is rate limited per client with ERR_LOG_RATE_LIMITED and Retry-After', async () => {
  const a = await app(fakeBackend(), 3);
  const replies = [];
  for (let i = 0; i < 5; i++) {
    replies.push(await a.inject({ method: 'POST', url: '/log/add', headers: { authorization: `Bearer ${TOKEN}` }, payload: `e${i}` }));
  }
  const statuses = replies.map((r) => r.statusCode);
  const last = replies[4]!;
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  assert.equal(last.json<{ code: string }>().code, 'ERR_LOG_RATE_LIMITED');
  assert.ok(last.headers['retry-after'] !== undefined);
  // Reads are not rate limited.
  assert.equal((await a.inject({ method: 'GET', url: '/log/checkpoint' })).statusCode, 200);
  await a.close();
});

test('logs never contain the bearer token: request logging at debug, Authorization redacted', async () => {
  const { loggerOptions } = await import('../../src/server/log/server.ts');
  const { pino } = await import('pino');
  let out = '';
  const logger = pino(loggerOptions('debug'), { write: (s: string) => (out += s) });
  const a = Fastify({ loggerInstance: logger });
  await a.register(logPlugin, {
    prefix: '/log',
    backend: fakeBackend(),
    tokens: [new TextEncoder().encode(TOKEN)],
    config: { checkpointMaxAgeS: 1, tileMaxAgeS: 1, addRateLimitPerMinute: 100 },
  });
  a.addHook('onRequest', (req, _reply, done) => {
    // What a careless hook might do: log the whole headers object.
    req.log.info({ headers: req.headers }, 'headers');
    done();
  });
  await a.ready();
  await a.inject({ method: 'POST', url: '/log/add', headers: { authorization: `Bearer ${TOKEN}` }, payload: 'x' });
  await a.inject({ method: 'POST', url: '/log/add', headers: { authorization: 'Bearer wrong-token-value' }, payload: 'x' });
  await a.close();
  assert.ok(out.length > 0, 'something was logged');
  assert.ok(out.includes('[redacted]'));
  assert.ok(!out.includes(TOKEN) && !out.includes('wrong-token-value'), out);
});
