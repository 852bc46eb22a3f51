/**
 * The C2SP tlog-witness: its status codes over HTTP (inject), one row per refusal, and a log that requires
 * cosignatures before it publishes (real servers on loopback ports).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { pino } from 'pino';
import { PrivateKey } from '../../src/crypto/index.ts';
import { encodeBase64 } from '../../src/encoding/bytes.ts';
import { openCheckpoint } from '../../src/note/checkpoint.ts';
import { formatCosignatureVerifierKey, newCosigner, parseCosignatureVerifierKey, verifyCosignature } from '../../src/note/cosignature.ts';
import { formatVerifierKey, newNoteSigner, newNoteVerifier, parseNote, parseVerifierKey } from '../../src/note/note.ts';
import { resolveLogConfig } from '../../src/server/log/config.ts';
import { startLogServer } from '../../src/server/log/server.ts';
import { LogService } from '../../src/server/log/service.ts';
import { noteCheckpointSigner } from '../../src/server/log/signer.ts';
import { WitnessPool, parseWitnessSpec } from '../../src/server/log/witness-client.ts';
import { witnessPlugin } from '../../src/server/witness/plugin.ts';
import { startWitnessServer } from '../../src/server/witness/server.ts';
import { WitnessStore } from '../../src/server/witness/store.ts';
import { Witness } from '../../src/server/witness/witness.ts';
import { MemoryStorage } from '../../src/log/storage-memory.ts';
import { tmpDir } from '../support/tmp.ts';
import { isTrustError } from '../../src/errors.ts';

const ORIGIN = 'example.test/log';
const silent = pino({ level: 'silent' });
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A log (memory storage) signed by `key`, to mint real checkpoints and proofs. */
async function mintLog(key: PrivateKey, entries: number, prefix = 'e'): Promise<LogService> {
  const signer = newNoteSigner(ORIGIN, key);
  const log = await LogService.start({
    storage: new MemoryStorage(),
    signer: noteCheckpointSigner(ORIGIN, signer, newNoteVerifier(ORIGIN, key.publicKey)),
    config: resolveLogConfig(),
  });
  await grow(log, entries, prefix);
  return log;
}

async function grow(log: LogService, n: number, prefix = 'e'): Promise<void> {
  const start = log.sequencer.treeSize;
  await Promise.all(Array.from({ length: n }, (_, i) => log.add(enc(`${prefix}${start + i}`))));
}

function body(old: number, proof: Uint8Array[], note: string): string {
  return `old ${old}\n${proof.map((h) => encodeBase64(h) + '\n').join('')}\n${note}`;
}

