/**
 * POST /v1/verify answered by the workers of `custody serve --workers 2` themselves (server/signing/worker-verify),
 * on a real process tree: a worker verifies while the leader is stopped (SIGSTOP), refuses a token revoked by the CLI
 * at its next request, and its refusals reach the leader's hash-chained audit log; the rate limits, counted by the
 * leader, hold across both workers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyAuditLog } from '../../src/audit/audit-log.ts';
import { createToken } from '../../src/auth/auth.ts';
import { openSqliteAuthStore } from '../../src/auth/store-sqlite.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { serveChild } from '../provider/harness.ts';

interface Answer {
  status: number;
  json: Record<string, unknown>;
  worker: string | null;
  rid: string | null;
  retryAfter: string | null;
}

/** post sends one request, on its own connection (the cluster hands it to any worker) unless an agent is given. */
function post(url: string, path: string, body: string, token?: string, headers: Record<string, string> = {}, agent = new Agent({ keepAlive: false })): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const req = request(
      u,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
            worker: (res.headers['x-custody-worker'] as string | undefined) ?? null,
            rid: (res.headers['x-request-id'] as string | undefined) ?? null,
            retryAfter: (res.headers['retry-after']) ?? null,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function auditEvents(dataDir: string, until: (events: Array<Record<string, unknown>>) => boolean): Promise<Array<Record<string, unknown>>> {
  // Workers send their events to the leader, which appends them: wait (bounded) for them to land.
  for (let i = 0; ; i++) {
    const events = readFileSync(join(dataDir, 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    if (until(events) || i >= 100) return events;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('custody serve --workers 2: a worker answers /v1/verify itself, refuses a revoked token at once, and its refusals are audited', { timeout: 240_000 }, async (t) => {
  const dir = tmpDir(t);
  const s = await serveChild(t, dir, ['--data', 'data', '--workers', '2', '--no-sample', '--signing-rate-limit-per-token', '0', '--signing-rate-limit-per-ip', '0', '--rate-limit-per-ip', '0']);
  const data = join(dir, 'data');
  const made = await cli(['token', 'create', '--data', data, '--name', 'ci', '--scope', 'sign,verify', '--json'], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const { id, token } = JSON.parse(made.stdout) as { id: string; token: string };
  const artifact = 'sha256:' + encodeHex(sha256('worker verify'));
  const signed = await post(s.info.url, '/v1/sign', JSON.stringify({ artifact, artifact_type: 'image' }), token);
  assert.equal(signed.status, 202, JSON.stringify(signed.json));
  const body = JSON.stringify({ artifact, signature: signed.json.signature });

  // Connections the workers hold (the leader hands each new connection to a worker, so none can be opened while it
  // is stopped): one kept-alive connection per agent, opened now.
  const agents = [1, 2, 3, 4].map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  t.after(() => agents.forEach((a) => a.destroy()));
  for (const a of agents) assert.equal((await post(s.info.url, '/v1/verify', body, token, {}, a)).json.valid, true);
  // The leader stops: only a worker can answer now.
  const leader = s.proc.pid!;
  process.kill(leader, 'SIGSTOP');
  try {
    const answers = await Promise.all(agents.map((a, i) => post(s.info.url, '/v1/verify', body, token, { 'x-request-id': `wv-${i + 1}` }, a)));
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assert.equal(a.json.valid, true, JSON.stringify(a.json));
      assert.equal(a.json.signer, 'ci');
      assert.equal(a.json.entry_id, signed.json.entry_id);
      assert.equal(a.json.transparency_index, (signed.json.transparency_entry as { index: number }).index);
      assert.equal(a.rid, `wv-${i + 1}`);
      assert.match(a.worker ?? '', /^[12]$/);
    }
    // A failed verification is answered too (valid: false, coded), and audited.
    const other = 'sha256:' + encodeHex(sha256('another artifact'));
    const wrong = await post(s.info.url, '/v1/verify', JSON.stringify({ artifact: other, signature: signed.json.signature }), token, {}, agents[0]);
    assert.equal(wrong.status, 200);
    assert.equal(wrong.json.valid, false);
    assert.equal(wrong.json.code, 'ERR_ATTEST_SUBJECT_MISMATCH');

    // Revoked by the CLI (its own write to DATA/auth.db): refused by the very next request, leader still stopped.
    const revoked = await cli(['token', 'revoke', '--data', data, id], { cwd: dir });
    assert.equal(revoked.code, 0, revoked.stderr);
    // (A refusal closes its connection: one per kept connection.)
    for (const a of await Promise.all(agents.slice(0, 2).map((agent) => post(s.info.url, '/v1/verify', body, token, { 'x-request-id': 'wv-revoked' }, agent)))) {
      assert.equal(a.status, 401, JSON.stringify(a.json));
      assert.equal(a.json.code, 'ERR_AUTH_TOKEN_REVOKED');
      assert.equal(a.rid, 'wv-revoked');
    }
  } finally {
    process.kill(leader, 'SIGCONT');
  }

  // The workers' refusals are records of the leader's one hash-chained audit log, naming the worker.
  const events = await auditEvents(data, (ev) => ev.filter((e) => e.code === 'ERR_AUTH_TOKEN_REVOKED').length >= 2 && ev.some((e) => e.event === 'signapi.verify_failed'));
  const refused = events.filter((e) => e.event === 'signapi.refused' && e.code === 'ERR_AUTH_TOKEN_REVOKED');
  assert.equal(refused.length, 2, JSON.stringify(events.slice(-5)));
  for (const e of refused) {
    assert.equal(e.route, '/v1/verify');
    assert.equal(e.request_id, 'wv-revoked');
    assert.match(String(e.worker), /^[12]$/);
  }
  const failed = events.find((e) => e.event === 'signapi.verify_failed');
  assert.equal(failed?.code, 'ERR_ATTEST_SUBJECT_MISMATCH');
  assert.ok(!readFileSync(join(data, 'audit.jsonl'), 'utf8').includes(token.slice(9)), 'the token never reaches the audit log');
  const summary = await verifyAuditLog(join(data, 'audit.jsonl'));
  assert.equal(summary.records, events.length);

  // What a worker leaves to the leader still works through it: require_inclusion (a proof from the log), and a
  // body fastify refuses (schema) with its own coded answer, each counted once.
  const fresh = await cli(['token', 'create', '--data', data, '--name', 'ci2', '--scope', 'verify', '--json'], { cwd: dir });
  const token2 = (JSON.parse(fresh.stdout) as { token: string }).token;
  const inclusion = await post(s.info.url, '/v1/verify', JSON.stringify({ artifact, signature: signed.json.signature, require_inclusion: true }), token2);
  assert.equal(inclusion.json.valid, true, JSON.stringify(inclusion.json));
  assert.equal((inclusion.json.proof as { leaf_index: number }).leaf_index, (signed.json.transparency_entry as { index: number }).index);
  const malformed = await post(s.info.url, '/v1/verify', JSON.stringify({ artifact: 'sha256:nothex', signature: 'x' }), token2);
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json.code, 'ERR_SIGNAPI_REQUEST');
  // A client cannot claim its request was counted: the worker drops the header.
  const spoof = await post(s.info.url, '/v1/verify', body, undefined, { 'x-custody-limits-counted': '1' });
  assert.equal(spoof.status, 401);
  assert.equal(spoof.json.code, 'ERR_AUTH_UNAUTHENTICATED');
  const big = await post(s.info.url, '/v1/verify', JSON.stringify({ artifact, signature: 'x'.repeat(1024 * 1024) }), token2);
  assert.equal(big.status, 413);
  assert.equal(big.json.code, 'ERR_SIGNAPI_TOO_LARGE');
});

test('custody serve --workers 2: the signing API limits (per token, per address) hold across the workers', { timeout: 240_000 }, async (t) => {
  const dir = tmpDir(t);
  const perToken = 3;
  const perIp = 6;
  const s = await serveChild(t, dir, ['--data', 'data', '--workers', '2', '--no-sample', '--signing-rate-limit-per-token', String(perToken), '--signing-rate-limit-per-ip', String(perIp), '--rate-limit-per-ip', '0']);
  const data = join(dir, 'data');
  // Tokens written to DATA/auth.db as `custody token create` does (the daemon reads the store at every request).
  const store = await openSqliteAuthStore(join(data, 'auth.db'));
  const tokens: string[] = [];
  try {
    for (let i = 0; i < 12; i++) tokens.push((await createToken(store, { name: `t${i}`, scopes: ['sign', 'verify'], now: Date.now(), ttlMs: 3_600_000 })).token);
  } finally {
    await store.close();
  }
  const artifact = 'sha256:' + encodeHex(sha256('limited'));
  const signed = await post(s.info.url, '/v1/sign', JSON.stringify({ artifact, artifact_type: 'image' }), tokens[11]);
  assert.equal(signed.status, 202, JSON.stringify(signed.json));
  const body = JSON.stringify({ artifact, signature: signed.json.signature });
  await new Promise((r) => setTimeout(r, 1100)); // the sign request's address window closes

  /** burst sends n requests at once, each on its own connection; reports the answers and how long it took. */
  const burst = async (tokenOf: (i: number) => string, n: number): Promise<{ ok: number; limited: Answer[]; workers: Set<string>; ms: number }> => {
    const start = performance.now();
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => post(s.info.url, '/v1/verify', body, tokenOf(i))));
    const ms = performance.now() - start;
    for (const a of answers) assert.ok(a.status === 200 || a.status === 429, JSON.stringify(a.json));
    return { ok: answers.filter((a) => a.status === 200).length, limited: answers.filter((a) => a.status === 429), workers: new Set(answers.map((a) => a.worker ?? '')), ms };
  };

  // One token, 10 requests spread over both workers: the token's limit holds for the two together.
  const one = await burst(() => tokens[0]!, 10);
  assert.ok(one.workers.has('1') && one.workers.has('2'), `both workers answered (${[...one.workers].join(',')})`);
  assert.ok(one.limited.length > 0);
  for (const a of one.limited) {
    assert.equal(a.json.code, 'ERR_HTTP_RATE_LIMITED');
    assert.equal(a.retryAfter, '1');
  }
  // Within one one-second window exactly the limit passes (counted per worker, up to twice as many would).
  if (one.ms < 900) assert.equal(one.ok, perToken, `one window: ${one.ok} passed`);
  else assert.ok(one.ok >= perToken && one.ok <= perToken * Math.ceil(one.ms / 1000 + 1), `${one.ok} passed in ${one.ms.toFixed(0)} ms`);

  await new Promise((r) => setTimeout(r, 1100));
  // Ten tokens from one address: the address's limit holds across both workers.
  const many = await burst((i) => tokens[1 + i]!, 10);
  assert.ok(many.workers.has('1') && many.workers.has('2'), `both workers answered (${[...many.workers].join(',')})`);
  if (many.ms < 900) assert.equal(many.ok, perIp, `one window: ${many.ok} passed`);
  else assert.ok(many.ok >= perIp && many.ok <= perIp * Math.ceil(many.ms / 1000 + 1), `${many.ok} passed in ${many.ms.toFixed(0)} ms`);
  assert.ok(many.limited.every((a) => a.json.code === 'ERR_HTTP_RATE_LIMITED'));
});

/** sample reads one sample of Prometheus text (`name{labels} v`); NaN when absent. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

test('custody serve --workers 2: verifies answered by the workers are counted in /metrics like the leader\'s', { timeout: 240_000 }, async (t) => {
  const dir = tmpDir(t);
  const s = await serveChild(t, dir, ['--data', 'data', '--workers', '2', '--no-sample', '--signing-rate-limit-per-token', '0', '--signing-rate-limit-per-ip', '0', '--rate-limit-per-ip', '0']);
  const made = await cli(['token', 'create', '--data', join(dir, 'data'), '--name', 'ci', '--scope', 'sign,verify', '--json'], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const { token } = JSON.parse(made.stdout) as { token: string };
  const artifact = 'sha256:' + encodeHex(sha256('counted verify'));
  const signed = await post(s.info.url, '/v1/sign', JSON.stringify({ artifact, artifact_type: 'image' }), token);
  assert.equal(signed.status, 202, JSON.stringify(signed.json));
  const good = JSON.stringify({ artifact, signature: signed.json.signature });
  const wrong = JSON.stringify({ artifact: 'sha256:' + encodeHex(sha256('other')), signature: signed.json.signature });

  // Answered by the workers themselves (each on its own connection: both workers take some).
  const n = 8;
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => post(s.info.url, '/v1/verify', i < 2 ? wrong : good, token)));
  const workers = new Set(answers.map((a) => a.worker));
  for (const [i, a] of answers.entries()) {
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.valid, i >= 2, JSON.stringify(a.json));
  }
  assert.ok(!workers.has(null), 'every answer came from a worker');
  const refused = await post(s.info.url, '/v1/verify', good); // no token: refused by the worker
  assert.equal(refused.status, 401);
  assert.equal(refused.json.code, 'ERR_AUTH_UNAUTHENTICATED');
  // Left to the leader (it needs the log): the same series.
  const inclusion = await post(s.info.url, '/v1/verify', JSON.stringify({ artifact, signature: signed.json.signature, require_inclusion: true }), token);
  assert.equal(inclusion.json.valid, true, JSON.stringify(inclusion.json));

  const text = await (await fetch(`${s.info.url}/metrics`)).text();
  assert.equal(sample(text, 'custody_metrics_processes'), 3, text);
  assert.equal(sample(text, 'custody_http_requests_total{handler="app",method="POST",status="200"}'), n + 1, text);
  assert.equal(sample(text, 'custody_http_requests_total{handler="app",method="POST",status="401"}'), 1, text);
  assert.equal(sample(text, 'custody_http_requests_total{handler="app",method="POST",status="202"}'), 1, text);
  // Every one of them timed too (sign, n + 1 verifies, the refusal).
  assert.equal(sample(text, 'custody_http_request_duration_seconds_count{method="POST"}'), n + 3, text);
  assert.equal(sample(text, 'custody_http_request_duration_seconds_bucket{le="+Inf",method="POST"}'), n + 3, text);
});
