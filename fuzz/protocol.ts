/** fuzz/protocol — what the parent (fuzz/engine.ts) and a fuzz worker (fuzz/worker.ts) share. */

/** WorkerInput is the workerData of a fuzz worker. */
export interface WorkerInput {
  registry: string;
  target: string;
  mode: 'campaign' | 'replay';
  runs: number;
  seconds: number;
  seed: number;
  tmpDir: string;
  repoRoot: string;
  maxInputBytes: number;
  memoryBoundBytes: number;
  control: SharedArrayBuffer;
  inputBuf: SharedArrayBuffer;
}

/** Outcome is the oracle's verdict on one input. */
export type Outcome =
  | { ok: true; accepted: boolean }
  | { ok: false; kind: FindingKind; name: string; message: string; frame: string; stack: string };

export type FindingKind = 'crash' | 'mismatch' | 'write' | 'memory' | 'hang';

// control[0] sequence number of the input being run, [1] busy flag, [2] input length, [3] stop request (the parent
// sets it on SIGINT/SIGTERM: the worker ends its loop after the input in flight and reports as usual).
export const CTL_SEQ = 0;
export const CTL_BUSY = 1;
export const CTL_LEN = 2;
export const CTL_STOP = 3;

/** topFrame is the first stack frame inside the project (the signature that separates distinct bugs). */
export function topFrame(stack: string): string {
  for (const line of stack.split('\n').slice(1)) {
    if (line.includes('fuzz/target.ts')) continue; // expectSame: the caller is the interesting frame
    const m = /\((?:file:\/\/)?[^()]*?\/((?:src|fuzz|test)\/[^():]+:\d+)/.exec(line) ?? /at (?:file:\/\/)?[^ ]*?\/((?:src|fuzz|test)\/[^():]+:\d+)/.exec(line);
    if (m) return m[1]!;
  }
  return '';
}

