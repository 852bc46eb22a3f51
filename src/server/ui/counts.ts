/**
 * server/ui/counts — the plain-number side of the daemon's Prometheus metrics (server/ui/metrics; text exposition
 * format 0.0.4): the response counters every process keeps on its request paths, and the cluster relay that brings a
 * worker's counters to the leader. Nothing here loads prom-client: a cluster worker (server/worker) counts in plain
 * numbers and sends them to the leader as a {@link CountsSnapshot}, and only the leader, which answers /metrics,
 * builds prom-client metrics from them. A worker's memory then holds no metrics library (issue 9: RSS per worker).
 *
 * Relay protocol over the cluster IPC channel: leader `{type: 'metrics', id}` → worker `{type: 'metrics', id,
 * metrics: CountsSnapshot}`. The channel is the leader's own child process (trusted); the leader still checks the
 * answer's shape before using it.
 */

/** METRICS_RELAY_TIMEOUT_MS bounds the wait for the workers' figures. */
export const METRICS_RELAY_TIMEOUT_MS = 2_000;

/** HttpHandler names who answered a response (the `handler` label). */
export type HttpHandler = 'read' | 'app' | 'front';
const HANDLERS: readonly HttpHandler[] = ['read', 'app', 'front'];
/** STATUS_SLOTS: statuses 0..599 have a slot per handler and method (GET, HEAD); others go to a map. */
const STATUS_SLOTS = 600;

/** LATENCY_BUCKETS are the upper bounds (seconds) of custody_http_request_duration_seconds. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
/** LATENCY_METHODS_MAX caps the label sets of a process's latency histogram (methods are client-chosen strings). */
const LATENCY_METHODS_MAX = 16;

/** CountEntry is one non-zero response count. */
export interface CountEntry {
  handler: string;
  method: string;
  status: string;
  n: number;
}

/** LatencyEntry is one method's latency histogram in plain numbers: per-bucket counts (not cumulative), +Inf last. */
export interface LatencyEntry {
  method: string;
  buckets: number[];
  sum: number;
  count: number;
}

/** CountsSnapshot is a process's counters as plain data (what a worker sends the leader). */
export interface CountsSnapshot {
  requests: CountEntry[];
  rateLimited: { address: number; global: number };
  latency: LatencyEntry[];
}

/**
 * HttpCounts counts responses in plain numbers, for the hot path: GET and HEAD by status in one typed array, other
 * methods (fastify's POST, PUT, DELETE) in a map. The leader's prom-client metrics read them when /metrics is asked.
 * `observe` records the latency of a response answered outside fastify with fastify's route semantics (a worker's
 * /v1/verify), so that the leader's and a worker's series are the same.
 */
export class HttpCounts {
  readonly #slots = new Float64Array(HANDLERS.length * 2 * STATUS_SLOTS);
  readonly #other = new Map<string, number>();
  readonly #latency = new Map<string, { buckets: Float64Array; sum: number; count: number }>();
  /** rateLimited counts the front's 429s by the limit that refused. */
  readonly rateLimited = { address: 0, global: 0 };

  /** add counts one response. */
  add(handler: HttpHandler, method: string | undefined, status: number): void {
    const h = handler === 'read' ? 0 : handler === 'app' ? 1 : 2;
    const m = method === 'GET' ? 0 : method === 'HEAD' ? 1 : -1;
    if (m >= 0 && status >= 0 && status < STATUS_SLOTS) this.#slots[(h * 2 + m) * STATUS_SLOTS + status]!++;
    else {
      const k = `${handler} ${String(method).slice(0, 16)} ${status}`;
      this.#other.set(k, (this.#other.get(k) ?? 0) + 1);
    }
  }

