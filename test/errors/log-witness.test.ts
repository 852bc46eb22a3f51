/**
 * Log and witness refusals no other test reached, against real loopback servers: an entry that is not the one the
 * log holds (ERR_LOG_ENTRY_MISMATCH), a log answering tiles of the wrong size (ERR_LOG_RESPONSE), a witness asked
 * with a stale old size (ERR_WITNESS_CONFLICT), and a witness answering without a cosignature, which leaves the
 * log's witness threshold unmet (ERR_WITNESS_RESPONSE inside ERR_WITNESS_THRESHOLD_UNMET).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Fastify from 'fastify';
import { pino } from 'pino';
import { PrivateKey } from '../../src/crypto/index.ts';
import { isTrustError } from '../../src/errors.ts';
import { formatCosignatureVerifierKey, newCosigner } from '../../src/note/cosignature.ts';
import { newNoteSigner, newNoteVerifier } from '../../src/note/note.ts';
import { resolveLogConfig } from '../../src/server/log/config.ts';
import { startLogServer, type RunningLogServer } from '../../src/server/log/server.ts';
import { LogService } from '../../src/server/log/service.ts';
import { noteCheckpointSigner } from '../../src/server/log/signer.ts';
import { WitnessPool, parseWitnessSpec } from '../../src/server/log/witness-client.ts';
import { WitnessStore } from '../../src/server/witness/store.ts';
import { Witness } from '../../src/server/witness/witness.ts';
import { MemoryStorage } from '../../src/log/storage-memory.ts';
import { assertCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const ORIGIN = 'example.test/log';
const TOKEN = 'errors-token-0123456789';
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

async function startLog(t: TestContext, entries: string[]): Promise<RunningLogServer> {
  const s = await startLogServer({
    dataDir: join(tmpDir(t), 'log'),
    origin: ORIGIN,
    tokens: [enc(TOKEN)],
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'silent' }),
  });
  t.after(() => s.close());
  for (const e of entries) {
    const r = await fetch(`${s.url}/add`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: e });
    assert.equal(r.status, 200, await r.text());
  }
  return s;
}

test('log verify-inclusion URL --index N --entry FILE: other bytes than the log holds are ERR_LOG_ENTRY_MISMATCH', async (t) => {
  const log = await startLog(t, ['zero', 'one', 'two']);
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'one'), 'one');
  writeFileSync(join(dir, 'other'), 'not one');
  const good = await cli(['log', 'verify-inclusion', log.url, '--index', '1', '--key', log.vkey, '--entry', 'one'], { cwd: dir });
  assert.equal(good.code, 0, good.stderr);
  const bad = await cli(['log', 'verify-inclusion', log.url, '--index', '1', '--key', log.vkey, '--entry', 'other'], { cwd: dir });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /the log holds other bytes at index 1 \[ERR_LOG_ENTRY_MISMATCH\]/);
});

test('a log serving hash tiles shorter than their width is ERR_LOG_RESPONSE (exit 3)', async (t) => {
  const log = await startLog(t, ['zero', 'one', 'two']);
  // A front that passes everything through but cuts the last byte off every hash tile.
  const app = Fastify({ logger: false });
  app.get('/log/*', async (req, reply) => {
    const path = (req.params as { '*': string })['*'];
    const r = await fetch(`${log.url}/${path}`);
    let body = Buffer.from(await r.arrayBuffer());
    if (/^tile\/\d/.test(path)) body = body.subarray(0, body.length - 1);
    return reply.code(r.status).type('application/octet-stream').send(body);
  });
  const front = `${await app.listen({ host: '127.0.0.1', port: 0 })}/log`;
  t.after(() => app.close());
  const r = await cli(['log', 'verify-inclusion', front, '--index', '1', '--key', log.vkey], { cwd: tmpDir(t) });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /expected 96 bytes, got 95 \[ERR_LOG_RESPONSE\]/);
});

/** mint signs checkpoints of a memory log of `n` entries with `key`. */
async function mint(key: PrivateKey, n: number, witness?: WitnessPool): Promise<LogService> {
  const log = await LogService.start({
    storage: new MemoryStorage(),
    signer: noteCheckpointSigner(ORIGIN, newNoteSigner(ORIGIN, key), newNoteVerifier(ORIGIN, key.publicKey)),
    ...(witness ? { cosigner: witness } : {}),
    config: resolveLogConfig({ addTimeoutMs: 30_000 }),
  });
  await Promise.all(Array.from({ length: n }, (_, i) => log.add(enc(`e${i}`))));
  return log;
}

test('a witness asked with an old size other than the one it cosigned answers ERR_WITNESS_CONFLICT with its size', async () => {
  const logKey = PrivateKey.generate();
  const witness = new Witness({
    cosigner: newCosigner('witness.test/w', PrivateKey.generate(), { unixTime: () => 1_700_000_000 }),
    logs: [newNoteVerifier(ORIGIN, logKey.publicKey)],
    store: WitnessStore.open(':memory:'),
    now: () => 1_700_000_000_000,
  });
  const log = await mint(logKey, 5);
  const cp = log.checkpoint()!.text;
  assert.match(witness.addCheckpoint(enc(`old 0\n\n${cp}`)), /^\u2014 witness\.test\/w /);
  assert.throws(
    () => witness.addCheckpoint(enc(`old 0\n\n${cp}`)),
    (e: unknown) => isTrustError(e) && e.code === 'ERR_WITNESS_CONFLICT' && e.httpStatus === 409 && e.details?.size === 5,
  );
  assertCode(() => witness.addCheckpoint(enc(`old 3\n\n${cp}`)), 'ERR_WITNESS_CONFLICT');
  await log.close();
});

test('a witness answering 200 without its cosignature is ERR_WITNESS_RESPONSE, and the log\'s witness threshold is unmet', async (t) => {
  // The "witness" accepts every request and answers a well-formed cosignature line (key id, timestamp, signature:
  // 76 bytes) by another name and key: lines of other keys are skipped, so no cosignature by its key remains.
  const foreign = `\u2014 someone.else/w ${Buffer.alloc(76, 7).toString('base64')}\n`;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(foreign));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const spec = `${formatCosignatureVerifierKey('witness.test/w', PrivateKey.generate().publicKey)}@${url}`;
  const pool = new WitnessPool({ witnesses: [parseWitnessSpec(spec)], threshold: 1, timeoutMs: 30_000, now: Date.now });

  const logKey = PrivateKey.generate();
  const log = await mint(logKey, 3);
  const cp = log.checkpoint()!;
  await assert.rejects(
    pool.cosign({ text: cp.text, size: cp.size, root: new Uint8Array(32) /* unused by the pool */, prove: () => Promise.resolve([]) }),
    (e: unknown) => {
      assert.ok(isTrustError(e));
      assert.equal(e.code, 'ERR_WITNESS_THRESHOLD_UNMET');
      assert.equal(e.message, 'cosigned by 0/1 witnesses, threshold 1');
      const failures = e.details?.failures as string[];
      assert.equal(failures.length, 1);
      assert.match(failures[0]!, /^witness\.test\/w: the witness answered without a cosignature by its key \[ERR_WITNESS_RESPONSE\]$/);
      return true;
    },
  );
  await log.close();
});
