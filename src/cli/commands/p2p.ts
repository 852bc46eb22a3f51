/**
 * cli/commands/p2p — provider discovery over libp2p (src/discovery, docs/discovery.md): `custody discover`, and the
 * helpers `custody serve --dht/--mdns` (announce) and `custody fetch --discover` use. This module is loaded only by
 * those; libp2p itself only once a node starts (discovery/node).
 */
import { printable } from '../../encoding/text.ts';
import { UsageError } from '../../errors.ts';
import type { DiscoveredProvider } from '../../discovery/discover.ts';
import type { P2pNode } from '../../discovery/node.ts';
import { abs } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';
import { parseDuration } from '../../encoding/time.ts';
import { DEFAULT_DATA_DIR } from './serve.ts';

/** P2pFlags are the discovery flags shared by serve, discover and fetch. */
export interface P2pFlags {
  bootstrap?: string[] | undefined;
  mdns?: boolean | undefined;
  ephemeral?: boolean | undefined;
  'p2p-listen'?: string[] | undefined;
  'provider-ttl'?: string | undefined;
  data?: string | undefined;
}

/** P2P_OPTIONS are those flags for parseCommandArgs. */
export const P2P_OPTIONS = {
  bootstrap: { type: 'string', multiple: true },
  mdns: { type: 'boolean' },
  ephemeral: { type: 'boolean' },
  'p2p-listen': { type: 'string', multiple: true },
  'provider-ttl': { type: 'string' },
} as const;

/** startNode starts this command's libp2p node: its key from DATA/p2p/peer.key unless --ephemeral. */
export async function startNode(ctx: CommandContext, f: P2pFlags, announce: readonly string[] = []): Promise<{ node: P2pNode; dataDir: string; keyCreated: boolean }> {
  const dataDir = abs(ctx, f.data ?? ctx.env.CUSTODY_DATA ?? DEFAULT_DATA_DIR);
  const ttlMs = f['provider-ttl'] === undefined ? undefined : parseDuration(f['provider-ttl'], '--provider-ttl', { minMs: 1_000, maxMs: 7 * 86_400_000, bareSeconds: true });
  let seed: Uint8Array | undefined;
  let keyCreated = false;
  if (f.ephemeral !== true) {
    const { loadOrCreatePeerKey, peerKeyPath } = await import('../../discovery/peer-key.ts');
    const k = await loadOrCreatePeerKey(peerKeyPath(dataDir));
    seed = k.seed;
    keyCreated = k.created;
  }
  const { startP2pNode } = await import('../../discovery/node.ts');
  const node = await startP2pNode({ seed, listen: f['p2p-listen'], bootstrap: f.bootstrap, announce, mdns: f.mdns, ttlMs });
  seed?.fill(0);
  return { node, dataDir, keyCreated };
}

/**
 * announceForServe starts the node of `custody serve --dht`, announcing `url` (or --announce-url) for every
 * channel/arch `list` returns (checked every `checkMs` for new ones); prints the banner lines.
 */
export async function announceForServe(
  ctx: CommandContext,
  f: P2pFlags & { 'announce-url'?: string | undefined },
  url: string,
  list: () => ReadonlyArray<{ channel: string; arch: string; version: string }>,
  log: (what: string) => void,
): Promise<{ listenAddrs: string[]; peerId: string; stop: () => Promise<void> }> {
  const { urlToMultiaddr } = await import('../../discovery/addresses.ts');
  const announceUrl = f['announce-url'] ?? url;
  const announced = urlToMultiaddr(announceUrl);
  const { node } = await startNode(ctx, f, [announced]);
  const { startAnnouncer } = await import('../../discovery/discover.ts');
  const a = startAnnouncer(node, { list, checkMs: 5_000, onEvent: (e) => log(`${e.channel}/${e.arch}: ${e.what}`) });
  let responder: { stop: () => Promise<void> } | undefined;
  if (f.mdns === true) {
    // DNS-SD _phase-image._tcp.local: the TXT record carries http_port; the client takes the host from the answer.
    const { startMdnsResponder } = await import('../../discovery/mdns.ts');
    const { hostname } = await import('node:os');
    const u = new URL(announceUrl);
    const httpPort = Number(u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : u.port);
    const host = hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63) || 'custody';
    responder = await startMdnsResponder({ adverts: list, httpPort, host, instanceId: node.peerId.slice(-8).toLowerCase() }).catch((e: unknown) => {
      log(`mDNS responder failed: ${(e as Error).message}`);
      return undefined;
    });
  }
  const listenAddrs = node.listenAddrs();
  ctx.print(`  p2p peer id        ${node.peerId}  (announces ${announceUrl}${responder !== undefined ? '; mDNS _phase-image._tcp.local on' : ''})`);
  for (const ma of listenAddrs) ctx.print(`  p2p listen         ${ma}   (use as --bootstrap)`);
  return {
    listenAddrs,
    peerId: node.peerId,
    stop: async () => {
      await responder?.stop();
      await a.stop();
      await node.stop();
    },
  };
}

