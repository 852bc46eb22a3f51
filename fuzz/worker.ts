/**
 * fuzz/worker — runs one target in a worker thread, watched by the parent (fuzz/engine.ts).
 *
 * Before each input the worker copies it into shared memory, bumps a sequence number and raises a busy flag; the
 * parent's watchdog terminates the worker when the flag stays up on the same sequence number longer than the hang
 * limit, and reads the guilty input from shared memory. This catches synchronous loops (Worker.terminate interrupts
 * running JavaScript) and async targets whose promise never settles alike. The worker's old generation is capped
 * (resourceLimits), and RSS growth past the bound after an input is reported too.
 *
 * Modes: `campaign` generates and runs inputs (structured and byte-mutated, interleaved) and posts findings and a
 * summary; `replay` runs the inputs the parent sends (confirmation, minimization, regression replay).
 */
import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { installFsGuard } from './fs-guard.ts';
import { campaignLoop, classify, runOnce } from './loop.ts';
import { CTL_BUSY, CTL_LEN, CTL_SEQ, CTL_STOP, type Outcome, type WorkerInput } from './protocol.ts';
import type { FuzzTarget, TargetInstance } from './target.ts';

/** RSS_EVERY_MS: an input that ran this long has its memory growth checked; faster ones one in RSS_EVERY_INPUTS. */
const RSS_EVERY_MS = 1;
const RSS_EVERY_INPUTS = 64;

async function main(): Promise<void> {
  const w = workerData as WorkerInput;
  const port = parentPort!;
  const ctl = new Int32Array(w.control);
  const shared = new Uint8Array(w.inputBuf);
  mkdirSync(w.tmpDir, { recursive: true });
  const guard = installFsGuard(w.tmpDir);
  const reg = (await import(w.registry)) as { TARGETS: readonly FuzzTarget[] };
  const target = reg.TARGETS.find((t) => t.name === w.target);
  if (target === undefined) throw new Error(`no fuzz target ${w.target}`);
  const inst: TargetInstance = await target.make({ tmpDir: w.tmpDir, repoRoot: w.repoRoot });
  const rssBase = process.memoryUsage.rss();
  let executed = 0;
  let pendingRejection: unknown;
  process.on('unhandledRejection', (e) => {
    pendingRejection = e ?? new Error('unhandled rejection');
  });

  async function execute(input: Uint8Array): Promise<Outcome> {
    shared.set(input.subarray(0, shared.length));
    Atomics.store(ctl, CTL_LEN, Math.min(input.length, shared.length));
    Atomics.add(ctl, CTL_SEQ, 1);
    Atomics.store(ctl, CTL_BUSY, 1);
    const t0 = performance.now();
    let out = await runOnce(inst, input);
    const slow = performance.now() - t0 >= RSS_EVERY_MS;
    Atomics.store(ctl, CTL_BUSY, 0);
    if (pendingRejection !== undefined && out.ok) {
      out = classify(pendingRejection);
      pendingRejection = undefined;
    }
    if (guard.violations.length > 0) {
      const v = guard.violations.splice(0);
      if (out.ok || out.kind !== 'write') out = { ok: false, kind: 'write', name: 'WriteViolation', message: v.join('; ').slice(0, 500), frame: '', stack: '' };
    }
    // RSS is read from /proc on each call, which cost a fast target a fifth of its time when done per input. An input
    // under RSS_EVERY_MS cannot make hundreds of MiB resident (touching them takes far longer), so those are sampled.
    if (!out.ok || (!slow && ++executed % RSS_EVERY_INPUTS !== 0)) return out;
    const grown = process.memoryUsage.rss() - rssBase;
    if (grown > w.memoryBoundBytes) {
      out = { ok: false, kind: 'memory', name: 'MemoryGrowth', message: `rss grew ${Math.round(grown / 2 ** 20)} MiB`, frame: '', stack: '' };
    }
    return out;
  }

  if (w.mode === 'replay') {
    port.on('message', (m: { id: number; input: Uint8Array }) => {
      void execute(m.input).then((outcome) => port.postMessage({ type: 'result', id: m.id, outcome }));
    });
    port.postMessage({ type: 'ready' });
    return;
  }

  port.postMessage({ type: 'ready' });
  const stats = await campaignLoop(
    inst,
    { runs: w.runs, seconds: w.seconds, seed: w.seed, maxInputBytes: w.maxInputBytes, stop: () => Atomics.load(ctl, CTL_STOP) === 1 },
    execute,
    (outcome, input) => port.postMessage({ type: 'finding', outcome, input }),
    (s) => port.postMessage({ type: 'progress', ...s }),
  );
  port.postMessage({ type: 'done', ...stats });
  await inst.close?.();
}

await main();