test('witness add-checkpoint: cosigns consistent checkpoints and refuses everything else with the spec status', async () => {
  const logKey = PrivateKey.generate();
  const witnessKey = PrivateKey.generate();
  const cosigner = newCosigner('witness.test/w1', witnessKey, { unixTime: () => 1_700_000_000 });
  const wvkey = parseCosignatureVerifierKey(formatCosignatureVerifierKey('witness.test/w1', witnessKey.publicKey));
  const store = WitnessStore.open(':memory:');
  const witness = new Witness({ cosigner, logs: [newNoteVerifier(ORIGIN, logKey.publicKey)], store, now: () => 1_700_000_000_000 });
  const app = Fastify({ logger: false });
  await app.register(witnessPlugin, { witness });
  const post = (payload: string | Buffer) => app.inject({ method: 'POST', url: '/add-checkpoint', payload });

  const log = await mintLog(logKey, 10);
  const cp10 = log.checkpoint()!.text;
  // First contact: old 0, empty proof.
  let r = await post(body(0, [], cp10));
  assert.equal(r.statusCode, 200, r.body);
  assert.match(r.body, /^\u2014 witness\.test\/w1 [A-Za-z0-9+/=]+\n$/);
  assert.equal(verifyCosignature(parseNote(cp10).text, r.body, wvkey).timestamp, 1_700_000_000);
  // Resubmitting with a stale old size: 409 with the witness's size, text/x.tlog.size.
  r = await post(body(0, [], cp10));
  assert.equal(r.statusCode, 409);
  assert.equal(r.headers['content-type'], 'text/x.tlog.size');
  assert.equal(r.body, '10\n');
  // Same size, same root: cosigned again.
  assert.equal((await post(body(10, [], cp10))).statusCode, 200);
  // Growth with a valid proof.
  await grow(log, 7);
  const cp17 = log.checkpoint()!.text;
  const proof = await log.sequencer.proveConsistency(10, 17);
  assert.equal((await post(body(10, proof, cp17))).statusCode, 200);
  assert.equal(store.get(ORIGIN)?.size, 17);

  // A fork with the same key: another history of 17 and of 20 entries.
  const forked = await mintLog(logKey, 17, 'fork');
  const fork17 = forked.checkpoint()!.text;
  await grow(forked, 3, 'fork');
  const fork20 = forked.checkpoint()!.text;
  const forkProof = await forked.sequencer.proveConsistency(17, 20);
  await grow(log, 3);
  const cp20 = log.checkpoint()!.text;
  const goodProof = await log.sequencer.proveConsistency(17, 20);
  const mutated = goodProof.map((h, i) => (i === 0 ? Uint8Array.from(h, (b, j) => (j === 0 ? b ^ 1 : b)) : h));

  const otherKey = PrivateKey.generate();
  const otherLog = await mintLog(otherKey, 3);
  const strangerKey = PrivateKey.generate();
  const stranger = await (async () => {
    const s = newNoteSigner('other.test/log', strangerKey);
    const l = await LogService.start({
      storage: new MemoryStorage(),
      signer: noteCheckpointSigner('other.test/log', s, newNoteVerifier('other.test/log', strangerKey.publicKey)),
      config: resolveLogConfig(),
    });
    await grow(l, 2);
    return l;
  })();
  const tampered = cp20.replace(/ ([A-Za-z0-9+/]{10})/, (_m, g: string) => ` ${g.startsWith('A') ? 'B' : 'A'}${g.slice(1)}`);

  const rows: Array<{ name: string; payload: string | Buffer; status: number; code?: string }> = [
    { name: 'same size, other root (fork)', payload: body(17, [], fork17), status: 409, code: 'ERR_WITNESS_ROOT_MISMATCH' },
    { name: 'inconsistent larger checkpoint', payload: body(17, forkProof, fork20), status: 422, code: 'ERR_WITNESS_PROOF_INVALID' },
    { name: 'mutated proof', payload: body(17, mutated, cp20), status: 422, code: 'ERR_WITNESS_PROOF_INVALID' },
    { name: 'missing proof', payload: body(17, [], cp20), status: 422, code: 'ERR_WITNESS_PROOF_INVALID' },
    { name: 'unknown log', payload: body(0, [], stranger.checkpoint()!.text), status: 404, code: 'ERR_WITNESS_UNKNOWN_LOG' },
    { name: 'signed by another key', payload: body(0, [], otherLog.checkpoint()!.text), status: 403, code: 'ERR_WITNESS_BAD_SIGNATURE' },
    { name: 'bad signature', payload: body(17, goodProof, tampered), status: 403, code: 'ERR_WITNESS_BAD_SIGNATURE' },
    { name: 'old > size', payload: body(25, [], cp20), status: 400, code: 'ERR_WITNESS_OLD_SIZE' },
    { name: 'old size mismatch', payload: body(10, goodProof, cp20), status: 409 },
    { name: 'no old line', payload: cp20, status: 400, code: 'ERR_WITNESS_REQUEST' },
    { name: 'leading zero', payload: body(17, goodProof, cp20).replace('old 17', 'old 017'), status: 400, code: 'ERR_WITNESS_REQUEST' },
    { name: 'too many proof lines', payload: body(17, Array.from({ length: 64 }, () => new Uint8Array(32)), cp20), status: 400, code: 'ERR_WITNESS_REQUEST' },
    { name: 'proof line not a hash', payload: `old 17\nAAAA\n\n${cp20}`, status: 400, code: 'ERR_WITNESS_REQUEST' },
    { name: 'no blank line', payload: `old 17\n${cp20.split('\n\n')[0]}`, status: 400 },
    { name: 'empty body', payload: '', status: 400, code: 'ERR_WITNESS_REQUEST' },
    { name: 'not utf-8', payload: Buffer.from([0x6f, 0x6c, 0x64, 0x20, 0xff, 0x0a]), status: 400, code: 'ERR_WITNESS_REQUEST' },
    { name: 'malformed note', payload: 'old 0\n\nexample.test/log\n1\n', status: 400 },
    { name: 'oversized', payload: Buffer.alloc(300 * 1024, 0x41), status: 413, code: 'ERR_LIMIT_SIZE' },
  ];
  for (const row of rows) {
    const res = await post(row.payload);
    assert.equal(res.statusCode, row.status, `${row.name}: ${res.body}`);
    if (row.code) assert.equal(res.json<{ code: string }>().code, row.code, row.name);
  }
  // Nothing above moved the witness.
  assert.equal(store.get(ORIGIN)?.size, 17);
  assert.equal((await post(body(17, goodProof, cp20))).statusCode, 200);
  assert.equal(store.get(ORIGIN)?.size, 20);
  await app.close();
  for (const l of [log, forked, otherLog, stranger]) await l.close();
});

