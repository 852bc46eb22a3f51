/**
 * test/fuzz/planted-registry — targets with planted bugs, for checking that the harness catches and minimizes
 * them (test/fuzz/harness.test.ts): a parser that throws a plain TypeError on inputs containing "!!", one that
 * never returns on inputs starting with "?", one that keeps 96 MiB for good on inputs starting with "M", and one that
 * stalls once, like a worker a loaded machine leaves without CPU: on its 30th input, in its first campaign worker only.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../../src/errors.ts';
import { workerData } from 'node:worker_threads';
import type { WorkerInput } from '../../fuzz/protocol.ts';
import type { FuzzTarget } from '../../fuzz/target.ts';

const enc = new TextEncoder();

function plantedParse(input: Uint8Array): number {
  for (let i = 0; i + 1 < input.length; i++) {
    if (input[i] === 0x21 && input[i + 1] === 0x21) {
      // The planted bug: a property read on undefined, the TypeError a careless parser leaks.
      const fields = (undefined as unknown as { length: number });
      return fields.length;
    }
  }
  if (input.some((b) => b > 0x7e)) throw new FormatError('ERR_FORMAT_SCHEMA', 'expected ascii');
  return input.length;
}

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: 'planted-typeerror',
    parses: 'a parser with a planted TypeError',
    make: () =>
      Promise.resolve({
        seeds: [enc.encode('a!b!c!d!e!f!g!h!i!j!k!l!m!n!o!p! a seed document with single bangs only !x!y!z!')],
        run: plantedParse,
      }),
  },
  {
    name: 'planted-hang',
    parses: 'a parser with a planted infinite loop',
    make: () =>
      Promise.resolve({
        seeds: [enc.encode('?ab')],
        run(input: Uint8Array) {
          if (input[0] === 0x3f) for (;;) void input.length;
          throw new FormatError('ERR_FORMAT_SCHEMA', 'not a question');
        },
      }),
  },
  {
    name: 'planted-leak',
    parses: 'a parser with a planted leak',
    make: () => {
      const kept: Buffer[] = [];
      return Promise.resolve({
        seeds: [enc.encode('Mab'), enc.encode('xyz')],
        run(input: Uint8Array) {
          // The planted bug: a cache that only grows, 96 MiB resident (filled, so the pages are touched) per input.
          if (input[0] === 0x4d) kept.push(Buffer.alloc(96 * 2 ** 20, 1));
          return kept.length;
        },
      });
    },
  },
  {
    name: 'planted-stall',
    parses: 'a parser that stalls once, in the first campaign worker of seed 11 only (machine noise)',
    make: () => {
      const w = workerData as WorkerInput;
      let n = 0;
      return Promise.resolve({
        seeds: [enc.encode('abc')],
        run(input: Uint8Array) {
          if (w.mode === 'campaign' && w.seed === 11 && ++n === 30) {
            const until = Date.now() + 1500;
            while (Date.now() < until);
          }
          return input.length;
        },
      });
    },
  },
  {
    name: 'planted-hang-then-stall',
    parses: 'a parser that hangs on one input (reproducibly), then stalls once in the next worker (machine noise)',
    make: () => {
      const w = workerData as WorkerInput;
      let n = 0;
      return Promise.resolve({
        seeds: [enc.encode('?ab'), enc.encode('xyz')],
        run(input: Uint8Array) {
          // The real hang: exactly "?ab", in the first campaign worker of seed 13 and in every replay.
          if (Buffer.from(input).toString() === '?ab' && (w.mode === 'replay' || w.seed === 13)) for (;;) void input.length;
          // The noise: one stall in the worker that replaced it (seed 13 + 7919), never in a replay.
          if (w.mode === 'campaign' && w.seed === 13 + 7919 && ++n === 30) {
            const until = Date.now() + 1500;
            while (Date.now() < until);
          }
          return input.length;
        },
      });
    },
  },
  {
    name: 'planted-stateful-stall',
    parses: 'a parser whose make() refuses a temp dir it already used, stalling once in each of its first two campaign workers',
    make: (ctx) => {
      const w = workerData as WorkerInput;
      // State in the temp dir, as a daemon's data dir or an auth store with a registered identity: made twice, refused.
      const mark = join(ctx.tmpDir, 'made');
      if (existsSync(mark)) throw new FormatError('ERR_FORMAT_SCHEMA', 'this temp dir was made before');
      writeFileSync(mark, 'x');
      let n = 0;
      return Promise.resolve({
        seeds: [enc.encode('abc')],
        run(input: Uint8Array) {
          if (w.mode === 'campaign' && (w.seed === 17 || w.seed === 17 + 7919) && ++n === 30) {
            const until = Date.now() + 1500;
            while (Date.now() < until);
          }
          return input.length;
        },
      });
    },
  },
  {
    name: 'planted-broken-make',
    parses: 'a target whose make() fails in a campaign worker (a harness failure, not a finding)',
    make: () => Promise.reject(new Error('cannot make the target')),
  },
];
