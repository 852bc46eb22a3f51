/**
 * `custody verify-attestation` on real files: the example policy printed by --help works as printed (copied out of
 * the help text); refusals give their class's exit code and name the rule; a tampered envelope, an attestation
 * about other bytes and an untrusted signer are VerificationErrors; a policy with an unknown key is exit 2.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatRoot } from '../../src/trust/root.ts';
import { fileURLToPath } from 'node:url';
import { importOsv } from '../../src/vuln/db.ts';
import { SLSA_V1, SPDX_TYPE, attest, jsonl, provenance } from '../support/attest.ts';
import { cli } from '../support/cli.ts';
import { key, NOW, rootOf } from '../support/fixtures.ts';
import { tmpDir } from '../support/tmp.ts';
import { startLog, writeTokenFile } from '../log/harness.ts';

const A = key('va-a');
const ART = 'app-1.2.tar.gz';

function setup(t: Parameters<typeof tmpDir>[0]): { dir: string; run: (...args: string[]) => ReturnType<typeof cli> } {
  const dir = tmpDir(t);
  writeFileSync(join(dir, ART), 'the release tarball');
  writeFileSync(join(dir, 'root.json'), formatRoot(rootOf([A], 1)));
  writeFileSync(join(dir, `${ART}.intoto.jsonl`), jsonl(attest({ [ART]: 'the release tarball' }, SLSA_V1, provenance(), [A])));
  return { dir, run: (...args) => cli(['verify-attestation', ...args], { cwd: dir, now: NOW }) };
}

async function helpPolicy(dir: string): Promise<string> {
  const help = await cli(['verify-attestation', '--help'], { cwd: dir });
  assert.equal(help.code, 0);
  const m = /--- begin policy ---\n([\s\S]*?)\n--- end policy ---/.exec(help.stdout);
  assert.ok(m, 'the help shows an example policy between markers');
  return m[1]!;
}

test('the example policy printed by --help works as printed', async (t) => {
  const { dir, run } = setup(t);
  writeFileSync(join(dir, 'policy.json'), await helpPolicy(dir));
  const ok = await run(ART, '--attestation', `${ART}.intoto.jsonl`, '--policy', 'policy.json', '--trust', 'root.json');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ACCEPTED app-1\.2\.tar\.gz {2}sha256:[0-9a-f]{64}/);
  assert.match(ok.stdout, /ok {2}trusted_builders: builder "https:\/\/builder\.example\/ci@v1" trusted/);
  const json = await run(ART, '--attestation', `${ART}.intoto.jsonl`, '--policy', 'policy.json', '--trust', 'root.json', '--json');
  const j = JSON.parse(json.stdout) as { ok: boolean; accepted: boolean; verdicts: Array<{ rule: string; ok: boolean }> };
  assert.equal(j.ok, true);
  assert.deepEqual(j.verdicts.map((v) => v.rule), ['required_predicate_types', 'trusted_builders', 'subject_names', 'max_age', 'source_repositories']);
  // A YAML policy.
  writeFileSync(join(dir, 'policy.yaml'), 'version: 1\nrequired_predicate_types: [https://slsa.dev/provenance/v1]\nmax_age: 30d\n');
  const yaml = await run(ART, '--attestation', `${ART}.intoto.jsonl`, '--policy', 'policy.yaml', '--trust', 'root.json');
  assert.equal(yaml.code, 0, yaml.stderr);
});

test('refusals: policy (exit 1, rule named), evidence (exit 1, VerificationError), policy file (exit 2)', async (t) => {
  const { dir, run } = setup(t);
  const policy = await helpPolicy(dir);
  writeFileSync(join(dir, 'policy.json'), policy);
  const args = ['--attestation', `${ART}.intoto.jsonl`, '--policy', 'policy.json', '--trust', 'root.json'];

  // Stale: the same evidence judged 60 days later.
  const stale = await cli(['verify-attestation', ART, ...args], { cwd: dir, now: new Date(NOW.getTime() + 60 * 86_400_000) });
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /policy rule "max_age" refused: .* \[ERR_POLICY_STALE\]/);

  // Untrusted builder.
  writeFileSync(join(dir, 'evil.intoto.jsonl'), jsonl(attest({ [ART]: 'the release tarball' }, SLSA_V1, provenance({ builder: 'https://evil.example/ci' }), [A])));
  const evil = await run(ART, '--attestation', 'evil.intoto.jsonl', '--policy', 'policy.json', '--trust', 'root.json', '--json');
  assert.equal(evil.code, 1);
  const ej = JSON.parse(evil.stdout) as { code: string; message: string; details: { rule: string } };
  assert.equal(ej.code, 'ERR_POLICY_UNTRUSTED_BUILDER');
  assert.equal(ej.details.rule, 'trusted_builders');

  // An attestation about other bytes: evidence problem, not policy.
  writeFileSync(join(dir, 'other.intoto.jsonl'), jsonl(attest({ [ART]: 'other bytes' }, SLSA_V1, provenance(), [A])));
  const other = await run(ART, '--attestation', 'other.intoto.jsonl', '--policy', 'policy.json', '--trust', 'root.json');
  assert.equal(other.code, 1);
  assert.match(other.stderr, /\[ERR_ATTEST_SUBJECT_MISMATCH\]/);

  // Malformed SLSA provenance (no runDetails.builder) is bad evidence, refused before the policy.
  const broken = provenance();
  delete (broken.runDetails as Record<string, unknown>).builder;
  writeFileSync(join(dir, 'broken.intoto.jsonl'), jsonl(attest({ [ART]: 'the release tarball' }, SLSA_V1, broken, [A])));
  const bad = await run(ART, '--attestation', 'broken.intoto.jsonl', '--policy', 'policy.json', '--trust', 'root.json');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /broken\.intoto\.jsonl: envelope 1: .*\[ERR_SLSA_SCHEMA\]/);

  // Signed by a key the root does not trust; then trusted by --key.
  writeFileSync(join(dir, 'stranger.intoto.jsonl'), jsonl(attest({ [ART]: 'the release tarball' }, SLSA_V1, provenance(), [key('stranger')])));
  const stranger = await run(ART, '--attestation', 'stranger.intoto.jsonl', '--policy', 'policy.json', '--trust', 'root.json');
  assert.equal(stranger.code, 1);
  assert.match(stranger.stderr, /stranger\.intoto\.jsonl: envelope 1: envelope signed by 0\/1 trusted keys \[ERR_DSSE_THRESHOLD_UNMET\]/);
  writeFileSync(join(dir, 'stranger.pub'), key('stranger').publicKey.toPem());
  const byKey = await run(ART, '--attestation', 'stranger.intoto.jsonl', '--policy', 'policy.json', '--key', 'stranger.pub');
  assert.equal(byKey.code, 0, byKey.stderr);

  // A typo in the policy is refused, not ignored.
  writeFileSync(join(dir, 'typo.json'), policy.replace('"trusted_builders"', '"trusted_builder"'));
  const typo = await run(ART, ...args.slice(0, 2), '--policy', 'typo.json', '--trust', 'root.json');
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown key "trusted_builder" at \/ \[ERR_POLICY_UNKNOWN_KEY\]/);
});

/** spdx is a small SPDX 2.3 document listing one npm package (the SBOM predicate of an attestation). */
function spdx(version: string): Record<string, unknown> {
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: 'app',
    documentNamespace: 'https://example.invalid/app',
    creationInfo: { created: '2026-11-21T00:00:00Z', creators: ['Tool: test'] },
    packages: [
      {
        name: 'lodash',
        SPDXID: 'SPDXRef-lodash',
        versionInfo: version,
        downloadLocation: 'NOASSERTION',
        externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: `pkg:npm/lodash@${version}` }],
      },
    ],
  };
}

