/**
 * test/ui/metrics — GET /metrics (server/ui/metrics): Prometheus text from a real daemon on loopback, in one process
 * and as a real `custody serve --workers 2` cluster: responses of fastify's routes and of the front's read path
 * (served by the workers in a cluster, summed by the leader over IPC), front-door 429s by scope, the log's size and
 * appends, and the group commit's fsync time after appends. Also the relay's own rules (late and unknown answers,
 * a worker that goes away).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpCounts, MetricsRelay, type MetricsJson } from '../../src/server/ui/metrics.ts';
import { bearer, get, serveChild, start } from '../provider/harness.ts';
import { tmpDir } from '../support/tmp.ts';

/** value reads one sample of the exposition text (the first line matching `name{labels} v`, or `name v`). */
function value(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line === undefined ? Number.NaN : Number(line.slice(sample.length + 1));
}

test('GET /metrics counts fastify routes, the read path, 429s by scope, the log and its commit time', async (t) => {
  const d = await start(t, tmpDir(t), { sample: true, rateLimitPerIp: 3 });
  assert.equal((await get(d, '/health')).status, 200);
  assert.equal((await get(d, '/trust/root.json')).status, 200);
  assert.equal((await get(d, '/blobs/sha256/' + '0'.repeat(64))).status, 404);
  await sleep(1100); // a new per-address window (the limit is 3 per second)
  const burst = await Promise.all(Array.from({ length: 8 }, () => get(d, '/trust/root.json', { method: 'HEAD' })));
  const refused = burst.filter((r) => r.status === 429).length;
  assert.ok(refused >= 5, `refused ${refused} of 8`);
  await sleep(1100);
  const add = await get(d, '/log/add', { method: 'POST', headers: { ...bearer(d), 'content-type': 'application/octet-stream' }, body: 'metrics test entry\n' });
  assert.equal(add.status, 200, add.body.toString());
  await sleep(1100);
  const m = await get(d, '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  const text = m.body.toString('utf8');
  assert.ok(value(text, 'custody_http_requests_total{handler="app",method="GET",status="200"}') >= 1, text);
  assert.equal(value(text, 'custody_http_requests_total{handler="app",method="POST",status="200"}'), 1);
  assert.ok(value(text, 'custody_http_requests_total{handler="read",method="GET",status="200"}') >= 1, text);
  assert.equal(value(text, 'custody_http_requests_total{handler="read",method="GET",status="404"}'), 1);
  assert.equal(value(text, 'custody_http_requests_total{handler="read",method="HEAD",status="200"}'), 8 - refused);
  assert.equal(value(text, 'custody_http_requests_total{handler="front",method="HEAD",status="429"}'), refused);
  assert.equal(value(text, 'custody_http_rate_limited_total{scope="address"}'), refused);
  assert.equal(value(text, 'custody_http_rate_limited_total{scope="global"}'), 0);
  assert.ok(value(text, 'custody_http_request_duration_seconds_count{method="GET"}') >= 1);
  assert.ok(value(text, 'custody_log_size') >= 2, text);
  assert.equal(value(text, 'custody_log_appends_since_start'), 1);
  const commits = value(text, 'custody_log_commit_seconds_count');
  assert.ok(commits >= 1, `commit observations ${commits}`);
  assert.ok(value(text, 'custody_log_commit_seconds_sum') > 0);
  assert.equal(value(text, 'custody_metrics_processes'), 1);
});

test('in a cluster, /metrics sums the workers: their read path, their 429s, and the leader\'s log', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const served = await serveChild(t, dir, ['--data', join(dir, 'data'), '--workers', '2', '--rate-limit-per-ip', '4']);
  const url = served.info.url;
  const token = readFileSync(served.info.token_file, 'utf8').trim();
  // Requests the workers answer themselves (X-Custody-Worker names which), from both workers.
  const byWorker = new Set<string>();
  let ok = 0;
  for (let round = 0; round < 6 && byWorker.size < 2; round++) {
    const rs = await Promise.all(Array.from({ length: 3 }, () => fetch(`${url}/trust/root.json`)));
    for (const r of rs) {
      await r.arrayBuffer();
      if (r.status === 200) ok++;
      byWorker.add(r.headers.get('x-custody-worker') ?? '');
    }
    await sleep(1100);
  }
  assert.deepEqual([...byWorker].sort(), ['1', '2'], 'both workers answered');
  // A burst over the per-address limit of each worker.
  const burst = await Promise.all(Array.from({ length: 24 }, () => fetch(`${url}/trust/root.json`, { method: 'HEAD' })));
  const refused = burst.filter((r) => r.status === 429).length;
  assert.ok(refused >= 1, `refused ${refused} of 24`);
  await sleep(1100);
  const add = await fetch(`${url}/log/add`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: 'cluster metrics entry\n' });
  assert.equal(add.status, 200);
  await sleep(1100);
  const m = await fetch(`${url}/metrics`);
  assert.equal(m.status, 200);
  const text = await m.text();
  assert.equal(value(text, 'custody_metrics_processes'), 3, text);
  assert.equal(value(text, 'custody_http_requests_total{handler="read",method="GET",status="200"}'), ok, text);
  assert.equal(value(text, 'custody_http_requests_total{handler="read",method="HEAD",status="200"}'), 24 - refused);
  assert.equal(value(text, 'custody_http_requests_total{handler="front",method="HEAD",status="429"}'), refused);
  assert.equal(value(text, 'custody_http_rate_limited_total{scope="address"}'), refused);
  // Forwarded to the leader: counted once, by the leader's fastify.
  assert.equal(value(text, 'custody_http_requests_total{handler="app",method="POST",status="200"}'), 1);
  assert.ok(value(text, 'custody_log_commit_seconds_count') >= 1, text);
  assert.equal(value(text, 'custody_log_appends_since_start'), 1);
});

test('HttpCounts: GET/HEAD by status in slots, other methods and statuses by key', () => {
  const c = new HttpCounts();
  c.add('read', 'GET', 200);
  c.add('read', 'GET', 200);
  c.add('read', 'HEAD', 304);
  c.add('front', 'GET', 429);
  c.add('app', 'DELETE', 204);
  c.add('app', 'GET', 999);
  assert.deepEqual(
    [...c.entries()].map((e) => `${e.handler} ${e.method} ${e.status} ${e.n}`),
    ['read GET 200 2', 'read HEAD 304 1', 'front GET 429 1', 'app DELETE 204 1', 'app GET 999 1'],
  );
});

test('MetricsRelay: answers within the timeout, unknown and late ones dropped, a worker gone is not waited for', async () => {
  const relay = new MetricsRelay();
  const one: MetricsJson = [];
  const sent: Array<[number, number]> = [];
  const workers = new Map<number, (m: { id: number }) => boolean>([
    [1, (m) => (sent.push([1, m.id]), true)],
    [2, (m) => (sent.push([2, m.id]), true)],
    [3, () => false], // disconnected: not asked
  ]);
  const p = relay.collect(workers, 60_000);
  const id = sent[0]![1];
  relay.answer(9, { type: 'metrics', id, metrics: one }); // not asked
  relay.answer(1, { type: 'metrics', id: id + 100, metrics: one }); // unknown request
  relay.answer(1, { type: 'metrics', id, metrics: one });
  relay.answer(1, { type: 'metrics', id, metrics: one }); // twice
  relay.gone(2);
  assert.equal((await p).length, 1);
  // Nobody answers: the timeout ends the wait with what came.
  assert.deepEqual(await relay.collect(new Map([[1, () => true]]), 10), []);
  assert.deepEqual(await relay.collect(new Map()), []);
});