  /** observe records one response's latency (seconds) under its method (beyond LATENCY_METHODS_MAX: dropped). */
  observe(method: string | undefined, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const k = String(method).slice(0, 16);
    let h = this.#latency.get(k);
    if (h === undefined) {
      if (this.#latency.size >= LATENCY_METHODS_MAX) return;
      h = { buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
      this.#latency.set(k, h);
    }
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    h.buckets[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** entries lists every non-zero count. */
  *entries(): Generator<CountEntry> {
    for (let i = 0; i < this.#slots.length; i++) {
      const n = this.#slots[i]!;
      if (n === 0) continue;
      const status = i % STATUS_SLOTS;
      const hm = (i - status) / STATUS_SLOTS;
      yield { handler: HANDLERS[Math.floor(hm / 2)]!, method: hm % 2 === 0 ? 'GET' : 'HEAD', status: String(status), n };
    }
    for (const [k, n] of this.#other) {
      const [handler = '', method = '', status = ''] = k.split(' ');
      yield { handler, method, status, n };
    }
  }

  /** snapshot copies every counter into plain data. */
  snapshot(): CountsSnapshot {
    return {
      requests: [...this.entries()],
      rateLimited: { ...this.rateLimited },
      latency: [...this.#latency].map(([method, h]) => ({ method, buckets: [...h.buckets], sum: h.sum, count: h.count })),
    };
  }
}

/** MetricsRequest is the leader's question to a worker; MetricsAnswer the worker's reply. */
export interface MetricsRequest {
  type: 'metrics';
  id: number;
}
export interface MetricsAnswer<T = CountsSnapshot> {
  type: 'metrics';
  id: number;
  metrics: T;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** isCountsSnapshot checks the shape of a worker's snapshot (numbers where numbers go, strings for labels). */
export function isCountsSnapshot(s: unknown): s is CountsSnapshot {
  if (typeof s !== 'object' || s === null) return false;
  const c = s as Partial<Record<keyof CountsSnapshot, unknown>>;
  const rl = c.rateLimited as { address?: unknown; global?: unknown } | undefined;
  return (
    Array.isArray(c.requests) &&
    c.requests.every((e: Partial<CountEntry> | null) => typeof e === 'object' && e !== null && typeof e.handler === 'string' && typeof e.method === 'string' && typeof e.status === 'string' && isNumber(e.n)) &&
    typeof rl === 'object' &&
    rl !== null &&
    isNumber(rl.address) &&
    isNumber(rl.global) &&
    Array.isArray(c.latency) &&
    c.latency.length <= LATENCY_METHODS_MAX &&
    c.latency.every(
      (e: Partial<LatencyEntry> | null) =>
        typeof e === 'object' && e !== null && typeof e.method === 'string' && Array.isArray(e.buckets) && e.buckets.length === LATENCY_BUCKETS.length + 1 && e.buckets.every(isNumber) && isNumber(e.sum) && isNumber(e.count),
    )
  );
}

/** isMetricsAnswer tells a worker's metrics answer from its other messages. */
export function isMetricsAnswer(m: unknown): m is MetricsAnswer {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'metrics' && typeof (m as { id?: unknown }).id === 'number' && isCountsSnapshot((m as { metrics?: unknown }).metrics);
}

/**
 * MetricsRelay is the leader's side of the relay: {@link MetricsRelay.collect} asks each worker (through `send`)
 * and resolves with the answers that came within the timeout; the leader's message handler passes answers to
 * {@link MetricsRelay.answer}.
 */
export class MetricsRelay<T = CountsSnapshot> {
  #next = 0;
  readonly #pending = new Map<number, { want: Set<number>; got: T[]; done: () => void }>();

  /** collect asks the given workers (by index) and resolves with what answered within `timeoutMs`. */
  collect(workers: ReadonlyMap<number, (m: MetricsRequest) => boolean>, timeoutMs = METRICS_RELAY_TIMEOUT_MS): Promise<T[]> {
    return new Promise((resolve) => {
      const id = ++this.#next;
      const want = new Set<number>();
      const got: T[] = [];
      const done = (): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(got);
      };
      const timer = setTimeout(done, timeoutMs);
      this.#pending.set(id, { want, got, done });
      for (const [index, send] of workers) {
        try {
          if (send({ type: 'metrics', id })) want.add(index);
        } catch {
          // a worker going away: left out
        }
      }
      if (want.size === 0) done();
    });
  }

  /** answer takes worker `index`'s reply (late or unknown replies are dropped). */
  answer(index: number, m: MetricsAnswer<T>): void {
    const p = this.#pending.get(m.id);
    if (p === undefined || !p.want.delete(index)) return;
    p.got.push(m.metrics);
    if (p.want.size === 0) p.done();
  }

  /** gone drops a worker that exited from every pending collection. */
  gone(index: number): void {
    for (const p of [...this.#pending.values()]) if (p.want.delete(index) && p.want.size === 0) p.done();
  }
}

/** answerMetrics is a worker's side of the relay: it replies to the leader's request with a snapshot of its counts. */
export function answerMetrics(counts: HttpCounts, m: MetricsRequest, send: (a: MetricsAnswer) => void): void {
  send({ type: 'metrics', id: m.id, metrics: counts.snapshot() });
}
