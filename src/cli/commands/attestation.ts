/**
 * cli/commands/attestation — `custody verify-attestation ARTIFACT --attestation F… --policy P (--trust ROOT |
 * --key K.pub…)`: the policy gate (src/policy) on the command line.
 *
 * Order: the artifact is hashed; every envelope of every attestation file is verified under the trusted keys
 * (VerificationError: signature, threshold, format); every statement must name the artifact's SHA-256
 * (ERR_ATTEST_SUBJECT_MISMATCH); only then is the policy evaluated (PolicyError naming the refusing rule). Exit 0
 * accepted, 1 refused, 2 a bad policy file or command line.
 */
import { basename } from 'node:path';
import { keysFromPublicKeys, type EnvelopeKeys } from '../../attest/dsse.ts';
import { keysFromRoot, type VerifiedAttestation } from '../../attest/verify.ts';
import type { PublicKey } from '../../crypto/index.ts';
import { UsageError, errorFromCode, isTrustError } from '../../errors.ts';
import { openRegularFile, readFileBounded } from '../../io/files.ts';
import { hashOpenFile } from '../../io/hash-file.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { loadPublicKey } from '../../keys/key-file.ts';
import { requireSubject } from '../../attest/statement.ts';
import { printable } from '../../encoding/text.ts';
import { enforcePolicy, type LogInclusion, type ScanSummary } from '../../policy/evaluate.ts';
import { isJsonObject, parseJson } from '../../encoding/json.ts';
import { parseVerifierKey } from '../../note/note.ts';
import { verifyAttestationFile } from '../../policy/evidence.ts';
import { POLICY_MAX_BYTES, parsePolicy, type Policy } from '../../policy/policy.ts';
import { DSSE_MAX_ENVELOPE_BYTES } from '../../attest/dsse.ts';
import { abs, loadTrustRoot, readTokenFile } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';

/**
 * EXAMPLE_POLICY is printed by --help between the two marker lines and works as printed (a test copies it out of
 * the help text); docs/attestations.md "Policy" shows it too.
 */
export const EXAMPLE_POLICY = `{
  "version": 1,
  "required_predicate_types": ["https://slsa.dev/provenance/v1"],
  "trusted_builders": ["https://builder.example/ci@v1"],
  "subject_names": ["app-*.tar.gz"],
  "max_age": "30d",
  "source_repositories": ["git+https://git.example/acme/*"]
}`;

/** ATTESTATION_FILE_MAX_BYTES caps one attestation file (parseJsonl caps it too). */
export const ATTESTATION_FILE_MAX_BYTES = DSSE_MAX_ENVELOPE_BYTES * 4;