/** discoverUrls runs one search for `custody fetch --discover`; returns the providers found (ranked). */
export async function discoverUrls(
  ctx: CommandContext,
  f: P2pFlags,
  channel: string,
  arch: string,
  timeoutMs: number,
): Promise<{ providers: DiscoveredProvider[]; record: (peerIds: Iterable<string>) => Promise<void>; stop: () => Promise<void> }> {
  const dht = (f.bootstrap ?? []).length > 0;
  // mDNS answers (untrusted like everything found) are collected beside the DHT search, for at most 3 s.
  const mdns =
    f.mdns === true
      ? import('../../discovery/mdns.ts').then(({ browseMdns }) => browseMdns({ channel, arch, timeoutMs: Math.min(timeoutMs, 3_000) })).catch(() => [])
      : Promise.resolve([]);
  const started = dht ? await startNode(ctx, f) : undefined;
  const dataDir = started?.dataDir ?? abs(ctx, f.data ?? ctx.env.CUSTODY_DATA ?? DEFAULT_DATA_DIR);
  try {
    const { discoverProviders } = await import('../../discovery/discover.ts');
    const { manifestUrl } = await import('../../discovery/addresses.ts');
    const { loadRanking, rankingPath, recordVerified } = await import('../../discovery/ranking.ts');
    const preferred = f.ephemeral === true ? undefined : await loadRanking(rankingPath(dataDir));
    const viaDht = started === undefined ? [] : await discoverProviders(started.node, { channel, arch, timeoutMs, preferred }).catch((e: unknown) => {
      if (f.mdns === true) return [];
      throw e;
    });
    const providers = [...viaDht];
    for (const p of await mdns) {
      if (!providers.some((q) => q.url === p.url)) providers.push({ peerId: 'mdns', url: p.url, manifestUrl: manifestUrl(p.url, channel, arch), preferred: false });
    }
    if (providers.length === 0) {
      const { IoError } = await import('../../errors.ts');
      throw new IoError('ERR_DISCOVERY_NO_PROVIDER', `no provider of ${channel}/${arch} found within ${timeoutMs} ms (DHT${f.mdns === true ? ' and mDNS' : ''})`);
    }
    return {
      providers,
      // An ephemeral client keeps nothing, the ranking included; mDNS answers have no peer id to rank.
      record: (ids) => (f.ephemeral === true ? Promise.resolve() : recordVerified(rankingPath(dataDir), [...ids].filter((id) => id !== 'mdns'))),
      stop: async () => {
        await started?.node.stop();
      },
    };
  } catch (e) {
    await started?.node.stop().catch(() => undefined);
    throw e;
  }
}

