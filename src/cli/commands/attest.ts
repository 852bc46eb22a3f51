/**
 * cli/commands/attest — `custody attest provenance` (SLSA Provenance v1, slsa.dev/spec/v1.0/provenance), `custody
 * attest predicate` (any in-toto predicate) and `custody attest verify` (DSSE threshold + in-toto Statement v1, no
 * policy): thin commands over src/attest.
 *
 * Choices the issue left open (docs/attestations.md "Provenance (SLSA v1)"):
 * - a subject's name is the file's base name (what the release ships it as, not where the build machine kept it);
 *   two subjects with the same base name are refused (ERR_INTOTO_SUBJECT_DUPLICATE);
 * - an existing --output is refused (ERR_IO_EXISTS) unless --append (the file must be a valid .intoto.jsonl; the new
 *   envelope becomes its last line) or --force (replaced); every write is atomic (temp + fsync + rename);
 * - --started-on later than --finished-on is refused (ERR_SLSA_TIME_ORDER);
 * - `attest verify --artifact F` matches F by its sha256 against the subjects of every verified statement in the file
 *   and needs at least one match (ERR_ATTEST_SUBJECT_MISMATCH); the name is reported, not required to match.
 */
import { basename } from 'node:path';
import type { Signer } from '../../crypto/index.ts';
import {
  DSSE_MAX_ENVELOPE_BYTES,
  JSONL_MAX_ENVELOPES,
  formatEnvelope,
  parseJsonl,
  signEnvelope,
  type DsseEnvelope,
  type EnvelopeKeys,
} from '../../attest/dsse.ts';
import { isUri } from '../../attest/resource-descriptor.ts';
import { SLSA_PROVENANCE_V1, parseProvenance, provenanceFromStatement, provenancePredicate, type Provenance } from '../../attest/slsa.ts';
import { formatBundle } from '../../attest/sigstore-bundle.ts';
import { INTOTO_PAYLOAD_TYPE, encodeStatement, statementFromJson, statementToJson, type Statement, type Subject } from '../../attest/statement.ts';
import { verifyAttestation, type VerifiedAttestation } from '../../attest/verify.ts';
import { parseJsonObject, type JsonObject } from '../../encoding/json.ts';
import { printable } from '../../encoding/text.ts';
import { parseTimestamp } from '../../encoding/time.ts';
import { FormatError, IoError, LimitError, UsageError, VerificationError, errorFromCode, isTrustError } from '../../errors.ts';
import { hashOpenFile } from '../../io/hash-file.ts';
import { openRegularFile, pathExists, readFileBounded, readFileIfExists, writeFileAtomic, writeFilesAtomic } from '../../io/files.ts';
import { abs, loadEnvelopeKeys, loadSigningKey } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';
import { LOG_OPTIONS, bundleForEnvelope, checkLogOptions, type LogOptions } from './sigstore.ts';

/** PARAMETERS_MAX_BYTES caps --external-parameters (inline or @FILE). */
export const PARAMETERS_MAX_BYTES = 1024 * 1024;
/** PREDICATE_MAX_BYTES caps `attest predicate --predicate FILE` (an SBOM of a large tree is a few MiB). */
export const PREDICATE_MAX_BYTES = 16 * 1024 * 1024;
/** ATTESTATION_FILE_MAX_BYTES caps an .intoto.jsonl file read by these commands (parseJsonl's own cap). */
export const ATTESTATION_FILE_MAX_BYTES = DSSE_MAX_ENVELOPE_BYTES * 4;

