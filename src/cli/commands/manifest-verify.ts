/**
 * cli/commands/manifest-verify — `custody verify-manifest` and the manifest side of `custody verify MANIFEST
 * ARTIFACT…`: a threshold of the trust root's targets keys (manifest/verify), expiry, rollback against a state file,
 * and, with --require-log, inclusion in a transparency log (manifest/log, tlog-proof@v1). Apart from
 * cli/commands/manifest (create, sign) so verifying loads no signing, log-client or HSM code; the state file and the
 * log-proof modules load only when --state or --require-log is given. Nothing here decides less: every check runs
 * whenever its option is present, exactly as before the split.
 */
import { UsageError } from '../../errors.ts';
import { readFileBounded, readFileIfExists } from '../../io/files.ts';
import { SYNC_HASH_MAX_BYTES, verifyArtifactFile, type VerifiedArtifact } from '../../manifest/artifact.ts';
import type { LoggedManifest } from '../../manifest/log.ts';
import { verifyManifest, type VerifiedManifest } from '../../manifest/verify.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';
import { abs, loadTrustRoot, readManifestFile } from '../inputs.ts';

async function readProof(ctx: CommandContext, manifestPath: string, proofPath: string | undefined): Promise<Uint8Array | undefined> {
  const [{ MAX_PROOF_FILE_BYTES }, { MANIFEST_PROOF_SUFFIX }] = await Promise.all([import('../../note/proof.ts'), import('../../manifest/log.ts')]);
  const options = { maxBytes: MAX_PROOF_FILE_BYTES, allowSymlink: true, what: 'tlog-proof file' };
  // An explicit --log-proof must exist; the default MANIFEST.tlog-proof may be absent (then the proof is missing).
  if (proofPath !== undefined) return readFileBounded(abs(ctx, proofPath), options);
  return readFileIfExists(abs(ctx, manifestPath + MANIFEST_PROOF_SUFFIX), options);
}

interface LogRequirement {
  key: string | undefined;
  proof: string | undefined;
}

async function verifyWithState(
  ctx: CommandContext,
  manifestPath: string,
  trustPath: string,
  statePath: string | undefined,
  log: LogRequirement = { key: undefined, proof: undefined },
): Promise<VerifiedManifest & { logged?: LoggedManifest }> {
  const root = loadTrustRoot(ctx, trustPath);
  const m = readManifestFile(ctx, manifestPath);
  // The state and log modules load only when their option is given (README, Development: cold start).
  const stateModule = statePath === undefined ? undefined : await import('../../manifest/state.ts');
  const state = stateModule === undefined || statePath === undefined ? undefined : await stateModule.loadState(abs(ctx, statePath));
  const seen = state === undefined || stateModule === undefined ? undefined : state.manifests.get(stateModule.stateKey(m.channel, m.arch));
  const vm = verifyManifest(m, root, { now: ctx.now(), lastSeenSequence: seen?.sequence, lastSeenDigest: seen?.digest });
  // Transparency: the entry is recomputed from the verified manifest, then proven under the log key.
  let logged: LoggedManifest | undefined;
  if (log.key !== undefined) {
    const proof = await readProof(ctx, manifestPath, log.proof);
    logged = (await import('../../manifest/log.ts')).verifyManifestInclusion(vm, proof, log.key);
  }
  if (state && stateModule && statePath !== undefined) {
    stateModule.recordManifest(state, vm);
    await stateModule.saveState(abs(ctx, statePath), state);
  }
  return logged ? { ...vm, logged } : vm;
}

const logOptions = { 'require-log': { type: 'string' }, 'log-proof': { type: 'string' } } as const;
const LOG_USAGE = `  --require-log VKEY  refuse unless a tlog-proof shows the manifest in the log with this verifier key
  --log-proof FILE    the proof file (default: MANIFEST.tlog-proof)`;

function manifestSummary(vm: VerifiedManifest & { logged?: LoggedManifest }): Record<string, unknown> {
  const m = vm.manifest;
  return {
    ...(vm.logged ? { log: { origin: vm.logged.checkpoint.origin, index: vm.logged.index, tree_size: vm.logged.checkpoint.size } } : {}),
    channel: m.channel,
    arch: m.arch,
    version: m.version,
    sequence: m.sequence,
    expires_at: m.body.expires_at,
    digest: vm.digest,
    signers: vm.signers,
    threshold: vm.threshold,
  };
}

export const verifyManifestCommand: Command = {
  summary: 'verify a manifest against a trust root (threshold, expiry, rollback)',
  usage: `usage: custody verify-manifest MANIFEST --trust ROOT.json [--state FILE]

Accepts the manifest only if a threshold of distinct keys of the trust root's "targets" role signed it, it is not
expired, and (with --state) its sequence is not below the last one accepted for its channel/arch.
Exit 0 verified, 1 refused, 2 usage/config error.

options:
  --trust ROOT.json   pinned TUF root.json (required)
  --state FILE        rollback state file (created if missing, updated on success)
${LOG_USAGE}

example:
  custody verify-manifest m2.json --trust root.json`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { trust: { type: 'string' }, state: { type: 'string' }, ...logOptions });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one manifest');
    const vm = await verifyWithState(ctx, positionals[0]!, requireOption(values.trust, 'trust'), values.state, { key: values['require-log'], proof: values['log-proof'] });
    if (vm.logged) ctx.print(`logged: entry ${vm.logged.index} of ${vm.logged.checkpoint.origin}, tree size ${vm.logged.checkpoint.size}`);
    ctx.print(
      `verified: ${vm.manifest.channel}/${vm.manifest.arch} version ${vm.manifest.version} sequence ${vm.manifest.sequence}, ` +
        `signed by ${vm.signers.length}/${vm.threshold} keys (${vm.signers.join(', ')})`,
    );
    ctx.result({ manifest: manifestSummary(vm) });
    return 0;
  },
};

/** runManifestVerify implements `custody verify MANIFEST ARTIFACT… --trust ROOT.json`. */
export async function runManifestVerify(ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(ctx.argv, { trust: { type: 'string' }, state: { type: 'string' }, ...logOptions });
  if (positionals.length < 2) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected a manifest and at least one artifact');
  const vm = await verifyWithState(ctx, positionals[0]!, requireOption(values.trust, 'trust'), values.state, { key: values['require-log'], proof: values['log-proof'] });
  const results: VerifiedArtifact[] = [];
  for (const p of positionals.slice(1)) {
    // A one-shot process: small artifacts are read synchronously (no thread-pool round trip at start-up).
    const r = await verifyArtifactFile(vm, abs(ctx, p), undefined, { syncMaxBytes: SYNC_HASH_MAX_BYTES });
    results.push(r);
    ctx.print(`ok  ${r.filename}  (${r.name}, ${r.size} bytes, ${r.matched.join('+')})`);
  }
  ctx.print(`verified ${results.length} artifact(s) against ${vm.manifest.channel}/${vm.manifest.arch} sequence ${vm.manifest.sequence}`);
  ctx.result({ manifest: manifestSummary(vm), artifacts: results });
  return 0;
}
