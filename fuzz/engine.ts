/**
 * fuzz/engine — the parent side of a campaign: one worker thread per target (fuzz/worker.ts) under a watchdog,
 * restarts after a hang or an out-of-memory death, confirmation of each finding by replay in a fresh worker,
 * minimization (delta debugging over the byte array, Zeller & Hildebrandt's ddmin), and the regression files
 * `test/fuzz-regressions/<target>/<sha256-prefix>.bin` that `npm test` replays forever after.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { sha256 } from '../src/crypto/index.ts';
import { CTL_BUSY, CTL_LEN, CTL_SEQ, CTL_STOP, type FindingKind, type Outcome, type WorkerInput } from './protocol.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_REGISTRY = new URL('./registry.ts', import.meta.url).href;
export const DEFAULT_REGRESSIONS_DIR = join(REPO_ROOT, 'test', 'fuzz-regressions');
/** HANG_MS is the per-input time limit of issue 16. */
export const HANG_MS = 1000;
/** MAX_INPUT_BYTES caps generated inputs (and the shared buffer the watchdog reads a hanging input from). */
export const MAX_INPUT_BYTES = 1 << 20;
/** MEMORY_BOUND_BYTES: RSS growth of a worker past this after an input is a finding. */
export const MEMORY_BOUND_BYTES = 768 * 2 ** 20;
/** HEAP_LIMIT_MB caps a worker's old generation: exceeding it kills the worker, reported as a memory finding. */
export const HEAP_LIMIT_MB = 1024;
/** FUZZ_TMP holds the workers' temp dirs: tmpfs when there is one (fsync is free there, and the disk is shared). */
export const FUZZ_TMP = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const WORKER_URL = new URL('./worker.ts', import.meta.url).href;
const MINIMIZE_TRIES = 4000;
/** MAX_UNCONFIRMED stops a target whose stalls never reproduce but never end either (a machine too busy to fuzz on). */
const MAX_UNCONFIRMED = 100;
const MINIMIZE_HANG_TRIES = 24;

/** CampaignOptions configures {@link runCampaign}. */
export interface CampaignOptions {
  targets: readonly string[];
  /** runs per target. */
  runs: number;
  /** seconds caps each target's time (0 = no cap). */
  seconds?: number;
  seed?: number;
  /** jobs is how many targets run at once (default 1). */
  jobs?: number;
  /** registry is the module URL exporting TARGETS (default fuzz/registry.ts; tests inject their own). */
  registry?: string;
  /** regressionsDir receives minimized findings; undefined = do not write. */
  regressionsDir?: string | undefined;
  hangMs?: number;
  /** maxRestarts ends a target's campaign after this many hang/out-of-memory restarts (default 10). */
  maxRestarts?: number;
  /** memoryBoundBytes: a worker's RSS growth past this is a memory finding (default MEMORY_BOUND_BYTES). */
  memoryBoundBytes?: number;
  /** minimizeHangTries bounds the replays spent shrinking a hang or memory finding (each costs a worker restart). */
  minimizeHangTries?: number;
  log?: (line: string) => void;
  /** plan gives a target its own inputs and seed (campaigns resumed with `--until`); default o.runs and o.seed. */
  plan?: (target: string) => { runs: number; seed: number };
  /** onReport is called as each target finishes (before the others do), so it can be recorded at once. */
  onReport?: (r: TargetReport) => void;
  /** signal, when aborted, stops the running targets after their input in flight and starts no more. */
  signal?: AbortSignal;
}

/** Finding is a confirmed, minimized finding. */
export interface Finding {
  target: string;
  kind: FindingKind;
  name: string;
  message: string;
  frame: string;
  stack: string;
  input: Uint8Array;
  originalBytes: number;
  /** file is where the regression input was written, if it was. */
  file?: string;
}