/** hashSubjects hashes each file (streaming, regular files only) into a subject named by its base name. */
export async function hashSubjects(ctx: CommandContext, files: readonly string[]): Promise<Subject[]> {
  if (files.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --subject FILE (at least one)');
  const out: Subject[] = [];
  const names = new Set<string>();
  for (const f of files) {
    const path = abs(ctx, f);
    const name = basename(path);
    if (names.has(name)) {
      throw new FormatError('ERR_INTOTO_SUBJECT_DUPLICATE', `two subjects are named "${name}"; subjects are named by their base name, which must be distinct`);
    }
    names.add(name);
    const { fh, size } = await openRegularFile(path, true);
    try {
      out.push({ name, digest: { sha256: (await hashOpenFile(fh, size, ['sha256'], path)).sha256 } });
    } finally {
      await fh.close();
    }
  }
  return out;
}

/** loadSigners loads every --key (PEM; one --passphrase-file or CUSTODY_PASSPHRASE for all). */
async function loadSigners(ctx: CommandContext, keys: readonly string[] | undefined, passphraseFile: string | undefined): Promise<Signer[]> {
  if (keys === undefined || keys.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --key');
  const signers: Signer[] = [];
  for (const k of keys) signers.push(await loadSigningKey(ctx, { key: k, passphraseFile }));
  return signers;
}

export interface OutputMode {
  /** append adds the envelope as a new last line of an existing .intoto.jsonl (created when missing). */
  append?: boolean;
  /** force replaces an existing file. Without append or force an existing file is refused (ERR_IO_EXISTS). */
  force?: boolean;
  /** bundle also writes the envelope as a Sigstore bundle v0.3 (one --key), logged in our log with --log. */
  bundle?: { output: string } & LogOptions;
}

export interface SignedStatementFile {
  output: string;
  envelope: DsseEnvelope;
  /** bundle is the path of the Sigstore bundle written (--bundle), and its log index when logged. */
  bundle?: { output: string; logIndex?: number };
  /** envelopes is how many envelopes the file holds now (1 unless --append). */
  envelopes: number;
}

/**
 * signStatementToFile is the one place attest commands produce evidence: it checks the statement as a verifier will
 * parse it, signs it as a DSSE envelope (payloadType application/vnd.in-toto+json) with every signer, and writes it
 * atomically as a line of an .intoto.jsonl file. Nothing is written when any step fails.
 */
export async function signStatementToFile(
  ctx: CommandContext,
  statement: Omit<Statement, 'type'>,
  signers: readonly Signer[],
  output: string,
  mode: OutputMode = {},
): Promise<SignedStatementFile> {
  if (mode.append === true && mode.force === true) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass either --append or --force, not both');
  // What a verifier will parse (subjects, digests, duplicates) is checked before anything is signed.
  statementFromJson(statementToJson(statement));
  if (mode.bundle) {
    // A Sigstore bundle's envelope carries exactly one signature (sigstore_bundle.proto; every Sigstore verifier).
    if (signers.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `--bundle takes exactly one --key: a Sigstore bundle carries one signature, got ${signers.length}`);
    checkLogOptions(mode.bundle);
  }
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, encodeStatement(statement), signers);
  const out = abs(ctx, output);
  const bundlePath = mode.bundle ? abs(ctx, mode.bundle.output) : undefined;
  if (bundlePath !== undefined) {
    if (bundlePath === out) throw new UsageError('ERR_USAGE_ARGUMENT', '--bundle must differ from --output');
    // Refused before the entry goes to the log (the write below would refuse it after). An existing bundle is
    // replaced only with --force, as the .intoto.jsonl is.
    if (mode.append !== true && mode.force !== true && (await pathExists(out))) throw new IoError('ERR_IO_EXISTS', `refusing to overwrite ${out}`);
    if (mode.force !== true && (await pathExists(bundlePath))) throw new IoError('ERR_IO_EXISTS', `refusing to overwrite ${bundlePath}`, { hint: 'choose another --bundle path, or pass --force to replace it' });
  }
  let text = formatEnvelope(envelope) + '\n';
  let envelopes = 1;
  if (mode.append === true) {
    const existing = await readFileIfExists(out, { maxBytes: ATTESTATION_FILE_MAX_BYTES, what: 'attestation file' });
    if (existing !== undefined && existing.length > 0) {
      // The file must already be what its name says: appending to anything else would hide it in valid-looking JSONL.
      envelopes = parseJsonl(existing).length + 1;
      const body = existing.toString('utf8');
      text = (body.endsWith('\n') ? body : body + '\n') + text;
    }
  }
  checkAttestationFile(out, text, envelopes);
  if (!mode.bundle || bundlePath === undefined) {
    await writeFileAtomic(out, text, { mode: 0o644, overwrite: mode.append === true || mode.force === true });
    return { output: out, envelope, envelopes };
  }
  // The same envelope (same bytes, same signature) goes into the bundle; the log entry is made before either file
  // is written, and both files are staged before either replaces anything, so a failure changes neither.
  const bundle = await bundleForEnvelope(ctx, envelope, signers[0]!.publicKey, mode.bundle);
  await writeFilesAtomic([
    { path: bundlePath, data: formatBundle(bundle), mode: 0o644, overwrite: mode.force === true },
    { path: out, data: text, mode: 0o644, overwrite: mode.append === true || mode.force === true },
  ]);
  const logIndex = bundle.tlogEntries[0]?.logIndex;
  return { output: out, envelope, envelopes, bundle: { output: bundlePath, ...(logIndex === undefined ? {} : { logIndex }) } };
}

/**
 * checkAttestationFile refuses to write an .intoto.jsonl a verifier would refuse to read: more than
 * JSONL_MAX_ENVELOPES envelopes (ERR_LIMIT_COUNT) or over `maxBytes` (ERR_LIMIT_SIZE), as `--append` could make.
 */
export function checkAttestationFile(path: string, text: string, envelopes: number, maxBytes = ATTESTATION_FILE_MAX_BYTES): void {
  if (envelopes > JSONL_MAX_ENVELOPES) {
    throw new LimitError('ERR_LIMIT_COUNT', `${path} would hold ${envelopes} envelopes, over the cap of ${JSONL_MAX_ENVELOPES} a verifier reads`, {
      details: { count: envelopes, cap: JSONL_MAX_ENVELOPES },
      hint: 'start a new attestation file instead of appending to this one',
    });
  }
  const size = Buffer.byteLength(text);
  if (size > maxBytes) {
    throw new LimitError('ERR_LIMIT_SIZE', `${path} would be ${size} bytes, over the cap of ${maxBytes} a verifier reads`, {
      details: { size, cap: maxBytes },
      hint: 'start a new attestation file instead of appending to this one',
    });
  }
}

/** parseResolvedDependency reads `URI@ALG:HEX` (sha256 or sha512) into a ResourceDescriptor. */
export function parseResolvedDependency(s: string): { uri: string; digest: Record<string, string> } {
  // The digest follows the LAST "@": URIs themselves hold "@" (pkg:npm/%40scope/x@1.0, git+https://h/r@refs/tags/v1).
  const at = s.lastIndexOf('@');
  const uri = at < 0 ? '' : s.slice(0, at);
  const m = at < 0 ? null : /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.exec(s.slice(at + 1));
  if (m === null || !isUri(uri)) {
    throw new UsageError(
      'ERR_USAGE_ARGUMENT',
      `--resolved-dependency: expected URI@sha256:HEX (64 lowercase hex) or URI@sha512:HEX, got ${JSON.stringify(s.slice(0, 200))}`,
    );
  }
  const [alg, hex] = m[1]!.split(':') as [string, string];
  return { uri, digest: { [alg]: hex } };
}

/** readJsonObjectArg reads `--flag JSON` or `--flag @FILE` as a bounded JSON object; content errors keep their code. */
async function readJsonObjectArg(ctx: CommandContext, value: string, flag: string, maxBytes: number): Promise<JsonObject> {
  const text = value.startsWith('@')
    ? await readFileBounded(abs(ctx, value.slice(1)), { maxBytes, allowSymlink: true, what: `--${flag} file` })
    : value;
  try {
    return parseJsonObject(text, { maxBytes, what: `--${flag}`, allowFloats: true });
  } catch (e) {
    if (isTrustError(e) && e.code === 'ERR_FORMAT_SCHEMA') throw new FormatError('ERR_SLSA_SCHEMA', `--${flag} must be a JSON object`, { cause: e });
    if (isTrustError(e)) throw errorFromCode(e.code, `--${flag}: ${e.message}`, { cause: e });
    throw e;
  }
}

function timeOption(v: string | undefined, flag: string): Date | undefined {
  if (v === undefined) return undefined;
  try {
    return parseTimestamp(v, `--${flag}`);
  } catch (e) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `--${flag}: expected an RFC 3339 timestamp such as 2026-11-21T10:00:00Z, got ${JSON.stringify(v.slice(0, 60))}`, { cause: e });
  }
}

