/**
 * test/ui/metrics — GET /metrics (server/ui/metrics): Prometheus text from a real daemon on loopback, in one process
 * and as a real `custody serve --workers 2` cluster: responses of fastify's routes and of the front's read path
 * (served by the workers in a cluster, summed by the leader over IPC), front-door 429s by scope, the log's size and
 * appends, and the group commit's fsync time after appends. Also the relay's own rules (late and unknown answers,
 * a worker that goes away). Workers send plain numbers (server/ui/counts): the text the leader builds from them is
 * byte for byte what it was when each worker rendered its own prom-client registry (the golden text below was
 * produced by that earlier code for the same counts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import Fastify from 'fastify';
import { Histogram, Registry } from 'prom-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpCounts, LATENCY_BUCKETS, MetricsRelay, createDaemonMetrics, metricsPlugin, type CountsSnapshot } from '../../src/server/ui/metrics.ts';
import { bearer, get, serveChild, start } from '../provider/harness.ts';
import { TSX_LOADER, cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

/** once sends one request on a connection of its own; resolves the status and X-Custody-Worker. */
function once(url: string, path: string, o: { method?: string; headers?: Record<string, string> } = {}, body?: string): Promise<{ status: number; worker: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { agent: false, method: o.method ?? 'GET', headers: o.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, worker: String(res.headers['x-custody-worker'] ?? '') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

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

test('cluster workers never load prom-client (they count in plain numbers, the leader renders them), the keyless ASN.1 libraries or pg', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const probe = join(dir, 'probe');
  mkdirSync(probe);
  const preload = fileURLToPath(new URL('../support/module-probe.ts', import.meta.url));
  const served = await serveChild(t, dir, ['--data', join(dir, 'data'), '--workers', '2', '--no-sample', '--rate-limit-per-ip', '0'], {
    NODE_OPTIONS: `--import ${TSX_LOADER} --import ${preload}`,
    CUSTODY_TEST_MODULE_PROBE: probe,
  });
  const url = served.info.url;
  // Every module a worker loads on its paths: the read path, and its own /v1/verify (worker-verify, the auth store).
  const made = await cli(['token', 'create', '--data', join(dir, 'data'), '--name', 'probe', '--scope', 'verify', '--json'], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const token = (JSON.parse(made.stdout) as { token: string }).token;
  const workers = new Set<string>();
  const body = JSON.stringify({ artifact: 'sha256:' + 'a'.repeat(64), signature: 'x' });
  for (let i = 0; i < 20 && workers.size < 2; i++) {
    // Each on a new connection: the cluster hands connections to the workers in turn.
    const r = await once(url, '/v1/verify', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, body);
    assert.equal(r.status, 200);
    workers.add(r.worker);
  }
  assert.equal((await once(url, '/trust/root.json')).status, 200);
  assert.deepEqual([...workers].sort(), ['1', '2'], 'both workers answered a verify');
  const m = await fetch(`${url}/metrics`);
  const text = await m.text();
  assert.equal(value(text, 'custody_metrics_processes'), 3, text);
  // Each worker wrote its module cache when the leader asked it for its figures (test/support/module-probe).
  const files = readdirSync(probe);
  assert.equal(files.length, 2, `probe files: ${files.join(', ')}`);
  for (const f of files) {
    const loaded = JSON.parse(readFileSync(join(probe, f), 'utf8')) as string[];
    // The evidence works: packages a worker does load are in it (ajv for its verify bodies, pino for its log).
    assert.ok(loaded.some((p) => p.includes('/node_modules/ajv/')), `ajv not seen in ${f}`);
    assert.ok(loaded.some((p) => p.includes('/node_modules/pino/')), `pino not seen in ${f}`);
    assert.deepEqual(loaded.filter((p) => p.includes('/node_modules/prom-client/')), [], `worker ${f} loaded prom-client`);
    // Nor the keyless code's ASN.1 libraries (server/signing/keyless loads on the first certificate, which a worker
    // leaves to the leader) or pg (SQLite here). jose, ESM only, is not in this cache: auth/oidc-shape keeps the
    // worker's one use of it (isJwtShaped) apart from auth/oidc.
    assert.deepEqual(loaded.filter((p) => /\/node_modules\/(@peculiar\/[^/]+|pg)\//.test(p)), [], `worker ${f} loaded keyless or pg code`);
  }
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
  const one: CountsSnapshot = new HttpCounts().snapshot();
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

/** GOLDEN_CLUSTER_TEXT is /metrics of a leader and two workers, as produced when workers ran prom-client themselves. */
const GOLDEN_CLUSTER_TEXT = `# HELP custody_http_requests_total HTTP responses, by who answered (read: the read path; app: fastify routes; front: the front refusals)
# TYPE custody_http_requests_total counter
custody_http_requests_total{handler="read",method="GET",status="200"} 3
custody_http_requests_total{handler="app",method="POST",status="200"} 1
custody_http_requests_total{handler="read",method="HEAD",status="304"} 1
custody_http_requests_total{handler="front",method="GET",status="429"} 1
custody_http_requests_total{handler="front",method="POST",status="502"} 1
custody_http_requests_total{handler="read",method="GET",status="404"} 1
custody_http_requests_total{handler="front",method="HEAD",status="429"} 1

# HELP custody_http_rate_limited_total Requests refused 429 by the per-address or global rate limit of the front
# TYPE custody_http_rate_limited_total counter
custody_http_rate_limited_total{scope="address"} 1
custody_http_rate_limited_total{scope="global"} 1

# HELP custody_log_commit_seconds Time of the log's group commit: one storage transaction with its fsync (appendBatch)
# TYPE custody_log_commit_seconds histogram
custody_log_commit_seconds_bucket{le="0.0005"} 0
custody_log_commit_seconds_bucket{le="0.001"} 0
custody_log_commit_seconds_bucket{le="0.0025"} 0
custody_log_commit_seconds_bucket{le="0.005"} 1
custody_log_commit_seconds_bucket{le="0.01"} 1
custody_log_commit_seconds_bucket{le="0.025"} 1
custody_log_commit_seconds_bucket{le="0.05"} 1
custody_log_commit_seconds_bucket{le="0.1"} 1
custody_log_commit_seconds_bucket{le="0.25"} 1
custody_log_commit_seconds_bucket{le="0.5"} 1
custody_log_commit_seconds_bucket{le="1"} 1
custody_log_commit_seconds_bucket{le="2.5"} 1
custody_log_commit_seconds_bucket{le="+Inf"} 1
custody_log_commit_seconds_sum 0.003
custody_log_commit_seconds_count 1

# HELP custody_log_size Entries in the newest published checkpoint
# TYPE custody_log_size gauge
custody_log_size 0

# HELP custody_log_appends_since_start Entries appended to the log since the daemon started
# TYPE custody_log_appends_since_start counter
custody_log_appends_since_start 0

# HELP custody_http_request_duration_seconds Latency of HTTP requests answered by fastify routes (handler="app")
# TYPE custody_http_request_duration_seconds histogram

# HELP custody_metrics_processes Processes whose figures this answer sums (the leader and the workers that answered)
# TYPE custody_metrics_processes gauge
custody_metrics_processes 3
`;

test('a leader builds its workers\' figures from plain numbers: the /metrics text is byte for byte the earlier one', async (t) => {
  const leader = createDaemonMetrics();
  leader.counts.add('app', 'POST', 200);
  leader.counts.add('read', 'GET', 200);
  leader.observeCommit(0.003);
  const w1 = new HttpCounts();
  w1.add('read', 'GET', 200);
  w1.add('read', 'GET', 200);
  w1.add('read', 'HEAD', 304);
  w1.add('front', 'GET', 429);
  w1.rateLimited.address++;
  w1.add('front', 'POST', 502);
  const w2 = new HttpCounts();
  w2.add('read', 'GET', 404);
  w2.add('front', 'HEAD', 429);
  w2.rateLimited.global++;
  const app = Fastify();
  t.after(() => app.close());
  // Through IPC the snapshots are serialized: so are they here.
  await metricsPlugin(app, { metrics: leader, workers: () => Promise.resolve([w1, w2].map((w) => JSON.parse(JSON.stringify(w.snapshot())) as CountsSnapshot)) });
  const r = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(r.statusCode, 200);
  assert.equal(r.body, GOLDEN_CLUSTER_TEXT);
});

test('a worker\'s latency in plain numbers renders as the prom-client histogram of the same observations', async (t) => {
  const seconds = [0.0004, 0.001, 0.002, 0.3, 0.3, 7];
  const reference = new Registry();
  const h = new Histogram({ name: 'custody_http_request_duration_seconds', help: 'x', labelNames: ['method'], buckets: [...LATENCY_BUCKETS], registers: [reference] });
  const w = new HttpCounts();
  for (const s of seconds) {
    h.observe({ method: 'POST' }, s);
    w.observe('POST', s);
  }
  w.observe('POST', Number.NaN); // not a duration: dropped
  const samples = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('custody_http_request_duration_seconds_'));
  const want = samples(await reference.metrics());
  assert.equal(want.length, LATENCY_BUCKETS.length + 3);
  const app = Fastify();
  t.after(() => app.close());
  await metricsPlugin(app, { metrics: createDaemonMetrics(), workers: () => Promise.resolve([w.snapshot()]) });
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.deepEqual(samples(text), want);
  assert.equal(value(text, 'custody_http_request_duration_seconds_count{method="POST"}'), seconds.length);
});
