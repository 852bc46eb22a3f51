/**
 * discovery/node — one libp2p node (js-libp2p 3: TCP, Noise, Yamux, identify, ping, Kademlia DHT; optionally mDNS)
 * for announcing and finding Custody providers. libp2p is imported here only, dynamically, when a command that
 * uses discovery starts a node: no other command pays for loading it.
 *
 * Protocols and choices:
 *  - Kademlia DHT (libp2p kad-dht spec) under the private protocol id `/custody/kad/1.0.0` (DHT_PROTOCOL): Custody
 *    nodes form their own DHT and never join (or pollute) the public IPFS one. Every node is a DHT server
 *    (clientMode false), so a handful of nodes on one LAN or loopback is a working DHT.
 *  - Provider records (kad-dht ADD_PROVIDER / GET_PROVIDERS) under the CID of `/phase/<channel>/<arch>/manifest`
 *    (CIDv1, raw, sha2-256; discovery/addresses). A provider adds its HTTP(S) URL as a multiaddr to the addresses
 *    it announces (`addresses.appendAnnounce`); libp2p signs them into its peer record (libp2p RFC 0003) and sends
 *    that record in identify. A client that finds a provider record dials the peer (Noise proves the peer id),
 *    receives the signed record through identify, and takes URLs only from addresses the peer store marks
 *    certified — i.e. signed by that peer id's key. Addresses the DHT relays unsigned are used to dial, never as
 *    URLs.
 *  - Addresses: `removePublicAddressesMapper` keeps loopback and private addresses in DHT answers (the default
 *    mapper of a public DHT drops them, so nothing would be found on a LAN or on 127.0.0.1).
 *  - Record lifetime: kad-dht's reprovider (its `validity`, `interval`, `threshold`): storing nodes drop a record
 *    `validity` after it was stored, the provider re-announces when less than `threshold` remains. `ttlMs`
 *    sets validity (interval ttl/4, threshold ttl/2); default 24 h. There is no withdrawal message in Kademlia: on
 *    shutdown a provider stops re-announcing and its records disappear when they expire; a client never uses a
 *    provider it cannot dial, so a departed one is skipped at once by whoever looks for it.
 *
 * Node 20: libp2p 3 calls `Promise.withResolvers` (Node 22); {@link installPolyfills} adds it before libp2p loads.
 * p-retry 8 (a kad-dht dependency) declares node ≥ 22 but only uses what Node 20 has (checked by test/discovery).
 */
import { FormatError, IoError } from '../errors.ts';

/** DHT_PROTOCOL is the private Kademlia protocol id of Custody nodes. */
export const DHT_PROTOCOL = '/custody/kad/1.0.0';
/** DEFAULT_PROVIDER_TTL_MS is how long a stored provider record lives without being re-announced. */
export const DEFAULT_PROVIDER_TTL_MS = 24 * 3_600_000;
/** MDNS_SERVICE_TAG is the mDNS service libp2p peers are advertised under (libp2p mDNS spec, custom tag). */
export const MDNS_SERVICE_TAG = '_custody-p2p._udp.local';

/** installPolyfills adds what libp2p 3 needs and Node 20 lacks. Idempotent. */
export function installPolyfills(): void {
  const P = Promise as unknown as { withResolvers?: unknown };
  if (typeof P.withResolvers !== 'function') {
    Object.defineProperty(Promise, 'withResolvers', {
      configurable: true,
      writable: true,
      value: function withResolvers<T>(this: PromiseConstructor): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
        let resolve!: (v: T) => void;
        let reject!: (e: unknown) => void;
        const promise = new this<T>((a, b) => {
          resolve = a;
          reject = b;
        });
        return { promise, resolve, reject };
      },
    });
  }
}