test('max_severity: the SBOM attestation is scanned against the offline OSV database (--vulndb)', async (t) => {
  const { dir, run } = setup(t);
  await importOsv(fileURLToPath(new URL('../fixtures/osv/', import.meta.url)), join(dir, 'osv.sqlite'));
  writeFileSync(join(dir, 'gate.json'), JSON.stringify({ version: 1, required_predicate_types: [SPDX_TYPE], max_severity: 'medium' }));
  const sbom = (v: string): string => jsonl(attest({ [ART]: 'the release tarball' }, SPDX_TYPE, spdx(v) as never, [A]));
  writeFileSync(join(dir, 'old.intoto.jsonl'), sbom('4.17.20'));
  writeFileSync(join(dir, 'new.intoto.jsonl'), sbom('4.17.21'));
  const base = ['--policy', 'gate.json', '--trust', 'root.json'];
  const high = await run(ART, '--attestation', 'old.intoto.jsonl', ...base, '--vulndb', 'osv.sqlite');
  assert.equal(high.code, 1);
  assert.match(high.stderr, /policy rule "max_severity" refused: highest vulnerability severity is high \(1 finding\(s\)\), over medium \[ERR_POLICY_SEVERITY\]/);
  const fixed = await run(ART, '--attestation', 'new.intoto.jsonl', ...base, '--vulndb', 'osv.sqlite', '--json');
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.deepEqual((JSON.parse(fixed.stdout) as { scan: unknown }).scan, { maxSeverity: 'none', findings: 0 });
  // No SBOM attestation: no scan was possible, and the gate fails closed.
  writeFileSync(join(dir, 'gate2.json'), JSON.stringify({ version: 1, required_predicate_types: [SLSA_V1], max_severity: 'critical' }));
  const none = await run(ART, '--attestation', `${ART}.intoto.jsonl`, '--policy', 'gate2.json', '--trust', 'root.json', '--vulndb', 'osv.sqlite');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /"max_severity" refused: no vulnerability scan .*\[ERR_POLICY_SEVERITY\]/);
});

