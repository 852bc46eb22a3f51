/**
 * cli/commands/sigstore — Sigstore bundles v0.3 over Custody's keys and log: `custody sign-blob`, `custody
 * verify-blob` and `custody trust export --sigstore` (docs/attestations.md "Sigstore bundles").
 */
import { basename } from 'node:path';
import { signEnvelope, type DsseEnvelope } from '../../attest/dsse.ts';
import { formatBundle, parseBundle, BUNDLE_MAX_BYTES, BUNDLE_V03_MEDIA_TYPE, type SigstoreBundle } from '../../attest/sigstore-bundle.ts';
import { dsseBody, tlogEntryFromLog } from '../../attest/sigstore-tlog.ts';
import {
  BLOB_PREDICATE_TYPE,
  blobStatementPayload,
  logBaseUrl,
  logKeysFromTrustedRoot,
  trustedKeysJson,
  trustedRootJson,
  withTlogEntry,
  TRUSTED_ROOT_MAX_BYTES,
} from '../../attest/sigstore-trust.ts';
import { verifyParsedBundle, type VerifiedBundle } from '../../attest/sigstore-verify.ts';
import { INTOTO_PAYLOAD_TYPE } from '../../attest/statement.ts';
import type { PublicKey } from '../../crypto/index.ts';
import { ConfigError, UsageError } from '../../errors.ts';
import { readFileBounded } from '../../io/files.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { LogClient } from '../../log/client.ts';
import { parseVerifierKey, type Ed25519NoteVerifier } from '../../note/note.ts';
import { abs, loadEnvelopeKeys, loadSigningKey, readTokenFile, writeOutput, writeOutputs } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';
import { fileSha256 } from './verify-package.ts';

/** MESSAGE_ARTIFACT_MAX_BYTES caps a file verified against a message-signature bundle (its signature covers the bytes, read whole). */
export const MESSAGE_ARTIFACT_MAX_BYTES = 1024 * 1024 * 1024;

/** LogOptions are the --log, --log-key and --log-token-file options of the signing commands. */
export interface LogOptions {
  log?: string | undefined;
  logKey?: string | undefined;
  logTokenFile?: string | undefined;
}

