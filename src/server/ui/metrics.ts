/**
 * server/ui/metrics — a Prometheus text-format endpoint (`GET /metrics`, exposition format 0.0.4) with prom-client:
 * requests and latencies of the routes fastify answers (admin, log, info, dashboard — in a cluster, the leader),
 * the log's published size and the appends since start. Own registry (never prom-client's global one).
 *
 * Not covered yet (docs/dashboard.md "Not built yet"): the read routes the front answers before fastify (manifests,
 * artifacts; in a cluster, the workers), aggregation across workers (prom-client's AggregatorRegistry), fsync time
 * and rate-limit rejections.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** MetricsOptions configure {@link metricsPlugin}. */
export interface MetricsOptions {
  /** logSize is the published tree size. */
  logSize: () => number;
}

/** metricsPlugin registers GET /metrics and the request hooks (mount at the root, before other routes). */
export function metricsPlugin(app: FastifyInstance, o: MetricsOptions): Promise<void> {
  const registry = new Registry();
  const requests = new Counter({ name: 'custody_http_requests_total', help: 'HTTP requests answered by the daemon (fastify routes)', labelNames: ['method', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'custody_http_request_duration_seconds',
    help: 'Latency of HTTP requests answered by the daemon (fastify routes)',
    labelNames: ['method'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const startSize = o.logSize();
  new Gauge({ name: 'custody_log_size', help: 'Entries in the newest published checkpoint', registers: [registry], collect() { this.set(o.logSize()); } });
  new Gauge({ name: 'custody_log_appends_since_start', help: 'Entries appended to the log since the daemon started', registers: [registry], collect() { this.set(o.logSize() - startSize); } });
  app.addHook('onResponse', (req, reply, done) => {
    requests.inc({ method: req.method, status: String(reply.statusCode) });
    latency.observe({ method: req.method }, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', async (_req, reply) => reply.header('cache-control', 'no-store').type(registry.contentType).send(await registry.metrics()));
  return Promise.resolve();
}
