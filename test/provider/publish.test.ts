/**
 * Uploads and hostile answers around `custody publish` and `custody fetch`:
 * - the same file published twice, 20 times in a row, always succeeds (the client asks with HEAD first; the daemon
 *   reads and drops the small body of an upload of a blob it already stores instead of closing on a sender);
 * - an upload declaring more than the cap is refused 413 from its header, before any byte is read;
 * - hostile JSON answers of a provider (null, arrays, wrong types, over the cap, control characters) give coded
 *   errors, exit 1 or 3, never 70; relayed provider codes keep their class.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { PolicyError, isTrustError } from '../../src/errors.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { bearer, putIncoming, start } from './harness.ts';

test('publishing the same file twice, 20 times in a row, always succeeds', { timeout: 300_000 }, async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'), { rateLimitPerIp: 0 });
  const token = join(d.dataDir, 'admin.token');
  for (let i = 0; i < 20; i++) {
    const file = join(dir, `rootfs-${i}.img`);
    writeFileSync(file, randomBytes(200_000 + i * 5_000));
    const first = await cli(['publish', d.url, '--token-file', token, '--channel', 'stable', '--arch', 'x86_64', file], { cwd: dir });
    assert.equal(first.code, 0, `round ${i}, first: ${first.stderr}`);
    assert.match(first.stdout, /^uploaded /m);
    const again = await cli(['publish', d.url, '--token-file', token, '--channel', 'stable', '--arch', 'x86_64', file], { cwd: dir });
    assert.equal(again.code, 0, `round ${i}, again: ${again.stderr}`);
    assert.match(again.stdout, /^present /m);
  }
  // A client that does not ask first and sends the whole body of a stored blob gets its answer too (the daemon
  // drains small bodies rather than closing while the client is still sending).
  const body = randomBytes(300_000);
  const sha = (await import('node:crypto')).createHash('sha256').update(body).digest('hex');
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${d.url}/admin/v1/blobs/sha256/${sha}`, { method: 'PUT', headers: bearer(d), body });
    assert.equal(r.status, i === 0 ? 201 : 200, `try ${i}`);
    assert.equal(((await r.json()) as { created: boolean }).created, i === 0);
  }
});

/** rawRequest sends exactly `head` (and nothing else) and returns what the server answered before closing. */
function rawRequest(url: string, head: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(head));
    let got = '';
    s.on('data', (c) => (got += c.toString('latin1')));
    s.on('end', () => resolve(got));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

test('an upload declaring more than the cap is refused 413 from its header, before any byte is read', async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  const hex = 'ab'.repeat(32);
  const auth = bearer(d).authorization!;
  // 9 GiB declared, not one byte sent: the answer can only come from the header.
  const answer = await rawRequest(
    d.url,
    `PUT /admin/v1/blobs/sha256/${hex} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${9 * 1024 ** 3}\r\n\r\n`,
  );
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /"code":"ERR_LIMIT_SIZE"/);
  assert.match(answer, /over the cap of 8589934592/);
  assert.match(answer, /connection: close/i);
  const tmp = join(d.dataDir, 'blobs', 'tmp');
  assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], []);
  assert.ok(!existsSync(join(d.dataDir, 'blobs', 'sha256', 'ab')));
  // Without the token the declared size is not even looked at: 401 first.
  const anon = await rawRequest(d.url, `PUT /admin/v1/blobs/sha256/${hex} HTTP/1.1\r\nHost: x\r\nContent-Length: ${9 * 1024 ** 3}\r\n\r\n`);
  assert.match(anon, /^HTTP\/1\.1 401 /);
});

