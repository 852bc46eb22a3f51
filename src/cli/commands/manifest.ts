/**
 * cli/commands/manifest — `custody manifest create`, `custody sign-manifest`, `custody verify-manifest` and the
 * manifest side of `custody verify MANIFEST ARTIFACT…`.
 */
import { isHashAlgorithm, type HashAlgorithm } from '../../crypto/index.ts';
import { parseDuration } from '../../encoding/time.ts';
import { UsageError } from '../../errors.ts';
import { createManifest } from '../../manifest/create.ts';
import { formatManifest } from '../../manifest/manifest.ts';
import { signManifest } from '../../manifest/sign.ts';
import { loadState, recordManifest, saveState, stateKey } from '../../manifest/state.ts';
import { verifyArtifactFile, type VerifiedArtifact } from '../../manifest/artifact.ts';
import { verifyManifest, type VerifiedManifest } from '../../manifest/verify.ts';
import { abs, loadSigningKey, loadTrustRoot, readManifestFile, writeOutput } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';

export const manifestCreate: Command = {
  summary: 'hash a directory of artifacts into an unsigned manifest',
  usage: `usage: custody manifest create --artifacts DIR --channel CH --arch ARCH --output FILE
                               [--expires 30d] [--sequence N] [--version V] [--hash sha256,blake3]

Every regular file in DIR becomes an artifact (hidden files skipped; symlinks refused). Phase names apply:
vmlinuz*/bzImage/kernel* → kernel, initramfs*/initrd* → initramfs, rootfs* → rootfs.

options:
  --artifacts DIR     directory of artifact files (required)
  --channel CH        channel, e.g. stable (required)
  --arch ARCH         architecture, e.g. x86_64 (required)
  --output FILE       manifest path (required)
  --expires D         validity period (default 30d; units s m h d w)
  --sequence N        rollback counter (default: created_at in Unix seconds)
  --version V         release version string (default 0.1.0)
  --hash LIST         hash algorithms (default sha256; sha256, sha512, blake3)

example:
  custody manifest create --artifacts art --channel stable --arch x86_64 --expires 30d --output m0.json`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, {
      artifacts: { type: 'string' },
      channel: { type: 'string' },
      arch: { type: 'string' },
      output: { type: 'string' },
      expires: { type: 'string' },
      sequence: { type: 'string' },
      version: { type: 'string' },
      hash: { type: 'string' },
    }, false);
    const hashes: HashAlgorithm[] = [];
    for (const h of (values.hash ?? 'sha256').split(',')) {
      if (!isHashAlgorithm(h)) throw new UsageError('ERR_USAGE_ARGUMENT', `unsupported hash ${JSON.stringify(h)}; use sha256, sha512 or blake3`);
      hashes.push(h);
    }
    let sequence: number | undefined;
    if (values.sequence !== undefined) {
      if (!/^(0|[1-9][0-9]{0,15})$/.test(values.sequence) || !Number.isSafeInteger(Number(values.sequence))) {
        throw new UsageError('ERR_USAGE_ARGUMENT', '--sequence must be a non-negative integer');
      }
      sequence = Number(values.sequence);
    }
    const m = await createManifest({
      artifactsDir: abs(ctx, requireOption(values.artifacts, 'artifacts')),
      channel: requireOption(values.channel, 'channel'),
      arch: requireOption(values.arch, 'arch'),
      now: ctx.now(),
      expiresInMs: parseDuration(values.expires ?? '30d', '--expires'),
      hashes,
      ...(sequence === undefined ? {} : { sequence }),
      ...(values.version === undefined ? {} : { version: values.version }),
    });
    const out = await writeOutput(ctx, requireOption(values.output, 'output'), formatManifest(m));
    ctx.print(`wrote ${out}: ${m.artifacts.size} artifacts, ${m.channel}/${m.arch}, sequence ${m.sequence}, unsigned`);
    ctx.result({ output: out, artifacts: [...m.artifacts.keys()], sequence: m.sequence });
    return 0;
  },
};