function uriOption(v: string | undefined, flag: string): string {
  const s = requireOption(v, flag);
  if (!isUri(s)) throw new UsageError('ERR_USAGE_ARGUMENT', `--${flag}: expected a URI (scheme:…), got ${JSON.stringify(s.slice(0, 200))}`);
  return s;
}

function outputModeOf(values: {
  append?: boolean | undefined;
  force?: boolean | undefined;
  bundle?: string | undefined;
  log?: string | undefined;
  'log-key'?: string | undefined;
  'log-token-file'?: string | undefined;
}): OutputMode {
  const log: LogOptions = { log: values.log, logKey: values['log-key'], logTokenFile: values['log-token-file'] };
  if (values.bundle === undefined && (log.log ?? log.logKey ?? log.logTokenFile) !== undefined) {
    throw new UsageError('ERR_USAGE_ARGUMENT', '--log, --log-key and --log-token-file go with --bundle OUT.sigstore.json');
  }
  if (values.bundle !== undefined) checkLogOptions(log);
  return {
    ...(values.append === true ? { append: true } : {}),
    ...(values.force === true ? { force: true } : {}),
    ...(values.bundle === undefined ? {} : { bundle: { output: values.bundle, ...log } }),
  };
}

function reportSigned(ctx: CommandContext, r: SignedStatementFile, statement: Omit<Statement, 'type'>): void {
  const keyIds = r.envelope.signatures.map((s) => s.keyid);
  ctx.print(`wrote ${r.output}: ${statement.predicateType} for ${statement.subject.length} subject(s), signed by ${keyIds.join(', ')}${r.envelopes > 1 ? ` (envelope ${r.envelopes} of the file)` : ''}`);
  for (const s of statement.subject) ctx.print(`  ${s.name} sha256:${s.digest['sha256'] ?? '?'}`);
  if (r.bundle) ctx.print(`bundle: ${r.bundle.output}${r.bundle.logIndex === undefined ? '' : ` (logged at index ${r.bundle.logIndex})`}`);
  ctx.result({
    ...(r.bundle ? { bundle: r.bundle.output, ...(r.bundle.logIndex === undefined ? {} : { log_index: r.bundle.logIndex }) } : {}),
    output: r.output,
    predicate_type: statement.predicateType,
    subjects: statement.subject.map((s) => ({ name: s.name, digest: s.digest })),
    key_ids: keyIds,
    envelopes: r.envelopes,
  });
}