/** TargetReport is one target's campaign summary. */
export interface TargetReport {
  target: string;
  runs: number;
  accepted: number;
  ms: number;
  findings: Finding[];
  /** unconfirmed counts hangs/OOMs that did not reproduce in a fresh worker (machine noise). */
  unconfirmed: number;
  restarts: number;
  /** seed is the seed the target ran with. */
  seed: number;
  /** replays counts the inputs run again in a fresh worker, to confirm a finding or to minimize it. */
  replays: number;
  /**
   * stopped: the run ended before its planned inputs, and stopReason says why: o.signal ('signal'), MAX_UNCONFIRMED
   * stalls that did not reproduce ('stalls'), o.maxRestarts confirmed hangs or out-of-memory deaths ('restarts'), or
   * the harness itself failing ('error': a worker that could not start; the inputs run before it still count).
   */
  stopped: boolean;
  stopReason?: 'signal' | 'stalls' | 'restarts' | 'error';
}

interface Shared {
  control: SharedArrayBuffer;
  inputBuf: SharedArrayBuffer;
}

function newShared(): Shared {
  return { control: new SharedArrayBuffer(16), inputBuf: new SharedArrayBuffer(MAX_INPUT_BYTES) };
}

function currentInput(s: Shared): Uint8Array {
  const ctl = new Int32Array(s.control);
  return new Uint8Array(s.inputBuf).slice(0, Atomics.load(ctl, CTL_LEN));
}

function spawn(o: CampaignOptions, target: string, mode: WorkerInput['mode'], runs: number, seed: number, sh: Shared, tmp: string): Worker {
  const wd: WorkerInput = {
    registry: o.registry ?? DEFAULT_REGISTRY,
    target,
    mode,
    runs,
    seconds: o.seconds ?? 0,
    seed,
    tmpDir: tmp,
    repoRoot: REPO_ROOT,
    maxInputBytes: MAX_INPUT_BYTES,
    memoryBoundBytes: o.memoryBoundBytes ?? MEMORY_BOUND_BYTES,
    control: sh.control,
    inputBuf: sh.inputBuf,
  };
  // Node 20 does not pass --import loaders to a worker's entry module: the worker registers tsx itself, then loads
  // the TypeScript worker.
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })`;
  return new Worker(boot, { eval: true, workerData: wd, resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB }, stdout: false, stderr: false });
}

/**
 * watch runs the watchdog of one worker: it calls onHang with the input in flight when the busy flag stays up on the
 * same sequence number longer than hangMs.
 */
function watch(w: Worker, sh: Shared, hangMs: number, onHang: (input: Uint8Array) => void): () => void {
  const ctl = new Int32Array(sh.control);
  let seq = -1;
  let since = performance.now();
  const t = setInterval(() => {
    const s = Atomics.load(ctl, CTL_SEQ);
    const busy = Atomics.load(ctl, CTL_BUSY) === 1;
    const now = performance.now();
    if (!busy || s !== seq) {
      seq = s;
      since = now;
      return;
    }
    if (now - since > hangMs) {
      clearInterval(t);
      onHang(currentInput(sh));
      void w.terminate();
    }
  }, Math.max(10, Math.floor(hangMs / 10)));
  t.unref();
  return () => clearInterval(t);
}

interface ReplayWorker {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, (o: Outcome) => void>;
  stop: () => void;
  sh: Shared;
}

/** Replayer runs single inputs through a target in a worker of its own, respawned after a hang. */
export class Replayer {
  readonly #o: CampaignOptions;
  readonly #target: string;
  readonly #tmp: string;
  #w: ReplayWorker | undefined;
  #id = 0;
  /** replays counts the inputs this replayer ran. */
  get replays(): number {
    return this.#id;
  }
  constructor(o: CampaignOptions, target: string, tmp: string) {
    this.#o = o;
    this.#target = target;
    this.#tmp = tmp;
  }

  #start(): ReplayWorker {
    const sh = newShared();
    // A directory of its own for every replay worker: a target whose make() keeps state there (a daemon's data dir,
    // an auth store with a registered identity) must not find the last replay worker's.
    const worker = spawn(this.#o, this.#target, 'replay', 0, 0, sh, mkdtempSync(join(this.#tmp, 'replay-')));
    let readyResolve!: () => void;
    let readyReject!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    const w: ReplayWorker = { worker, ready, pending: new Map(), stop: () => undefined, sh };
    // A dead worker answers what it had pending; only the current worker is forgotten (an old one's late 'exit'
    // must not orphan its successor).
    const fail = (kind: FindingKind, name: string, message: string): void => {
      for (const r of w.pending.values()) r({ ok: false, kind, name, message, frame: '', stack: '' });
      w.pending.clear();
      if (this.#w === w) this.#w = undefined;
    };
    worker.on('message', (m: { type: string; id?: number; outcome?: Outcome }) => {
      if (m.type === 'ready') readyResolve();
      else if (m.type === 'result') {
        w.pending.get(m.id!)?.(m.outcome!);
        w.pending.delete(m.id!);
      }
    });
    worker.on('error', (e: Error & { code?: string }) => {
      readyReject(e);
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') fail('memory', 'OutOfMemory', e.message);
      else fail('crash', e.name, `worker died: ${e.message}`);
    });
    worker.on('exit', () => {
      w.stop();
      fail('crash', 'WorkerExit', 'worker exited');
    });
    w.stop = watch(worker, sh, this.#o.hangMs ?? HANG_MS, () => fail('hang', 'Hang', `no answer within ${this.#o.hangMs ?? HANG_MS} ms`));
    this.#w = w;
    return w;
  }

  /** replay runs one input and returns the oracle's verdict. */
  async replay(input: Uint8Array): Promise<Outcome> {
    const w = this.#w ?? this.#start();
    await w.ready;
    const id = ++this.#id;
    return new Promise<Outcome>((resolve) => {
      w.pending.set(id, resolve);
      w.worker.postMessage({ id, input });
    });
  }

  async close(): Promise<void> {
    const w = this.#w;
    this.#w = undefined;
    if (w !== undefined) {
      w.stop();
      w.worker.removeAllListeners('exit');
      await w.worker.terminate();
    }
  }
}