export const signManifestCommand: Command = {
  summary: 'add one signature to a manifest (idempotent per key)',
  usage: `usage: custody sign-manifest --manifest IN --key KEY.pem --output OUT [--resign] [--passphrase-file F]

Adds the key's Ed25519 signature over the manifest's canonical bytes. Signing twice with the same key changes
nothing. If the manifest body changed under existing signatures, signing is refused unless --resign, which drops
the old signatures. A 2-of-3 workflow: the admin signs, then security signs the admin's output.

options:
  --manifest IN         manifest to sign (required)
  --key KEY.pem         private key (PKCS#8 PEM, encrypted or not), or --seed-file F (tests only)
  --output OUT          signed manifest path (required; may not equal IN)
  --resign              drop existing signatures first
  --passphrase-file F   passphrase for an encrypted key (or CUSTODY_PASSPHRASE)

example:
  custody sign-manifest --manifest m0.json --key k/a.pem --output m1.json`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, {
      manifest: { type: 'string' },
      key: { type: 'string' },
      'seed-file': { type: 'string' },
      output: { type: 'string' },
      resign: { type: 'boolean' },
      'passphrase-file': { type: 'string' },
    }, false);
    const input = requireOption(values.manifest, 'manifest');
    const output = requireOption(values.output, 'output');
    if (abs(ctx, input) === abs(ctx, output)) throw new UsageError('ERR_USAGE_ARGUMENT', 'the output is also the input; choose another path');
    const m = await readManifestFile(ctx, input);
    const key = await loadSigningKey(ctx, { key: values.key, seedFile: values['seed-file'], passphraseFile: values['passphrase-file'] });
    const signed = signManifest(m, key, { now: ctx.now(), resign: values.resign === true });
    const out = await writeOutput(ctx, output, formatManifest(signed), { inputs: [input] });
    const added = signed.signatures.length !== m.signatures.length || values.resign === true;
    ctx.print(`${added ? 'signed' : 'already signed'} by ${key.publicKey.keyId}; ${signed.signatures.length} signature(s) → ${out}`);
    ctx.result({ output: out, key_id: key.publicKey.keyId, signatures: signed.signatures.length, added });
    return 0;
  },
};

async function verifyWithState(ctx: CommandContext, manifestPath: string, trustPath: string, statePath: string | undefined): Promise<VerifiedManifest> {
  const root = await loadTrustRoot(ctx, trustPath);
  const m = await readManifestFile(ctx, manifestPath);
  const state = statePath === undefined ? undefined : await loadState(abs(ctx, statePath));
  const seen = state?.manifests.get(stateKey(m.channel, m.arch));
  const vm = verifyManifest(m, root, { now: ctx.now(), lastSeenSequence: seen?.sequence, lastSeenDigest: seen?.digest });
  if (state && statePath !== undefined) {
    recordManifest(state, vm);
    await saveState(abs(ctx, statePath), state);
  }
  return vm;
}

function manifestSummary(vm: VerifiedManifest): Record<string, unknown> {
  const m = vm.manifest;
  return {
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

example:
  custody verify-manifest m2.json --trust root.json`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { trust: { type: 'string' }, state: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one manifest');
    const vm = await verifyWithState(ctx, positionals[0]!, requireOption(values.trust, 'trust'), values.state);
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
  const { values, positionals } = parseCommandArgs(ctx.argv, { trust: { type: 'string' }, state: { type: 'string' } });
  if (positionals.length < 2) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected a manifest and at least one artifact');
  const vm = await verifyWithState(ctx, positionals[0]!, requireOption(values.trust, 'trust'), values.state);
  const results: VerifiedArtifact[] = [];
  for (const p of positionals.slice(1)) {
    const r = await verifyArtifactFile(vm, abs(ctx, p));
    results.push(r);
    ctx.print(`ok  ${r.filename}  (${r.name}, ${r.size} bytes, ${r.matched.join('+')})`);
  }
  ctx.print(`verified ${results.length} artifact(s) against ${vm.manifest.channel}/${vm.manifest.arch} sequence ${vm.manifest.sequence}`);
  ctx.result({ manifest: manifestSummary(vm), artifacts: results });
  return 0;
}
