/**
 * Provider refusals no other test reached, against the real daemon on a loopback port: a release with no artifacts
 * (ERR_PROVIDER_RELEASE_EMPTY, HTTP 400 from the admin API), and a provider answering an HTTP status the client does
 * not expect (ERR_PROVIDER_RESPONSE, reported per provider while the fetch fails over).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fetchRelease } from '../../src/client/provider-client.ts';
import { isTrustError } from '../../src/errors.ts';
import { tmpDir } from '../support/tmp.ts';
import { bearer, get, putIncoming, start } from '../provider/harness.ts';

test('admin API: a release with no artifacts is ERR_PROVIDER_RELEASE_EMPTY (400) and releases nothing', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'));
  const r = await get(d, '/admin/v1/releases/stable/x86_64', {
    method: 'POST',
    headers: { ...bearer(d), 'content-type': 'application/json' },
    body: JSON.stringify({ artifacts: {} }),
  });
  assert.equal(r.status, 400);
  assert.equal(r.json().code, 'ERR_PROVIDER_RELEASE_EMPTY');
  assert.equal((await get(d, '/stable/x86_64/manifest.json')).status, 404);
});

test('a provider answering HTTP 500 for the manifest is ERR_PROVIDER_RESPONSE; the next provider serves the release', async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'kernel bytes' });
  await d.rescan();
  // A mirror that relays the daemon but fails the manifest with a bare 500.
  const mirror = createServer((req, res) => {
    if (req.url === '/stable/x86_64/manifest.json') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream exploded');
      return;
    }
    void fetch(d.url + req.url!).then(async (r) => res.writeHead(r.status).end(Buffer.from(await r.arrayBuffer())));
  });
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
  t.after(() => mirror.close());
  const broken = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;

  const events: { provider: string; code?: string | undefined }[] = [];
  const base = {
    channel: 'stable',
    arch: 'x86_64',
    trust: { fingerprint: d.identity.fingerprint },
    now: () => new Date(),
    onEvent: (e: { provider: string; code?: string | undefined }) => events.push(e),
  };
  const r = await fetchRelease({ ...base, providers: [broken, d.url], outputDir: join(dir, 'out') });
  assert.equal(r.files.length, 1);
  assert.ok(events.some((e) => e.provider.startsWith(broken) && e.code === 'ERR_PROVIDER_RESPONSE'), JSON.stringify(events));

  // Alone, the broken mirror fails the fetch; the refusal names what it answered.
  await assert.rejects(fetchRelease({ ...base, providers: [broken], outputDir: join(dir, 'out2') }), (e: unknown) => {
    assert.ok(isTrustError(e), String(e));
    assert.equal(e.code, 'ERR_PROVIDER_RESPONSE', e.message);
    assert.match(e.message, /HTTP 500/);
    return true;
  });
});