/** P2pNodeOptions configures {@link startP2pNode}. */
export interface P2pNodeOptions {
  /** seed is the node's Ed25519 private key seed (32 bytes, discovery/peer-key), or undefined for a fresh one. */
  seed?: Uint8Array | undefined;
  /** listen multiaddrs (default /ip4/127.0.0.1/tcp/0). */
  listen?: readonly string[] | undefined;
  /** bootstrap multiaddrs (with /p2p/<id>) dialled at start. */
  bootstrap?: readonly string[] | undefined;
  /** announce are multiaddrs added to the signed peer record (the provider's HTTP URL, discovery/addresses). */
  announce?: readonly string[] | undefined;
  /** mdns: also find and be found by peers on the local network (libp2p mDNS). */
  mdns?: boolean | undefined;
  /** ttlMs is the provider record lifetime (see the module doc). */
  ttlMs?: number | undefined;
  /** dialTimeoutMs bounds each dial (default 5 s). */
  dialTimeoutMs?: number | undefined;
}

/** FoundProvider is a peer a provider record names. */
export interface FoundProvider {
  peerId: string;
  /** addrs are the (unsigned) addresses the DHT gave for it: for dialling only. */
  addrs: string[];
}

/** P2pNode is a started node. */
export interface P2pNode {
  peerId: string;
  /** listenAddrs are the node's transport addresses with /p2p/<id> (for --bootstrap). */
  listenAddrs(): string[];
  /** provide announces channel/arch (resolves when the DHT query ended; peers may store the record later). */
  provide(channel: string, arch: string, signal?: AbortSignal): Promise<void>;
  /** withdraw stops re-announcing channel/arch. */
  withdraw(channel: string, arch: string): Promise<void>;
  /** findProviders yields the peers of provider records for channel/arch until the signal aborts or the query ends. */
  findProviders(channel: string, arch: string, signal: AbortSignal): AsyncIterable<FoundProvider>;
  /**
   * certifiedUrls dials a peer and returns the HTTP(S) URLs in its signed peer record (addresses the peer store
   * marks certified), waiting for identify up to the signal.
   */
  certifiedUrls(p: FoundProvider, signal: AbortSignal): Promise<string[]>;
  /** peers are the peer ids currently connected (mDNS and bootstrap peers included). */
  connectedPeers(): FoundProvider[];
  stop(): Promise<void>;
}