test('Sigstore bundles: a verified log inclusion satisfies require_log_inclusion; without --log-key it counts for nothing', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const tokenFile = writeTokenFile(dir);
  const log = await startLog(join(dir, 'log-data'), tokenFile);
  t.after(() => log.proc.kill('SIGKILL'));
  const run = (...argv: string[]): ReturnType<typeof cli> => cli(argv, { cwd: dir });
  assert.equal((await run('keygen', '--output', 'k/a.pem')).code, 0);
  assert.equal((await run('trust', 'init', '--key', 'k/a.pub', '--threshold', '1', '--sign', 'k/a.pem', '--output', 'root.json')).code, 0);
  writeFileSync(join(dir, ART), 'the release tarball');
  const made = await run('attest', 'provenance', '--subject', ART, '--builder-id', 'https://builder.example/ci@v1', '--build-type', 'https://builder.example/build/v1',
    '--finished-on', new Date().toISOString().replace(/\.\d+Z$/, 'Z'), '--key', 'k/a.pem', '--output', 'prov.intoto.jsonl',
    '--bundle', 'prov.sigstore.json', '--log', log.url, '--log-key', log.vkey, '--log-token-file', tokenFile);
  assert.equal(made.code, 0, made.stderr);
  writeFileSync(join(dir, 'logged.json'), JSON.stringify({ version: 1, required_predicate_types: [SLSA_V1], trusted_builders: ['https://builder.example/*'], require_log_inclusion: true }));
  const args = [ART, '--attestation', 'prov.sigstore.json', '--policy', 'logged.json', '--trust', 'root.json'];
  const ok = await run('verify-attestation', ...args, '--log-key', log.vkey, '--json');
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok((JSON.parse(ok.stdout) as { verdicts: Array<{ rule: string; ok: boolean }> }).verdicts.some((v) => v.rule === 'require_log_inclusion' && v.ok));
  const unlogged = await run('verify-attestation', ...args);
  assert.equal(unlogged.code, 1);
  assert.match(unlogged.stderr, /policy rule "require_log_inclusion" refused: .*\[ERR_POLICY_LOG_INCLUSION\]/);
  // The same envelope as .intoto.jsonl carries no inclusion either.
  const jsonlOnly = await run('verify-attestation', ART, '--attestation', 'prov.intoto.jsonl', '--policy', 'logged.json', '--trust', 'root.json', '--log-key', log.vkey);
  assert.equal(jsonlOnly.code, 1);
  assert.match(jsonlOnly.stderr, /\[ERR_POLICY_LOG_INCLUSION\]/);
});
