/**
 * cli/commands/sums — `custody sums create|check|sign`: SHA256SUMS files exactly as GNU coreutils `sha256sum`
 * writes and checks them (attest/sums), optionally signed (a DSSE envelope over the file's bytes, or a detached
 * signature set from `custody sign-package`).
 *
 * `sums check` prints coreutils' own lines: `NAME: OK`, `NAME: FAILED`, `NAME: FAILED open or read` on stdout; on
 * stderr `custody: NAME: <strerror>`, `custody: FILE: N: improperly formatted SHA256 checksum line` (--warn), the
 * `custody: WARNING: …` summary lines, `custody: FILE: no properly formatted checksum lines found` and
 * `custody: FILE: no file was verified` — the program name is `custody` where coreutils says `sha256sum`. Exit 0
 * when coreutils exits 0, else 1. Differences (docs/attestations.md "SHA256SUMS"): after a failed check the usual
 * `custody: error: … [ERR_SUMS_CHECK_FAILED]` and hint lines follow (not with --status); an unreadable checksum file
 * or a bad signature is a coded error before anything is hashed; names are escaped in verdict lines as coreutils
 * of 2025 (before 9.11) does — docs/attestations.md lists what each coreutils version prints.
 */
import { sha256 } from '../../crypto/index.ts';
import { encodeHex } from '../../encoding/bytes.ts';
import { FormatError, UsageError, VerificationError } from '../../errors.ts';
import { readFileBounded, readFileIfExists } from '../../io/files.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { SIGNATURE_SET_MAX_BYTES, parseSignatureSet, verifySignatureSet } from '../../trust/signature-set.ts';
import { DSSE_MAX_ENVELOPE_BYTES, addEnvelopeSignature, formatEnvelope, parseEnvelope, signEnvelope } from '../../attest/dsse.ts';
import { checkSums, digestForSums, sumsCheckPassed, type SumsVerdict } from '../../attest/sums-check.ts';
import { SHA256SUMS_PAYLOAD_TYPE, SUMS_MAX_BYTES, formatSums, formatSumsLine, parseSums, toNameBytes, verdictName, verifySignedSums, type SumsMode } from '../../attest/sums.ts';
import { abs, loadEnvelopeKeys, loadSigningKey, loadTrustRoot, writeOutput } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type Command } from '../context.ts';

/** PROGRAM is the name custody prints where sha256sum prints its own. */
const PROGRAM = 'custody';

/** Characters gnulib's shell-escape quoting (coreutils `quotef`) quotes anywhere in a name; `#` and `~` only first. */
const SHELL_SPECIAL = new Set(' !"$&\'()*;<=>?[\\^`|:'.split(''));
const C_ESCAPES: Readonly<Record<number, string>> = { 7: 'a', 8: 'b', 9: 't', 10: 'n', 11: 'v', 12: 'f', 13: 'r' };

/**
 * quoteName renders a name the way coreutils' `quotef` (gnulib quotearg, shell-escape style, UTF-8 locale) does in
 * its error messages: raw when it needs no quoting, else in '…' ("…" when it holds a single quote), control
 * characters as $'\n' or $'\ooo'. Never returns a raw control character, so a name cannot rewrite the terminal.
 */
export function quoteName(name: string): string {
  if (name === '') return "''";
  const chars = [...name];
  // eslint-disable-next-line no-control-regex -- control characters are what is being found
  const isControl = (c: string): boolean => /[\u0000-\u001f\u007f-\u009f\ufffd]/.test(c);
  const special = chars.some((c, i) => SHELL_SPECIAL.has(c) || isControl(c) || (i === 0 && (c === '#' || c === '~')));
  if (!special) return name;
  if (!chars.some(isControl)) {
    if (!name.includes("'")) return `'${name}'`;
    if (!/[$`"\\!]/.test(name)) return `"${name}"`;
    return `'${name.replace(/'/g, "'\\''")}'`;
  }
  // gnulib opens with an empty '' when the name starts with an escaped character.
  let out = isControl(chars[0]!) ? "''" : '';
  let run = '';
  const flush = (): void => {
    if (run !== '') out += `'${run.replace(/'/g, "'\\''")}'`;
    run = '';
  };
  for (const c of chars) {
    if (!isControl(c)) {
      run += c;
      continue;
    }
    flush();
    const bytes = c === '\ufffd' ? [0xff] : [...Buffer.from(c, 'utf8')];
    out += `$'${bytes.map((b) => (C_ESCAPES[b] ? `\\${C_ESCAPES[b]}` : `\\${b.toString(8).padStart(3, '0')}`)).join('')}'`;
  }
  flush();
  return out;
}

