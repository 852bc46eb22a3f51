/**
 * bench/tlog-soak — the crash-safety soak for the benchmark run: the schedule of test/log/crash.test.ts
 * (kill -9 of the log process during concurrent appends, restart, independent audit of every acknowledged entry and
 * every checkpoint ever returned) with hundreds of kills.
 *
 *   node --import tsx bench/tlog-soak.ts [--kills 300] [--writers 16] [--seed N]
 *
 * Exits 0 when every audit passed, 1 with the failing round, seed and the log's stderr otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crashRun, writeTokenFile } from '../test/log/harness.ts';

const { values } = parseArgs({
  options: { kills: { type: 'string', default: '300' }, writers: { type: 'string', default: '16' }, seed: { type: 'string' } },
});
const kills = Number(values.kills);
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
const dir = mkdtempSync(join(tmpdir(), 'custody-tlog-soak-'));
const t0 = performance.now();
try {
  const r = await crashRun({
    dataDir: join(dir, 'data'),
    tokenFile: writeTokenFile(dir),
    kills,
    writers: Number(values.writers),
    seed,
    maxAcksPerRound: 400,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const s = ((performance.now() - t0) / 1000).toFixed(0);
  process.stdout.write(
    `tlog soak: ${r.kills} kill -9 during concurrent appends (seed ${seed}), ${r.acks} acknowledged entries all present with valid proofs, ` +
      `tree size ${r.size}, every returned checkpoint consistent; ${r.killedWithInFlight} kills cut requests in flight; ${s} s\n`,
  );
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