export const discover: Command = {
  summary: 'find providers of a channel/arch over the libp2p DHT (or mDNS); discovery is untrusted: verify with fetch',
  usage: `usage: custody discover --channel CH --arch ARCH [--bootstrap MULTIADDR]… [--mdns] [--ephemeral]
                        [--timeout DURATION] [--data DIR] [--p2p-listen MULTIADDR]…

Looks up the provider records of /phase/<channel>/<arch>/manifest in Custody's DHT (reached through --bootstrap
nodes, or peers found with --mdns on the local network), dials each provider found and reads its HTTP(S) URL
from its signed peer record. Prints one MANIFEST_URL=… line per provider (--json: the list). Nothing found is
trusted: pass the URLs to custody fetch, which verifies everything (or use custody fetch --discover).

  --bootstrap MULTIADDR   a node to join the DHT through (repeatable): custody serve --dht prints its own
  --mdns                  also find peers on the local network (mDNS)
  --ephemeral             a fresh peer identity for this run (default: DATA/p2p/peer.key, made on first use)
  --timeout DURATION      give up after this long (default 30s); lookups are retried until then
  --data DIR              where the peer key and the provider ranking live (default $CUSTODY_DATA or ./${DEFAULT_DATA_DIR})
  --p2p-listen MULTIADDR  listen address of this node (default /ip4/127.0.0.1/tcp/0)

example:
  custody discover --channel stable --arch x86_64 --ephemeral --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…`,
  async run(ctx) {
    const { values } = parseCommandArgs(
      ctx.argv,
      { channel: { type: 'string' }, arch: { type: 'string' }, timeout: { type: 'string' }, data: { type: 'string' }, ...P2P_OPTIONS },
      false,
    );
    const channel = requireOption(values.channel, 'channel');
    const arch = requireOption(values.arch, 'arch');
    if ((values.bootstrap ?? []).length === 0 && values.mdns !== true) {
      throw new UsageError('ERR_USAGE_ARGUMENT', 'pass --bootstrap MULTIADDR (a node of the DHT) or --mdns (peers on the local network)');
    }
    const timeoutMs = parseDuration(values.timeout ?? '30s', '--timeout', { minMs: 100, maxMs: 3_600_000, bareSeconds: true });
    const started = Date.now();
    const d = await discoverUrls(ctx, values, channel, arch, timeoutMs);
    try {
      for (const p of d.providers) ctx.print(`MANIFEST_URL=${p.manifestUrl}`);
      if (!ctx.json) ctx.stderr(`custody: ${d.providers.length} provider(s) of ${channel}/${arch} found in ${Date.now() - started} ms; untrusted until custody fetch verifies them\n`);
      ctx.result({
        key: `/phase/${channel}/${arch}/manifest`,
        provider_count: d.providers.length,
        providers: d.providers.map((p) => ({ peer_id: p.peerId, url: printable(p.url, 300), manifest_url: printable(p.manifestUrl, 400), preferred: p.preferred })),
      });
      return 0;
    } finally {
      await d.stop();
    }
  },
};

/**
 * providersWithDiscovery returns the URLs given plus, with --discover, the providers found (the given ones first,
 * at most 16 in all), and `verified(urls)` to rank the peers whose URLs delivered verified bytes.
 */
export async function providersWithDiscovery(
  ctx: CommandContext,
  values: P2pFlags & { discover?: boolean | undefined; 'discover-timeout'?: string | undefined },
  urls: readonly string[],
  channel: string,
  arch: string,
): Promise<{ providers: string[]; verified: (urls: Iterable<string>) => Promise<void> }> {
  if (values.discover !== true) return { providers: [...urls], verified: () => Promise.resolve() };
  const d = await discoverUrls(ctx, values, channel, arch, parseDuration(values['discover-timeout'] ?? '30s', '--discover-timeout', { minMs: 100, maxMs: 3_600_000, bareSeconds: true }));
  await d.stop();
  for (const p of d.providers) ctx.stderr(`custody: discovered ${printable(p.url, 300)} (peer ${p.peerId}${p.preferred ? ', verified before' : ''})\n`);
  return {
    providers: [...urls, ...d.providers.map((p) => p.url)].slice(0, 16),
    verified: async (good) => {
      const set = new Set([...good].map((u) => new URL(u).href));
      await d.record(d.providers.filter((p) => set.has(new URL(p.url).href)).map((p) => p.peerId));
    },
  };
}
