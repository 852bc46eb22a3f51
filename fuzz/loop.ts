/**
 * fuzz/loop — the campaign loop and the oracle's classification, shared by the worker (fuzz/worker.ts, the real
 * engine with its watchdog) and the in-process smoke run of `npm test` (test/fuzz/smoke.test.ts).
 *
 * Inputs alternate between the structured engine (fast-check samples of valid documents mutated field by field,
 * when the target has one) and the byte-level engine (a seed, or an accepted structured input, under stacked
 * mutations; 2% raw random bytes). Structured inputs the target accepts join a bounded pool of mutation bases.
 */
import fc from 'fast-check';
import { isTrustError } from '../src/errors.ts';
import { WriteViolation } from './fs-guard.ts';
import { mutate, randomBytes, Rng } from './mutate.ts';
import { topFrame, type FindingKind, type Outcome } from './protocol.ts';
import { OracleMismatch, type TargetInstance } from './target.ts';

/** classify is the oracle for a thrown value: a coded error is a refusal; anything else is a finding. */
export function classify(e: unknown): Outcome {
  if (isTrustError(e)) return { ok: true, accepted: false };
  const err = e instanceof Error ? e : new Error(`non-error thrown: ${String(e)}`);
  const kind: FindingKind = err instanceof OracleMismatch ? 'mismatch' : err instanceof WriteViolation ? 'write' : 'crash';
  const stack = err.stack ?? '';
  return { ok: false, kind, name: err.name, message: err.message.slice(0, 500), frame: topFrame(stack), stack: stack.slice(0, 4000) };
}

/** runOnce runs one input through the target and classifies the result (no watchdog, no guard). */
export async function runOnce(inst: TargetInstance, input: Uint8Array): Promise<Outcome> {
  try {
    const r = inst.run(input);
    if (r instanceof Promise) await r;
    return { ok: true, accepted: true };
  } catch (e) {
    return classify(e);
  }
}

export interface LoopParams {
  runs: number;
  /** seconds caps the loop's time (0 = none). */
  seconds: number;
  seed: number;
  maxInputBytes: number;
  /** stop, when it returns true, ends the loop after the input in flight (a campaign interrupted by a signal). */
  stop?: () => boolean;
}

export interface LoopStats {
  runs: number;
  accepted: number;
  ms: number;
}

/** campaignLoop generates and runs inputs; each distinct finding (kind, name, frame) is reported once. */
export async function campaignLoop(
  inst: TargetInstance,
  p: LoopParams,
  execute: (input: Uint8Array) => Promise<Outcome>,
  onFinding: (o: Outcome & { ok: false }, input: Uint8Array) => void,
  onProgress?: (s: LoopStats) => void,
): Promise<LoopStats> {
  const rng = new Rng(p.seed);
  const pool = inst.seeds.filter((s) => s.length <= p.maxInputBytes);
  const grown: Uint8Array[] = [];
  let batch: Uint8Array[] = [];
  const nextStructured = (): Uint8Array => {
    if (batch.length === 0) batch = fc.sample(inst.structured!, { numRuns: 256, seed: rng.u32() | 0 });
    const b = batch.pop()!;
    return b.length > p.maxInputBytes ? b.subarray(0, p.maxInputBytes) : b;
  };
  const t0 = performance.now();
  const deadline = p.seconds > 0 ? t0 + p.seconds * 1000 : Infinity;
  let runs = 0;
  let accepted = 0;
  let lastProgress = t0;
  const seen = new Set<string>();
  while (runs < p.runs && performance.now() < deadline && !(p.stop?.() ?? false)) {
    const structured = inst.structured !== undefined && runs % 2 === 0;
    let input: Uint8Array;
    if (structured) input = nextStructured();
    else if (pool.length === 0 || rng.chance(0.02)) input = randomBytes(rng, 512);
    else input = mutate(rng.pick(grown.length > 0 && rng.chance(0.3) ? grown : pool), rng, pool, p.maxInputBytes);
    const out = await execute(input);
    runs++;
    if (out.ok) {
      if (out.accepted) {
        accepted++;
        if (structured && grown.length < 256) grown.push(input);
        else if (structured && rng.chance(0.05)) grown[rng.below(grown.length)] = input;
      }
    } else {
      const sig = `${out.kind}|${out.name}|${out.frame}`;
      if (!seen.has(sig)) {
        seen.add(sig);
        onFinding(out, input);
      }
    }
    const now = performance.now();
    if (onProgress && now - lastProgress > 2000) {
      lastProgress = now;
      onProgress({ runs, accepted, ms: now - t0 });
    }
  }
  return { runs, accepted, ms: performance.now() - t0 };
}
