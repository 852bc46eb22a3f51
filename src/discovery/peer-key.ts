/**
 * discovery/peer-key — a node's persistent libp2p identity: an Ed25519 seed in `DATA/p2p/peer.key` (0600, made on
 * first use, written atomically). The peer id (libp2p peer-ids spec: the identity multihash of the public key) is
 * derived from it by libp2p, so a provider keeps its peer id — and the URL its signed peer record binds to it —
 * across restarts. `--ephemeral` uses a fresh key per run instead (nothing written).
 *
 * File format, one line (the prefix makes a private key unmistakable, as note keys do):
 * ```
 * PRIVATE+CUSTODY+P2P+ED25519+<64 lowercase hex: the 32-byte seed>
 * ```
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from '../crypto/index.ts';
import { decodeHex, encodeHex } from '../encoding/bytes.ts';
import { FormatError, toIoError } from '../errors.ts';
import { readFileIfExists, writeFileAtomic } from '../io/files.ts';

/** PEER_KEY_PREFIX starts a peer key file. */
export const PEER_KEY_PREFIX = 'PRIVATE+CUSTODY+P2P+ED25519+';

/** peerKeyPath is where a data directory keeps its libp2p key. */
export function peerKeyPath(dataDir: string): string {
  return join(dataDir, 'p2p', 'peer.key');
}

/** parsePeerKey reads a peer key file's text (ERR_DISCOVERY_PEER_KEY when malformed). */
export function parsePeerKey(text: string): Uint8Array {
  const m = new RegExp(`^${PEER_KEY_PREFIX.replace(/\+/g, '\\+')}([0-9a-f]{64})\\n?$`).exec(text);
  if (!m) throw new FormatError('ERR_DISCOVERY_PEER_KEY', `expected one line ${PEER_KEY_PREFIX}<64 hex>`);
  return decodeHex(m[1]!);
}

/** loadOrCreatePeerKey returns the seed in `path`, making it (0600) when the file does not exist. */
export async function loadOrCreatePeerKey(path: string): Promise<{ seed: Uint8Array; created: boolean }> {
  const raw = await readFileIfExists(path, { maxBytes: 256, what: 'peer key' });
  if (raw !== undefined) {
    try {
      return { seed: parsePeerKey(raw.toString('latin1')), created: false };
    } finally {
      raw.fill(0);
    }
  }
  const seed = randomBytes(32);
  await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw toIoError(e, dirname(path), 'write');
  });
  await writeFileAtomic(path, `${PEER_KEY_PREFIX}${encodeHex(seed)}\n`, { mode: 0o600, overwrite: false });
  return { seed, created: true };
}
