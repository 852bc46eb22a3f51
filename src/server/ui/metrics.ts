/**
 * server/ui/metrics — the daemon's Prometheus endpoint (`GET /metrics`, text exposition format 0.0.4) with
 * prom-client, own registries (never prom-client's global one):
 * ```
 * custody_http_requests_total{handler,method,status}   counter: every response, by who answered it:
 *     handler="read"   the front's read path (manifests, proofs, artifacts, blobs, trust, tuf; in a cluster, workers)
 *     handler="app"    fastify's routes (info, health, admin, log, dashboard, /v1; in a cluster, the leader, and
 *                      the POST /v1/verify answers of the workers, server/signing/worker-verify)
 *     handler="front"  the front's own refusals: 429 rate limits, and a worker's 502 when its leader is unreachable
 * custody_http_rate_limited_total{scope}               counter: 429s of the front's limits, scope "address" | "global"
 * custody_http_request_duration_seconds{method}        histogram: latency of fastify's routes (handler="app")
 * custody_log_size                                      gauge: entries in the newest published checkpoint
 * custody_log_appends_since_start                       counter: entries appended to the log since the daemon started
 * custody_log_commit_seconds                            histogram: the sequencer's group commit, one storage
 *                                                       transaction with its fsync (log/sequencer appendBatch)
 * custody_metrics_processes                             gauge: processes whose figures this answer sums
 * ```
 * In a cluster (server/cluster) the leader answers /metrics: it asks every worker for its counters over the
 * cluster IPC channel (`{type: 'metrics', id}` → `{type: 'metrics', id, metrics}`, server/ui/counts), waits at most
 * METRICS_RELAY_TIMEOUT_MS, builds each worker's registry JSON from those plain numbers (snapshotToJson) and sums
 * them with its own (prom-client AggregatorRegistry.aggregate: counters and histograms add up per label set).
 * Workers never load prom-client (server/ui/counts). A worker's own /v1/verify answers (server/signing/worker-verify)
 * count as handler="app" with their latency, exactly as the leader's fastify counts the same route. A worker that does not answer in time is left out, and
 * custody_metrics_processes says how many answered. A replaced worker starts from zero: the sums may go down, which
 * Prometheus reads as a counter reset.
 *
 * Cost on the read path: one increment of a typed-array slot per response (no timer, no label object, no
 * listener): 7–17 ns per response measured (2·10^7 calls of HttpCounts.add on the loaded 2-core VM), against about
 * 25 µs of CPU per small response at the provider's rates. `npm run bench -- --only provider --quick` before and
 * after could not resolve it: on the shared VM the same code measured 19,353 and 2,016 manifest req/s in two runs.
 * The read path's latency is not measured (a timer and a 'finish' listener per response would cost more).
 */
import type { FastifyInstance } from 'fastify';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { HttpCounts, LATENCY_BUCKETS, type CountEntry, type CountsSnapshot } from './counts.ts';

export {
  HttpCounts,
  LATENCY_BUCKETS,
  METRICS_RELAY_TIMEOUT_MS,
  MetricsRelay,
  answerMetrics,
  isMetricsAnswer,
  type CountsSnapshot,
  type HttpHandler,
  type MetricsAnswer,
  type MetricsRequest,
} from './counts.ts';

/** CountsSource is what a process's counters give prom-client: its live HttpCounts, or a worker's snapshot. */
export interface CountsSource {
  entries(): Iterable<CountEntry>;
  readonly rateLimited: { readonly address: number; readonly global: number };
}

/** ProcessMetrics is one process's registry and the counters its request paths write. */
export interface ProcessMetrics {
  registry: Registry;
  counts: HttpCounts;
}

/** MetricsJson is one process's registry as prom-client's JSON (what a worker sends the leader). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** createProcessMetrics makes the registry every process has: response and rate-limit counters. */
export function createProcessMetrics(counts: HttpCounts = new HttpCounts()): ProcessMetrics {
  return { registry: countsRegistry(counts), counts };
}

/** countsRegistry makes the prom-client registry of a process's response and rate-limit counters. */
function countsRegistry(counts: CountsSource): Registry {
  const registry = new Registry();
  new Counter({
    name: 'custody_http_requests_total',
    help: 'HTTP responses, by who answered (read: the read path; app: fastify routes; front: the front refusals)',
    labelNames: ['handler', 'method', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of counts.entries()) this.inc({ handler: e.handler, method: e.method, status: e.status }, e.n);
    },
  });
  new Counter({
    name: 'custody_http_rate_limited_total',
    help: 'Requests refused 429 by the per-address or global rate limit of the front',
    labelNames: ['scope'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ scope: 'address' }, counts.rateLimited.address);
      this.inc({ scope: 'global' }, counts.rateLimited.global);
    },
  });
  return registry;
}

