/**
 * cli/commands/tuf-fetch-usage — the `--tuf` part of `custody fetch --help` (cli/commands/provider), kept apart from
 * cli/commands/tuf-fetch so that the help text loads no TUF client code.
 */

/** TUF_FETCH_USAGE_LINES is the synopsis of `custody fetch --tuf`. */
export const TUF_FETCH_USAGE_LINES = `       custody fetch --tuf URL/tuf --channel CH --arch ARCH (--trust ROOT | --root-fingerprint sha256:HEX)
                     --state DIR --output DIR [--artifact NAME]… [--timeout SECONDS] [--stall-timeout SECONDS]`;

/** TUF_FETCH_HELP explains `--tuf`. */
export const TUF_FETCH_HELP = `With --tuf, the release comes through the provider's TUF repository (docs/tuf.md) and every step of the TUF client
workflow is checked: root versions walked forward (old and new root thresholds), timestamp, snapshot and targets
signed by their roles, never older than what DIR trusts (rollback), exactly the versions and bytes the timestamp
and snapshot name (mix-and-match), unexpired (freeze); then each target of CH/ARCH is downloaded and kept only if
its length and SHA-256 match the signed targets metadata.

  --tuf URL                  the repository's metadata URL (custody serve: http://host:8080/tuf)
  --state DIR                with --tuf: the trusted TUF metadata, kept between runs (root.json, timestamp.json, …)
  --trust ROOT               with --tuf: the pinned root (newer ones are fetched as <N>.root.json and kept in DIR)
  --root-fingerprint FP      with --tuf, on a first run: trust URL/root.json only if it hashes to FP`;