test('a log with --witness publishes only cosigned checkpoints, and resumes with a witness after a restart', async (t) => {
  const dir = tmpDir(t);
  const logKeyDir = join(dir, 'log');
  // Start the log once without witnesses to learn its key, then start the witness for that key.
  const first = await startLogServer({ dataDir: logKeyDir, origin: ORIGIN, tokens: [enc('tok-0123456789abcdef')], host: '127.0.0.1', port: 0, logger: silent });
  const vkey = first.vkey;
  await first.close();
  const w = await startWitnessServer({ dataDir: join(dir, 'w'), name: 'witness.test/w1', logs: [parseVerifierKey(vkey)], host: '127.0.0.1', port: 0, logger: silent });
  t.after(() => w.close());
  const spec = `${w.vkey}@${w.url}`;
  const startWithWitness = () =>
    startLogServer({
      dataDir: logKeyDir,
      origin: ORIGIN,
      tokens: [enc('tok-0123456789abcdef')],
      host: '127.0.0.1',
      port: 0,
      logger: silent,
      witnesses: [parseWitnessSpec(spec)],
      witnessThreshold: 1,
      service: { batchDelayMs: 10 },
    });
  const wv = parseCosignatureVerifierKey(w.vkey);
  const add = async (url: string, e: string) => {
    const r = await fetch(`${url}/add`, { method: 'POST', headers: { authorization: 'Bearer tok-0123456789abcdef' }, body: e });
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as { index: number; checkpoint: string };
  };
  for (let round = 0; round < 2; round++) {
    const s = await startWithWitness();
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => add(s.url, `r${round}-${i}`)));
    for (const r of results) {
      const opened = openCheckpoint(r.checkpoint, parseVerifierKey(vkey), { cosigners: [wv] });
      assert.ok(opened.note.verified.some((v) => v.verifier === wv), 'the acknowledged checkpoint carries the cosignature');
    }
    const served = await (await fetch(`${s.url}/checkpoint`)).text();
    assert.equal(openCheckpoint(served, parseVerifierKey(vkey), { cosigners: [wv] }).note.verified.length, 2);
    await s.close();
  }
});

test('witness threshold unmet: entries stay durable, nothing is published, submitters get ERR_LOG_NOT_PUBLISHED', async () => {
  const logKey = PrivateKey.generate();
  const witnessKey = PrivateKey.generate();
  const wspec = `${formatCosignatureVerifierKey('witness.test/down', witnessKey.publicKey)}@http://127.0.0.1:9`;
  const storage = new MemoryStorage();
  const log = await LogService.start({
    storage,
    signer: noteCheckpointSigner(ORIGIN, newNoteSigner(ORIGIN, logKey), newNoteVerifier(ORIGIN, logKey.publicKey)),
    cosigner: new WitnessPool({ witnesses: [parseWitnessSpec(wspec)], threshold: 1, timeoutMs: 200, now: Date.now }),
    // addTimeoutMs leaves a loaded machine ample time to store the entry (else ERR_LOG_OVERLOADED, not the point here).
    config: resolveLogConfig({ addTimeoutMs: 1_500, retryDelayMs: 20, batchDelayMs: 0 }, true),
  });
  // Even the empty tree's checkpoint needs the witness: nothing is served until it cosigns.
  assert.equal(log.checkpoint(), null);
  await assert.rejects(log.add(enc('waiting')), (e) => isTrustError(e) && e.code === 'ERR_LOG_NOT_PUBLISHED');
  assert.equal(storage.treeSize, 1, 'the entry is durable and will be covered by the next cosigned checkpoint');
  assert.equal(log.checkpoint(), null);
  await log.close();
});

test('the standalone witness has the daemon protections: 429 under a flood (per address and global), idle connections closed', { timeout: 60_000 }, async (t) => {
  const dir = tmpDir(t);
  const key = PrivateKey.generate();
  const logs = [parseVerifierKey(formatVerifierKey('example.com/flood', key.publicKey))];
  const w = await startWitnessServer({ dataDir: join(dir, 'w'), logs, host: '127.0.0.1', port: 0, logger: silent, rateLimitPerIp: 5, idleTimeoutMs: 300 });
  t.after(() => w.close());
  const flood = await Promise.all(Array.from({ length: 30 }, () => fetch(`${w.url}/add-checkpoint`, { method: 'POST', body: 'old 0\n\nnot a checkpoint\n' })));
  const limited = flood.filter((r) => r.status === 429);
  assert.ok(limited.length >= 20, `only ${limited.length} of 30 were refused`);
  const body = (await limited[0]!.json()) as { code: string };
  assert.equal(body.code, 'ERR_HTTP_RATE_LIMITED');
  assert.ok(limited[0]!.headers.get('retry-after'));
  // Those let through were judged on their content (a malformed request), not dropped.
  assert.ok(flood.some((r) => r.status === 400));

  // A connection that sends nothing is closed by the witness after the idle timeout (without an answer); were it
  // not, this would wait for the test's timeout and fail.
  const u = new URL(w.url);
  const received = await new Promise<number>((resolve) => {
    let n = 0;
    const s = connect(Number(u.port), u.hostname);
    s.on('data', (c) => (n += c.length));
    s.on('close', () => resolve(n));
  });
  assert.equal(received, 0);

  const g = await startWitnessServer({ dataDir: join(dir, 'g'), logs, host: '127.0.0.1', port: 0, logger: silent, rateLimitPerIp: 0, rateLimitGlobal: 3 });
  t.after(() => g.close());
  const burst = await Promise.all(Array.from({ length: 20 }, () => fetch(`${g.url}/add-checkpoint`, { method: 'POST', body: 'x' })));
  const refused = burst.filter((r) => r.status === 429);
  assert.ok(refused.length >= 10, `only ${refused.length} of 20 were refused`);
  assert.equal(((await refused[0]!.json()) as { code: string }).code, 'ERR_HTTP_RATE_LIMITED');
});