const OUTPUT_HELP = `  --output F.intoto.jsonl   where the envelope goes (required); an existing file is refused unless:
  --append                  add the envelope as a new last line of the existing .intoto.jsonl (it must be valid)
  --force                   replace the existing file
  --key K.pem               signing key (repeat for several signatures in one envelope)
  --passphrase-file F       passphrase of encrypted keys (or CUSTODY_PASSPHRASE)
  --bundle B.sigstore.json  also write the envelope as a Sigstore bundle v0.3 (exactly one --key)
  --log URL                 with --bundle: add the bundle's dsse entry to our log (custody log serve) and keep
                            its inclusion proof and checkpoint in the bundle
  --log-key VKEY            the log's verifier key (required with --log: the answer is verified)
  --log-token-file F        the log's bearer token (or CUSTODY_LOG_TOKEN)`;

/** SIGNED_OUTPUT_OPTIONS are the flags every statement-signing command shares: subjects, keys, output and bundle. */
const SIGNED_OUTPUT_OPTIONS = {
  subject: { type: 'string', multiple: true },
  key: { type: 'string', multiple: true },
  'passphrase-file': { type: 'string' },
  output: { type: 'string' },
  append: { type: 'boolean' },
  force: { type: 'boolean' },
  bundle: { type: 'string' },
  ...LOG_OPTIONS,
} as const;

