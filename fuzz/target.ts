/**
 * fuzz/target — what a fuzz target is (docs/fuzzing.md, issue 16).
 *
 * A target wraps one parser of untrusted input. `make` builds its state once per worker (keys, a signed valid
 * document, a daemon for `inject`) and returns the seeds (valid documents the target builds itself plus corpus files),
 * an optional fast-check arbitrary (valid documents mutated field by field) and `run`, the call under test.
 *
 * The oracle: `run` returns (any value: the parser accepted the input) or throws a coded error (`isTrustError`).
 * Anything else is a finding: another exception, an {@link OracleMismatch} thrown by a differential check, a hang
 * over the per-input limit, memory growth past the bound, or a write outside the worker's temp dir (fuzz/fs-guard.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Arbitrary } from 'fast-check';

/** TargetContext is what the harness gives a target: a temp dir it may write in (and nothing else). */
export interface TargetContext {
  /** tmpDir is private to this worker; the fs guard refuses writes anywhere else. */
  tmpDir: string;
  /** repoRoot is the checkout, for reading corpus files (test/vectors, fixtures). */
  repoRoot: string;
}

/** TargetInstance is a target built for one worker. */
export interface TargetInstance {
  /** seeds are valid inputs: the byte-level mutation loop starts from these. */
  seeds: Uint8Array[];
  /** structured generates inputs (valid documents mutated field by field); optional. */
  structured?: Arbitrary<Uint8Array>;
  /** run parses one input; it returns, or throws a coded error. A promise is awaited. */
  run(input: Uint8Array): unknown;
  /** close releases what make built (servers, databases). */
  close?(): Promise<void>;
}

/** FuzzTarget names a parser and builds its instance. */
export interface FuzzTarget {
  /** name is the `--target` name and the folder of its regression inputs (kebab-case). */
  name: string;
  /** parses says in a few words what is fuzzed, for the results table and the docs. */
  parses: string;
  make(ctx: TargetContext): Promise<TargetInstance>;
}

/** OracleMismatch is thrown by a differential oracle (two implementations disagree): always a finding. */
export class OracleMismatch extends Error {
  override get name(): string {
    return 'OracleMismatch';
  }
}

/** mismatch throws an OracleMismatch unless `ok`. */
export function expectSame(ok: boolean, what: string): void {
  if (!ok) throw new OracleMismatch(what);
}

/**
 * sameModel compares two parsed models for a round-trip oracle, with -0 folded to 0: RFC 8785 and JSON.stringify
 * both write -0 as 0, so a document carrying -0 (or a float that underflows to it) round-trips to 0 by design.
 */
export function sameModel(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(foldNegativeZero(a), foldNegativeZero(b));
}

function foldNegativeZero(v: unknown): unknown {
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (Array.isArray(v)) return v.map(foldNegativeZero);
  if (v instanceof Uint8Array || v instanceof Date || v instanceof Map) return v;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>;
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: foldNegativeZero(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** utf8 helpers shared by the targets. */
export const enc = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF: the parsers must see it, not have it silently dropped by the harness.
export const dec = new TextDecoder('utf-8', { ignoreBOM: true });