const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many);

export const sumsCreate: Command = {
  summary: 'write a SHA256SUMS file exactly as coreutils sha256sum does (text, --binary or --tag lines)',
  usage: `usage: custody sums create FILE… [--output SHA256SUMS] [--binary] [--tag]

Hashes each FILE (SHA-256) and writes one line per file in the GNU coreutils format, in the order given:
"<hex>  NAME" (text), "<hex> *NAME" (--binary) or "SHA256 (NAME) = <hex>" (--tag). Names holding a backslash,
a newline or a carriage return are escaped as sha256sum escapes them. Without --output the lines go to stdout;
with it the file is written atomically, and nothing is written if any FILE cannot be read. \`sha256sum -c\` accepts
the result.

options:
  --output F   write F (atomically) instead of stdout
  --binary     mark lines with "*" (binary mode; GNU makes no difference when checking)
  --tag        write BSD-style tagged lines

example:
  custody sums create app.psp app.tar.gz --output SHA256SUMS && sha256sum -c SHA256SUMS`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      output: { type: 'string' },
      binary: { type: 'boolean' },
      tag: { type: 'boolean' },
    });
    if (positionals.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected at least one FILE');
    const mode: SumsMode = values.tag ? 'tagged' : values.binary ? 'binary' : 'text';
    // Names that cannot be listed are refused before anything is hashed.
    for (const n of positionals) formatSumsLine({ name: toNameBytes(n), sha256: '0'.repeat(64), mode });
    const entries = await digestForSums(positionals, ctx.cwd, mode);
    const bytes = formatSums(entries);
    const files = entries.map((e) => ({ name: Buffer.from(e.name).toString('utf8'), sha256: e.sha256 }));
    if (values.output !== undefined) {
      const out = await writeOutput(ctx, values.output, bytes, { inputs: positionals });
      ctx.print(`listed ${entries.length} ${plural(entries.length, 'file', 'files')} → ${out}`);
      ctx.result({ output: out, files });
    } else if (ctx.json) {
      ctx.result({ sums: Buffer.from(bytes).toString('utf8'), files });
    } else {
      ctx.stdout(Buffer.from(bytes).toString('utf8'));
    }
    return 0;
  },
};

/** lastOf returns which of the flags came last on the command line (coreutils: --status, --warn, --quiet override each other). */
function lastOf(argv: readonly string[], flags: readonly string[]): string | undefined {
  let last: string | undefined;
  for (const a of argv) {
    if (a === '--') break;
    if (flags.includes(a)) last = a;
  }
  return last;
}

