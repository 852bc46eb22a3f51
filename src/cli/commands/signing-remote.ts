/**
 * cli/commands/signing-remote — `custody sign-remote` and `custody verify-remote`: clients of the signing API of a
 * running `custody serve` (client/signing-client; docs/signing-api.md). The bearer comes from a file or the
 * CUSTODY_TOKEN environment variable, never from the command line: `--token-file F` (a Custody token),
 * `--oidc-token-file F` (an OIDC ID or access token: the daemon signs keyless and answers a certificate), else
 * $CUSTODY_TOKEN.
 *
 * The signature file sign-remote writes (and verify-remote reads) is the daemon's /v1/sign answer as JSON:
 * `{"entry_id", "signature", "envelope", "certificate", "key_id", "transparency_entry", "proof"}`.
 */
import { SigningClient, type SignRequest } from '../../client/signing-client.ts';
import { isJsonObject, parseJsonObject } from '../../encoding/json.ts';
import { printable } from '../../encoding/text.ts';
import { PolicyError, UsageError } from '../../errors.ts';
import { readFileBounded } from '../../io/files.ts';
import { abs, readSecretFile, writeOutput } from '../common.ts';
import { parseCommandArgs, type Command, type CommandContext } from '../context.ts';
import { fileSha256 } from './verify-package.ts';

/** SIGNATURE_FILE_MAX_BYTES caps a signature file (an envelope, a certificate and a proof). */
const SIGNATURE_FILE_MAX_BYTES = 4 * 1024 * 1024;
const TOKEN_MAX_BYTES = 16 * 1024;
const ARTIFACT_TYPES = ['image', 'sbom', 'report', 'assessment'] as const;

const AUTH_OPTIONS = {
  'token-file': { type: 'string' },
  'oidc-token-file': { type: 'string' },
  digest: { type: 'string' },
} as const;

const AUTH_HELP = `  --token-file F              a Custody token (custody token create, POST /v1/auth/token) in a file
  --oidc-token-file F         an OIDC ID or access token of an issuer the daemon trusts, in a file
                              (neither: $CUSTODY_TOKEN; a token is never read from the command line)
  --digest sha256:HEX         the artifact's digest instead of FILE`;

/** bearerOf reads the bearer (module comment). */
async function bearerOf(ctx: CommandContext, v: { 'token-file'?: string | undefined; 'oidc-token-file'?: string | undefined }): Promise<string> {
  if (v['token-file'] !== undefined && v['oidc-token-file'] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'give --token-file or --oidc-token-file, not both');
  const file = v['token-file'] ?? v['oidc-token-file'];
  let text: string;
  // Not readTokenFile: an OIDC token may exceed its 4 KiB cap.
  if (file !== undefined) text = await readSecretFile(ctx, file, 'token file', TOKEN_MAX_BYTES);
  else if (ctx.env.CUSTODY_TOKEN !== undefined && ctx.env.CUSTODY_TOKEN !== '') text = ctx.env.CUSTODY_TOKEN;
  else throw new UsageError('ERR_USAGE_ARGUMENT', 'expected --token-file F, --oidc-token-file F or CUSTODY_TOKEN');
  const token = text.trim();
  if (!/^[\x21-\x7e]{16,16384}$/.test(token)) throw new UsageError('ERR_USAGE_ARGUMENT', 'the token is not one line of 16 or more visible ASCII characters');
  return token;
}

/** artifactOf is the sha256 digest of FILE, or --digest. */
async function artifactOf(ctx: CommandContext, positionals: string[], digest: string | undefined): Promise<{ artifact: string; file: string | undefined }> {
  if (digest !== undefined) {
    if (positionals.length !== 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'give FILE or --digest, not both');
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new UsageError('ERR_USAGE_ARGUMENT', `--digest: expected sha256: and 64 lowercase hex, got ${JSON.stringify(digest.slice(0, 80))}`);
    return { artifact: digest, file: undefined };
  }
  if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected one FILE (or --digest sha256:HEX)');
  return { artifact: `sha256:${await fileSha256(abs(ctx, positionals[0]!))}`, file: positionals[0]! };
}

