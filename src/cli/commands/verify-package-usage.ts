/**
 * cli/commands/verify-package-usage — the --help text and status words of the package side of `custody verify`,
 * apart from the verifier so that `custody verify --help` and the manifest side need not load pkg/.
 */
import { CUSTODY_ALLOWED_KEYS_ENV } from '../../pkg/trust.ts';

/** STATUS_INTACT and STATUS_AUTHENTIC are the words scripts can grep for. */
export const STATUS_INTACT = 'intact, signer not trusted';
export const STATUS_AUTHENTIC = 'authentic';

/** PACKAGE_TRUST_USAGE documents the trust options shared by `custody verify-package` and `custody extract`. */
export const PACKAGE_TRUST_USAGE = `Trust (required: anyone can sign a package with their own key, so an unknown signer is refused
[ERR_PKG_UNTRUSTED_SIGNER] unless one of these accepts it):
  --trusted-key KEY   64 hex chars, SHA256:<fingerprint>, or a file with an SPKI PEM / hex key; repeatable
  ${CUSTODY_ALLOWED_KEYS_ENV}   (environment) comma list of hex keys or SHA256: fingerprints
  --trust ROOT.json   the signer is authentic if the trust root's "targets" role authorizes its key, or if a
                      detached signature set (PACKAGE.sigs, made by \`custody sign-package\`) carries signatures
                      of a threshold of distinct "targets" keys over the package's sha-256
  --signatures FILE   the signature set (default: PACKAGE.sigs when it exists)
  --allow-any-signer  accept any signer explicitly: the package is only "${STATUS_INTACT}"
                      (not combinable with the three above)`;

/** PACKAGE_VERIFY_USAGE is the --help text of `custody verify-package` (and the package side of `custody verify`). */
export const PACKAGE_VERIFY_USAGE = `usage: custody verify-package PACKAGE [--quick | --deep | --paranoid] (--trusted-key KEY… | --trust ROOT.json | --allow-any-signer) [--allow-links] [--json]
       custody verify PACKAGE …   (the same, when PACKAGE ends in .psp, carries the PSPF end magic, or a package
                                  option above is given)

Verifies a PSPF/2025 package (FlavorPack format). Levels:
  --quick      index checksum, metadata sha-256, ed25519 signature over the metadata, slot table vs signed metadata
  --deep       (default) + the launcher and every slot's bytes against the full sha-256 in the SIGNED metadata,
               content consistent with the declared operations, zero padding
  --paranoid   + a full extraction into a scratch directory under the safe-extraction rules (always removed)

${PACKAGE_TRUST_USAGE}
  --allow-links       accept symlinks/hardlinks that stay inside (paranoid extraction; refused by default)

Exit 0 verified ("${STATUS_AUTHENTIC}", or "${STATUS_INTACT}" under --allow-any-signer), 1 refused (altered,
untrusted or hostile: DO NOT USE IT), 2 usage/config, 3 i/o.

examples:
  custody verify-package app.psp --trusted-key dd3773c6435a7f915de513313dc1bedb9d071eee19497b3cd38e1b2b7cb6fe19
  custody verify app.psp --paranoid --trust root.json
  custody verify app.psp --allow-any-signer`;