/** checkLogOptions refuses log flags that cannot work together, before anything is signed or sent. */
export function checkLogOptions(log: LogOptions): void {
  if (log.log === undefined) {
    if (log.logKey !== undefined || log.logTokenFile !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', '--log-key and --log-token-file go with --log URL');
    return;
  }
  // --log-key is required (sign-manifest makes it optional): the bundle names the log by its key (logId), and an
  // entry whose checkpoint signature was not checked must not be written where verifiers will trust it.
  parseVerifierKey(requireOption(log.logKey, 'log-key'));
}

/**
 * bundleForEnvelope wraps a one-signature in-toto envelope signed by `publicKey` in a Sigstore bundle and, with
 * --log, submits its dsse body to our log and adds the verified entry (inclusion proof + checkpoint). The one place
 * sign-blob and `attest … --bundle` make bundles.
 */
export async function bundleForEnvelope(ctx: CommandContext, envelope: DsseEnvelope, publicKey: PublicKey, log: LogOptions): Promise<SigstoreBundle> {
  checkLogOptions(log);
  const bundle: SigstoreBundle = {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    key: { type: 'publicKey', hint: tufKeyId(publicKey) },
    tlogEntries: [],
    content: { type: 'dsseEnvelope', envelope },
  };
  if (log.log === undefined) return bundle;
  const logKey = parseVerifierKey(requireOption(log.logKey, 'log-key'));
  const token = log.logTokenFile !== undefined ? new TextDecoder().decode(await readTokenFile(ctx, log.logTokenFile)) : ctx.env.CUSTODY_LOG_TOKEN;
  if (!token) throw new ConfigError('ERR_CONFIG_INVALID', '--log needs a bearer token', { hint: 'pass --log-token-file FILE or set CUSTODY_LOG_TOKEN' });
  const body = dsseBody(envelope, publicKey);
  const answer = await new LogClient(log.log).add(body, token);
  // The answer is untrusted: checkpoint signature and inclusion are verified before the entry goes in the bundle.
  return withTlogEntry(bundle, tlogEntryFromLog(body, 'dsse', answer, logKey));
}

export const LOG_OPTIONS = {
  log: { type: 'string' },
  'log-key': { type: 'string' },
  'log-token-file': { type: 'string' },
} as const;

export const signBlob: Command = {
  summary: 'sign a file as a Sigstore bundle v0.3 (DSSE in-toto statement, Ed25519), optionally logged in our log',
  usage: `usage: custody sign-blob FILE --key KEY.pem --bundle OUT.sigstore.json
         [--log URL --log-key VKEY --log-token-file F] [--passphrase-file F | --seed-file F]

Signs an in-toto Statement v1 whose one subject is FILE (name and sha256; predicateType
urn:custody:predicate:signed-blob:v1, predicate {}) in a DSSE envelope, and writes it as a Sigstore bundle v0.3 with
public-key verification material (hint: the key's TUF key id). Ed25519 keys sign DSSE content, not message
signatures: Sigstore verifiers cannot check Ed25519 message signatures.
With --log, the Rekor-style dsse v0.0.1 body is added to our C2SP log (custody log serve; bearer token from
--log-token-file or CUSTODY_LOG_TOKEN), the answer is verified (checkpoint signed by VKEY, the verifier key the log
prints; inclusion proof) and the entry, proof and checkpoint go into the bundle. Nothing is written on failure.

example:
  custody sign-blob app.tar.gz --key k/a.pem --bundle app.tar.gz.sigstore.json \\
    --log http://127.0.0.1:8080/log --log-key "$(cat log.vkey)" --log-token-file ./token`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      key: { type: 'string' },
      'seed-file': { type: 'string' },
      'passphrase-file': { type: 'string' },
      bundle: { type: 'string' },
      ...LOG_OPTIONS,
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one FILE');
    const file = positionals[0]!;
    const out = requireOption(values.bundle, 'bundle');
    const key = await loadSigningKey(ctx, {
      key: values['seed-file'] === undefined ? requireOption(values.key, 'key') : undefined,
      seedFile: values['seed-file'],
      passphraseFile: values['passphrase-file'],
    });
    const log = { log: values.log, logKey: values['log-key'], logTokenFile: values['log-token-file'] };
    checkLogOptions(log);
    const digest = await fileSha256(abs(ctx, file));
    const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, blobStatementPayload(basename(file), digest), [key]);
    const bundle = await bundleForEnvelope(ctx, envelope, key.publicKey, log);
    const path = await writeOutput(ctx, out, formatBundle(bundle), { inputs: [file] });
    const entry = bundle.tlogEntries[0];
    ctx.print(`signed sha256:${digest} by ${tufKeyId(key.publicKey)} → ${path}`);
    if (entry?.inclusionProof) ctx.print(`logged: index ${entry.logIndex} in a tree of ${entry.inclusionProof.treeSize}`);
    ctx.result({ bundle: path, sha256: digest, key_id: tufKeyId(key.publicKey), ...(entry ? { log_index: entry.logIndex } : {}) });
    return 0;
  },
};

