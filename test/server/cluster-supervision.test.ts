/**
 * server/cluster supervision: a worker that cannot start says why and is replaced less and less often (not every
 * 250 ms for ever), a release record that cannot be read does not stop a worker from starting, and a first start
 * that fails says what the workers said.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino, type Logger } from 'pino';
import { acceptWorkerEvents, startCluster } from '../../src/server/cluster.ts';
import { startDaemon } from '../../src/server/daemon.ts';
import { tmpDir } from '../support/tmp.ts';
import { startTestCluster } from '../provider/harness.ts';

interface Line {
  msg: string;
  worker?: number;
  restartInMs?: number;
  failure?: string;
}

/** capture is a pino logger whose JSON lines land in `lines`. */
function capture(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

async function waitFor(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a worker that cannot start says why and is replaced with a growing back-off; once the cause is gone it starts', { timeout: 180_000 }, async (t) => {
  const data = tmpDir(t);
  const { logger, lines } = capture();
  const c = await startTestCluster(t, data, { logger, logLevel: 'fatal' });
  const [victim] = c.workerPids();
  assert.ok(victim !== undefined);
  const index = lines.find((l) => l.msg === 'worker started' && (l as { workerPid?: number }).workerPid === victim)?.worker;
  assert.ok(index !== undefined, 'the victim worker started');
  // The release directory (none yet: nothing was released) becomes a file: a worker listing it at start fails
  // (ENOTDIR), every time.
  writeFileSync(join(data, 'releases'), 'not a directory');
  process.kill(victim, 'SIGKILL');
  const exits = (): Line[] => lines.filter((l) => l.msg === 'worker exited; starting a replacement' && l.worker === index);
  await waitFor(() => exits().length >= 4, 'four exits of the worker');
  const waits = exits().map((l) => l.restartInMs);
  // The first exit (the kill) waits the base delay; each quick failure after it doubles the wait.
  assert.deepEqual(waits.slice(0, 4), [250, 500, 1000, 2000], `restart delays ${waits.join(', ')}`);
  const failures = exits().slice(1).map((l) => l.failure);
  assert.ok(failures.every((f) => typeof f === 'string' && f.startsWith('ERR_')), `each replacement said why it stopped (${failures.join(', ')})`);
  // The cause removed: the next replacement starts and serves.
  const startedBefore = lines.filter((l) => l.msg === 'worker started' && l.worker === index).length;
  rmSync(join(data, 'releases'));
  await waitFor(() => lines.filter((l) => l.msg === 'worker started' && l.worker === index).length > startedBefore, 'a replacement that starts', 120_000);
  const r = await fetch(`${c.url}/health`);
  assert.equal(r.status, 200);
});

test('a release record that cannot be read is refused by a starting worker, which serves the rest', { timeout: 120_000 }, async (t) => {
  const data = tmpDir(t);
  const { logger, lines } = capture();
  const c = await startTestCluster(t, data, { logger });
  const [victim] = c.workerPids();
  assert.ok(victim !== undefined);
  // current.json as a directory: not a regular file (ERR_IO_NOT_REGULAR_FILE when read).
  mkdirSync(join(data, 'releases', 'zz', 'yy', 'current.json'), { recursive: true });
  const before = lines.filter((l) => l.msg === 'worker started').length;
  process.kill(victim, 'SIGKILL');
  await waitFor(() => lines.filter((l) => l.msg === 'worker started').length > before, 'the replacement worker started');
  assert.equal(lines.filter((l) => l.msg === 'worker exited; starting a replacement').length, 1, 'only the kill: the replacement did not fail');
  for (let i = 0; i < 4; i++) assert.equal((await fetch(`${c.url}/health`, { headers: { connection: 'close' } })).status, 200);
});

test('a first start on an address in use names the address the workers could not have', { timeout: 120_000 }, async (t) => {
  const data = tmpDir(t);
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => holder.close());
  const port = (holder.address() as AddressInfo).port;
  const { logger } = capture();
  await assert.rejects(
    async () => {
      const c = await startCluster({ dataDir: data, host: '127.0.0.1', port, workers: 1, logger, logLevel: 'fatal', sample: false, rateLimitPerIp: 0 });
      t.after(() => c.close());
    },
    (e: { code?: string; message: string; hint?: string }) => {
      assert.equal(e.code, 'ERR_IO_NETWORK');
      assert.match(e.message, /^worker 1 exited before listening \(EADDRINUSE\)/);
      assert.match(e.hint ?? '', /--port/);
      return true;
    },
  );
});

test('the leader records only the audit events a worker may send, each as the worker it came from', () => {
  const { accepted, dropped } = acceptWorkerEvents(
    [
      null,
      'signapi.refused',
      { event: 'manifest.signed', fields: { sequence: 9 } },
      { event: 'signapi.refused', fields: [] },
      { event: 'signapi.refused', fields: { code: 'ERR_AUTH_TOKEN_INVALID', worker: 7 } },
      { event: 'signapi.verify_failed', fields: { code: 'ERR_ATTEST_SIGNATURE' } },
    ],
    2,
  );
  assert.deepEqual(accepted, [
    { event: 'signapi.refused', fields: { code: 'ERR_AUTH_TOKEN_INVALID', worker: 2 } },
    { event: 'signapi.verify_failed', fields: { code: 'ERR_ATTEST_SIGNATURE', worker: 2 } },
  ]);
  assert.equal(dropped, 4);
  assert.deepEqual(acceptWorkerEvents({ not: 'a list' }, 1), { accepted: [], dropped: 0 });
});

test('a second daemon or cluster on a data directory in use is refused before it touches the first one\'s socket or audit log', { timeout: 120_000 }, async (t) => {
  const data = tmpDir(t);
  const { logger } = capture();
  const c = await startTestCluster(t, data, { logger, logLevel: 'fatal' });
  const auditBefore = readFileSync(join(data, 'audit.jsonl'), 'utf8');
  await assert.rejects(startCluster({ dataDir: data, host: '127.0.0.1', port: 0, workers: 1, logger, logLevel: 'fatal', sample: false, rateLimitPerIp: 0 }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, 'ERR_LOG_LOCKED');
    assert.match(e.message, new RegExp(`held by custody serve pid ${process.pid} \\(serve\\.lock\\)`));
    return true;
  });
  await assert.rejects(startDaemon({ dataDir: data, host: '127.0.0.1', port: 0, logger, sample: false }), (e: { code?: string }) => e.code === 'ERR_LOG_LOCKED');
  // The first cluster's leader socket is still there: requests the workers forward to it are answered.
  assert.ok(existsSync(join(data, 'leader.sock')));
  for (let i = 0; i < 4; i++) assert.equal((await fetch(`${c.url}/health`, { headers: { connection: 'close' } })).status, 200);
  assert.equal(readFileSync(join(data, 'audit.jsonl'), 'utf8'), auditBefore, 'nothing appended by the refused starts');
  // Closed, it lets the next one in.
  await c.close();
  const d = await startDaemon({ dataDir: data, host: '127.0.0.1', port: 0, logger, sample: false });
  await d.close();
});