export const signRemote: Command = {
  summary: 'sign an artifact with a running daemon\'s signing API (POST /v1/sign; keyless with an OIDC token)',
  usage: `usage: custody sign-remote URL FILE --output SIG.json [--type T] [--subject NAME] [--predicates P.json]
                           [--token-file F | --oidc-token-file F] [--json]

Asks the daemon at URL to sign an in-toto statement about FILE's SHA-256 (or --digest) and log it. With a Custody
token the daemon signs with its own key; with an OIDC token it signs keyless and the answer carries a 10-minute
certificate naming your identity and issuer. Writes the daemon's answer (envelope, certificate, log entry and
inclusion proof) to SIG.json, for custody verify-remote.

options:
  URL                         the daemon (custody serve), e.g. http://127.0.0.1:8080
${AUTH_HELP}
  --type T                    artifact type: image, sbom, report or assessment (default image)
  --subject NAME              the statement's subject name (default: FILE's name, or the digest)
  --predicates P.json         a JSON object recorded in the statement's predicate
  --output SIG.json           where the answer goes
  --json                      print {"output","entry_id","log_index","key_id","certificate"}

example:
  CUSTODY_TOKEN=$(cat custody-data/dev.token) custody sign-remote http://127.0.0.1:8080 app.tar --output app.tar.sig.json`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      ...AUTH_OPTIONS,
      type: { type: 'string' },
      subject: { type: 'string' },
      predicates: { type: 'string' },
      output: { type: 'string' },
    });
    const [url, ...rest] = positionals;
    if (url === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected the daemon URL');
    if (values.output === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --output');
    const type = values.type ?? 'image';
    if (!(ARTIFACT_TYPES as readonly string[]).includes(type)) throw new UsageError('ERR_USAGE_ARGUMENT', `--type: expected one of ${ARTIFACT_TYPES.join(', ')}, got ${JSON.stringify(type.slice(0, 40))}`);
    const token = await bearerOf(ctx, values);
    const { artifact, file } = await artifactOf(ctx, rest, values.digest);
    const req: SignRequest = { artifact, artifact_type: type as SignRequest['artifact_type'] };
    const subject = values.subject ?? (file === undefined ? undefined : file.split('/').pop());
    if (subject !== undefined) req.subject = subject;
    if (values.predicates !== undefined) {
      req.predicates = parseJsonObject(await readFileBounded(abs(ctx, values.predicates), { maxBytes: 60 * 1024, what: 'predicates' }), { maxDepth: 16, allowFloats: true, what: 'predicates' });
    }
    const answer = await new SigningClient({ url, token }).sign(req);
    const out = await writeOutput(ctx, values.output, JSON.stringify(answer.raw, null, 2) + '\n', { inputs: file === undefined ? [] : [file] });
    ctx.print(`signed ${artifact} as ${answer.certificate === null ? `key ${answer.key_id.slice(0, 16)}…` : 'keyless (certificate in the answer)'}; log index ${answer.transparency_entry.index}, entry ${answer.entry_id} → ${out}`);
    ctx.result({ output: out, entry_id: answer.entry_id, log_index: answer.transparency_entry.index, key_id: answer.key_id, certificate: answer.certificate });
    return 0;
  },
};

