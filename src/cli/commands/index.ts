/**
 * cli/commands — the command table. One module per command (or command family); add a line here to register it.
 * Keys are the command words as typed ("trust init"); two-word keys take precedence over one-word keys.
 *
 * Each entry loads its module only when that command runs (`load`), so `custody verify` never parses the daemon,
 * fastify, SQLite or the package codecs: start-up cost is what the command itself needs. The summary for the
 * command list is kept here for the same reason; test/cli/commands.test.ts checks it equals the module's own.
 */
import type { Command } from '../context.ts';

/** CommandEntry is one row of the table: the one-line summary and a loader for the command's module. */
export interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  // core (issue: keys, manifests, trust)
  demo: { summary: 'run the end-to-end demo in a temporary directory (keys, a 2-of-3 root, a signed manifest, refusals)', load: async () => (await import('./demo.ts')).demo },
  keygen: { summary: 'make an Ed25519 key pair (PKCS#8 PEM 0600 + SPKI .pub)', load: async () => (await import('./keys.ts')).keygen },
  'key show': { summary: 'print the key id, raw public key and fingerprint of a key file', load: async () => (await import('./keys.ts')).keyShow },
  'manifest create': { summary: 'hash a directory of artifacts into an unsigned manifest', load: async () => (await import('./manifest.ts')).manifestCreate },
  'sign-manifest': { summary: 'add one signature to a manifest (idempotent per key)', load: async () => (await import('./manifest.ts')).signManifestCommand },
  'verify-manifest': { summary: 'verify a manifest against a trust root (threshold, expiry, rollback)', load: async () => (await import('./manifest-verify.ts')).verifyManifestCommand },
  verify: { summary: 'verify artifacts against a signed manifest, or a PSPF package', load: async () => (await import('./verify.ts')).verify },
  'trust init': { summary: 'create and sign version 1 of a trust root (TUF root.json)', load: async () => (await import('./trust.ts')).trustInit },
  'trust add-key': { summary: 'write root version N+1 with a key added to roles', load: async () => (await import('./trust.ts')).trustAddKey },
  'trust remove-key': { summary: 'write root version N+1 with a key removed from roles', load: async () => (await import('./trust.ts')).trustRemoveKey },
  'trust revoke': { summary: 'write root version N+1 that revokes a key everywhere', load: async () => (await import('./trust.ts')).trustRevoke },
  'trust sign': { summary: 'add a signature to a trust root', load: async () => (await import('./trust.ts')).trustSign },
  'trust verify': { summary: 'verify a trust root (pinned, or as the successor of trusted roots)', load: async () => (await import('./trust.ts')).trustVerify },
  'trust update': { summary: 'move a trusted root file forward to a verified successor', load: async () => (await import('./trust.ts')).trustUpdate },
  'trust show': { summary: 'print the roles, keys and signatures of a trust root', load: async () => (await import('./trust.ts')).trustShow },
  // tlog (issue: transparency log)
  'log serve': { summary: 'run a transparency log (C2SP tlog-tiles read path, POST add write path)', load: async () => (await import('./log.ts')).logServe },
  'log add': { summary: 'submit an entry to a log and save its offline proof (tlog-proof@v1)', load: async () => (await import('./log.ts')).logAdd },
  'log monitor': { summary: 'follow a log: verify every new checkpoint and its consistency with the last verified one', load: async () => (await import('./log.ts')).logMonitor },
  'log verify-inclusion': { summary: 'verify that an entry is in a log (offline from a tlog-proof file, or from the tiles)', load: async () => (await import('./log.ts')).logVerifyInclusion },
  'log verify-consistency': { summary: 'verify that an older checkpoint is a prefix of a newer one (offline or from the tiles)', load: async () => (await import('./log.ts')).logVerifyConsistency },
  'witness serve': { summary: 'run a C2SP transparency log witness (add-checkpoint, cosignature/v1)', load: async () => (await import('./witness.ts')).witnessServe },
  // pkg (issue: PSPF packages)
  pack: { summary: 'build a signed PSPF/2025 package from files and directories', load: async () => (await import('./pack.ts')).pack },
  inspect: { summary: 'show what a PSPF/2025 package contains (after its quick verification)', load: async () => (await import('./inspect.ts')).inspect },
  extract: { summary: 'extract a PSPF/2025 package (every slot, or one) safely into a new directory', load: async () => (await import('./extract.ts')).extract },
  'verify-package': { summary: 'verify a PSPF/2025 package (signature, every byte, signer trust)', load: async () => (await import('./verify-package.ts')).verifyPackageCommand },
  'sign-package': { summary: 'add a detached signature over a package (or any file) to FILE.sigs', load: async () => (await import('./sign-package.ts')).signPackage },
  // provider daemon and its clients
  serve: { summary: 'run the provider daemon: signed manifests, artifacts and the transparency log over HTTP(S)', load: async () => (await import('./serve.ts')).serve },
  fetch: { summary: 'download a release from untrusted providers, verifying manifest, log proof and every artifact', load: async () => (await import('./provider.ts')).fetchCommand },
  publish: { summary: 'upload artifacts to a running custody serve and release them (signed, logged, served)', load: async () => (await import('./provider.ts')).publish },
  // audit (issue: provider daemon audit log)
  'audit verify': { summary: 'verify the hash chain of an audit log (read-only)', load: async () => (await import('./audit.ts')).auditVerify },
  // attest: Sigstore bundles (issue 10)
  'sign-blob': { summary: 'sign a file as a Sigstore bundle v0.3 (DSSE in-toto statement, Ed25519), optionally logged in our log', load: async () => (await import('./sigstore.ts')).signBlob },
  'verify-blob': { summary: 'verify a file against a Sigstore bundle v0.3 (ours, or cosign --key message signatures)', load: async () => (await import('./sigstore.ts')).verifyBlob },
  'trust export': { summary: 'export trust for Sigstore verifiers: a TrustedRoot naming our log, and the signing keys beside it', load: async () => (await import('./sigstore.ts')).trustExport },
  // attest: SLSA provenance and in-toto attestations (issue 10)
  'attest provenance': { summary: 'sign SLSA v1 provenance for build outputs (DSSE envelope, in-toto statement) into an .intoto.jsonl', load: async () => (await import('./attest.ts')).attestProvenance },
  'attest predicate': { summary: 'sign any in-toto predicate (a JSON file) for files into an .intoto.jsonl', load: async () => (await import('./attest.ts')).attestPredicate },
  'attest verify': { summary: 'verify every envelope of an .intoto.jsonl (threshold of trusted keys) and show its statements', load: async () => (await import('./attest.ts')).attestVerify },
  // vuln and rebuild (issue 10: offline vulnerabilities, rebuild check)
  'vulndb import': { summary: 'load OSV vulnerability records (a directory of .json or an osv.dev all.zip) into the offline database', load: async () => (await import('./vuln.ts')).vulndbImport },
  scan: { summary: 'match the components of an SBOM (SPDX or CycloneDX JSON) against the offline vulnerability database', load: async () => (await import('./vuln.ts')).scan },
  'rebuild-check': { summary: 'compare two build outputs (directories, tar, PSPF packages, SBOMs) and report every difference', load: async () => (await import('./rebuild.ts')).rebuildCheck },
  // sums (issue 10: SHA256SUMS as GNU coreutils writes and checks it, plain or signed)
  'sums create': { summary: 'write a SHA256SUMS file exactly as coreutils sha256sum does (text, --binary or --tag lines)', load: async () => (await import('./sums.ts')).sumsCreate },
  'sums check': { summary: 'check the files a SHA256SUMS file lists, as sha256sum -c does (optionally signed: DSSE or .sigs)', load: async () => (await import('./sums.ts')).sumsCheck },
  'sums sign': { summary: 'sign a SHA256SUMS file: a DSSE envelope over its bytes (one more signature per run)', load: async () => (await import('./sums.ts')).sumsSign },
  // sbom (issue 10: supply-chain evidence — SBOM generators)
  sbom: { summary: 'write an SPDX 2.3 or CycloneDX 1.6 SBOM of a directory, npm lockfile or PSPF package (optionally attested)', load: async () => (await import('./sbom.ts')).sbom },
  // policy gate and promotion (issue 10: supply-chain evidence)
  'verify-attestation': { summary: 'verify attestations of an artifact and judge them under a policy (exit 0 accepted, 1 refused)', load: async () => (await import('./attestation.ts')).verifyAttestationCommand },
  promote: { summary: 'publish an artifact set only when every artifact has the evidence a policy requires', load: async () => (await import('./attestation.ts')).promoteCommand },
  // signing API (issue 11, certus): API tokens and identities of /v1
  'token create': { summary: 'create a scoped API token for the signing API (printed once; only its SHA-256 is stored)', load: async () => (await import('./auth.ts')).tokenCreate },
  'token list': { summary: 'list the API tokens of the signing API (ids, names, scopes, expiry, revocation; never the tokens)', load: async () => (await import('./auth.ts')).tokenList },
  'token revoke': { summary: 'revoke an API token of the signing API (refused by running daemons at their next request)', load: async () => (await import('./auth.ts')).tokenRevoke },
  'identity add': { summary: 'register an Ed25519 identity that gets 5-minute tokens by challenge-response (POST /v1/auth/…)', load: async () => (await import('./auth.ts')).identityAdd },
  'identity list': { summary: 'list the identities registered for challenge-response authentication', load: async () => (await import('./auth.ts')).identityList },
  'identity revoke': { summary: 'revoke an identity and every token issued to it (effective at the next request of running daemons)', load: async () => (await import('./auth.ts')).identityRevoke },
  // install, rollback, status (issue 13: secure updates)
  install: { summary: 'install the newest verified release into DIR/releases/<sequence> and switch DIR/current atomically, with health check and rollback', load: async () => (await import('./install.ts')).install },
  rollback: { summary: 'switch an install target back to its previous verified release', load: async () => (await import('./install.ts')).rollback },
  status: { summary: 'show the active release of an install target: manifest, signers, log entry, and the releases kept', load: async () => (await import('./install.ts')).status },
  // secrets (issue 12): envelope-encrypted secret store, KEK rotation
  'secrets put': { summary: 'store a secret (from stdin or --from-file) encrypted under its own data key, wrapped by the active KEK', load: async () => (await import('./secrets.ts')).secretsPut },
  'secrets get': { summary: 'decrypt a secret to stdout or to --output (0600); refused, and nothing printed, if any byte was altered', load: async () => (await import('./secrets.ts')).secretsGet },
  'secrets list': { summary: 'list the secrets of a store: name, version, data key id, the KEK that wraps it (nothing decrypted)', load: async () => (await import('./secrets.ts')).secretsList },
  'secrets rotate-kek': { summary: 'make a new active KEK and rewrap every data key with it (payloads untouched); retire the old KEK', load: async () => (await import('./secrets.ts')).secretsRotateKek },
  'secrets rewrap': { summary: 'finish an interrupted KEK rotation: rewrap what the active KEK does not wrap yet, retire unused KEKs', load: async () => (await import('./secrets.ts')).secretsRewrap },
  // signing API clients (issue 11, oidc): sign and verify through a running daemon's /v1
  'sign-remote': { summary: 'sign an artifact with a running daemon\'s signing API (POST /v1/sign; keyless with an OIDC token)', load: async () => (await import('./signing-remote.ts')).signRemote },
  'verify-remote': { summary: 'verify an artifact\'s signature with a running daemon\'s signing API (POST /v1/verify)', load: async () => (await import('./signing-remote.ts')).verifyRemote },
  // mirrors and provider discovery (issue 14)
  discover: { summary: 'find providers of a channel/arch over the libp2p DHT (or mDNS); discovery is untrusted: verify with fetch', load: async () => (await import('./p2p.ts')).discover },
};
