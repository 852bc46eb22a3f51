/**
 * fuzz/targets/discovery — what mirrors and discovery read from the network (issue 14): an upstream's channel index
 * (src/server/mirror/channel-index.ts, the `releases` list of GET /), and the HTTP(S) URL a peer's signed record
 * names (src/discovery/addresses.ts multiaddrToUrl), and mDNS packets (src/discovery/mdns.ts).
 */
import { multiaddrToUrl, urlToMultiaddr } from '../../src/discovery/addresses.ts';
import { formatAnswer, formatQuery, parseDnsMessage, providersOf } from '../../src/discovery/mdns.ts';
import { parseChannelIndex } from '../../src/server/mirror/channel-index.ts';
import { jsonFieldMutations } from '../structured.ts';
import { enc, type FuzzTarget } from '../target.ts';

const INDEX = {
  name: 'custody-provider',
  trust: { fingerprint: `sha256:${'ab'.repeat(32)}`, root_url: '/trust/root.json' },
  releases: [
    { channel: 'stable', arch: 'x86_64', version: '1.0', sequence: 7, manifest_url: '/stable/x86_64/manifest.json' },
    { channel: 'beta', arch: 'aarch64', version: '2.0', sequence: 9, manifest_url: '/beta/aarch64/manifest.json' },
  ],
};

export const channelIndex: FuzzTarget = {
  name: 'channel-index',
  parses: "an upstream provider's channel index (GET /) read by a mirror",
  make() {
    return Promise.resolve({
      seeds: [enc.encode(JSON.stringify(INDEX)), enc.encode('{"releases":[]}')],
      structured: jsonFieldMutations([INDEX as never]),
      run(input: Uint8Array) {
        const out = parseChannelIndex(input);
        // Every pair it returns must be usable as URL segments as they are.
        for (const { channel, arch } of out) if (encodeURIComponent(channel) !== channel || encodeURIComponent(arch) !== arch) throw new Error('unsafe name');
        return out;
      },
    });
  },
};

export const peerRecordUrl: FuzzTarget = {
  name: 'peer-record-url',
  parses: "the HTTP(S) URL in a peer's signed record (multiaddr text → URL)",
  make() {
    const seeds = ['/ip4/127.0.0.1/tcp/8080/http', '/ip6/::1/tcp/443/https/p2p/12D3KooWFmCh4THdhVE35FhSZe37bL7tHpPKGKUHa1QxJK1W26gL', '/dns/boot.example/tcp/443/tls/http'];
    return Promise.resolve({
      seeds: seeds.map((x) => enc.encode(x)),
      run(input: Uint8Array) {
        const url = multiaddrToUrl(Buffer.from(input).toString('latin1'));
        // Oracle: what is read back is a base URL that writes back to a multiaddr naming the same URL.
        if (url !== undefined && multiaddrToUrl(urlToMultiaddr(url)) !== url) throw new Error(`round trip differs: ${url}`);
        return url;
      },
    });
  },
};

export const mdnsPacket: FuzzTarget = {
  name: 'mdns-packet',
  parses: 'mDNS / DNS-SD packets (_phase-image._tcp.local answers and questions)',
  make() {
    const answer = formatAnswer(1, [{ channel: 'stable', arch: 'x86_64', version: '1.0' }, { channel: 'beta', arch: 'aarch64', version: '2' }], { httpPort: 8080, host: 'boot', instanceId: 'abcd', question: true });
    return Promise.resolve({
      seeds: [new Uint8Array(answer), new Uint8Array(formatQuery(5))],
      run(input: Uint8Array) {
        const m = parseDnsMessage(input);
        const ps = providersOf(m, '10.0.0.1');
        for (const p of ps) if (!/^http:\/\/10\.0\.0\.1:[1-9][0-9]{0,4}\/$/.test(p.url)) throw new Error(`unexpected URL ${p.url}`);
        return ps.length;
      },
    });
  },
};