function sameBug(a: Outcome, kind: FindingKind, name: string, frame: string): boolean {
  return !a.ok && a.kind === kind && a.name === name && (frame === '' || a.frame === frame);
}

/**
 * ddmin shrinks `input` while `fails` holds: delta debugging over the byte array (remove chunks of halving size,
 * then single bytes), within `budget` tries.
 */
export async function ddmin(input: Uint8Array, fails: (b: Uint8Array) => Promise<boolean>, budget: number): Promise<Uint8Array> {
  let cur = input;
  let n = 2;
  let tries = 0;
  while (cur.length >= 2 && tries < budget) {
    const chunk = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i < n && tries < budget; i++) {
      const s = i * chunk;
      if (s >= cur.length) break;
      const complement = new Uint8Array(cur.length - Math.min(chunk, cur.length - s));
      complement.set(cur.subarray(0, s));
      complement.set(cur.subarray(s + chunk), s);
      tries++;
      if (await fails(complement)) {
        cur = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  if (cur.length === 1 && tries < budget && (await fails(new Uint8Array(0)))) return new Uint8Array(0);
  return cur;
}

/** regressionName is the file name of a regression input: the first 16 hex digits of its SHA-256. */
export function regressionName(input: Uint8Array): string {
  return Buffer.from(sha256(input)).toString('hex').slice(0, 16) + '.bin';
}

/** RecheckResult is what {@link recheckFinding} saw. */
export interface RecheckResult {
  /** replays counts the timed replays (a warm-up replay before them is not timed, but a hang in it counts). */
  replays: number;
  /** reproduced counts the replays that gave the same bug again (the warm-up included). */
  reproduced: number;
  /** worstMs is the slowest timed replay that did not reproduce it (round trip to the worker included). */
  worstMs: number;
}

/**
 * recheckFinding replays a recorded hang's or memory death's input again, alone, in a fresh worker of its own: one
 * warm-up replay, then `times` timed ones. The campaign confirms each death by one replay at once, on a machine that
 * may be as busy as when it stalled (docs/fuzzing.md); `npm run fuzz -- --recheck` runs this later, on a quiet
 * machine, and the record keeps what it saw beside the finding.
 */
export async function recheckFinding(
  o: Pick<CampaignOptions, 'registry' | 'hangMs' | 'memoryBoundBytes'>,
  target: string,
  input: Uint8Array,
  bug: { kind: FindingKind; name: string; frame: string },
  times: number,
): Promise<RecheckResult> {
  const tmp = mkdtempSync(join(FUZZ_TMP, `custody-fuzz-recheck-${target}-`));
  const r = new Replayer({ ...o, targets: [target], runs: 0 }, target, tmp);
  const result: RecheckResult = { replays: 0, reproduced: 0, worstMs: 0 };
  try {
    if (sameBug(await r.replay(input), bug.kind, bug.name, bug.frame)) result.reproduced++;
    for (let i = 0; i < times; i++) {
      const t0 = performance.now();
      const again = sameBug(await r.replay(input), bug.kind, bug.name, bug.frame);
      const ms = performance.now() - t0;
      result.replays++;
      if (again) result.reproduced++;
      else result.worstMs = Math.max(result.worstMs, ms);
    }
    return result;
  } finally {
    await r.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** reproduces replays one input in a fresh worker: does it give the same bug again? */
async function reproduces(o: CampaignOptions, report: TargetReport, raw: Outcome & { ok: false }, input: Uint8Array, tmp: string): Promise<boolean> {
  const r = new Replayer(o, report.target, tmp);
  try {
    return sameBug(await r.replay(input), raw.kind, raw.name, raw.frame);
  } finally {
    report.replays += r.replays;
    await r.close();
  }
}

/**
 * confirmAndMinimize replays a finding's input in a fresh worker (unless `confirmed`: a hang or out-of-memory death
 * that reproduces() already ran again) and shrinks it to a smaller input that gives the same bug.
 */
async function confirmAndMinimize(o: CampaignOptions, report: TargetReport, raw: Outcome & { ok: false }, input: Uint8Array, confirmed: boolean, tmp: string): Promise<Finding | undefined> {
  const target = report.target;
  const r = new Replayer(o, target, tmp);
  try {
    if (!confirmed && !sameBug(await r.replay(input), raw.kind, raw.name, raw.frame)) return undefined;
    const budget = raw.kind === 'hang' || raw.kind === 'memory' ? (o.minimizeHangTries ?? MINIMIZE_HANG_TRIES) : MINIMIZE_TRIES;
    const min = await ddmin(input, async (b) => sameBug(await r.replay(b), raw.kind, raw.name, raw.frame), budget);
    const final = await r.replay(min);
    const f = final.ok ? raw : final;
    return { target, kind: raw.kind, name: raw.name, message: f.message, frame: raw.frame, stack: f.stack, input: min, originalBytes: input.length };
  } finally {
    report.replays += r.replays;
    await r.close();
  }
}

async function campaignTarget(o: CampaignOptions, target: string, log: (l: string) => void): Promise<TargetReport> {
  const tmp = mkdtempSync(join(FUZZ_TMP, `custody-fuzz-${target}-`));
  const plan = o.plan?.(target) ?? { runs: o.runs, seed: o.seed ?? 1 };
  const report: TargetReport = { target, runs: 0, accepted: 0, ms: 0, findings: [], unconfirmed: 0, restarts: 0, replays: 0, seed: plan.seed, stopped: false };
  /** raw holds the first input of each bug signature; confirmed: a death reproduces() already ran again. */
  const raw: Array<{ outcome: Outcome & { ok: false }; input: Uint8Array; confirmed?: boolean }> = [];
  const seen = new Set<string>();
  /** addRaw keeps the first input of each signature; it returns the entry when it was kept. */
  const addRaw = (outcome: Outcome & { ok: false }, input: Uint8Array): (typeof raw)[number] | undefined => {
    const sig = `${outcome.kind}|${outcome.name}|${outcome.frame}`;
    if (seen.has(sig)) return undefined;
    seen.add(sig);
    const entry = { outcome, input };
    raw.push(entry);
    return entry;
  };
  const seed = plan.seed;
  try {
    while (report.runs < plan.runs && !(o.signal?.aborted ?? false)) {
      const sh = newShared();
      const runsLeft = plan.runs - report.runs;
      const secondsLeft = o.seconds ? o.seconds - report.ms / 1000 : 0;
      if (o.seconds && secondsLeft <= 0) break;
      const w = spawn({ ...o, seconds: secondsLeft }, target, 'campaign', runsLeft, seed + report.restarts * 7919, sh, join(tmp, `w${report.restarts}`));
      let last = { runs: 0, accepted: 0, ms: 0 };
      let died: 'hang' | 'memory' | 'error' | undefined;
      /** death is this worker's hang or out-of-memory death; it is recorded only once a fresh worker reproduces it. */
      let death: { outcome: Outcome & { ok: false }; input: Uint8Array } | undefined;
      let stop: (() => void) | undefined;
      const onAbort = (): void => {
        report.stopped = true;
        report.stopReason = 'signal';
        Atomics.store(new Int32Array(sh.control), CTL_STOP, 1);
      };
      o.signal?.addEventListener('abort', onAbort);
      if (o.signal?.aborted) onAbort();
      await new Promise<void>((resolve) => {
        w.on('message', (m: { type: string; runs?: number; accepted?: number; ms?: number; outcome?: Outcome; input?: Uint8Array }) => {
          if (m.type === 'ready') {
            if (report.restarts === 0) log(`   ${target}: running (seed ${seed})`);
            stop = watch(w, sh, o.hangMs ?? HANG_MS, (input) => {
              died = 'hang';
              death = { outcome: { ok: false, kind: 'hang', name: 'Hang', message: `an input ran over ${o.hangMs ?? HANG_MS} ms`, frame: '', stack: '' }, input };
            });
          } else if (m.type === 'finding') {
            addRaw(m.outcome as Outcome & { ok: false }, m.input!);
            log(`   ${target}: ${(m.outcome as { kind: string }).kind} ${(m.outcome as { name: string }).name}: ${(m.outcome as { message: string }).message.slice(0, 160)}`);
          } else if (m.type === 'progress' || m.type === 'done') {
            last = { runs: m.runs!, accepted: m.accepted!, ms: m.ms! };
            if (m.type === 'done') {
              stop?.();
              void w.terminate();
            }
          }
        });
        w.on('error', (e: Error & { code?: string }) => {
          if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') {
            died = 'memory';
            death = { outcome: { ok: false, kind: 'memory', name: 'OutOfMemory', message: `heap over ${HEAP_LIMIT_MB} MiB`, frame: '', stack: '' }, input: currentInput(sh) };
          } else {
            died = 'error';
            log(`   ${target}: worker failed: ${e.stack ?? e.message}`);
          }
        });
        w.on('exit', () => {
          stop?.();
          resolve();
        });
      });
      o.signal?.removeEventListener('abort', onAbort);
      report.runs += last.runs + (died === 'hang' || died === 'memory' ? 1 : 0);
      report.accepted += last.accepted;
      report.ms += last.ms;
      if (died === 'error') {
        // The worker itself failed (logged above): the target stops, what it ran is kept and reported.
        report.stopped = true;
        report.stopReason = 'error';
        break;
      }
      if (died === undefined) break;
      report.restarts++;
      // Every hang or out-of-memory death is replayed in a fresh worker at once, also when one of its kind was
      // recorded before. One that does not come back was the machine (a loaded VM stalls a worker past the limit
      // now and then): it is counted as unconfirmed and does not use up the restarts that stop a target whose
      // inputs really hang. One that does is recorded (the first of its signature), marked as confirmed.
      let again: boolean;
      try {
        again = death !== undefined && (await reproduces(o, report, death.outcome, death.input, tmp));
      } catch (e) {
        // The replay worker could not start (its make() failed): a harness failure, not the target's input. What ran
        // is kept and reported; the target stops here rather than taking the whole campaign down with it.
        log(`   ${target}: the replay worker failed: ${(e as Error).stack ?? String(e)}`);
        report.stopped = true;
        report.stopReason = 'error';
        break;
      }
      if (!again || death === undefined) {
        report.unconfirmed++;
        log(`   ${target}: ${death?.outcome.kind ?? died} did not reproduce in a fresh worker (counted as unconfirmed; the campaign goes on)`);
        if (report.unconfirmed >= MAX_UNCONFIRMED) {
          log(`   ${target}: stopped after ${report.unconfirmed} stalls that did not reproduce; run it on a quieter machine`);
          if (report.runs < plan.runs && report.stopReason === undefined) {
            report.stopped = true;
            report.stopReason = 'stalls';
          }
          break;
        }
        continue;
      }
      const entry = addRaw(death.outcome, death.input);
      if (entry !== undefined) entry.confirmed = true;
      if (report.restarts - report.unconfirmed >= (o.maxRestarts ?? 10)) {
        log(`   ${target}: stopped after ${report.restarts - report.unconfirmed} restarts (hangs or out-of-memory); fix those first`);
        if (report.runs < plan.runs && report.stopReason === undefined) {
          report.stopped = true;
          report.stopReason = 'restarts';
        }
        break;
      }
    }
    for (const { outcome, input, confirmed } of raw) {
      const f = await confirmAndMinimize(o, report, outcome, input, confirmed ?? false, tmp);
      if (f === undefined) {
        report.unconfirmed++;
        log(`   ${target}: ${outcome.kind} did not reproduce in a fresh worker (counted as unconfirmed)`);
        continue;
      }
      if (o.regressionsDir !== undefined) {
        const dir = join(o.regressionsDir, target);
        mkdirSync(dir, { recursive: true });
        f.file = join(dir, regressionName(f.input));
        writeFileSync(f.file, f.input);
      }
      report.findings.push(f);
      log(`   ${target}: FINDING ${f.kind} ${f.name} at ${f.frame || '?'}: ${f.message.slice(0, 200)} (${f.originalBytes} → ${f.input.length} bytes${f.file ? `, ${f.file}` : ''})`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return report;
}

/** runCampaign fuzzes each target for o.runs inputs (or o.seconds, or its o.plan), `jobs` targets at a time. */
export async function runCampaign(o: CampaignOptions): Promise<TargetReport[]> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const queue = [...o.targets];
  const reports = new Map<string, TargetReport>();
  const jobs = Math.max(1, o.jobs ?? 1);
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      for (let t = queue.shift(); t !== undefined && !(o.signal?.aborted ?? false); t = queue.shift()) {
        const r = await campaignTarget(o, t, log);
        reports.set(t, r);
        log(`${t.padEnd(22)} ${String(r.runs).padStart(8)} inputs  ${rate(r).padStart(7)}/s  accepted ${pct(r)}  findings ${r.findings.length}${r.stopped ? `  (stopped: ${r.stopReason ?? 'signal'})` : ''}`);
        o.onReport?.(r);
      }
    }),
  );
  // A target the signal kept from starting has no report.
  return o.targets.flatMap((t) => reports.get(t) ?? []);
}

export function rate(r: TargetReport): string {
  return r.ms > 0 ? String(Math.round((r.runs / r.ms) * 1000)) : '-';
}

export function pct(r: TargetReport): string {
  return r.runs > 0 ? `${((100 * r.accepted) / r.runs).toFixed(1)}%` : '-';
}