export const sumsCheck: Command = {
  summary: 'check the files a SHA256SUMS file lists, as sha256sum -c does (optionally signed: DSSE or .sigs)',
  usage: `usage: custody sums check SHA256SUMS [--ignore-missing] [--quiet] [--status] [--strict] [--warn]
                          [--signature SHA256SUMS.dsse (--trust ROOT.json | --key K.pub… [--threshold N])]
                          [--sigs SHA256SUMS.sigs --trust ROOT.json]

Reads SHA256SUMS as \`sha256sum -c\` does (text, binary and BSD-tagged lines, escaped names, comments) and hashes
each listed file, relative to the current directory. Prints coreutils' lines: "NAME: OK", "NAME: FAILED",
"NAME: FAILED open or read", and on stderr the "WARNING: …" summaries. Exit 0 when every listed file matched
(at least one), else 1.

With --signature, the DSSE envelope (payloadType ${SHA256SUMS_PAYLOAD_TYPE}) is verified FIRST — a threshold of
distinct trusted keys, its payload equal to the file's bytes — and only those verified bytes are checked. With
--sigs, the signature set made by \`custody sign-package SHA256SUMS\` must reach the trust root's threshold over
the file's SHA-256. A bad signature refuses (exit 1, coded) before any file is hashed.

options:
  --ignore-missing   skip listed files that do not exist ("no file was verified" if none was)
  --quiet            print no "OK" lines
  --status           print nothing on stdout; the exit code tells
  --strict           fail on improperly formatted lines
  --warn             name each improperly formatted line on stderr
  --signature F      DSSE envelope over the file (custody sums sign)
  --trust ROOT.json  trust the root's targets role (keys, threshold, revocations)
  --key K.pub        trust this public key (repeatable); --threshold N of them must sign (default 1)
  --sigs F           detached signature set (custody sign-package SHA256SUMS), with --trust

example:
  custody sums check SHA256SUMS --signature SHA256SUMS.dsse --key release.pub`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      'ignore-missing': { type: 'boolean' },
      quiet: { type: 'boolean' },
      status: { type: 'boolean' },
      strict: { type: 'boolean' },
      warn: { type: 'boolean', short: 'w' },
      signature: { type: 'string' },
      sigs: { type: 'string' },
      trust: { type: 'string' },
      key: { type: 'string', multiple: true },
      threshold: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one SHA256SUMS file');
    const file = positionals[0]!;
    const threshold = intOption(values.threshold, 'threshold', 1, 64);
    if (values.signature !== undefined && values.sigs !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass either --signature or --sigs, not both');
    if (values.signature === undefined && (values.key?.length || threshold !== undefined)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--key and --threshold go with --signature');
    }
    if (values.sigs !== undefined && values.trust === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', '--sigs needs --trust ROOT.json to say whose signatures count');
    if (values.trust !== undefined && values.signature === undefined && values.sigs === undefined) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--trust goes with --signature or --sigs');
    }
    const last = lastOf(ctx.argv, ['--status', '--warn', '-w', '--quiet']);
    const statusOnly = last === '--status';
    const warn = last === '--warn' || last === '-w';
    const quiet = last === '--quiet';

    // The checksum file is read once; signatures are judged on these bytes and only these bytes are parsed.
    let bytes: Uint8Array = await readFileBounded(abs(ctx, file), { maxBytes: SUMS_MAX_BYTES, allowSymlink: true, what: 'checksum file' });
    let signers: string[] | undefined;
    if (values.signature !== undefined) {
      const { keys } = await loadEnvelopeKeys(ctx, { trust: values.trust, keys: values.key, threshold });
      const env = parseEnvelope(await readFileBounded(abs(ctx, values.signature), { maxBytes: DSSE_MAX_ENVELOPE_BYTES, allowSymlink: true, what: 'signature envelope' }));
      const v = verifySignedSums(env, bytes, keys, ctx.now());
      bytes = v.payload;
      signers = v.result.valid;
    } else if (values.sigs !== undefined) {
      const root = loadTrustRoot(ctx, requireOption(values.trust, 'trust'));
      const set = parseSignatureSet(await readFileBounded(abs(ctx, values.sigs), { maxBytes: SIGNATURE_SET_MAX_BYTES, allowSymlink: true, what: 'signature set' }));
      signers = verifySignatureSet(set, encodeHex(sha256(bytes)), root, ctx.now()).valid;
    }
    const parsed = parseSums(bytes);

    const err = (msg: string): void => ctx.stderr(`${PROGRAM}: ${msg}\n`);
    const quotedFile = quoteName(file);
    let nextMalformed = 0;
    const warnMalformedBefore = (line: number): void => {
      while (nextMalformed < parsed.malformed.length && parsed.malformed[nextMalformed]! < line) {
        if (warn) err(`${quotedFile}: ${parsed.malformed[nextMalformed]}: improperly formatted SHA256 checksum line`);
        nextMalformed++;
      }
    };
    const onVerdict = (v: SumsVerdict): void => {
      warnMalformedBefore(v.entry.line);
      const name = statusOnly ? '' : verdictName(v.entry.name);
      if (v.status === 'unreadable') {
        err(`${quoteName(Buffer.from(v.entry.name).toString('utf8'))}: ${v.reason ?? 'read error'}`);
        if (!statusOnly) ctx.print(`${name}: FAILED open or read`);
      } else if (v.status === 'failed') {
        if (!statusOnly) ctx.print(`${name}: FAILED`);
      } else if (v.status === 'ok') {
        if (!statusOnly && !quiet) ctx.print(`${name}: OK`);
      }
    };
    const report = await checkSums(parsed, { cwd: ctx.cwd, ignoreMissing: values['ignore-missing'] ?? false, onVerdict });
    warnMalformedBefore(Infinity);

    const counts = { verified: report.ok, failed: report.mismatched, unreadable: report.unreadable, missing: report.missing, malformed: report.malformed };
    if (parsed.entries.length === 0) {
      err(`${quotedFile}: no properly formatted checksum lines found`);
      if (statusOnly && !ctx.json) return 1;
      throw new FormatError('ERR_SUMS_NO_VALID_LINES', `${file}: no properly formatted checksum lines found`, { details: counts });
    }
    if (!statusOnly) {
      if (report.malformed) err(`WARNING: ${report.malformed} ${plural(report.malformed, 'line is', 'lines are')} improperly formatted`);
      if (report.unreadable) err(`WARNING: ${report.unreadable} listed ${plural(report.unreadable, 'file', 'files')} could not be read`);
      if (report.mismatched) err(`WARNING: ${report.mismatched} computed ${plural(report.mismatched, 'checksum', 'checksums')} did NOT match`);
      if (values['ignore-missing'] && report.ok === 0) err(`${quotedFile}: no file was verified`);
    }
    if (!sumsCheckPassed(report, values.strict ?? false)) {
      if (statusOnly && !ctx.json) return 1;
      const why = [
        report.mismatched ? `${report.mismatched} computed ${plural(report.mismatched, 'checksum', 'checksums')} did not match` : '',
        report.unreadable ? `${report.unreadable} listed ${plural(report.unreadable, 'file', 'files')} could not be read` : '',
        report.ok === 0 && !report.mismatched && !report.unreadable ? 'no file was verified' : '',
        values.strict && report.malformed ? `${report.malformed} ${plural(report.malformed, 'line is', 'lines are')} improperly formatted (--strict)` : '',
      ].filter(Boolean);
      throw new VerificationError('ERR_SUMS_CHECK_FAILED', `${file}: ${why.join(', ')}`, { details: counts });
    }
    ctx.result({
      file: abs(ctx, file),
      ...counts,
      ...(signers ? { signers } : {}),
      files: report.verdicts.map((v) => ({ name: Buffer.from(v.entry.name).toString('utf8'), status: v.status })),
    });
    return 0;
  },
};

