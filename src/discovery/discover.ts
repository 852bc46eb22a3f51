/**
 * discovery/discover — finding providers of a channel/arch (`custody discover`, `custody fetch --discover`) and
 * announcing the ones a daemon serves (`custody serve --dht`), over a discovery/node.
 *
 * Finding: provider records under the channel/arch key are looked up (kad-dht GET_PROVIDERS), each named peer is
 * dialled and its HTTP(S) URLs are taken from its signed peer record only (discovery/node `certifiedUrls`).
 * Discovery is untrusted: it says where to ask, and the caller verifies whatever is fetched there. So what matters
 * here is that hostile records cost little:
 *  - at most `maxCandidates` distinct peers are dialled per lookup (a flood of bogus records ends there), at most
 *    DIAL_CONCURRENCY at once, each within `dialTimeoutMs` (a peer that never answers costs one timeout);
 *  - the whole search ends at `timeoutMs`, or `settleMs` after the first provider was found, or once `enough`
 *    were found; lookups are repeated until then (a provider's `provide()` returns before the storing peers have
 *    the record, and a new node's routing table fills in);
 *  - at most MAX_URLS_PER_PEER URLs are taken from one peer's record, and `enough` counts distinct peers: one hostile
 *    record listing many URLs cannot fill every provider slot and end the search before an honest peer is dialled;
 *  - at most `maxProviders` URLs are returned, providers that served verified content before (`preferred`, from
 *    discovery/ranking) first.
 * A search that finds nobody is ERR_DISCOVERY_NO_PROVIDER.
 */
import { IoError } from '../errors.ts';
import { manifestUrl } from './addresses.ts';
import type { FoundProvider, P2pNode } from './node.ts';

/** DIAL_CONCURRENCY bounds the dials of one search in flight together. */
export const DIAL_CONCURRENCY = 8;
/** DEFAULT_MAX_CANDIDATES is how many distinct peers one search dials at most. */
export const DEFAULT_MAX_CANDIDATES = 32;
/** DEFAULT_MAX_PROVIDERS is how many provider URLs a search returns at most (fetch's own cap). */
export const DEFAULT_MAX_PROVIDERS = 16;
/** MAX_URLS_PER_PEER: the URLs taken from one peer's signed record (an HTTP and an HTTPS one, or IPv4 and IPv6). */
export const MAX_URLS_PER_PEER = 2;
/** RETRY_PAUSE_MS is the pause between two lookups that found nothing. */
const RETRY_PAUSE_MS = 250;

/** DiscoverOptions configures {@link discoverProviders}. */
export interface DiscoverOptions {
  channel: string;
  arch: string;
  /** timeoutMs bounds the whole search. */
  timeoutMs: number;
  maxCandidates?: number | undefined;
  maxProviders?: number | undefined;
  dialTimeoutMs?: number | undefined;
  /** enough: stop as soon as this many providers have URLs (default: maxProviders). */
  enough?: number | undefined;
  /** settleMs: once a provider was found, keep looking this long for more, then stop (default 2 s). */
  settleMs?: number | undefined;
  /** preferred ranks these peer ids first (they served verified content before). */
  preferred?: ReadonlyMap<string, number> | undefined;
  onEvent?: ((e: { peerId: string; what: string }) => void) | undefined;
}

/** DiscoveredProvider is one provider found: its peer id and the base URL its signed record names. */
export interface DiscoveredProvider {
  peerId: string;
  url: string;
  manifestUrl: string;
  /** preferred tells whether it served verified content before (ranked first). */
  preferred: boolean;
}