/** loadAttestationKeys: the root's targets role (keys, threshold), joined by --key keys (threshold 1 without a root). */
export async function loadAttestationKeys(ctx: CommandContext, trust: string | undefined, keyFiles: readonly string[]): Promise<EnvelopeKeys> {
  if (trust === undefined && keyFiles.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass --trust ROOT (its targets keys sign attestations) or --key K.pub');
  const extra: PublicKey[] = [];
  for (const k of keyFiles) extra.push(await loadPublicKey(abs(ctx, k)));
  if (trust === undefined) return keysFromPublicKeys(extra, 1);
  const fromRoot = keysFromRoot(loadTrustRoot(ctx, trust));
  const authorized = new Map(fromRoot.authorized);
  for (const k of extra) authorized.set(tufKeyId(k), { id: tufKeyId(k), key: k });
  return { ...fromRoot, authorized };
}

/**
 * vulnScanner returns the scan the policy's `max_severity` judges: with the policy setting it, the SBOM attestations
 * of each artifact are scanned against the offline OSV database (--vulndb, default $CUSTODY_VULNDB or the cache path
 * `custody scan` uses); without it, no database is opened. Warnings (unmatchable components) go to stderr.
 */
export async function vulnScanner(
  ctx: CommandContext,
  policy: Policy,
  vulndb: string | undefined,
): Promise<{ scan: (atts: readonly VerifiedAttestation[], sha256: string) => ScanSummary | undefined; close: () => void } | undefined> {
  if (policy.maxSeverity === undefined) {
    if (vulndb !== undefined) ctx.stderr('custody: warning: --vulndb is unused: the policy sets no max_severity\n');
    return undefined;
  }
  const [{ openVulnDb, defaultVulnDbPath }, { scanAttestedSboms }] = await Promise.all([import('../../vuln/db.ts'), import('../../release/sbom-scan.ts')]);
  const db = openVulnDb(abs(ctx, vulndb ?? defaultVulnDbPath(ctx.env)));
  const warn = (m: string): void => ctx.stderr(`custody: warning: ${printable(m)}\n`);
  return { scan: (atts, sha256) => scanAttestedSboms(db, atts, sha256, warn), close: () => db.close() };
}

/** isBundle tells a Sigstore bundle (one JSON object with "mediaType") from an .intoto.jsonl file. */
function isBundle(bytes: Uint8Array): boolean {
  try {
    const v = parseJson(bytes, { maxBytes: ATTESTATION_FILE_MAX_BYTES, allowFloats: true, what: 'attestation file' });
    return isJsonObject(v) && typeof v.mediaType === 'string';
  } catch {
    return false; // several lines, or not JSON: read as .intoto.jsonl (which reports what is wrong)
  }
}

/** loadPolicyFile reads and checks a policy file (JSON or YAML). */
export async function loadPolicyFile(ctx: CommandContext, path: string): Promise<Policy> {
  return parsePolicy(await readFileBounded(abs(ctx, path), { maxBytes: POLICY_MAX_BYTES, allowSymlink: true, what: 'policy file' }), path);
}

export const verifyAttestationCommand: Command = {
  summary: 'verify attestations of an artifact and judge them under a policy (exit 0 accepted, 1 refused)',
  usage: `usage: custody verify-attestation ARTIFACT --attestation F… --policy P (--trust ROOT | --key K.pub…)
                                  [--log-key VKEY…] [--vulndb DB] [--json]

Hashes ARTIFACT, verifies every DSSE envelope of every attestation file (.intoto.jsonl: one envelope per line)
under the trusted keys, requires each statement to name the artifact's SHA-256, then evaluates the policy over that
verified evidence only. A bad envelope or an attestation about other bytes is a VerificationError; good evidence
the policy does not accept is a PolicyError naming the rule (the policy key) that refused.

  --attestation F   an .intoto.jsonl file, or a Sigstore bundle v0.3 of a DSSE attestation (custody attest …
                    --bundle), told apart by its "mediaType" (repeatable)
  --log-key VKEY    a transparency log whose entries in bundles are verified (repeatable); a verified
                    inclusion is what require_log_inclusion asks for. Without it, bundle log entries are
                    not checked and count for nothing
  --policy P        the policy, JSON or YAML; unknown keys are refused (docs/attestations.md "Policy")
  --trust ROOT      trust the root's targets role (its keys and threshold) for attestations
  --key K.pub       also trust this public key (repeatable); without --trust, one such key must sign
  --vulndb DB       when the policy sets max_severity: the offline OSV database (custody vulndb import) the
                    SBOM attestations' components are scanned against (default: $CUSTODY_VULNDB, else the
                    cache path of custody scan)

example policy (policy.json):
--- begin policy ---
${EXAMPLE_POLICY}
--- end policy ---

example:
  custody verify-attestation app-1.2.tar.gz --attestation app-1.2.tar.gz.intoto.jsonl \\
      --policy policy.json --trust root.json`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      attestation: { type: 'string', multiple: true },
      policy: { type: 'string' },
      trust: { type: 'string' },
      key: { type: 'string', multiple: true },
      vulndb: { type: 'string' },
      'log-key': { type: 'string', multiple: true },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one ARTIFACT');
    const files = values.attestation ?? [];
    if (files.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --attestation');
    const policy = await loadPolicyFile(ctx, requireOption(values.policy, 'policy'));
    const keys = await loadAttestationKeys(ctx, values.trust, values.key ?? []);
    const artifactPath = abs(ctx, positionals[0]!);
    const { fh, size } = await openRegularFile(artifactPath, true);
    let sha256: string;
    try {
      sha256 = (await hashOpenFile(fh, size, ['sha256'], artifactPath)).sha256;
    } finally {
      await fh.close();
    }
    const now = ctx.now();
    const attestations: VerifiedAttestation[] = [];
    const inclusions = new Map<string, LogInclusion>();
    const logKeys = (values['log-key'] ?? []).map((k) => parseVerifierKey(k));
    for (const f of files) {
      const bytes = await readFileBounded(abs(ctx, f), { maxBytes: ATTESTATION_FILE_MAX_BYTES, allowSymlink: true, what: 'attestation file' });
      if (isBundle(bytes)) {
        const { verifyBundle } = await import('../../attest/sigstore-verify.ts');
        let vb;
        try {
          vb = verifyBundle(bytes, { artifactSha256: sha256, keys, logKeys, ignoreTlog: logKeys.length === 0, now });
        } catch (e) {
          if (isTrustError(e)) throw errorFromCode(e.code, `${printable(f, 200)}: ${e.message}`, { cause: e, ...(e.details ? { details: { ...e.details } } : {}) });
          throw e;
        }
        if (vb.attestation === undefined) {
          ctx.stderr(`custody: warning: ${printable(f, 200)} is a message-signature bundle, not an attestation; it is no evidence for the policy\n`);
          continue;
        }
        attestations.push(vb.attestation);
        if (vb.inclusion !== undefined) inclusions.set(vb.attestation.signedDigest, vb.inclusion);
        continue;
      }
      attestations.push(...verifyAttestationFile(bytes, keys, now, f));
    }
    const scanner = await vulnScanner(ctx, policy, values.vulndb);
    let scan: ScanSummary | undefined;
    try {
      for (const a of attestations) requireSubject(a.statement, sha256);
      scan = scanner?.scan(attestations, sha256);
    } finally {
      scanner?.close();
    }
    const decision = enforcePolicy(policy, { artifact: { name: basename(artifactPath), sha256 }, attestations, scan, inclusions }, now);
    ctx.print(`ACCEPTED ${basename(artifactPath)}  sha256:${sha256}  (${decision.attestations} attestation(s), policy ${values.policy})`);
    for (const v of decision.verdicts) ctx.print(`  ok  ${v.rule}: ${v.message}`);
    ctx.result({ artifact: basename(artifactPath), sha256, accepted: true, ...(scan === undefined ? {} : { scan }), attestations: attestations.map((a) => ({ predicate_type: a.statement.predicateType, signers: a.signers, signed_digest: a.signedDigest })), verdicts: decision.verdicts });
    return 0;
  },
};

export const promoteCommand: Command = {
  summary: 'publish an artifact set only when every artifact has the evidence a policy requires',
  usage: `usage: custody promote --from DIR --channel CH --arch ARCH --policy P (--trust ROOT | --key K.pub…)
                       (--provider URL --token-file F | --to INCOMING) [--version V] [--vulndb DB]

DIR is flat: the artifacts, and their attestations as *.intoto.jsonl files (one DSSE envelope per line; a file may
speak for several artifacts). Every envelope is verified, every artifact judged under the policy; only when ALL
pass is the set published, with its attestations — otherwise nothing is, and the refusal names the artifact and
the rule.

  --provider URL --token-file F   upload to a running custody serve (as custody publish) and release
  --to INCOMING                   write INCOMING/CH/ARCH of a provider in one rename (serve imports it on
                                  start, SIGHUP or POST /admin/v1/rescan)
  --version V                     release version (default: the provider's choice)
  --trust ROOT, --key K.pub       who signs attestations, as for custody verify-attestation
  --vulndb DB                     the OSV database for max_severity, as for custody verify-attestation

example:
  custody promote --from build/ --channel stable --arch x86_64 --policy policy.json --trust root.json \\
      --provider http://127.0.0.1:8080 --token-file custody-data/admin.token`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      from: { type: 'string' },
      channel: { type: 'string' },
      arch: { type: 'string' },
      policy: { type: 'string' },
      trust: { type: 'string' },
      key: { type: 'string', multiple: true },
      provider: { type: 'string' },
      'token-file': { type: 'string' },
      to: { type: 'string' },
      version: { type: 'string' },
      vulndb: { type: 'string' },
    });
    if (positionals.length !== 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'promote takes no positional arguments; pass --from DIR');
    if ((values.provider === undefined) === (values.to === undefined)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', 'pass exactly one of --provider URL (with --token-file) and --to INCOMING');
    }
    const policy = await loadPolicyFile(ctx, requireOption(values.policy, 'policy'));
    const keys = await loadAttestationKeys(ctx, values.trust, values.key ?? []);
    const target =
      values.provider !== undefined
        ? { provider: values.provider, token: new TextDecoder().decode(await readTokenFile(ctx, requireOption(values['token-file'], 'token-file'))) }
        : { incomingDir: abs(ctx, values.to!) };
    const { promote } = await import('../../release/promote.ts');
    const scanner = await vulnScanner(ctx, policy, values.vulndb);
    const r = await promote({
      scan: scanner?.scan,
      fromDir: abs(ctx, requireOption(values.from, 'from')),
      channel: requireOption(values.channel, 'channel'),
      arch: requireOption(values.arch, 'arch'),
      policy,
      keys,
      now: ctx.now(),
      target,
      version: values.version,
      onEvent: (line) => ctx.print(line),
    }).finally(() => scanner?.close());
    for (const d of r.decisions) ctx.print(`ACCEPTED ${d.artifact.name}  sha256:${d.artifact.sha256}  (${d.attestations} attestation(s))`);
    if ('incoming' in r.release) ctx.print(`promoted ${r.artifacts.length} artifact(s) into ${r.release.incoming}`);
    else ctx.print(`released ${values.channel}/${values.arch} sequence ${r.release.sequence} digest ${r.release.digest} log index ${r.release.log_index}`);
    ctx.result({ channel: values.channel, arch: values.arch, artifacts: r.artifacts, attestations: r.attestations, release: r.release, decisions: r.decisions });
    return 0;
  },
};
