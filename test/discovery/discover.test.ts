/**
 * discovery/discover against hostile DHT answers, with a scripted P2pNode (the libp2p side is exercised by
 * p2p.test.ts): a flood of bogus provider records, peers that never answer the dial, ranking of providers that
 * served verified content before. The search must stay bounded in candidates, concurrency and time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MAX_CANDIDATES, DIAL_CONCURRENCY, discoverProviders } from '../../src/discovery/discover.ts';
import type { FoundProvider, P2pNode } from '../../src/discovery/node.ts';
import { assertRejectsCode } from '../support/assert.ts';

/**
 * fakeNode yields `records` for every lookup; `urls` answers a dial after `delayMs` (undefined: never answers); an
 * aborted dial answers nothing.
 */
function fakeNode(records: () => FoundProvider[], urls: (id: string) => string[] | undefined, delayMs: (id: string) => number = () => 5) {
  const stats = { dials: 0, inFlight: 0, maxInFlight: 0, lookups: 0 };
  const node: P2pNode = {
    peerId: 'client',
    listenAddrs: () => [],
    provide: () => Promise.resolve(),
    withdraw: () => Promise.resolve(),
    findProviders: async function* (_c, _a, signal) {
      stats.lookups++;
      for (const r of records()) {
        if (signal.aborted) return;
        yield r;
        await Promise.resolve();
      }
    },
    certifiedUrls: (p, signal) => {
      stats.dials++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      const u = urls(p.peerId);
      return new Promise<string[]>((resolve) => {
        let ended = false;
        const end = (v: string[]): void => {
          if (ended) return;
          ended = true;
          stats.inFlight--;
          resolve(v);
        };
        if (signal.aborted) return end([]);
        const timer = u === undefined ? undefined : setTimeout(() => end(u), delayMs(p.peerId));
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          end([]);
        });
      });
    },
    connectedPeers: () => [],
    stop: () => Promise.resolve(),
  };
  return { node, stats };
}

test('a flood of bogus records that never answer: bounded candidates and concurrency, a coded refusal at the deadline', async () => {
  const flood = Array.from({ length: 10_000 }, (_, i) => ({ peerId: `bogus${i}`, addrs: ['/ip4/192.0.2.1/tcp/1'] }));
  const { node, stats } = fakeNode(() => flood, () => undefined);
  await assertRejectsCode(discoverProviders(node, { channel: 'stable', arch: 'x86_64', timeoutMs: 600, dialTimeoutMs: 100 }), 'ERR_DISCOVERY_NO_PROVIDER');
  assert.equal(stats.dials, DEFAULT_MAX_CANDIDATES);
  assert.ok(stats.maxInFlight <= DIAL_CONCURRENCY, `at most ${DIAL_CONCURRENCY} dials at once, saw ${stats.maxInFlight}`);
  assert.equal(stats.inFlight, 0);
});

test('an honest provider among silent ones is found; providers that served verified content before come first', async () => {
  const records = [
    { peerId: 'silent1', addrs: [] },
    { peerId: 'honestA', addrs: [] },
    { peerId: 'silent2', addrs: [] },
    { peerId: 'honestB', addrs: [] },
  ];
  const urls: Record<string, string[]> = { honestA: ['http://10.0.0.1:8080/'], honestB: ['http://10.0.0.2:8080/', 'http://10.0.0.1:8080/'] };
  const { node } = fakeNode(() => records, (id) => urls[id]);
  const found = await discoverProviders(node, { channel: 'stable', arch: 'x86_64', timeoutMs: 2_000, dialTimeoutMs: 100, settleMs: 300, preferred: new Map([['honestB', 3]]) });
  // The same URL claimed by two peers is listed once; the preferred peer first.
  assert.deepEqual(found.map((f) => [f.peerId, f.url, f.preferred]), [
    ['honestB', 'http://10.0.0.2:8080/', true],
    ['honestA', 'http://10.0.0.1:8080/', false],
  ]);
  assert.equal(found[0]!.manifestUrl, 'http://10.0.0.2:8080/stable/x86_64/manifest.json');
});

test('records that appear only later are found by a retried lookup, before the deadline', async () => {
  const start = Date.now();
  const { node, stats } = fakeNode(() => (Date.now() - start > 400 ? [{ peerId: 'late', addrs: [] }] : []), () => ['http://10.0.0.3:8080/']);
  const found = await discoverProviders(node, { channel: 'stable', arch: 'x86_64', timeoutMs: 5_000, enough: 1 });
  assert.deepEqual(found.map((f) => f.peerId), ['late']);
  assert.ok(stats.lookups > 1);
});

test('one peer listing many URLs fills at most its share: the search goes on to the honest peer behind it', async () => {
  // The hostile record comes first and answers at once; the honest peer is named second.
  const records = [
    { peerId: 'hostile', addrs: [] },
    { peerId: 'honest', addrs: [] },
  ];
  const many = Array.from({ length: 40 }, (_, i) => `http://198.51.100.${i + 1}:8080/`);
  const { node } = fakeNode(() => records, (id) => (id === 'hostile' ? many : ['http://10.0.0.9:8080/']), (id) => (id === 'hostile' ? 5 : 150));
  const found = await discoverProviders(node, { channel: 'stable', arch: 'x86_64', timeoutMs: 5_000, dialTimeoutMs: 200, enough: 2, settleMs: 2_000 });
  assert.deepEqual(found.filter((f) => f.peerId === 'hostile').map((f) => f.url), many.slice(0, 2), 'two URLs of the hostile peer');
  assert.ok(found.some((f) => f.peerId === 'honest' && f.url === 'http://10.0.0.9:8080/'), 'the honest peer was found');
});
