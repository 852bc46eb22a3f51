/**
 * discovery/ranking — which discovered providers served verified content before, so a client asks them first next
 * time (`DATA/p2p/providers.json`, written atomically after a verified `custody fetch --discover`). Only a count of
 * verified fetches per peer id is kept; it only orders candidates and never lets anything skip verification.
 * ```
 * {"verified": {"<peer id>": <count>, …}}
 * ```
 * The file is ours but read bounded (RANKING_MAX_BYTES, RANKING_MAX_PEERS); a damaged one is ignored.
 */
import { join } from 'node:path';
import { isJsonObject, parseJson, type JsonObject } from '../encoding/json.ts';
import { readFileIfExists, writeFileAtomic } from '../io/files.ts';

export const RANKING_MAX_BYTES = 256 * 1024;
export const RANKING_MAX_PEERS = 1024;

/** rankingPath is where a data directory keeps the ranking. */
export function rankingPath(dataDir: string): string {
  return join(dataDir, 'p2p', 'providers.json');
}

/** loadRanking returns verified-fetch counts per peer id (empty when missing or damaged). */
export async function loadRanking(path: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const raw = await readFileIfExists(path, { maxBytes: RANKING_MAX_BYTES, what: 'provider ranking' }).catch(() => undefined);
  if (raw === undefined) return out;
  try {
    const j = parseJson(raw, { maxBytes: RANKING_MAX_BYTES, maxDepth: 4 });
    if (isJsonObject(j) && isJsonObject(j.verified)) {
      for (const [k, v] of Object.entries(j.verified)) {
        if (out.size >= RANKING_MAX_PEERS) break;
        if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 && /^[1-9A-HJ-NP-Za-km-z]{1,128}$/.test(k)) out.set(k, v);
      }
    }
  } catch {
    /* damaged: start over */
  }
  return out;
}

/** recordVerified adds one verified fetch for each peer id and saves the ranking (the most verified kept). */
export async function recordVerified(path: string, peerIds: Iterable<string>): Promise<void> {
  const r = await loadRanking(path);
  for (const id of new Set(peerIds)) r.set(id, (r.get(id) ?? 0) + 1);
  const verified: JsonObject = {};
  for (const [k, v] of [...r].sort((a, b) => b[1] - a[1]).slice(0, RANKING_MAX_PEERS)) verified[k] = v;
  await writeFileAtomic(path, JSON.stringify({ verified }) + '\n', { mode: 0o600, dirMode: 0o700 });
}
