/**
 * cli/commands/verify-package-usage — the --help text and status words of the package side of `custody verify`,
 * apart from the verifier so that `custody verify --help` and the manifest side need not load pkg/.
 */
import { CUSTODY_ALLOWED_KEYS_ENV } from '../../pkg/trust.ts';

/** STATUS_INTACT and STATUS_AUTHENTIC are the words scripts can grep for. */
export const STATUS_INTACT = 'intact, signer not trusted';
export const STATUS_AUTHENTIC = 'authentic';

/** PACKAGE_VERIFY_USAGE is the --help text of the package side of `custody verify`. */
export const PACKAGE_VERIFY_USAGE = `usage: custody verify PACKAGE [--quick | --deep | --paranoid] [--trusted-key KEY]… [--allow-links] [--json]

Verifies a PSPF/2025 package (FlavorPack format). Levels:
  --quick      index checksum, metadata sha-256, ed25519 signature over the metadata, slot table vs signed metadata
  --deep       (default) + the launcher and every slot's bytes against the full sha-256 in the SIGNED metadata,
               content consistent with the declared operations, zero padding
  --paranoid   + a full extraction into a scratch directory under the safe-extraction rules (always removed)

Trust: with no trusted key a valid package is "${STATUS_INTACT}" (anyone can sign with their own key).
  --trusted-key KEY   64 hex chars, SHA256:<fingerprint>, or a file with an SPKI PEM / hex key; repeatable
  ${CUSTODY_ALLOWED_KEYS_ENV}   comma list of hex keys or SHA256: fingerprints
With either, the signer must match ("${STATUS_AUTHENTIC}") or the package is refused [ERR_PKG_UNTRUSTED_SIGNER].
  --trust ROOT.json   the signer is authentic if the trust root's "targets" role authorizes its key, or if a
                      detached signature set (PACKAGE.sigs, made by \`custody sign-package\`) carries signatures
                      of a threshold of distinct "targets" keys over the package's sha-256
  --signatures FILE   the signature set (default: PACKAGE.sigs when it exists)
  --allow-links       accept symlinks/hardlinks that stay inside (paranoid extraction; refused by default)

Exit 0 verified, 1 refused (altered, untrusted or hostile: DO NOT USE IT), 2 usage/config, 3 i/o.

examples:
  custody verify app.psp
  custody verify app.psp --paranoid --trusted-key dd3773c6435a7f915de513313dc1bedb9d071eee19497b3cd38e1b2b7cb6fe19`;
