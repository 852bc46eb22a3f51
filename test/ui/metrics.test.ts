/**
 * test/ui/metrics — GET /metrics (server/ui/metrics): Prometheus text with the request counter and latency histogram
 * of fastify's routes and the log's size, from a real daemon on loopback.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { get, start } from '../provider/harness.ts';
import { tmpDir } from '../support/tmp.ts';

test('GET /metrics counts requests and reports the log size', async (t) => {
  const d = await start(t, tmpDir(t), { sample: true });
  assert.equal((await get(d, '/health')).status, 200);
  assert.equal((await get(d, '/log/checkpoint')).status, 200);
  const m = await get(d, '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  const text = m.body.toString('utf8');
  assert.match(text, /^custody_http_requests_total\{method="GET",status="200"\} [2-9]\d*$/m);
  assert.match(text, /^custody_http_request_duration_seconds_count\{method="GET"\} [2-9]\d*$/m);
  const size = Number(/^custody_log_size (\d+)$/m.exec(text)?.[1]);
  assert.ok(size >= 1, `log size ${size}`);
});