const LATENCY_NAME = 'custody_http_request_duration_seconds';
const LATENCY_HELP = 'Latency of HTTP requests answered by fastify routes (handler="app")';

/**
 * snapshotToJson turns a worker's plain counters into prom-client's JSON of the same registry the worker used to
 * build itself (so the leader's aggregate, and the /metrics text, are what they were for the same counts), plus the
 * latency of the requests it answered with fastify's route semantics (its /v1/verify), as prom-client's histogram
 * JSON (cumulative buckets, `+Inf`, sum, count per method).
 */
export async function snapshotToJson(s: CountsSnapshot): Promise<MetricsJson> {
  const json = await countsRegistry({ entries: () => s.requests, rateLimited: s.rateLimited }).getMetricsAsJSON();
  if (s.latency.length === 0) return json;
  const values: MetricValue<string>[] = [];
  for (const h of s.latency) {
    let acc = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      acc += h.buckets[i] ?? 0;
      values.push({ labels: { le, method: h.method }, value: acc, metricName: `${LATENCY_NAME}_bucket` } as MetricValue<string>);
    });
    values.push({ labels: { le: '+Inf', method: h.method }, value: h.count, metricName: `${LATENCY_NAME}_bucket` } as MetricValue<string>);
    values.push({ labels: { method: h.method }, value: h.sum, metricName: `${LATENCY_NAME}_sum` } as MetricValue<string>);
    values.push({ labels: { method: h.method }, value: h.count, metricName: `${LATENCY_NAME}_count` } as MetricValue<string>);
  }
  json.push({ name: LATENCY_NAME, help: LATENCY_HELP, type: 'histogram', values, aggregator: 'sum' } as unknown as MetricObjectWithValues<MetricValue<string>>);
  return json;
}

/** LEADER_ONLY_BUCKETS: commit times span a RAM-backed test directory (µs) to a slow disk (seconds). */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** DaemonMetrics is the daemon's (or a leader's) process metrics plus the log's figures. */
export interface DaemonMetrics extends ProcessMetrics {
  /** observeCommit records one group commit of the log (seconds, from just before appendBatch to its durability). */
  observeCommit: (seconds: number) => void;
  /** setLogSize tells the metrics where to read the published tree size (the log starts after the metrics). */
  setLogSize: (size: () => number) => void;
}

/** createDaemonMetrics makes the daemon's registry: the process counters, the log gauges and the commit histogram. */
export function createDaemonMetrics(): DaemonMetrics {
  const m = createProcessMetrics();
  let size: () => number = () => 0;
  let startSize: number | undefined;
  const commit = new Histogram({
    name: 'custody_log_commit_seconds',
    help: "Time of the log's group commit: one storage transaction with its fsync (appendBatch)",
    buckets: COMMIT_BUCKETS,
    registers: [m.registry],
  });
  new Gauge({ name: 'custody_log_size', help: 'Entries in the newest published checkpoint', registers: [m.registry], collect() { this.set(size()); } });
  new Counter({
    name: 'custody_log_appends_since_start',
    help: 'Entries appended to the log since the daemon started',
    registers: [m.registry],
    collect() {
      this.reset();
      this.inc(Math.max(0, size() - (startSize ?? size())));
    },
  });
  return {
    ...m,
    observeCommit: (s) => commit.observe(s),
    setLogSize: (f) => {
      size = f;
      startSize = f();
    },
  };
}

/** MetricsPluginOptions configure {@link metricsPlugin}. */
export interface MetricsPluginOptions {
  metrics: DaemonMetrics;
  /** workers returns the workers' counters (a cluster leader); each missing answer is left out. */
  workers?: (() => Promise<CountsSnapshot[]>) | undefined;
}

/** metricsPlugin registers GET /metrics and the request hooks (mount at the root, before other routes). */
export function metricsPlugin(app: FastifyInstance, o: MetricsPluginOptions): Promise<void> {
  const { registry, counts } = o.metrics;
  const latency = new Histogram({
    name: LATENCY_NAME,
    help: LATENCY_HELP,
    labelNames: ['method'],
    buckets: [...LATENCY_BUCKETS],
    registers: [registry],
  });
  const processes = new Gauge({ name: 'custody_metrics_processes', help: 'Processes whose figures this answer sums (the leader and the workers that answered)', registers: [registry] });
  app.addHook('onResponse', (req, reply, done) => {
    counts.add('app', req.method, reply.statusCode);
    latency.observe({ method: req.method }, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', async (_req, reply) => {
    const workers = o.workers === undefined ? [] : await Promise.all((await o.workers()).map(snapshotToJson));
    processes.set(1 + workers.length);
    const text = workers.length === 0 ? await registry.metrics() : await AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), ...workers]).metrics();
    return reply.header('cache-control', 'no-store').type(registry.contentType).send(text);
  });
  return Promise.resolve();
}
