/**
 * server/http onConnectionGone: the callback runs once per response even when a reset closes the socket and the
 * response together (Node emits the response's 'close' from inside the socket's), and a connection carrying many
 * pipelined responses gets one 'close' listener, not one per response (no MaxListeners warning).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { onConnectionGone } from '../../src/server/http.ts';

test('onConnectionGone: once per response on a reset mid-answer; one socket listener for 30 pipelined responses', async (t) => {
  let held = 0;
  let finished = 0;
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const server = createServer((req, res) => {
    if (req.url === '/hold') {
      onConnectionGone(res, () => held++);
      res.write('partial'); // never ended: only the client's reset ends it
      return;
    }
    onConnectionGone(res, () => finished++);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;

  await new Promise<void>((resolve) => {
    const c = connect(port, '127.0.0.1', () => c.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n'));
    c.once('data', () => c.resetAndDestroy());
    c.on('close', () => resolve());
    c.on('error', () => undefined);
  });
  for (let i = 0; i < 200 && held === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(held, 1);

  const n = 30;
  await new Promise<void>((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n)));
    let text = '';
    c.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.split('HTTP/1.1 200').length - 1 === n && text.endsWith('ok')) c.end();
    });
    c.on('close', () => resolve());
    c.on('error', reject);
  });
  for (let i = 0; i < 200 && finished < n; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(finished, n);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), []);
});