export const verifyBlob: Command = {
  summary: 'verify a file against a Sigstore bundle v0.3 (ours, or cosign --key message signatures)',
  usage: `usage: custody verify-blob FILE --bundle B (--trust ROOT.json | --key K.pub…) [--type URI…]
         [--log-key VKEY… | --trusted-root trusted_root.json] [--insecure-ignore-tlog]

Verifies that the bundle signs FILE:
  DSSE bundles (custody sign-blob, custody attest --bundle; cosign attest-blob --key): the envelope signature by
    the root's targets keys (threshold) or a --key (Ed25519, or ECDSA P-256), and an in-toto subject whose sha256
    is FILE's;
  message-signature bundles (cosign sign-blob --key): messageDigest SHA2_256 = FILE's sha256 and an ECDSA P-256
    signature over FILE by a --key (cosign.pub).
A DSSE bundle's statement must have the predicate type of custody sign-blob (urn:custody:predicate:signed-blob:v1):
a signature on a review saying "not approved", or on an SBOM, is not "signed this file". --type URI (repeatable)
names the predicate types accepted instead (e.g. https://slsa.dev/provenance/v1); others are refused
[ERR_BUNDLE_PREDICATE_TYPE].
Each transparency-log entry's body must match the content. An entry in a log named by --log-key (or a C2SP log of
--trusted-root) must carry a valid inclusion proof under a checkpoint that log signed; an entry in any other log
(Rekor) is refused [ERR_BUNDLE_TLOG_UNTRUSTED] unless --insecure-ignore-tlog.

Exit status: 0 verified, 1 refused, 2 usage, 3 file error.

example:
  custody verify-blob app.tar.gz --bundle app.tar.gz.sigstore.json --trust root.json --log-key "$(cat log.vkey)"
  custody verify-blob app.tar.gz --bundle app.prov.sigstore.json --type https://slsa.dev/provenance/v1 --trust root.json \\
    --trusted-root trusted_root.json
  custody verify-blob README.md --bundle README.md.sigstore.json --key cosign.pub --insecure-ignore-tlog`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      bundle: { type: 'string' },
      trust: { type: 'string' },
      key: { type: 'string', multiple: true },
      'log-key': { type: 'string', multiple: true },
      'trusted-root': { type: 'string' },
      'insecure-ignore-tlog': { type: 'boolean' },
      type: { type: 'string', multiple: true },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one FILE');
    const file = abs(ctx, positionals[0]!);
    const trusted = await loadEnvelopeKeys(ctx, { trust: values.trust, keys: values.key, p256: true });
    const logKeys: Ed25519NoteVerifier[] = (values['log-key'] ?? []).map((k) => parseVerifierKey(k));
    if (values['trusted-root'] !== undefined) {
      const raw = await readFileBounded(abs(ctx, values['trusted-root']), { maxBytes: TRUSTED_ROOT_MAX_BYTES, allowSymlink: true, what: 'trusted root' });
      logKeys.push(...logKeysFromTrustedRoot(raw));
    }
    const bundle = parseBundle(
      await readFileBounded(abs(ctx, requireOption(values.bundle, 'bundle')), { maxBytes: BUNDLE_MAX_BYTES, allowSymlink: true, what: 'Sigstore bundle' }),
    );
    const digest = await fileSha256(file);
    const artifact =
      bundle.content.type === 'messageSignature' ? await readFileBounded(file, { maxBytes: MESSAGE_ARTIFACT_MAX_BYTES, allowSymlink: true, what: 'file' }) : undefined;
    const v: VerifiedBundle = verifyParsedBundle(bundle, {
      artifactSha256: digest,
      ...(artifact === undefined ? {} : { artifact }),
      keys: trusted.keys,
      p256Keys: trusted.p256,
      logKeys,
      ignoreTlog: values['insecure-ignore-tlog'] === true,
      predicateTypes: values.type ?? [BLOB_PREDICATE_TYPE],
      now: ctx.now(),
    });
    const signer = v.attestation ? `${v.attestation.signers.join(', ')}` : `ECDSA P-256 key sha256:${v.messageSigner ?? ''}`;
    ctx.print(`verified sha256:${digest} signed by ${signer}`);
    if (v.inclusion) ctx.print(`logged: index ${v.inclusion.index} in ${v.inclusion.origin} (tree size ${v.inclusion.treeSize})`);
    else if (v.ignoredEntries > 0) ctx.stderr(`custody: warning: ${v.ignoredEntries} log entr${v.ignoredEntries === 1 ? 'y' : 'ies'} of untrusted logs not checked (--insecure-ignore-tlog)\n`);
    else ctx.print('not logged: the bundle carries no entry of a trusted log');
    ctx.result({
      sha256: digest,
      ...(v.attestation ? { signers: v.attestation.signers, predicate_type: v.attestation.statement.predicateType } : { message_signer: v.messageSigner }),
      ...(v.inclusion ? { inclusion: v.inclusion } : {}),
      ignored_entries: v.ignoredEntries,
    });
    return 0;
  },
};

