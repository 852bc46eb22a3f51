/**
 * server/mirror/channel-index — reading an upstream provider's channel index: the `releases` list of its info route
 * `GET /` (docs/provider.md "HTTP API"), which a mirror uses to learn which channel/arch pairs to pull.
 * ```
 * {"name": "custody-provider", …, "releases": [{"channel": "stable", "arch": "x86_64", …}, …]}
 * ```
 * Only `releases[].channel` and `releases[].arch` are read; other fields (and future ones) are ignored.
 *
 * Trust boundary: the upstream is untrusted. The index only says what to ask for: every release it names is then
 * fetched and verified like any other (client/provider-client). The body is parsed with the bounded JSON parser
 * (CHANNEL_INDEX_MAX_BYTES, depth 8), at most CHANNEL_INDEX_MAX_ENTRIES pairs are taken, and a name that is not a
 * valid channel or arch (server/provider/releases CHANNEL_NAME) is skipped rather than used as a URL segment.
 */
import { isJsonObject, parseJson } from '../../encoding/json.ts';
import { FormatError } from '../../errors.ts';
import { CHANNEL_NAME, RESERVED_CHANNEL_NAMES } from '../provider/releases.ts';

/** CHANNEL_INDEX_MAX_BYTES caps the info answer read from an upstream. */
export const CHANNEL_INDEX_MAX_BYTES = 1024 * 1024;
/** CHANNEL_INDEX_MAX_ENTRIES caps how many channel/arch pairs one upstream may name. */
export const CHANNEL_INDEX_MAX_ENTRIES = 1024;

/** ChannelArch names one release stream. */
export interface ChannelArch {
  channel: string;
  arch: string;
}

/**
 * parseChannelIndex returns the valid, distinct channel/arch pairs an upstream's `GET /` lists (in its order), or
 * throws ERR_MIRROR_UPSTREAM_INDEX when the answer is not such a document.
 */
export function parseChannelIndex(body: Uint8Array): ChannelArch[] {
  let doc;
  try {
    doc = parseJson(body, { maxBytes: CHANNEL_INDEX_MAX_BYTES, maxDepth: 8, what: 'channel index' });
  } catch (e) {
    throw new FormatError('ERR_MIRROR_UPSTREAM_INDEX', 'the upstream info answer (GET /) is not JSON within the caps', { cause: e });
  }
  if (!isJsonObject(doc) || !Array.isArray(doc.releases)) {
    throw new FormatError('ERR_MIRROR_UPSTREAM_INDEX', 'expected the upstream info answer (GET /) to hold a "releases" list');
  }
  const out: ChannelArch[] = [];
  const seen = new Set<string>();
  for (const r of doc.releases) {
    if (out.length >= CHANNEL_INDEX_MAX_ENTRIES) break;
    if (!isJsonObject(r) || typeof r.channel !== 'string' || typeof r.arch !== 'string') continue;
    if (!CHANNEL_NAME.test(r.channel) || !CHANNEL_NAME.test(r.arch) || RESERVED_CHANNEL_NAMES.has(r.channel)) continue;
    const key = `${r.channel}/${r.arch}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ channel: r.channel, arch: r.arch });
  }
  return out;
}
