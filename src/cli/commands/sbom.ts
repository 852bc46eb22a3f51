/**
 * cli/commands/sbom — `custody sbom INPUT --output F`: an SPDX 2.3 or CycloneDX 1.6 JSON SBOM of a directory, an
 * npm lockfile or a PSPF package (sbom/collect, sbom/spdx, sbom/cyclonedx), optionally signed as an in-toto
 * attestation in a DSSE envelope (sbom/attest). Everything is computed before anything is written; both files are
 * written atomically, and a failure writing the second removes the first.
 */
import { formatJsonl } from '../../attest/dsse.ts';
import { UsageError } from '../../errors.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { abs, loadSigningKey, writeOutputs } from '../common.ts';
import { parseCommandArgs, requireOption, type Command } from '../context.ts';

export const sbom: Command = {
  summary: 'write an SPDX 2.3 or CycloneDX 1.6 SBOM of a directory, npm lockfile or PSPF package (optionally attested)',
  usage: `usage: custody sbom INPUT --output FILE [--format spdx|cyclonedx] [--name NAME]
                   [--attest --key KEY.pem [--attestation-output FILE.intoto.jsonl] [--passphrase-file F]]

INPUT is a directory (every regular file, SHA-1 + SHA-256; symlinks and special files are left out and counted),
an npm lockfile (*.json: package-lock.json v1-v3 or npm-shrinkwrap.json: packages with purls, licenses as
declared, integrity, dependency edges) or a PSPF package (verified first; the launcher and each slot).
The same input and SOURCE_DATE_EPOCH give byte-identical output.

options:
  --output FILE              where the SBOM goes (required)
  --format F                 spdx (SPDX 2.3 JSON, default) or cyclonedx (CycloneDX 1.6 JSON)
  --name NAME                the document's name (default: the directory's, project's or package's name)
  --attest                   also write an in-toto attestation of the SBOM in a DSSE envelope (predicate type
                             https://spdx.dev/Document or https://cyclonedx.org/bom); subjects: each file of a
                             directory, or the lockfile, or the package file, by sha256
  --key KEY.pem              signing key for --attest (or --seed-file F, tests only)
  --attestation-output FILE  where the attestation goes (default: OUTPUT.intoto.jsonl)
  --passphrase-file F        passphrase for an encrypted key (or CUSTODY_PASSPHRASE)

environment:
  SOURCE_DATE_EPOCH   seconds: the creation time written (else the current time)

example:
  SOURCE_DATE_EPOCH=1700000000 custody sbom package-lock.json --format cyclonedx --output bom.cdx.json
  custody sbom dist --output dist.spdx.json --attest --key k/a.pem`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      output: { type: 'string' },
      format: { type: 'string' },
      name: { type: 'string' },
      attest: { type: 'boolean' },
      key: { type: 'string' },
      'seed-file': { type: 'string' },
      'attestation-output': { type: 'string' },
      'passphrase-file': { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one INPUT (a directory, a lockfile or a package)');
    const input = positionals[0]!;
    const output = requireOption(values.output, 'output');
    const format = values.format ?? 'spdx';
    if (format !== 'spdx' && format !== 'cyclonedx') throw new UsageError('ERR_USAGE_ARGUMENT', `--format: expected spdx or cyclonedx, got ${JSON.stringify(format)}`);
    if (values.name === '') throw new UsageError('ERR_USAGE_ARGUMENT', '--name must not be empty');
    const attest = values.attest === true;
    if (!attest && (values.key !== undefined || values['seed-file'] !== undefined || values['attestation-output'] !== undefined)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--key, --seed-file and --attestation-output need --attest');
    }
    const attestationOutput = values['attestation-output'] ?? `${output}.intoto.jsonl`;
    if (attest && abs(ctx, attestationOutput) === abs(ctx, output)) throw new UsageError('ERR_USAGE_ARGUMENT', 'the attestation output is also the SBOM output; choose another path');
    // The key is loaded before the (possibly long) walk, so a wrong passphrase fails fast.
    const key = attest
      ? await loadSigningKey(ctx, { key: values['seed-file'] === undefined ? requireOption(values.key, 'key') : undefined, seedFile: values['seed-file'], passphraseFile: values['passphrase-file'] })
      : undefined;

    const { collectInput } = await import('../../sbom/collect.ts');
    const { sbomCreated } = await import('../../sbom/ids.ts');
    const created = sbomCreated(ctx.env.SOURCE_DATE_EPOCH, ctx.now());
    // chdir: the CLI runs no other file I/O during the walk, so it may enter each directory (faster opens).
    const collected = await collectInput(abs(ctx, input), { chdir: true });
    const options = { created, name: values.name };
    const text =
      format === 'spdx'
        ? (await import('../../sbom/spdx.ts')).formatSpdx(collected, options)
        : (await import('../../sbom/cyclonedx.ts')).formatCycloneDx(collected, options);
    let envelopeText: string | undefined;
    if (key) {
      const { attestSbom } = await import('../../sbom/attest.ts');
      envelopeText = formatJsonl([attestSbom(collected, format, text, [key])]);
    }

    // The SBOM and its attestation go together: both are staged before either replaces an earlier file.
    const [out, attestationPath] = await writeOutputs(
      ctx,
      [{ output, data: text }, ...(envelopeText === undefined ? [] : [{ output: attestationOutput, data: envelopeText }])],
      { inputs: [input] },
    );
    const what =
      collected.kind === 'directory'
        ? `${collected.files.length} files${collected.skipped.length ? ` (${collected.skipped.length} symlinks or special files left out)` : ''}`
        : collected.kind === 'npm-lockfile'
          ? `${collected.packages.length} packages from lockfileVersion ${collected.lockfileVersion}`
          : `PSPF package ${collected.name} ${collected.version ?? ''}`.trimEnd() + `, ${collected.files.length} parts`;
    ctx.print(`wrote ${out}: ${format === 'spdx' ? 'SPDX 2.3' : 'CycloneDX 1.6'}, ${what}`);
    if (attestationPath) ctx.print(`wrote ${attestationPath}: in-toto attestation signed by ${tufKeyId(key!.publicKey)}`);
    ctx.result({
      output: out,
      format,
      kind: collected.kind,
      files: collected.files.length,
      packages: collected.packages.length,
      skipped: collected.skipped.length,
      ...(attestationPath ? { attestation: attestationPath, key_id: tufKeyId(key!.publicKey) } : {}),
    });
    return 0;
  },
};