export const trustExport: Command = {
  summary: 'export trust for Sigstore verifiers: a TrustedRoot naming our log, and the signing keys beside it',
  usage: `usage: custody trust export --sigstore trusted_root.json (--trust ROOT.json | --key K.pub…) --log-key VKEY…
         [--keys-output F] [--allow-single-signer]

Writes a Sigstore TrustedRoot (application/vnd.dev.sigstore.trustedroot+json;version=0.1) whose transparency
logs are our C2SP logs (--log-key: the verifier key \`custody log serve\` prints; baseUrl https://<key name>, logId
SHA-256(name || 0x0A || 0x01 || key), PKIX_ED25519), and, beside it, the signing keys a verifier trusts — the root's
targets role (keys, threshold, validity) or the --key files — as {"threshold", "keys": {hint: PublicKey}} in
F (default: trusted_root.keys.json), the form @sigstore/verify's toTrustMaterial(root, keys) takes.
A bundle carries one signature and Sigstore verifiers ignore "threshold", so a targets threshold above 1 would
become 1-of-N for them: refused [ERR_BUNDLE_THRESHOLD_WEAKENED] unless --allow-single-signer (then said on stderr).

example:
  custody trust export --sigstore trusted_root.json --trust root.json --log-key "$(cat log.vkey)"`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(
      ctx.argv,
      {
        sigstore: { type: 'string' },
        trust: { type: 'string' },
        key: { type: 'string', multiple: true },
        'log-key': { type: 'string', multiple: true },
        'keys-output': { type: 'string' },
        'allow-single-signer': { type: 'boolean' },
      },
      false,
    );
    void positionals;
    const out = requireOption(values.sigstore, 'sigstore');
    const logKeys = (values['log-key'] ?? []).map((k) => parseVerifierKey(k));
    if (logKeys.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --log-key');
    const { keys } = await loadEnvelopeKeys(ctx, { trust: values.trust, keys: values.key });
    // A bundle holds one signature and @sigstore/verify trusts any one key of the file (it never reads "threshold"):
    // exporting a k-of-n role with k > 1 would silently make it 1-of-n for every Sigstore verifier.
    if (keys.threshold > 1) {
      if (values['allow-single-signer'] !== true) {
        throw new UsageError(
          'ERR_BUNDLE_THRESHOLD_WEAKENED',
          `the targets role needs ${keys.threshold} signatures, but Sigstore verifiers accept a bundle signed by any 1 of the ${keys.authorized.size} exported keys`,
        );
      }
      ctx.stderr(`custody: warning: --allow-single-signer: Sigstore verifiers will accept a bundle signed by any 1 of these ${keys.authorized.size} keys (the root's threshold is ${keys.threshold})\n`);
    }
    for (const k of logKeys) {
      // @sigstore/verify tests a checkpoint's key name against baseUrl as a regular expression (tlog/checkpoint.js).
      let matches: boolean;
      try {
        matches = new RegExp(k.name).test(logBaseUrl(k));
      } catch {
        matches = false;
      }
      if (!matches) ctx.stderr(`custody: warning: @sigstore/verify will not match the log name ${k.name} to ${logBaseUrl(k)} (it reads names as regular expressions); custody verify-blob will\n`);
    }
    const now = ctx.now();
    const keysOut = values['keys-output'] ?? out.replace(/\.json$/, '') + '.keys.json';
    if (abs(ctx, keysOut) === abs(ctx, out)) throw new UsageError('ERR_USAGE_ARGUMENT', '--keys-output must differ from --sigstore');
    const inputs = values.trust ? [values.trust] : [];
    // The two files go together: both are staged before either replaces an earlier file, and a failure leaves both as they were.
    const [rootPath, keysPath] = (await writeOutputs(
      ctx,
      [
        { output: out, data: JSON.stringify(trustedRootJson(logKeys, now), null, 2) + '\n' },
        { output: keysOut, data: JSON.stringify(trustedKeysJson(keys, now), null, 2) + '\n' },
      ],
      { inputs },
    )) as [string, string];
    ctx.print(`trusted root: ${rootPath} (${logKeys.length} log${logKeys.length === 1 ? '' : 's'}: ${logKeys.map((k) => k.name).join(', ')})`);
    ctx.print(`signing keys: ${keysPath} (${keys.authorized.size} key${keys.authorized.size === 1 ? '' : 's'}, threshold ${keys.threshold})`);
    ctx.result({ trusted_root: rootPath, keys: keysPath, logs: logKeys.map((k) => k.name), key_ids: [...keys.authorized.keys()], threshold: keys.threshold });
    return 0;
  },
};
