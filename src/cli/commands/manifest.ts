/**
 * cli/commands/manifest — `custody manifest create` and `custody sign-manifest`. Verifying (`custody verify-manifest`,
 * `custody verify MANIFEST ARTIFACT…`) lives in cli/commands/manifest-verify, which loads none of this.
 */
import { isHashAlgorithm, type HashAlgorithm } from '../../crypto/index.ts';
import { parseDuration } from '../../encoding/time.ts';
import { UsageError } from '../../errors.ts';
import { formatManifest, type Manifest } from '../../manifest/manifest.ts';
import { ConfigError } from '../../errors.ts';
import { pathExists } from '../../io/files.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { MANIFEST_PROOF_SUFFIX, manifestLogEntry } from '../../manifest/log.ts';
import { parseCheckpoint } from '../../note/checkpoint.ts';
import { parseNote } from '../../note/note.ts';
import { formatProofFile, verifyProofFile } from '../../note/proof.ts';
import { hashLeaf, verifyInclusion } from '../../tlog/merkle.ts';
import { abs, loadSigningKey, readManifestFile, readTokenFile, writeOutput, writeOutputs } from '../common.ts';
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
    // Loaded by the command that uses it (verify, the common case, needs neither create.ts nor sign.ts).
    const { createManifest } = await import('../../manifest/create.ts');
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
  --log URL             also submit the manifest to a transparency log (e.g. http://127.0.0.1:8080/log) and
                        store the tlog-proof beside the output as OUT.tlog-proof (both written together); without
                        --log an existing OUT.tlog-proof is refused (ERR_MANIFEST_PROOF_STALE): remove it first
  --log-token-file F    bearer token for the log (or CUSTODY_LOG_TOKEN)
  --log-key VKEY        the log's verifier key: check the returned checkpoint's signature before storing

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
      log: { type: 'string' },
      'log-token-file': { type: 'string' },
      'log-key': { type: 'string' },
    }, false);
    const input = requireOption(values.manifest, 'manifest');
    const output = requireOption(values.output, 'output');
    if (abs(ctx, input) === abs(ctx, output)) throw new UsageError('ERR_USAGE_ARGUMENT', 'the output is also the input; choose another path');
    // Without --log an existing OUT.tlog-proof would be left beside a new OUT: verify-manifest reads it as OUT's proof
    // (of an older body, or one whose log the caller never meant to use). Refused rather than deleted: the file may
    // be the only copy of a proof, and a delete beside the write could not be one atomic step with it.
    if (values.log === undefined && (await pathExists(abs(ctx, output + MANIFEST_PROOF_SUFFIX)))) {
      throw new UsageError('ERR_MANIFEST_PROOF_STALE', `${output}${MANIFEST_PROOF_SUFFIX} exists and would be left beside the new ${output} without --log`);
    }
    const m = readManifestFile(ctx, input);
    const key = await loadSigningKey(ctx, { key: values.key, seedFile: values['seed-file'], passphraseFile: values['passphrase-file'] });
    const { signManifest } = await import('../../manifest/sign.ts');
    const signed = signManifest(m, key, { now: ctx.now(), resign: values.resign === true });
    // Submit before writing anything: a refused or failed submission leaves no files behind.
    const proof = values.log === undefined ? undefined : await submitToLog(ctx, signed, values.log, values['log-token-file'], values['log-key']);
    // The manifest and its proof go together: both replace their files, or (on failure) neither does.
    const [out, proofPath] = await writeOutputs(
      ctx,
      [{ output, data: formatManifest(signed) }, ...(proof ? [{ output: output + MANIFEST_PROOF_SUFFIX, data: proof.text }] : [])],
      { inputs: [input] },
    );
    const added = signed.signatures.length !== m.signatures.length || values.resign === true;
    ctx.print(`${added ? 'signed' : 'already signed'} by ${tufKeyId(key.publicKey)}; ${signed.signatures.length} signature(s) → ${out!}`);
    if (proof) ctx.print(`logged at index ${proof.index} of ${proof.origin} (tree size ${proof.size}); proof → ${proofPath!}`);
    ctx.result({ output: out, key_id: tufKeyId(key.publicKey), signatures: signed.signatures.length, added, ...(proof ? { log_index: proof.index, proof: proofPath } : {}) });
    return 0;
  },
};

/**
 * submitToLog sends the manifest's log entry (manifest/log) and returns the tlog-proof@v1 text. The answer is
 * checked before it is stored: the proof must include the entry under the returned checkpoint's root, and with
 * --log-key the checkpoint must carry the log's signature.
 */
async function submitToLog(
  ctx: CommandContext,
  m: Manifest,
  url: string,
  tokenFile: string | undefined,
  logKey: string | undefined,
): Promise<{ text: string; index: number; size: number; origin: string }> {
  // Loaded here only: the log client is not needed to create or verify a manifest.
  const { LogClient } = await import('../../log/client.ts');
  const token = tokenFile !== undefined ? new TextDecoder().decode(await readTokenFile(ctx, tokenFile)) : ctx.env.CUSTODY_LOG_TOKEN;
  if (!token) throw new ConfigError('ERR_CONFIG_INVALID', '--log needs a bearer token', { hint: 'pass --log-token-file FILE or set CUSTODY_LOG_TOKEN' });
  const entry = manifestLogEntry(m);
  const r = await new LogClient(url).add(entry, token);
  const text = formatProofFile({ index: r.index, proof: r.proof, checkpoint: r.checkpoint });
  const cp = parseCheckpoint(parseNote(r.checkpoint).text);
  if (logKey !== undefined) verifyProofFile(text, { entry }, logKey);
  else verifyInclusion(hashLeaf(entry), r.index, cp.size, r.proof, cp.rootHash);
  return { text, index: r.index, size: cp.size, origin: cp.origin };
}