/** startP2pNode loads libp2p and starts a node. */
export async function startP2pNode(o: P2pNodeOptions): Promise<P2pNode> {
  installPolyfills();
  const [{ createLibp2p }, { tcp }, { noise }, { yamux }, { identify }, { ping }, kad, { CID }, { sha256 }, raw, { multiaddr }, { peerIdFromString }, keys] =
    await Promise.all([
      import('libp2p'),
      import('@libp2p/tcp'),
      import('@chainsafe/libp2p-noise'),
      import('@chainsafe/libp2p-yamux'),
      import('@libp2p/identify'),
      import('@libp2p/ping'),
      import('@libp2p/kad-dht'),
      import('multiformats/cid'),
      import('multiformats/hashes/sha2'),
      import('multiformats/codecs/raw'),
      import('@multiformats/multiaddr'),
      import('@libp2p/peer-id'),
      import('@libp2p/crypto/keys'),
    ]);
  const { multiaddrToUrl, contentKeyText } = await import('./addresses.ts');
  const ttl = o.ttlMs ?? DEFAULT_PROVIDER_TTL_MS;
  const dialMs = o.dialTimeoutMs ?? 5_000;
  const privateKey = o.seed === undefined ? await keys.generateKeyPair('Ed25519') : await keys.generateKeyPairFromSeed('Ed25519', o.seed);
  const toMa = (s: string, what: string): ReturnType<typeof multiaddr> => {
    try {
      return multiaddr(s);
    } catch (e) {
      throw new FormatError('ERR_DISCOVERY_MULTIADDR', `${what}: expected a multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…, got ${JSON.stringify(s.slice(0, 200))}`, { cause: e });
    }
  };
  const bootstrap = (o.bootstrap ?? []).map((b) => toMa(b, '--bootstrap'));
  const listen = [...(o.listen ?? ['/ip4/127.0.0.1/tcp/0'])];
  for (const l of listen) toMa(l, '--p2p-listen');
  for (const a of o.announce ?? []) toMa(a, 'announce');
  const services: Record<string, unknown> = {
    identify: identify(),
    ping: ping(),
    dht: kad.kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: kad.removePublicAddressesMapper,
      reprovide: { validity: ttl, interval: Math.max(100, Math.floor(ttl / 4)), threshold: Math.floor(ttl / 2) },
    }),
  };
  const peerDiscovery = [];
  if (o.mdns === true) {
    const { mdns } = await import('@libp2p/mdns');
    peerDiscovery.push(mdns({ serviceTag: MDNS_SERVICE_TAG, interval: 1_000 }));
  }
  let node;
  try {
    node = await createLibp2p({
      privateKey,
      addresses: { listen, appendAnnounce: [...(o.announce ?? [])] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery,
      services: services as { identify: ReturnType<typeof identify>; ping: ReturnType<typeof ping>; dht: ReturnType<typeof kad.kadDHT> },
    });
  } catch (e) {
    throw new IoError('ERR_DISCOVERY_START', `the libp2p node did not start: ${(e as Error).message}`, { cause: e });
  }
  const n = node;
  // mDNS finds peers; dialling them puts them in the DHT's routing table (kad-dht adds peers on connect).
  n.addEventListener('peer:discovery', (ev) => {
    void n.dial(ev.detail.id, { signal: AbortSignal.timeout(dialMs) }).catch(() => undefined);
  });
  await Promise.allSettled(bootstrap.map((b) => n.dial(b, { signal: AbortSignal.timeout(dialMs) })));
  const cids = new Map<string, InstanceType<typeof CID>>();
  const cidOf = async (channel: string, arch: string): Promise<InstanceType<typeof CID>> => {
    const text = contentKeyText(channel, arch);
    let c = cids.get(text);
    if (c === undefined) {
      c = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)));
      cids.set(text, c);
    }
    return c;
  };
  const self = n.peerId.toString();
  return {
    peerId: self,
    listenAddrs: () => n.getMultiaddrs().map((m) => m.toString()).filter((s) => multiaddrToUrl(s) === undefined),
    provide: async (channel, arch, signal) => {
      await n.contentRouting.provide(await cidOf(channel, arch), signal === undefined ? {} : { signal });
    },
    withdraw: async (channel, arch) => {
      await n.services.dht.cancelReprovide(await cidOf(channel, arch)).catch(() => undefined);
    },
    findProviders: async function* (channel, arch, signal) {
      const cid = await cidOf(channel, arch);
      for await (const p of n.contentRouting.findProviders(cid, { signal })) {
        yield { peerId: p.id.toString(), addrs: p.multiaddrs.map((m) => m.toString()) };
      }
    },
    certifiedUrls: async (p, signal) => {
      const id = peerIdFromString(p.peerId);
      const urls = async (): Promise<string[]> => {
        try {
          const peer = await n.peerStore.get(id);
          return [...new Set(peer.addresses.filter((a) => a.isCertified).map((a) => multiaddrToUrl(a.multiaddr.toString())).filter((u): u is string => u !== undefined))];
        } catch {
          return [];
        }
      };
      if (p.peerId === self) return urls();
      // Addresses from the DHT answer are only hints for the dial; identify brings the signed record.
      const identified = new Promise<void>((resolve) => {
        const on = (ev: CustomEvent<{ peerId: { toString(): string } }>): void => {
          if (ev.detail.peerId.toString() === p.peerId) {
            n.removeEventListener('peer:identify', on as never);
            resolve();
          }
        };
        n.addEventListener('peer:identify', on);
        signal.addEventListener('abort', () => {
          n.removeEventListener('peer:identify', on as never);
          resolve();
        });
      });
      const hinted: Array<ReturnType<typeof multiaddr>> = [];
      for (const a of p.addrs.slice(0, 16)) {
        if (a.length > 1024 || a.includes('/p2p/') || multiaddrToUrl(a) !== undefined) continue;
        try {
          hinted.push(multiaddr(a));
        } catch {
          /* not a multiaddr: ignored */
        }
      }
      try {
        if (hinted.length > 0) await n.peerStore.merge(id, { multiaddrs: hinted }).catch(() => undefined);
        await n.dial(id, { signal });
      } catch {
        return [];
      }
      const now = await urls();
      if (now.length > 0) return now;
      await identified;
      return urls();
    },
    connectedPeers: () => n.getPeers().map((id) => ({ peerId: id.toString(), addrs: [] })),
    stop: async () => {
      await n.stop();
    },
  };
}
