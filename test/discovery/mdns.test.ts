/**
 * mDNS / DNS-SD discovery (_phase-image._tcp.local., discovery/mdns): the bounded parser against hostile packets, a
 * responder and browser over loopback unicast, and end to end inside two network namespaces this test creates
 * (`ip netns`, a veth pair, both ends on this machine): `custody serve --mdns` in one, `custody discover --mdns` in
 * the other, over real multicast. Skipped loudly where namespaces cannot be made (not root, no iproute2).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { MDNS_SERVICE, browseMdns, formatAnswer, formatQuery, parseDnsMessage, providersOf, startMdnsResponder } from '../../src/discovery/mdns.ts';
import { assertCode } from '../support/assert.ts';
import { CLI_MAIN, TSX_LOADER } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

test('answers round-trip through the parser; hostile packets are refused with ERR_DISCOVERY_MDNS', () => {
  const a = formatAnswer(7, [{ channel: 'stable', arch: 'x86_64', version: '1.2' }], { httpPort: 8080, host: 'boot', instanceId: 'abcd', question: true });
  const m = parseDnsMessage(a);
  assert.equal(m.id, 7);
  assert.equal(m.response, true);
  assert.deepEqual(m.questions, [{ name: MDNS_SERVICE, type: 12 }]);
  assert.deepEqual(providersOf(m, '10.0.0.5'), [{ url: 'http://10.0.0.5:8080/', channel: 'stable', arch: 'x86_64', version: '1.2' }]);
  assert.equal(parseDnsMessage(formatQuery(9)).response, false);
  // A TXT record with a bad channel, a bad port, or for another service gives no provider.
  const odd = formatAnswer(1, [{ channel: 'Stable!', arch: 'x86_64', version: '1' }], { httpPort: 8080, host: 'b', instanceId: 'x' });
  assert.deepEqual(providersOf(parseDnsMessage(odd), '10.0.0.5'), []);

  const loop = Buffer.from([0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 12, 0, 1]); // a pointer to itself
  const forward = Buffer.from([0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 20, 0, 12, 0, 1, 0, 0, 0]);
  const longLabel = Buffer.concat([Buffer.from([0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64]), Buffer.alloc(64, 97), Buffer.from([0, 0, 12, 0, 1])]);
  const manyRecords = Buffer.from([0, 0, 0x84, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);
  const rdataPastEnd = Buffer.concat([a.subarray(0, a.length - 3)]);
  for (const bad of [Buffer.alloc(5), loop, forward, longLabel, manyRecords, rdataPastEnd, Buffer.alloc(9001)]) assertCode(() => parseDnsMessage(bad), 'ERR_DISCOVERY_MDNS');
});

test('a responder answers a legacy unicast query (loopback) with what it serves now', async (t) => {
  let adverts = [{ channel: 'stable', arch: 'x86_64', version: '7' }];
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const r = await startMdnsResponder({ adverts: () => adverts, httpPort: 8080, host: 'boot', instanceId: 'test', port });
  t.after(() => r.stop());
  const target = { address: '127.0.0.1', port };
  assert.deepEqual(await browseMdns({ channel: 'stable', arch: 'x86_64', timeoutMs: 500, target }), [{ url: 'http://127.0.0.1:8080/', channel: 'stable', arch: 'x86_64', version: '7' }]);
  assert.deepEqual(await browseMdns({ channel: 'beta', arch: 'x86_64', timeoutMs: 300, target }), []);
  adverts = [];
  assert.deepEqual(await browseMdns({ channel: 'stable', arch: 'x86_64', timeoutMs: 300, target }), []);
});

/** netns makes two namespaces joined by a veth pair (10.99.x.1 ⇄ 10.99.x.2) with multicast routed over it. */
function netns(t: TestContext): { a: string; b: string; addrA: string } | undefined {
  const id = `${process.pid % 10_000}${Math.floor(Math.random() * 100)}`;
  const a = `custody-a${id}`;
  const b = `custody-b${id}`;
  const net = `10.99.${Number(id) % 250}`;
  const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });
  try {
    ip('netns', 'add', a);
  } catch (e) {
    return void t.skip(`SKIPPED LOUDLY: cannot create a network namespace (ip netns add: ${(e as Error).message.split('\n')[0]}); mDNS over multicast is not tested here`);
  }
  t.after(() => {
    for (const n of [a, b]) {
      try {
        ip('netns', 'del', n);
      } catch {
        /* already gone */
      }
    }
  });
  ip('netns', 'add', b);
  ip('link', 'add', `va${id}`, 'type', 'veth', 'peer', 'name', `vb${id}`);
  ip('link', 'set', `va${id}`, 'netns', a);
  ip('link', 'set', `vb${id}`, 'netns', b);
  for (const [ns, dev, addr] of [[a, `va${id}`, `${net}.1`], [b, `vb${id}`, `${net}.2`]] as const) {
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev);
  }
  return { a, b, addrA: `${net}.1` };
}

function inNs(t: TestContext, ns: string, cwd: string, args: string[]) {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', TSX_LOADER, CLI_MAIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => proc.kill('SIGKILL'));
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  return { proc, out: () => out, err: () => err, exited };
}

test('custody serve --mdns in one network namespace is found by custody discover --mdns in another (real multicast)', async (t) => {
  const ns = netns(t);
  if (ns === undefined) return;
  const dir = tmpDir(t);
  const serve = inNs(t, ns.a, dir, ['serve', '--data', join(dir, 'origin'), '--host', ns.addrA, '--port', '0', '--workers', '1', '--mdns', '--ephemeral', '--json', '--log-level', 'warn']);
  const end = Date.now() + 60_000;
  while (!serve.out().includes('\n')) {
    if (Date.now() > end) throw new Error(`serve did not start: ${serve.err()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const info = JSON.parse(serve.out().split('\n')[0]!) as { url: string; sample: { channel: string; arch: string } };
  const d = inNs(t, ns.b, dir, ['discover', '--mdns', '--ephemeral', '--channel', info.sample.channel, '--arch', info.sample.arch, '--timeout', '10s']);
  assert.equal(await d.exited, 0, d.err());
  assert.equal(d.out().trim(), `MANIFEST_URL=${info.url}/${info.sample.channel}/${info.sample.arch}/manifest.json`);
  serve.proc.kill('SIGTERM');
  assert.equal(await serve.exited, 0, serve.err());
});
