/**
 * server/log/config — every cap, timeout and clock of the log service in one object, with units and reasons
 * (as tuf-js config.ts and Sunlight's `sequenceTimeout` do). Options are resolved once into a
 * `Required<LogServiceOptions>` by {@link resolveLogConfig}; nothing else in the service has a default.
 */
import { ConfigError } from '../../errors.ts';

/** LogServiceOptions configures the sequencer and the HTTP plugin of one log. */
export interface LogServiceOptions {
  /**
   * batchDelayMs is how long the first pending entry waits for company before a batch starts (0–10,000 ms).
   * 0 is group commit: a batch starts as soon as the previous one is published, so batches grow with the load
   * and an idle log answers in one commit. 50–1,000 ms bounds the checkpoint rate (e.g. with witnesses); Sunlight
   * sequences every second, Tessera every 250 ms. Default 0 without witnesses, 250 with.
   */
  batchDelayMs?: number;
  /**
   * groupCommitWaitMs (group commit only) is how long the sequencer waits, right after a batch of k entries, for
   * k new entries before it starts the next batch (0–100 ms, default 2). It lets the submitters it just answered
   * rejoin the next batch, so batches grow to the number of concurrent clients; a single client never waits.
   */
  groupCommitWaitMs?: number;
  /** batchMaxEntries caps the entries per batch and checkpoint (1–65,536; default 4,096, Tessera uses 256). */
  batchMaxEntries?: number;
  /** maxPendingEntries is the pushback threshold: beyond it POST /add answers 503 ERR_LOG_OVERLOADED (default 65,536). */
  maxPendingEntries?: number;
  /** addTimeoutMs bounds how long POST /add waits for a covering checkpoint (default 30,000 ms). */
  addTimeoutMs?: number;
  /** retryDelayMs is the pause after a failed batch or publish before the sequencer retries (default 200 ms). */
  retryDelayMs?: number;
  /** leaseTtlMs is the write lease duration, renewed every third of it (default 15,000 ms). */
  leaseTtlMs?: number;
  /** hashCacheEntries is the LRU size of stored hashes kept in memory for proofs (default 262,144 ≈ 34 MiB). */
  hashCacheEntries?: number;
  /** tileCacheBytes caps the memory used to keep served tiles and bundles (default 64 MiB). */
  tileCacheBytes?: number;
  /** checkpointMaxAgeS is the Cache-Control max-age of /checkpoint: C2SP says "a few seconds" at most (default 1 s). */
  checkpointMaxAgeS?: number;
  /** tileMaxAgeS is the Cache-Control max-age of immutable tiles and bundles (default one year). */
  tileMaxAgeS?: number;
  /** addRateLimitPerMinute caps POST /add per client address (default 1,200,000 ≈ 20,000/s: above the sequencer). */
  addRateLimitPerMinute?: number;
  /** witnessTimeoutMs bounds one add-checkpoint round trip to a witness (default 5,000 ms). */
  witnessTimeoutMs?: number;
  /** now is the clock in milliseconds since the epoch (injected; tests pin it). */
  now?: () => number;
}

/** LogServiceConfig is the resolved configuration. */
export type LogServiceConfig = Required<LogServiceOptions>;

/** Limits of the option ranges, named with their units. */
export const LOG_LIMITS = {
  batchDelayMs: [0, 10_000],
  groupCommitWaitMs: [0, 100],
  batchMaxEntries: [1, 65_536],
  maxPendingEntries: [1, 10_000_000],
  addTimeoutMs: [100, 600_000],
  retryDelayMs: [1, 60_000],
  leaseTtlMs: [1_000, 600_000],
  hashCacheEntries: [1_024, 64 * 1024 * 1024],
  tileCacheBytes: [0, 16 * 1024 * 1024 * 1024],
  checkpointMaxAgeS: [0, 60],
  tileMaxAgeS: [0, 10 * 365 * 86_400],
  addRateLimitPerMinute: [1, 1_000_000_000],
  witnessTimeoutMs: [100, 600_000],
} as const satisfies Record<string, readonly [number, number]>;

/** resolveLogConfig applies the defaults and checks every range (ERR_CONFIG_INVALID names the option). */
export function resolveLogConfig(options: LogServiceOptions = {}, withWitnesses = false): LogServiceConfig {
  const c: LogServiceConfig = {
    batchDelayMs: options.batchDelayMs ?? (withWitnesses ? 250 : 0),
    groupCommitWaitMs: options.groupCommitWaitMs ?? 2,
    batchMaxEntries: options.batchMaxEntries ?? 4_096,
    maxPendingEntries: options.maxPendingEntries ?? 65_536,
    addTimeoutMs: options.addTimeoutMs ?? 30_000,
    retryDelayMs: options.retryDelayMs ?? 200,
    leaseTtlMs: options.leaseTtlMs ?? 15_000,
    hashCacheEntries: options.hashCacheEntries ?? 262_144,
    tileCacheBytes: options.tileCacheBytes ?? 64 * 1024 * 1024,
    checkpointMaxAgeS: options.checkpointMaxAgeS ?? 1,
    tileMaxAgeS: options.tileMaxAgeS ?? 365 * 86_400,
    addRateLimitPerMinute: options.addRateLimitPerMinute ?? 1_200_000,
    witnessTimeoutMs: options.witnessTimeoutMs ?? 5_000,
    now: options.now ?? Date.now,
  };
  for (const [name, [lo, hi]] of Object.entries(LOG_LIMITS)) {
    const v = c[name as keyof typeof LOG_LIMITS];
    if (!Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new ConfigError('ERR_CONFIG_INVALID', `${name}: expected an integer in [${lo}, ${hi}], got ${String(v)}`);
    }
  }
  return c;
}