export const sumsSign: Command = {
  summary: 'sign a SHA256SUMS file: a DSSE envelope over its bytes (one more signature per run)',
  usage: `usage: custody sums sign SHA256SUMS --key KEY.pem [--output SHA256SUMS.dsse] [--passphrase-file F]

Writes a DSSE envelope (payloadType ${SHA256SUMS_PAYLOAD_TYPE}) whose payload is the exact bytes of SHA256SUMS,
signed with KEY (Ed25519). The file must be a well-formed checksum file (every line a sha256sum line). If the output
exists and signs the same bytes, the signature is added to it (one per key), so a threshold of keys can sign in
turn; an envelope over other bytes is refused. Check with \`custody sums check SHA256SUMS --signature F --key K.pub\`.

example:
  custody sums sign SHA256SUMS --key k/a.pem && custody sums check SHA256SUMS --signature SHA256SUMS.dsse --key k/a.pub`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      key: { type: 'string' },
      'seed-file': { type: 'string' },
      output: { type: 'string' },
      'passphrase-file': { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one SHA256SUMS file');
    const file = positionals[0]!;
    const output = values.output ?? file + '.dsse';
    const key = await loadSigningKey(ctx, { key: values['seed-file'] === undefined ? requireOption(values.key, 'key') : undefined, seedFile: values['seed-file'], passphraseFile: values['passphrase-file'] });
    const bytes = await readFileBounded(abs(ctx, file), { maxBytes: SUMS_MAX_BYTES, allowSymlink: true, what: 'checksum file' });
    // Only a file sha256sum -c reads line for line is signed: a signature must not vouch for ambiguous bytes.
    const parsed = parseSums(bytes, { strict: true });
    if (parsed.entries.length === 0) throw new FormatError('ERR_SUMS_NO_VALID_LINES', `${file}: no properly formatted checksum lines found`);
    const existing = await readFileIfExists(abs(ctx, output), { maxBytes: DSSE_MAX_ENVELOPE_BYTES, what: 'signature envelope' });
    let env;
    if (existing) {
      const old = parseEnvelope(existing);
      if (old.payloadType !== SHA256SUMS_PAYLOAD_TYPE || !Buffer.from(old.payload).equals(bytes)) {
        throw new VerificationError('ERR_SUMS_PAYLOAD_MISMATCH', `${output} signs other bytes than ${file}; remove it to sign this file anew`);
      }
      env = addEnvelopeSignature(old, key);
    } else {
      env = signEnvelope(SHA256SUMS_PAYLOAD_TYPE, new Uint8Array(bytes), [key]);
    }
    const out = await writeOutput(ctx, output, formatEnvelope(env) + '\n', { inputs: [file] });
    const keyId = tufKeyId(key.publicKey);
    ctx.print(`signed ${file} (${parsed.entries.length} ${plural(parsed.entries.length, 'file', 'files')}, sha256:${encodeHex(sha256(bytes))}) by ${keyId}; ${env.signatures.length} signature(s) → ${out}`);
    ctx.result({ output: out, sha256: encodeHex(sha256(bytes)), key_id: keyId, signatures: env.signatures.length, payload_type: SHA256SUMS_PAYLOAD_TYPE });
    return 0;
  },
};