/** discoverProviders searches for providers of channel/arch (see the module doc). */
export async function discoverProviders(node: P2pNode, o: DiscoverOptions): Promise<DiscoveredProvider[]> {
  const deadline = Date.now() + o.timeoutMs;
  const maxCandidates = o.maxCandidates ?? DEFAULT_MAX_CANDIDATES;
  const maxProviders = o.maxProviders ?? DEFAULT_MAX_PROVIDERS;
  const dialMs = o.dialTimeoutMs ?? 5_000;
  const tried = new Set<string>();
  const found: DiscoveredProvider[] = [];
  const enough = Math.min(o.enough ?? maxProviders, maxProviders);
  const peers = new Set<string>();
  const done = (): boolean => peers.size >= enough || found.length >= maxProviders;
  const all = new AbortController();
  let timer = setTimeout(() => all.abort(), Math.max(0, deadline - Date.now()));
  let settling = false;
  // The first provider found starts the settle time: the search ends then, or at the deadline, or with enough.
  const settle = (): void => {
    if (settling) return;
    settling = true;
    const end = Math.min(deadline, Date.now() + (o.settleMs ?? 2_000));
    clearTimeout(timer);
    timer = setTimeout(() => all.abort(), Math.max(0, end - Date.now()));
  };
  try {
    while (!all.signal.aborted && tried.size < maxCandidates) {
      const pending = new Set<Promise<void>>();
      const examine = async (p: FoundProvider): Promise<void> => {
        const signal = AbortSignal.any([all.signal, AbortSignal.timeout(Math.max(1, Math.min(dialMs, deadline - Date.now())))]);
        const urls = await node.certifiedUrls(p, signal).catch(() => []);
        if (urls.length === 0) o.onEvent?.({ peerId: p.peerId, what: 'no signed HTTP address (unreachable, or not a provider)' });
        let taken = 0;
        for (const url of urls) {
          if (taken >= MAX_URLS_PER_PEER) {
            o.onEvent?.({ peerId: p.peerId, what: `more than ${MAX_URLS_PER_PEER} URLs: the rest ignored` });
            break;
          }
          if (found.some((f) => f.url === url)) continue;
          taken++;
          peers.add(p.peerId);
          found.push({ peerId: p.peerId, url, manifestUrl: manifestUrl(url, o.channel, o.arch), preferred: o.preferred?.has(p.peerId) ?? false });
          o.onEvent?.({ peerId: p.peerId, what: `provider ${url}` });
          settle();
        }
        if (done()) all.abort();
      };
      try {
        for await (const p of node.findProviders(o.channel, o.arch, all.signal)) {
          if (tried.has(p.peerId)) continue;
          if (tried.size >= maxCandidates) break;
          tried.add(p.peerId);
          const job: Promise<void> = examine(p).finally(() => pending.delete(job));
          pending.add(job);
          if (pending.size >= DIAL_CONCURRENCY) await Promise.race(pending);
        }
      } catch {
        /* the lookup was aborted or failed: what was found so far counts */
      }
      await Promise.allSettled(pending);
      if (done() || all.signal.aborted) break;
      await new Promise((r) => setTimeout(r, Math.min(RETRY_PAUSE_MS, Math.max(0, deadline - Date.now()))));
      // A peer named again in a later lookup may have become reachable; bogus ones stay bounded by maxCandidates.

    }
  } finally {
    clearTimeout(timer);
  }
  if (found.length === 0) {
    throw new IoError('ERR_DISCOVERY_NO_PROVIDER', `no provider of ${o.channel}/${o.arch} found within ${o.timeoutMs} ms (${tried.size} peer(s) named by records)`);
  }
  // Stable: preferred ones first (most verified fetches first), then in the order found.
  const rank = (f: DiscoveredProvider): number => o.preferred?.get(f.peerId) ?? 0;
  return found
    .map((f, i) => ({ f, i }))
    .sort((a, b) => rank(b.f) - rank(a.f) || a.i - b.i)
    .map(({ f }) => f)
    .slice(0, maxProviders);
}

/** AnnouncerOptions configures {@link startAnnouncer}. */
export interface AnnouncerOptions {
  /** list returns the channel/arch pairs served now. */
  list: () => ReadonlyArray<{ channel: string; arch: string }>;
  /** checkMs: how often the list is checked for new pairs (the DHT re-announces known ones itself). */
  checkMs: number;
  onEvent?: ((e: { channel: string; arch: string; what: string }) => void) | undefined;
}

/**
 * startAnnouncer provides every channel/arch served, now and whenever a new one appears; `stop` withdraws them (no
 * more re-announcements: the records expire) and ends the timer. Announcing is best effort: a failed provide is
 * retried at the next check.
 */
export function startAnnouncer(node: P2pNode, o: AnnouncerOptions): { stop: () => Promise<void>; announced: () => string[]; settled: () => Promise<void> } {
  const announced = new Set<string>();
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const controller = new AbortController();
  const check = (): Promise<void> => {
    running = running.then(async () => {
      for (const { channel, arch } of o.list()) {
        const key = `${channel}/${arch}`;
        if (stopped || announced.has(key)) continue;
        try {
          await node.provide(channel, arch, controller.signal);
          announced.add(key);
          o.onEvent?.({ channel, arch, what: 'announced' });
        } catch (e) {
          o.onEvent?.({ channel, arch, what: `announce failed: ${(e as Error).message}` });
        }
      }
    });
    return running;
  };
  void check();
  const timer = setInterval(() => void check(), o.checkMs);
  timer.unref();
  return {
    announced: () => [...announced],
    settled: () => running,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      controller.abort();
      await running.catch(() => undefined);
      for (const key of announced) {
        const [channel, arch] = key.split('/') as [string, string];
        await node.withdraw(channel, arch);
      }
    },
  };
}