export const attestProvenance: Command = {
  summary: 'sign SLSA v1 provenance for build outputs (DSSE envelope, in-toto statement) into an .intoto.jsonl',
  usage: `usage: custody attest provenance --subject FILE… --builder-id URI --build-type URI --key K.pem --output F.intoto.jsonl
         [--external-parameters JSON|@FILE] [--internal-parameters JSON|@FILE] [--resolved-dependency URI@sha256:HEX]…
         [--invocation-id ID] [--started-on T] [--finished-on T] [--append | --force]
         [--bundle B.sigstore.json [--log URL --log-key VKEY --log-token-file F]]

Writes an in-toto Statement v1 whose predicateType is ${SLSA_PROVENANCE_V1} (SLSA Provenance v1.0) and whose
subjects are the files (name: base name; digest: sha256), signed as one DSSE envelope by every --key.

options:
  --subject FILE            build output to attest (repeat; at least one; base names must differ)
  --builder-id URI          runDetails.builder.id: the build platform a verifier's policy trusts (required)
  --build-type URI          buildDefinition.buildType: how to read the parameters (required)
  --external-parameters J   buildDefinition.externalParameters: a JSON object, inline or @FILE (default {})
  --internal-parameters J   buildDefinition.internalParameters: a JSON object, inline or @FILE
  --resolved-dependency D   buildDefinition.resolvedDependencies entry URI@sha256:HEX or URI@sha512:HEX (repeat)
  --invocation-id ID        runDetails.metadata.invocationId
  --started-on T            runDetails.metadata.startedOn (RFC 3339; not later than --finished-on)
  --finished-on T           runDetails.metadata.finishedOn (RFC 3339)
${OUTPUT_HELP}

example:
  custody attest provenance --subject dist/app.tar --builder-id https://ci.example.org/runners/ubi9 \\
    --build-type https://custody.dev/build-types/make/v1 --external-parameters '{"target":"release"}' \\
    --resolved-dependency git+https://git.example.org/app@sha256:${'0'.repeat(64)} \\
    --started-on 2026-11-21T10:00:00Z --finished-on 2026-11-21T10:04:00Z --key k/a.pem --output app.intoto.jsonl`,
  async run(ctx) {
    const { values } = parseCommandArgs(
      ctx.argv,
      {
        'builder-id': { type: 'string' },
        'build-type': { type: 'string' },
        'external-parameters': { type: 'string' },
        'internal-parameters': { type: 'string' },
        'resolved-dependency': { type: 'string', multiple: true },
        'invocation-id': { type: 'string' },
        'started-on': { type: 'string' },
        'finished-on': { type: 'string' },
        ...SIGNED_OUTPUT_OPTIONS,
      },
      false,
    );
    // Flags first (usage errors, exit 2) so nothing is hashed or unlocked for a command line that cannot succeed.
    const output = requireOption(values.output, 'output');
    const builderId = uriOption(values['builder-id'], 'builder-id');
    const buildType = uriOption(values['build-type'], 'build-type');
    const deps = (values['resolved-dependency'] ?? []).map(parseResolvedDependency);
    const startedOn = timeOption(values['started-on'], 'started-on');
    const finishedOn = timeOption(values['finished-on'], 'finished-on');
    if (values.subject === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --subject FILE (at least one)');
    if (values.key === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --key');
    const provenance: Provenance = {
      buildDefinition: {
        buildType,
        externalParameters: values['external-parameters'] === undefined ? {} : await readJsonObjectArg(ctx, values['external-parameters'], 'external-parameters', PARAMETERS_MAX_BYTES),
      },
      runDetails: { builder: { id: builderId } },
    };
    if (values['internal-parameters'] !== undefined) {
      provenance.buildDefinition.internalParameters = await readJsonObjectArg(ctx, values['internal-parameters'], 'internal-parameters', PARAMETERS_MAX_BYTES);
    }
    if (deps.length > 0) provenance.buildDefinition.resolvedDependencies = deps;
    if (values['invocation-id'] !== undefined || startedOn !== undefined || finishedOn !== undefined) {
      provenance.runDetails.metadata = {
        ...(values['invocation-id'] === undefined ? {} : { invocationId: values['invocation-id'] }),
        ...(startedOn === undefined ? {} : { startedOn }),
        ...(finishedOn === undefined ? {} : { finishedOn }),
      };
    }
    // Checked (required fields, URIs, time order) before any file is hashed or key unlocked.
    const predicate = provenancePredicate(provenance);
    const signers = await loadSigners(ctx, values.key, values['passphrase-file']);
    const subject = await hashSubjects(ctx, values.subject);
    const statement = { subject, predicateType: SLSA_PROVENANCE_V1, predicate };
    const r = await signStatementToFile(ctx, statement, signers, output, outputModeOf(values));
    reportSigned(ctx, r, statement);
    return 0;
  },
};

export const attestPredicate: Command = {
  summary: 'sign any in-toto predicate (a JSON file) for files into an .intoto.jsonl',
  usage: `usage: custody attest predicate --predicate-type URI --predicate FILE.json --subject FILE… --key K.pem
         --output F.intoto.jsonl [--append | --force] [--bundle B.sigstore.json [--log URL --log-key VKEY --log-token-file F]]

Writes an in-toto Statement v1 with the given predicateType and predicate (a JSON object, at most
${PREDICATE_MAX_BYTES / 1024 / 1024} MiB), subjects named by base name with their sha256, signed as one DSSE envelope. A
predicate of type ${SLSA_PROVENANCE_V1} must be valid SLSA Provenance v1.

options:
  --predicate-type URI      the statement's predicateType (required)
  --predicate FILE.json     the predicate (required)
  --subject FILE            artifact the statement speaks for (repeat; at least one)
${OUTPUT_HELP}

example:
  echo '{"reviewed":true}' > review.json
  custody attest predicate --predicate-type https://example.org/review/v1 --predicate review.json \\
    --subject dist/app.tar --key k/a.pem --output review.intoto.jsonl`,
  async run(ctx) {
    const { values } = parseCommandArgs(
      ctx.argv,
      {
        'predicate-type': { type: 'string' },
        predicate: { type: 'string' },
        ...SIGNED_OUTPUT_OPTIONS,
      },
      false,
    );
    const output = requireOption(values.output, 'output');
    const predicateType = uriOption(values['predicate-type'], 'predicate-type');
    const predicatePath = requireOption(values.predicate, 'predicate');
    if (values.subject === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --subject FILE (at least one)');
    if (values.key === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --key');
    const raw = await readFileBounded(abs(ctx, predicatePath), { maxBytes: PREDICATE_MAX_BYTES, allowSymlink: true, what: 'predicate' });
    const predicate = parseJsonObject(raw, { maxBytes: PREDICATE_MAX_BYTES, what: 'predicate', allowFloats: true });
    if (predicateType === SLSA_PROVENANCE_V1) parseProvenance(predicate);
    const signers = await loadSigners(ctx, values.key, values['passphrase-file']);
    const subject = await hashSubjects(ctx, values.subject);
    const statement = { subject, predicateType, predicate };
    const r = await signStatementToFile(ctx, statement, signers, output, outputModeOf(values));
    reportSigned(ctx, r, statement);
    return 0;
  },
};

/** verifyKeysOption resolves `--trust ROOT` (its targets role) or `--key PUB…` with `--threshold N` (default 1). */
async function verifyKeysOption(
  ctx: CommandContext,
  values: { trust?: string | undefined; key?: string[] | undefined; threshold?: string | undefined },
): Promise<EnvelopeKeys> {
  const threshold = intOption(values.threshold, 'threshold', 1, 64);
  return (await loadEnvelopeKeys(ctx, { trust: values.trust, keys: values.key, threshold })).keys;
}

/** VerifiedFileAttestation is one verified envelope of a file; SLSA v1 statements carry their parsed predicate. */
export interface VerifiedFileAttestation extends VerifiedAttestation {
  provenance?: Provenance;
}

/**
 * verifyAttestationFile verifies every envelope of an .intoto.jsonl (threshold, payloadType, statement; a SLSA v1
 * predicate must parse too); the first failure names its envelope number.
 */
export function verifyAttestationFile(bytes: Uint8Array, keys: EnvelopeKeys, now: Date): VerifiedFileAttestation[] {
  return parseJsonl(bytes).map((env, i): VerifiedFileAttestation => {
    try {
      const v: VerifiedFileAttestation = verifyAttestation(env, keys, now);
      if (v.statement.predicateType === SLSA_PROVENANCE_V1) v.provenance = provenanceFromStatement(v.statement);
      return v;
    } catch (e) {
      if (isTrustError(e)) throw errorFromCode(e.code, `envelope ${i + 1}: ${e.message}`, { cause: e, ...(e.details ? { details: { ...e.details, envelope: i + 1 } } : { details: { envelope: i + 1 } }) });
      throw e;
    }
  });
}

/** provenanceSummary is the one line `attest verify` prints for a SLSA v1 statement. */
function provenanceSummary(p: Provenance): string {
  const md = p.runDetails.metadata;
  const when = md?.startedOn !== undefined || md?.finishedOn !== undefined ? `, ran ${md.startedOn?.toISOString() ?? '?'} → ${md.finishedOn?.toISOString() ?? '?'}` : '';
  const deps = p.buildDefinition.resolvedDependencies?.length ?? 0;
  return `provenance: builder ${printable(p.runDetails.builder.id, 200)}, buildType ${printable(p.buildDefinition.buildType, 200)}, ${deps} resolved dependenc${deps === 1 ? 'y' : 'ies'}${when}`;
}

function provenanceJson(p: Provenance): Record<string, unknown> {
  const md = p.runDetails.metadata;
  return {
    builder_id: p.runDetails.builder.id,
    build_type: p.buildDefinition.buildType,
    resolved_dependencies: p.buildDefinition.resolvedDependencies?.length ?? 0,
    ...(md?.invocationId === undefined ? {} : { invocation_id: md.invocationId }),
    ...(md?.startedOn === undefined ? {} : { started_on: md.startedOn.toISOString() }),
    ...(md?.finishedOn === undefined ? {} : { finished_on: md.finishedOn.toISOString() }),
  };
}

export const attestVerify: Command = {
  summary: 'verify every envelope of an .intoto.jsonl (threshold of trusted keys) and show its statements',
  usage: `usage: custody attest verify F.intoto.jsonl (--trust ROOT.json | --key PUB… [--threshold N]) [--artifact FILE…] [--json]

Verifies every DSSE envelope in the file: signed by a threshold of distinct trusted keys (the root's "targets"
role, or N of the --key public keys, default 1), payloadType application/vnd.in-toto+json, payload an in-toto
Statement v1 (a SLSA v1 predicate must be valid too). Prints each statement's predicateType, subjects and
signers, and for provenance its builder, build type and run times. With --artifact, each file's sha256
must be a subject of at least one statement. No policy is applied (see custody verify-attestation for that).

options:
  --trust ROOT.json   trust the root's targets keys and threshold
  --key PUB           trust this public key (file, or 64 hex; repeat)
  --threshold N       with --key: how many distinct keys must sign each envelope (default 1)
  --artifact FILE     require FILE to be a subject (matched by sha256; repeat)

example:
  custody attest verify app.intoto.jsonl --trust root.json --artifact dist/app.tar`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      trust: { type: 'string' },
      key: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      artifact: { type: 'string', multiple: true },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one attestation file F.intoto.jsonl');
    const keys = await verifyKeysOption(ctx, values);
    const file = abs(ctx, positionals[0]!);
    const bytes = await readFileBounded(file, { maxBytes: ATTESTATION_FILE_MAX_BYTES, allowSymlink: true, what: 'attestation file' });
    const verified = verifyAttestationFile(bytes, keys, ctx.now());
    const artifacts: Array<{ file: string; sha256: string; matches: Array<{ envelope: number; subject: string }> }> = [];
    for (const a of values.artifact ?? []) {
      const [subject] = await hashSubjects(ctx, [a]);
      const sha = subject!.digest['sha256']!;
      const matches: Array<{ envelope: number; subject: string }> = [];
      verified.forEach((v, i) => {
        for (const s of v.statement.subject) if (s.digest['sha256'] === sha) matches.push({ envelope: i + 1, subject: s.name });
      });
      if (matches.length === 0) {
        throw new VerificationError('ERR_ATTEST_SUBJECT_MISMATCH', `${a} (sha256:${sha}) is not a subject of any statement in ${positionals[0]!}`, {
          details: { artifact: a, sha256: sha, subjects: verified.flatMap((v) => v.statement.subject.map((s) => s.name)).slice(0, 16) },
        });
      }
      artifacts.push({ file: a, sha256: sha, matches });
    }
    verified.forEach((v, i) => {
      ctx.print(`envelope ${i + 1}: ${v.statement.predicateType}, signed by ${v.signers.length}/${keys.threshold}: ${v.signers.join(', ')}`);
      for (const s of v.statement.subject) ctx.print(`  subject ${s.name} ${Object.entries(s.digest).map(([alg, d]) => `${alg}:${d}`).join(' ')}`);
      if (v.provenance !== undefined) ctx.print(`  ${provenanceSummary(v.provenance)}`);
    });
    for (const a of artifacts) ctx.print(`artifact ${a.file}: subject ${a.matches.map((m) => `"${m.subject}" of envelope ${m.envelope}`).join(', ')}`);
    ctx.print(`OK: ${verified.length} envelope(s) verified`);
    ctx.result({
      file,
      envelopes: verified.map((v, i) => ({
        index: i + 1,
        predicate_type: v.statement.predicateType,
        subjects: v.statement.subject.map((s) => ({ name: s.name, digest: s.digest })),
        signers: v.signers,
        threshold: keys.threshold,
        signed_digest: v.signedDigest,
        ...(v.provenance === undefined ? {} : { provenance: provenanceJson(v.provenance) }),
      })),
      artifacts,
    });
    return 0;
  },
};
