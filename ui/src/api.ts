/**
 * ui/api — the daemon's JSON answers the dashboard reads, parsed into typed models before use (docs/dashboard.md
 * "HTTP"): `GET /` (the provider's info: trust fingerprint, log key, current releases), `GET /ui/api/log/proof`
 * (an entry and its inclusion proof) and `GET /ui/api/log/consistency` (a consistency proof). None of these is
 * trusted: the page verifies what it shows with ui/verify, ui/note and ui/merkle; parsing only guarantees the shapes
 * (bounded sizes, counts and nesting; every refusal a UiError).
 */
import { fromBase64 } from './bytes.ts';
import { UiError } from './errors.ts';
import { asArray, asCount, asObject, asString, parseJson } from './json.ts';

/** Info is the part of `GET /` the dashboard reads. */
export interface Info {
  trust: { fingerprint: string };
  log: { vkey: string; treeSize: number };
  releases: Array<{ channel: string; arch: string; version: string; sequence: number; digest: string; expiresAt: string; logIndex: number; manifestUrl: string }>;
}

/** INFO_MAX_RELEASES caps the releases listed. */
export const INFO_MAX_RELEASES = 10_000;
/** PROOF_MAX_HASHES caps a proof (a tree of 2^63 entries needs 63). */
const PROOF_MAX_HASHES = 64;

/** parseInfo reads the provider's `GET /` answer, or throws a UiError. */
export function parseInfo(text: string): Info {
  const o = asObject(parseJson(text, 'provider info'), 'provider info');
  const trust = asObject(o.trust, 'trust');
  const log = asObject(o.log, 'log');
  const releases = asArray(o.releases, 'releases', INFO_MAX_RELEASES).map((v, i) => {
    const r = asObject(v, `release ${i}`);
    const manifestUrl = asString(r.manifest_url, 'manifest_url');
    // Fetched by the page: only a path of this origin.
    if (!manifestUrl.startsWith('/') || manifestUrl.startsWith('//')) throw new UiError(`release ${i}: manifest_url is not a path of this origin`);
    return {
      channel: asString(r.channel, 'channel'),
      arch: asString(r.arch, 'arch'),
      version: asString(r.version, 'version'),
      sequence: asCount(r.sequence, 'sequence'),
      digest: asString(r.digest, 'digest'),
      expiresAt: asString(r.expires_at, 'expires_at'),
      logIndex: asCount(r.log_index, 'log_index'),
      manifestUrl,
    };
  });
  return { trust: { fingerprint: asString(trust.fingerprint, 'trust.fingerprint') }, log: { vkey: asString(log.vkey, 'log.vkey'), treeSize: asCount(log.tree_size, 'log.tree_size') }, releases };
}

function hashes(v: Parameters<typeof asArray>[0], what: string): Uint8Array[] {
  return asArray(v, what, PROOF_MAX_HASHES).map((h, i) => fromBase64(asString(h, `${what}[${i}]`), 32));
}

/** ProofAnswer is an entry and its inclusion proof in a tree of `size` (unverified). */
export interface ProofAnswer {
  index: number;
  size: number;
  entry: Uint8Array;
  proof: Uint8Array[];
}

/** parseProofAnswer reads `GET /ui/api/log/proof`, or throws a UiError. */
export function parseProofAnswer(text: string): ProofAnswer {
  const o = asObject(parseJson(text, 'inclusion proof', 256 * 1024), 'inclusion proof');
  const entry = fromBase64(asString(o.entry, 'entry'));
  if (entry.length > 65_535) throw new UiError('entry over 65,535 bytes');
  return { index: asCount(o.index, 'index'), size: asCount(o.size, 'size'), entry, proof: hashes(o.proof, 'proof') };
}

/** ConsistencyAnswer is a consistency proof between two tree sizes (unverified). */
export interface ConsistencyAnswer {
  from: number;
  to: number;
  proof: Uint8Array[];
}

/** parseConsistencyAnswer reads `GET /ui/api/log/consistency`, or throws a UiError. */
export function parseConsistencyAnswer(text: string): ConsistencyAnswer {
  const o = asObject(parseJson(text, 'consistency proof', 64 * 1024), 'consistency proof');
  return { from: asCount(o.from, 'from'), to: asCount(o.to, 'to'), proof: hashes(o.proof, 'proof') };
}