export const verifyRemote: Command = {
  summary: 'verify an artifact\'s signature with a running daemon\'s signing API (POST /v1/verify)',
  usage: `usage: custody verify-remote URL FILE --signature SIG.json [--require-inclusion] [--identity NAME]
                             [--certificate-identity ID | --certificate-identity-regexp RE]
                             [--certificate-oidc-issuer ISS | --certificate-oidc-issuer-regexp RE]
                             [--token-file F | --oidc-token-file F] [--json]

Asks the daemon at URL to verify SIG.json (written by custody sign-remote, or the daemon's /v1/sign answer) for
FILE's SHA-256 (or --digest). A keyless signature is checked against the daemon's CA, at the time it was logged,
and against the identity and issuer you require (exact, or a regular expression searched in the value as cosign
does: anchor it with ^…$). A key-signed SIG.json (no certificate) with any --certificate-* option is refused
(ERR_KEYLESS_NO_CERTIFICATE): there is no identity to check. Exit 0 when valid; 1 with the daemon's code when not.

options:
  URL                         the daemon (custody serve)
${AUTH_HELP}
  --signature SIG.json        the signature file
  --require-inclusion         also require the entry in the log, with its inclusion proof
  --identity NAME             the signer the statement must name (Certus's "identity")
  --certificate-identity ID, --certificate-identity-regexp RE
  --certificate-oidc-issuer ISS, --certificate-oidc-issuer-regexp RE
                              what a keyless certificate must name
  --json                      print the daemon's answer

example:
  custody verify-remote http://127.0.0.1:8080 app.tar --signature app.tar.sig.json --token-file verify.token \\
      --certificate-identity alice@example.com --certificate-oidc-issuer https://accounts.example.com`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      ...AUTH_OPTIONS,
      signature: { type: 'string' },
      'require-inclusion': { type: 'boolean' },
      identity: { type: 'string' },
      'certificate-identity': { type: 'string' },
      'certificate-identity-regexp': { type: 'string' },
      'certificate-oidc-issuer': { type: 'string' },
      'certificate-oidc-issuer-regexp': { type: 'string' },
    });
    const [url, ...rest] = positionals;
    if (url === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected the daemon URL');
    if (values.signature === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --signature');
    for (const [exact, re] of [['certificate-identity', 'certificate-identity-regexp'], ['certificate-oidc-issuer', 'certificate-oidc-issuer-regexp']] as const) {
      if (values[exact] !== undefined && values[re] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `give --${exact} or --${re}, not both`);
    }
    const token = await bearerOf(ctx, values);
    const { artifact } = await artifactOf(ctx, rest, values.digest);
    const sig = parseJsonObject(await readFileBounded(abs(ctx, values.signature), { maxBytes: SIGNATURE_FILE_MAX_BYTES, what: 'signature file' }), { allowFloats: true, what: 'signature file' });
    const envelope = sig['signature'];
    if (typeof envelope !== 'string') throw new UsageError('ERR_USAGE_ARGUMENT', `${values.signature}: expected the /v1/sign answer, with "signature" (the envelope as a string)`);
    const cert = sig['certificate'];
    const constrained = ['certificate-identity', 'certificate-identity-regexp', 'certificate-oidc-issuer', 'certificate-oidc-issuer-regexp'].filter((f) => values[f as keyof typeof values] !== undefined);
    // Without a certificate the daemon verifies against its own key and has no identity to hold the constraints
    // against: answering "valid" would read as "signed by that identity".
    if (typeof cert !== 'string' && constrained.length > 0) {
      throw new PolicyError('ERR_KEYLESS_NO_CERTIFICATE', `${values.signature} is key-signed (it holds no certificate): --${constrained.join(', --')} cannot be checked`);
    }
    const answer = await new SigningClient({ url, token }).verify({
      artifact,
      signature: envelope,
      ...(typeof cert === 'string' ? { certificate: cert } : {}),
      ...(values.identity === undefined ? {} : { identity: values.identity }),
      ...(values['require-inclusion'] === true ? { require_inclusion: true } : {}),
      ...(values['certificate-identity'] === undefined ? {} : { certificate_identity: values['certificate-identity'] }),
      ...(values['certificate-identity-regexp'] === undefined ? {} : { certificate_identity_regexp: values['certificate-identity-regexp'] }),
      ...(values['certificate-oidc-issuer'] === undefined ? {} : { certificate_oidc_issuer: values['certificate-oidc-issuer'] }),
      ...(values['certificate-oidc-issuer-regexp'] === undefined ? {} : { certificate_oidc_issuer_regexp: values['certificate-oidc-issuer-regexp'] }),
    });
    const c = answer.raw['certificate'];
    const text = (v: unknown): string => (typeof v === 'string' ? printable(v) : '?');
    const who = isJsonObject(c) ? ` (certificate for ${text(c['identity'])}, issuer ${text(c['oidc_issuer'])})` : '';
    ctx.print(`valid: ${artifact} signed by ${answer.signer === null ? '(unnamed)' : printable(answer.signer)}${who}${answer.transparency_index === null ? '' : `, log index ${answer.transparency_index}`}`);
    ctx.result(answer.raw);
    return 0;
  },
};
