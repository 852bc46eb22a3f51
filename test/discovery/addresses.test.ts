/**
 * discovery/addresses and discovery/peer-key: the URL ⇄ multiaddr mapping read from signed peer records (strict,
 * bounded, never throws on network input) and the persistent peer key file (0600, refused when damaged).
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { contentKeyText, manifestUrl, multiaddrToUrl, urlToMultiaddr } from '../../src/discovery/addresses.ts';
import { PEER_KEY_PREFIX, loadOrCreatePeerKey, parsePeerKey, peerKeyPath } from '../../src/discovery/peer-key.ts';
import { loadRanking, rankingPath, recordVerified } from '../../src/discovery/ranking.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';

test('multiaddrToUrl reads http(s) multiaddrs only', () => {
  const rows: Array<[string, string | undefined]> = [
    ['/ip4/127.0.0.1/tcp/8080/http', 'http://127.0.0.1:8080/'],
    ['/ip4/127.0.0.1/tcp/8080/http/p2p/12D3KooWFmCh4THdhVE35FhSZe37bL7tHpPKGKUHa1QxJK1W26gL', 'http://127.0.0.1:8080/'],
    ['/ip6/::1/tcp/8443/https', 'https://[::1]:8443/'],
    ['/dns/Boot.Example/tcp/443/tls/http', 'https://boot.example/'],
    ['/dns4/boot.example/tcp/80/http', 'http://boot.example/'],
    ['/ip4/127.0.0.1/tcp/4001', undefined],
    ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFmCh4THdhVE35FhSZe37bL7tHpPKGKUHa1QxJK1W26gL', undefined],
    ['/ip4/127.0.0.1/udp/8080/http', undefined],
    ['/ip4/999.0.0.1/tcp/8080/http', undefined],
    ['/ip4/127.0.0.1/tcp/0/http', undefined],
    ['/ip4/127.0.0.1/tcp/65536/http', undefined],
    ['/ip4/127.0.0.1/tcp/08080/http', undefined],
    ['/dns/evil.example@x/tcp/80/http', undefined],
    ['/dns/a..b/tcp/80/http', undefined],
    ['/ip4/127.0.0.1/tcp/80/http/extra', undefined],
    ['ip4/127.0.0.1/tcp/80/http', undefined],
    ['/ip4/127.0.0.1/tcp/80/http' + '/x'.repeat(600), undefined],
  ];
  for (const [ma, url] of rows) assert.equal(multiaddrToUrl(ma), url, ma);
});

test('urlToMultiaddr writes base URLs and refuses what a multiaddr cannot hold', () => {
  assert.equal(urlToMultiaddr('http://127.0.0.1:8080'), '/ip4/127.0.0.1/tcp/8080/http');
  assert.equal(urlToMultiaddr('https://boot.example/'), '/dns/boot.example/tcp/443/https');
  assert.equal(urlToMultiaddr('http://[::1]:81/'), '/ip6/::1/tcp/81/http');
  for (const u of ['http://127.0.0.1:8080/sub/', 'ftp://x/', 'http://u:p@x/', 'http://x/?q', 'not a url']) assertCode(() => urlToMultiaddr(u), 'ERR_DISCOVERY_ANNOUNCE_URL');
  assert.equal(contentKeyText('stable', 'x86_64'), '/phase/stable/x86_64/manifest');
  assert.equal(manifestUrl('http://127.0.0.1:8080/', 'stable', 'x86_64'), 'http://127.0.0.1:8080/stable/x86_64/manifest.json');
});

test('the peer key is made once (0600) and reused; a damaged one is refused', async (t) => {
  const dir = tmpDir(t);
  const path = peerKeyPath(dir);
  const a = await loadOrCreatePeerKey(path);
  assert.equal(a.created, true);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.ok(readFileSync(path, 'latin1').startsWith(PEER_KEY_PREFIX));
  const b = await loadOrCreatePeerKey(path);
  assert.equal(b.created, false);
  assert.deepEqual(b.seed, a.seed);
  writeFileSync(path, 'PRIVATE+CUSTODY+P2P+ED25519+zz\n');
  await assertRejectsCode(loadOrCreatePeerKey(path), 'ERR_DISCOVERY_PEER_KEY');
  assertCode(() => parsePeerKey(''), 'ERR_DISCOVERY_PEER_KEY');
});

test('the ranking counts verified fetches per peer and ignores a damaged file', async (t) => {
  const dir = tmpDir(t);
  const path = rankingPath(dir);
  assert.equal((await loadRanking(path)).size, 0);
  await recordVerified(path, ['12D3KooWA', '12D3KooWB']);
  await recordVerified(path, ['12D3KooWB']);
  assert.deepEqual([...(await loadRanking(path))], [['12D3KooWB', 2], ['12D3KooWA', 1]]);
  writeFileSync(join(dir, 'p2p', 'providers.json'), '{"verified": {"../x": 5, "12D3KooWC": -1, "12D3KooWD": 3}}');
  assert.deepEqual([...(await loadRanking(path))], [['12D3KooWD', 3]]);
  writeFileSync(join(dir, 'p2p', 'providers.json'), 'garbage');
  assert.equal((await loadRanking(path)).size, 0);
});

test('libp2p is imported dynamically and only by discovery/node: other commands never load it', async () => {
  const { readdirSync } = await import('node:fs');
  const root = join(import.meta.dirname, '../../src');
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const staticLibp2p = /^\s*import\s[^;]*?from\s+'(libp2p|@libp2p\/[^']+|@chainsafe\/[^']+|@multiformats\/[^']+|multiformats[^']*)'/m;
  const dynamicLibp2p = /import\('(libp2p|@libp2p\/[^']+|@chainsafe\/[^']+|@multiformats\/[^']+|multiformats[^']*)'\)/;
  const withStatic = files.filter((f) => staticLibp2p.test(readFileSync(join(root, f), 'utf8')));
  const withDynamic = files.filter((f) => dynamicLibp2p.test(readFileSync(join(root, f), 'utf8')));
  assert.deepEqual(withStatic, []);
  assert.deepEqual(withDynamic, ['discovery/node.ts']);
});
