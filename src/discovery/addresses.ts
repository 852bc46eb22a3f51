/**
 * discovery/addresses — the names discovery uses, with no libp2p loaded (cheap to import, and fuzzed):
 *  - the content-routing key of a channel/arch: the text `/phase/<channel>/<arch>/manifest` (the key Phase's
 *    `phase-discover` uses, github.com/msitarzewski/phase) hashed into a CIDv1 (multicodec `raw` 0x55, multihash
 *    sha2-256 0x12) — the CID itself is built in discovery/node, with the `multiformats` package;
 *  - a provider's HTTP(S) base URL written as a multiaddr (multiformats/multiaddr protocol table: `ip4`, `ip6`,
 *    `dns`, `dns4`, `dns6`, `tcp`, `http`, `https`, `tls`), which the provider adds to the addresses of its signed
 *    peer record (libp2p RFC 0003, "Peer Routing Records") — the URL is bound to its peer id by that signature:
 *    ```
 *    http://127.0.0.1:8080/   ⇄  /ip4/127.0.0.1/tcp/8080/http
 *    https://boot.example/    ⇄  /dns/boot.example/tcp/443/https   (also read: …/tcp/443/tls/http)
 *    http://[::1]:8080/       ⇄  /ip6/::1/tcp/8080/http
 *    ```
 *    A URL path other than `/` cannot be expressed and is refused when announcing; an optional trailing
 *    `/p2p/<peer id>` is ignored when reading.
 *
 * Trust boundary: multiaddrs read from the network are attacker-controlled (a peer chooses its own record). Reading
 * is strict and bounded (MULTIADDR_MAX_CHARS, known protocols only, a port 1–65535, an IP literal or a DNS name);
 * anything else is not a URL. A URL found this way is only a place to ask: what it serves is verified by the fetch.
 */
import { isIP } from 'node:net';
import { FormatError } from '../errors.ts';

/** MULTIADDR_MAX_CHARS bounds a multiaddr read from a peer record. */
export const MULTIADDR_MAX_CHARS = 1024;

/** contentKeyText is the text hashed into a channel/arch's content-routing key. */
export function contentKeyText(channel: string, arch: string): string {
  return `/phase/${channel}/${arch}/manifest`;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * multiaddrToUrl reads a provider's HTTP(S) address from a multiaddr's text form, or returns undefined when the
 * multiaddr is not one (a libp2p transport address, an unknown protocol, malformed). Never throws.
 */
export function multiaddrToUrl(ma: string): string | undefined {
  if (typeof ma !== 'string' || ma.length > MULTIADDR_MAX_CHARS || !ma.startsWith('/')) return undefined;
  const parts = ma.slice(1).split('/');
  // An optional trailing /p2p/<id>: the peer id is the record's, not the URL's.
  if (parts.length >= 2 && parts[parts.length - 2] === 'p2p') parts.splice(-2, 2);
  const [proto, host, tcp, port, ...rest] = parts;
  if (tcp !== 'tcp' || port === undefined || host === undefined || !/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65_535) return undefined;
  let scheme: 'http' | 'https';
  if (rest.length === 1 && rest[0] === 'http') scheme = 'http';
  else if ((rest.length === 1 && rest[0] === 'https') || (rest.length === 2 && rest[0] === 'tls' && rest[1] === 'http')) scheme = 'https';
  else return undefined;
  let h: string;
  if (proto === 'ip4' && isIP(host) === 4) h = host;
  else if (proto === 'ip6' && isIP(host) === 6) h = `[${host}]`;
  else if ((proto === 'dns' || proto === 'dns4' || proto === 'dns6') && DNS_NAME.test(host)) h = host.toLowerCase();
  else return undefined;
  try {
    return new URL(`${scheme}://${h}:${port}/`).href;
  } catch {
    return undefined;
  }
}

/** urlToMultiaddr writes a provider's base URL as the multiaddr announced in its peer record (see the module doc). */
export function urlToMultiaddr(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new FormatError('ERR_DISCOVERY_ANNOUNCE_URL', `expected an http(s) URL to announce, got ${JSON.stringify(url.slice(0, 200))}`, { cause: e });
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
    throw new FormatError('ERR_DISCOVERY_ANNOUNCE_URL', `expected an http(s) URL with no path, query or credentials to announce, got ${JSON.stringify(url.slice(0, 200))}`);
  }
  const scheme = u.protocol === 'https:' ? 'https' : 'http';
  const port = u.port === '' ? (scheme === 'https' ? '443' : '80') : u.port;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const proto = isIP(host) === 4 ? 'ip4' : isIP(host) === 6 ? 'ip6' : 'dns';
  const ma = `/${proto}/${host}/tcp/${port}/${scheme}`;
  if (multiaddrToUrl(ma) === undefined) throw new FormatError('ERR_DISCOVERY_ANNOUNCE_URL', `cannot announce ${JSON.stringify(url.slice(0, 200))} as a multiaddr`);
  return ma;
}

/** manifestUrl is where a provider's base URL serves a channel/arch manifest. */
export function manifestUrl(base: string, channel: string, arch: string): string {
  return new URL(`${encodeURIComponent(channel)}/${encodeURIComponent(arch)}/manifest.json`, base).href;
}
