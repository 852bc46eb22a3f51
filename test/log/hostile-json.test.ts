/**
 * Untrusted JSON from a log server: a real loopback server answers `POST /log/add` with hostile bodies (null, an
 * array, wrong types, bad base64, over the cap, not JSON, duplicate keys) and refusals with control characters in
 * their message. `LogClient.add` and `custody log add` must answer with coded errors (exit 1 or 3), never a raw
 * TypeError (exit 70), and print server text escaped. Relayed codes keep their class.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { PrivateKey } from '../../src/crypto/index.ts';
import { IoError, PolicyError, isTrustError } from '../../src/errors.ts';
import { LogClient, MAX_ADD_RESPONSE_BYTES } from '../../src/log/client.ts';
import { formatVerifierKey } from '../../src/note/note.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

/** hostileLog answers every request with the current `answer` (status, content type, body). */
async function hostileLog(t: TestContext): Promise<{ url: string; set: (status: number, body: string | Buffer, type?: string) => void }> {
  let answer = { status: 200, body: Buffer.from('null') as Buffer | string, type: 'application/json' };
  const server = createServer((req, res) => {
    req.resume();
    // A 3xx carries a Location to a path that answers a valid checkpoint-looking text, so following it would show.
    if (req.url === '/elsewhere') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('followed\n');
    const location = answer.status >= 300 && answer.status < 400 ? { location: '/elsewhere' } : {};
    req.on('end', () => res.writeHead(answer.status, { 'content-type': answer.type, ...location }).end(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/log`,
    set: (status, body, type = 'application/json') => (answer = { status, body, type }),
  };
}

const HOSTILE_ADD_ANSWERS: Array<[string, string | Buffer]> = [
  ['null', 'null'],
  ['an array', '[1,2,3]'],
  ['a string', '"index"'],
  ['index as a string', '{"index":"1","checkpoint":"c","proof":[]}'],
  ['a negative index', '{"index":-1,"checkpoint":"c","proof":[]}'],
  ['a fractional index', '{"index":1.5,"checkpoint":"c","proof":[]}'],
  ['proof not an array', '{"index":1,"checkpoint":"c","proof":{}}'],
  ['a proof hash that is a number', '{"index":1,"checkpoint":"c","proof":[7]}'],
  ['a proof hash of bad base64', '{"index":1,"checkpoint":"c","proof":["!!"]}'],
  ['duplicate keys', '{"index":1,"index":2,"checkpoint":"c","proof":[]}'],
  ['__proto__', '{"__proto__":{},"index":1,"checkpoint":"c","proof":[]}'],
  ['not JSON', 'hello'],
  ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
  ['over the cap', `{"index":1,"checkpoint":"${'x'.repeat(MAX_ADD_RESPONSE_BYTES)}","proof":[]}`],
  ['deep nesting', '['.repeat(10_000) + ']'.repeat(10_000)],
];

test('LogClient.add: every hostile answer is a coded refusal, never a raw TypeError', async (t) => {
  const log = await hostileLog(t);
  const client = new LogClient(log.url);
  for (const [what, body] of HOSTILE_ADD_ANSWERS) {
    log.set(200, body);
    const e = await client.add(new Uint8Array([1]), 'token-token-token').then(
      () => undefined,
      (x: unknown) => x,
    );
    assert.ok(isTrustError(e), `${what}: expected a coded error, got ${String(e)}`);
    assert.ok(['ERR_LOG_RESPONSE', 'ERR_LIMIT_SIZE'].includes(e.code), `${what}: ${e.code} ${e.message}`);
    assert.ok(e.exitCode === 1 || e.exitCode === 3, what);
  }
});

test('relayed log codes keep their class; server text is escaped; unknown or foreign codes stay ERR_LOG_RESPONSE', async (t) => {
  const log = await hostileLog(t);
  const client = new LogClient(log.url);
  log.set(401, '{"ok":false,"code":"ERR_LOG_UNAUTHORIZED","message":"no\\u001b[2J token\\r\\nforged line"}');
  const e = await client.add(new Uint8Array([1]), 'token-token-token').catch((x: unknown) => x);
  assert.ok(e instanceof PolicyError, String(e));
  assert.equal(e.code, 'ERR_LOG_UNAUTHORIZED');
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  assert.ok(!/[\u0000-\u001f]/.test(e.message), JSON.stringify(e.message));
  assert.match(e.message, /no\\x1b\[2J token\\x0d\\x0aforged line/);

  log.set(503, '{"code":"ERR_LOG_OVERLOADED","message":"busy"}');
  const busy = await client.add(new Uint8Array([1]), 'token-token-token').catch((x: unknown) => x);
  assert.ok(busy instanceof IoError && busy.code === 'ERR_LOG_OVERLOADED');
  // A code outside the log's areas, or not in the table, is not taken from the server.
  log.set(422, '{"code":"ERR_PKG_SIGNATURE_INVALID","message":"x"}');
  await assertRejectsCode(client.add(new Uint8Array([1]), 'token-token-token'), 'ERR_LOG_RESPONSE');
  log.set(400, '{"code":"ERR_LOG_MADE_UP","message":"x"}');
  await assertRejectsCode(client.add(new Uint8Array([1]), 'token-token-token'), 'ERR_LOG_RESPONSE');
  log.set(500, 'null');
  await assertRejectsCode(client.add(new Uint8Array([1]), 'token-token-token'), 'ERR_LOG_RESPONSE');
  log.set(500, '["ERR_LOG_CLOSED"]');
  await assertRejectsCode(client.add(new Uint8Array([1]), 'token-token-token'), 'ERR_LOG_RESPONSE');
});

test('custody log add against a hostile log: coded errors with exit 1 or 3, never 70, control characters escaped', async (t) => {
  const dir = tmpDir(t);
  const log = await hostileLog(t);
  writeFileSync(join(dir, 'token'), 'token-token-token-token\n');
  writeFileSync(join(dir, 'entry'), 'entry\n');
  const vkey = formatVerifierKey('example.com/log', PrivateKey.generate().publicKey);
  const args = ['log', 'add', log.url, '--token-file', 'token', '--entry', 'entry', '--key', vkey];
  for (const [what, body] of HOSTILE_ADD_ANSWERS) {
    log.set(200, body);
    const r = await cli(args, { cwd: dir });
    assert.ok(r.code === 1 || r.code === 3, `${what}: exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /custody: error: .* \[ERR_(LOG_RESPONSE|LIMIT_SIZE)\]/, what);
  }
  log.set(403, '{"code":"ERR_LOG_UNAUTHORIZED","message":"\\u001b]0;pwned\\u0007 denied"}');
  const r = await cli(args, { cwd: dir });
  assert.equal(r.code, 1);
  assert.ok(!r.stderr.includes('\u001b') && !r.stderr.includes('\u0007'), JSON.stringify(r.stderr));
  assert.match(r.stderr, /\\x1b\]0;pwned\\x07 denied \[ERR_LOG_UNAUTHORIZED\]/);
});

test('the log client follows no redirect: a 3xx is an answer, coded ERR_LOG_RESPONSE', async (t) => {
  const log = await hostileLog(t);
  const client = new LogClient(log.url);
  for (const status of [301, 302, 307, 308]) {
    log.set(status, '', 'text/plain');
    const e = await client.fetchCheckpoint().then(
      (text) => assert.fail(`followed the redirect: ${JSON.stringify(text)}`),
      (x: unknown) => x,
    );
    assert.ok(isTrustError(e) && e.code === 'ERR_LOG_RESPONSE', String(e));
    assert.match(e.message, new RegExp(`HTTP ${status}`));
  }
});
