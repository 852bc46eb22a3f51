/**
 * fuzz/targets/discovery — what mirrors and discovery read from the network (issue 14): an upstream's channel index
 * (src/server/mirror/channel-index.ts, the `releases` list of GET /).
 */
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
