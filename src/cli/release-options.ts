/**
 * cli/release-options — the flags `custody fetch` and `custody install` share (a release taken from providers and
 * checked against a pinned root, a log key, a policy; providers given or discovered) and their usage checks, in one
 * place. Nothing of discovery itself is loaded here: `--discover` loads cli/commands/p2p only when given.
 */
import { UsageError } from '../errors.ts';
import type { P2pFlags } from './commands/p2p.ts';

/** DISCOVER_CLIENT_OPTIONS are the flags `--discover` adds to fetch and install (docs/discovery.md). */
export const DISCOVER_CLIENT_OPTIONS = {
  discover: { type: 'boolean' },
  'discover-timeout': { type: 'string' },
  data: { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  mdns: { type: 'boolean' },
  ephemeral: { type: 'boolean' },
  'p2p-listen': { type: 'string', multiple: true },
} as const;

/** RELEASE_CLIENT_OPTIONS are the flags of fetch and install: the release, its trust, its evidence, the network. */
export const RELEASE_CLIENT_OPTIONS = {
  channel: { type: 'string' },
  arch: { type: 'string' },
  trust: { type: 'string' },
  'root-fingerprint': { type: 'string' },
  'require-log': { type: 'string' },
  policy: { type: 'string' },
  key: { type: 'string', multiple: true },
  vulndb: { type: 'string' },
  timeout: { type: 'string' },
  'stall-timeout': { type: 'string' },
  'min-speed': { type: 'string' },
  ...DISCOVER_CLIENT_OPTIONS,
} as const;

/**
 * checkReleaseFlags refuses what fetch and install both refuse before any work: no provider URL and no --discover,
 * discovery flags without --discover, --discover without a way to discover, and anything but exactly one of
 * --trust and --root-fingerprint.
 */
export function checkReleaseFlags(
  values: P2pFlags & { discover?: boolean | undefined; 'discover-timeout'?: string | undefined; trust?: string | undefined; 'root-fingerprint'?: string | undefined },
  urls: readonly string[],
): void {
  if (urls.length === 0 && values.discover !== true) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected at least one provider URL (or --discover)');
  if (values.discover !== true) {
    for (const f of ['discover-timeout', 'bootstrap', 'mdns', 'ephemeral', 'p2p-listen', 'data'] as const) {
      if (values[f] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `--${f} goes with --discover`);
    }
  } else if ((values.bootstrap ?? []).length === 0 && values.mdns !== true) {
    throw new UsageError('ERR_USAGE_ARGUMENT', '--discover needs --bootstrap MULTIADDR (a node of the DHT) or --mdns');
  }
  if ((values.trust === undefined) === (values['root-fingerprint'] === undefined)) {
    throw new UsageError('ERR_USAGE_ARGUMENT', 'pass exactly one of --trust ROOT and --root-fingerprint sha256:HEX');
  }
}