test('with a small configured cap: a larger declared upload is refused from the header, a larger chunked one while streaming', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'), { maxBlobBytes: 1000 });
  const hex = 'cd'.repeat(32);
  const auth = bearer(d).authorization!;
  const answer = await rawRequest(d.url, `PUT /admin/v1/blobs/sha256/${hex} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Length: 1001\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /declares 1001 bytes, over the cap of 1000/);
  // No Content-Length (chunked): the cap is enforced on the bytes as they arrive, and nothing stays in blobs/tmp.
  const chunked = await fetch(`${d.url}/admin/v1/blobs/sha256/${hex}`, {
    method: 'PUT',
    headers: bearer(d),
    body: new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array(800));
        c.enqueue(new Uint8Array(800));
        c.close();
      },
    }),
    duplex: 'half',
  }).catch(() => undefined);
  if (chunked !== undefined) {
    assert.equal(chunked.status, 413);
    assert.equal(((await chunked.json()) as { code: string }).code, 'ERR_LIMIT_SIZE');
  }
  const tmp = join(d.dataDir, 'blobs', 'tmp');
  assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], []);
  // At the cap is fine.
  const ok = await fetch(`${d.url}/admin/v1/blobs/sha256/${(await import('node:crypto')).createHash('sha256').update(Buffer.alloc(1000)).digest('hex')}`, {
    method: 'PUT',
    headers: bearer(d),
    body: Buffer.alloc(1000),
  });
  assert.equal(ok.status, 201);
});

/** hostile answers every request with `answer` unless it is a GET proxied to `upstream`. */
async function hostile(t: TestContext, answer: (req: IncomingMessage, res: ServerResponse) => boolean, upstream?: string): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    if (answer(req, res)) return;
    if (upstream === undefined) {
      res.writeHead(404).end();
      return;
    }
    void fetch(upstream + req.url!).then(async (r) => res.writeHead(r.status).end(Buffer.from(await r.arrayBuffer())));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('custody publish against a provider answering hostile JSON: coded errors, exit 1 or 3, never 70', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'token'), 'token-token-token-token\n', { mode: 0o600 });
  writeFileSync(join(dir, 'vmlinuz'), 'kernel');
  const cases: Array<[string, number, string | Buffer]> = [
    ['null', 200, 'null'],
    ['an array', 201, '[]'],
    ['created as a string', 201, '{"ok":true,"created":"yes"}'],
    ['not JSON', 200, '<html>'],
    ['over the cap', 200, `{"x":"${'y'.repeat(5 * 1024 * 1024)}"}`],
    ['duplicate keys', 201, '{"created":true,"created":false}'],
    ['a refusal with control characters', 400, '{"code":"ERR_X\\u001b","message":"\\u001b[31mred\\r\\nforged","hint":"\\u0007bell"}'],
  ];
  for (const [what, status, body] of cases) {
    const url = await hostile(t, (req, res) => {
      if (req.method === 'HEAD') res.writeHead(404).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      return true;
    });
    const r = await cli(['publish', url, '--token-file', 'token', '--channel', 'stable', '--arch', 'x86_64', 'vmlinuz'], { cwd: dir });
    assert.ok(r.code === 1 || r.code === 3, `${what}: exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /\[ERR_(PROVIDER_RESPONSE|LIMIT_SIZE)\]/, what);
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    assert.ok(!/[\u0000-\u0009\u000b-\u001f]/.test(r.stderr), `${what}: ${JSON.stringify(r.stderr)}`);
  }
  // The blob is stored; the release answer is hostile.
  const url = await hostile(t, (req, res) => {
    if (req.method === 'HEAD') res.writeHead(200).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"sequence":"7","digest":null}');
    return true;
  });
  const r = await cli(['publish', url, '--token-file', 'token', '--channel', 'stable', '--arch', 'x86_64', 'vmlinuz'], { cwd: dir });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /expected "sequence" \(number\) in the provider answer \[ERR_PROVIDER_RESPONSE\]/);
});

test('custody fetch: hostile refusal bodies are coded, relayed provider codes keep their class, texts are escaped', async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'kernel' });
  await d.rescan();
  const base = { channel: 'stable', arch: 'x86_64', trust: { fingerprint: d.identity.fingerprint }, outputDir: join(dir, 'out'), now: () => new Date() };
  const bodies: Array<[number, string]> = [
    [500, 'null'],
    [400, '[{"code":"ERR_PROVIDER_NOT_FOUND"}]'],
    [400, '{"code":7}'],
    [403, `{"code":"ERR_PROVIDER_UNAUTHORIZED","message":"${'x'.repeat(70_000)}"}`],
    [400, '{"code":"ERR_PROVIDER_RESPONSE","code":"ERR_PROVIDER_NOT_FOUND"}'],
  ];
  for (const [status, body] of bodies) {
    const url = await hostile(t, (req, res) => {
      if (!req.url!.endsWith('manifest.json')) return false;
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      return true;
    }, d.url);
    const e = await fetchRelease({ ...base, providers: [url] }).catch((x: unknown) => x);
    assert.ok(isTrustError(e), String(e));
    assert.equal(e.code, 'ERR_PROVIDER_RESPONSE', `${status} ${body.slice(0, 60)}: ${e.message}`);
  }
  const denied = await hostile(t, (req, res) => {
    if (!req.url!.endsWith('manifest.json')) return false;
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":"ERR_PROVIDER_UNAUTHORIZED","message":"\\u001b[2Jgo away\\r\\n"}');
    return true;
  }, d.url);
  const e = await fetchRelease({ ...base, providers: [denied] }).catch((x: unknown) => x);
  assert.ok(e instanceof PolicyError, String(e));
  assert.equal(e.code, 'ERR_PROVIDER_UNAUTHORIZED');
  const r = await cli(['fetch', denied, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', 'o'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.ok(!r.stderr.includes('\u001b'), JSON.stringify(r.stderr));
  assert.match(r.stderr, /\\x1b\[2Jgo away\\x0d\\x0a \[ERR_PROVIDER_UNAUTHORIZED\]/);
});
