/**
 * sbom/spdx and sbom/cyclonedx: SPDX 2.3 output valid under the SPDX 2.3 JSON schema (test/vectors/spdx, validated
 * by ajv) and CycloneDX 1.6 output valid under the CycloneDX library's own strict JSON validator, for a directory,
 * a lockfile and a PSPF package; byte-identical output for the same input and time; the fields the issue names.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { Ajv } from 'ajv';
import { collectDirectory, collectPackage, parseLockfile, type SbomInput } from '../../src/sbom/collect.ts';
import { formatCycloneDx } from '../../src/sbom/cyclonedx.ts';
import { sbomCreated, uuidV5 } from '../../src/sbom/ids.ts';
import { formatSpdx, isSpdxExpression, licenseRefFor } from '../../src/sbom/spdx.ts';
import { assertCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';
import { vectorPath } from '../support/vectors.ts';
import { LOCK_V1, LOCK_V3, makeTree } from './fixtures.ts';

type Json = Record<string, unknown>;
const CREATED = new Date(1_700_000_000_000);

const validateSpdx = new Ajv({ strict: false, allErrors: true }).compile(
  JSON.parse(readFileSync(vectorPath('spdx', 'spdx-2.3-schema.json'), 'utf8')) as object,
);

function assertSpdxValid(text: string): Json {
  const doc = JSON.parse(text) as Json;
  assert.ok(validateSpdx(doc), `SPDX 2.3 schema: ${JSON.stringify(validateSpdx.errors?.slice(0, 3))}`);
  return doc;
}

async function assertCdxValid(text: string): Promise<Json> {
  const errors: unknown = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text);
  assert.equal(errors, null, `CycloneDX 1.6 strict validator: ${JSON.stringify(errors)?.slice(0, 600)}`);
  return JSON.parse(text) as Json;
}

async function inputs(dir: string): Promise<Array<[string, SbomInput]>> {
  makeTree(dir);
  return [
    ['directory', await collectDirectory(dir)],
    ['lockfile v3', parseLockfile(Buffer.from(JSON.stringify(LOCK_V3)))],
    ['lockfile v1', parseLockfile(Buffer.from(JSON.stringify(LOCK_V1)))],
    ['PSPF', await collectPackage(vectorPath('pspf', '03-multi-ops.psp'))],
  ];
}

test('SPDX 2.3: valid under the SPDX 2.3 JSON schema (ajv) and byte-identical across runs, for every input kind', async (t) => {
  for (const [kind, input] of await inputs(tmpDir(t))) {
    const a = formatSpdx(input, { created: CREATED });
    const doc = assertSpdxValid(a);
    assert.equal(formatSpdx(input, { created: CREATED }), a, `${kind}: deterministic`);
    assert.equal(doc['spdxVersion'], 'SPDX-2.3');
    assert.equal(doc['dataLicense'], 'CC0-1.0');
    assert.equal(doc['SPDXID'], 'SPDXRef-DOCUMENT');
    assert.deepEqual(doc['creationInfo'], { created: '2023-11-14T22:13:20Z', creators: ['Tool: custody-0.1.0'] });
    assert.match(String(doc['documentNamespace']), /^https:\/\/custody\.invalid\/spdx\/[A-Za-z0-9.-]+-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const rels = doc['relationships'] as Json[];
    assert.equal(rels.filter((r) => r['relationshipType'] === 'DESCRIBES' && r['spdxElementId'] === 'SPDXRef-DOCUMENT').length, 1, kind);
    const ids = [...(doc['packages'] as Json[]), ...((doc['files'] as Json[] | undefined) ?? [])].map((e) => e['SPDXID']);
    assert.equal(new Set(ids).size, ids.length, `${kind}: element ids are unique`);
    for (const f of (doc['files'] as Json[] | undefined) ?? []) {
      assert.deepEqual((f['checksums'] as Json[]).map((c) => c['algorithm']), ['SHA1', 'SHA256'], `${kind}: each file has SHA1 and SHA256`);
    }
    // A later time changes `created` and so the namespace; nothing else.
    const later = JSON.parse(formatSpdx(input, { created: new Date(1_800_000_000_000) })) as Json;
    assert.notEqual(later['documentNamespace'], doc['documentNamespace']);
    assert.deepEqual({ ...later, documentNamespace: 0, creationInfo: 0 }, { ...doc, documentNamespace: 0, creationInfo: 0 });
  }
});

test('SPDX from a directory: the tree package CONTAINS each file; verification code as SPDX 2.3 §7.9 defines it', async (t) => {
  const dir = tmpDir(t);
  makeTree(dir);
  const input = await collectDirectory(dir);
  const doc = JSON.parse(formatSpdx(input, { created: CREATED, name: 'my-tree' })) as Json;
  assert.equal(doc['name'], 'my-tree');
  const [root] = doc['packages'] as Json[];
  assert.equal(root!['name'], 'my-tree');
  assert.equal(root!['filesAnalyzed'], true);
  const { createHash } = await import('node:crypto');
  const expected = createHash('sha1').update(input.files.map((f) => f.sha1).sort().join('')).digest('hex');
  assert.deepEqual(root!['packageVerificationCode'], { packageVerificationCodeValue: expected });
  const contains = (doc['relationships'] as Json[]).filter((r) => r['relationshipType'] === 'CONTAINS');
  assert.equal(contains.length, input.files.length);
  const files = doc['files'] as Json[];
  assert.deepEqual(files.map((f) => f['fileName']), input.files.map((f) => `./${f.name}`));
  const big = files.find((f) => f['fileName'] === './big.bin')!;
  assert.deepEqual(big['checksums'], [
    { algorithm: 'SHA1', checksumValue: input.files.find((f) => f.name === 'big.bin')!.sha1 },
    { algorithm: 'SHA256', checksumValue: input.files.find((f) => f.name === 'big.bin')!.sha256 },
  ]);
});

test('SPDX from a lockfile: purls, SRI checksums as hex, download locations, licenses as declared, dependency edges', () => {
  const doc = JSON.parse(formatSpdx(parseLockfile(Buffer.from(JSON.stringify(LOCK_V3))), { created: CREATED })) as Json;
  const pkgs = doc['packages'] as Json[];
  const byName = (n: string, v: string): Json => pkgs.find((p) => p['name'] === n && p['versionInfo'] === v)!;
  const scoped = byName('@scope/lib', '1.0.0');
  assert.deepEqual(scoped['externalRefs'], [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:npm/%40scope/lib@1.0.0' }]);
  assert.deepEqual(scoped['checksums'], [{ algorithm: 'SHA512', checksumValue: 'ab'.repeat(64) }]);
  assert.equal(scoped['downloadLocation'], 'https://registry.npmjs.org/@scope/lib/-/lib-1.0.0.tgz');
  assert.equal(scoped['licenseDeclared'], 'Apache-2.0');
  assert.deepEqual(byName('left-pad', '1.3.0')['checksums'], [
    { algorithm: 'SHA1', checksumValue: '22'.repeat(20) },
    { algorithm: 'SHA512', checksumValue: 'cd'.repeat(64) },
  ]);
  assert.equal(byName('left-pad', '1.3.0')['licenseDeclared'], 'MIT OR Apache-2.0');
  assert.equal(byName('left-pad', '1.0.0')['licenseDeclared'], 'WTFPL');
  const tester = byName('tester', '2.0.0');
  assert.equal(tester['downloadLocation'], 'NOASSERTION');
  assert.equal(tester['licenseDeclared'], licenseRefFor('UNLICENSED'));
  assert.match(String(tester['comment']), /; dev$/);
  assert.deepEqual(doc['hasExtractedLicensingInfos'], [
    { licenseId: licenseRefFor('UNLICENSED'), name: 'UNLICENSED', extractedText: 'UNLICENSED', comment: 'declared by the package; not a valid SPDX license expression, kept verbatim' },
  ]);
  assert.equal(byName('ws-pkg', '0.0.1')['licenseDeclared'], 'NOASSERTION');
  const root = pkgs[0]!;
  assert.equal(root['name'], 'demo-app');
  const rel = (type: string, from: Json, to: Json): boolean =>
    (doc['relationships'] as Json[]).some((r) => r['relationshipType'] === type && r['spdxElementId'] === from['SPDXID'] && r['relatedSpdxElement'] === to['SPDXID']);
  assert.ok(rel('DEPENDS_ON', root, scoped));
  assert.ok(rel('DEPENDS_ON', scoped, byName('left-pad', '1.0.0')), 'nested node_modules resolves first');
  assert.ok(rel('DEV_DEPENDENCY_OF', tester, root));
  assert.ok(rel('OPTIONAL_DEPENDENCY_OF', byName('fsevents', '2.3.3'), root));
  const lockFile = (doc['files'] as Json[])[0]!;
  assert.equal(lockFile['fileName'], './package-lock.json');
  assert.ok(rel('DEPENDENCY_MANIFEST_OF', lockFile, root));
});

test('SPDX license expressions (Annex D): valid ones kept, everything else is not an expression', () => {
  for (const ok of ['MIT', 'mit', 'Apache-2.0', 'GPL-2.0+', 'MIT OR Apache-2.0', '(MIT AND BSD-3-Clause) OR ISC', 'GPL-2.0-only WITH Classpath-exception-2.0']) {
    assert.ok(isSpdxExpression(ok), ok);
  }
  for (const bad of ['UNLICENSED', 'SEE LICENSE IN LICENSE.md', 'MIT or Apache-2.0', 'MIT OR', '(MIT', 'MIT)', '', 'LicenseRef-mine', 'NotALicense-1.0', '('.repeat(40) + 'MIT' + ')'.repeat(40)]) {
    assert.ok(!isSpdxExpression(bad), bad);
  }
});

test('output over the cap is ERR_SBOM_OUTPUT_LIMIT; a malformed SOURCE_DATE_EPOCH is ERR_CONFIG_INVALID', () => {
  const input = parseLockfile(Buffer.from(JSON.stringify(LOCK_V3)));
  assertCode(() => formatSpdx(input, { created: CREATED, maxBytes: 2000 }), 'ERR_SBOM_OUTPUT_LIMIT', 'LimitError');
  assertCode(() => formatCycloneDx(input, { created: CREATED, maxBytes: 2000 }), 'ERR_SBOM_OUTPUT_LIMIT', 'LimitError');
  assert.equal(sbomCreated('1700000000', new Date()).getTime(), CREATED.getTime());
  assert.equal(sbomCreated(undefined, new Date(1234567)).getTime(), 1234000);
  for (const bad of ['-1', '1.5', '01', 'soon', '99999999999999']) assertCode(() => sbomCreated(bad, new Date()), 'ERR_CONFIG_INVALID');
});

test('SPDX ids: 20,000 file names that reduce to one base id get unique ids, smallest free suffix first, in linear time', () => {
  // Every CJK name reduces to SPDXRef-File-.txt; ".txt-2" and ".txt-4" take two of the suffixed ids themselves.
  const names = ['.txt-2', '.txt-4', ...Array.from({ length: 20_000 }, (_, i) => `${String.fromCodePoint(0x4e00 + i)}.txt`)];
  const input: SbomInput = {
    kind: 'directory',
    name: 'tree',
    version: undefined,
    files: names.map((name) => ({ name, size: 0, sha1: 'da39a3ee5e6b4b0d3255bfef95601890afd80709', sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' })),
    root: undefined,
    packages: [],
    source: undefined,
    skipped: [],
  };
  const doc = assertSpdxValid(formatSpdx(input, { created: CREATED }));
  const ids = (doc['files'] as Json[]).map((f) => f['SPDXID'] as string);
  assert.equal(new Set(ids).size, names.length);
  assert.deepEqual(ids.slice(0, 6), ['SPDXRef-File-.txt-2', 'SPDXRef-File-.txt-4', 'SPDXRef-File-.txt', 'SPDXRef-File-.txt-3', 'SPDXRef-File-.txt-5', 'SPDXRef-File-.txt-6']);
  assert.equal(ids.at(-1), `SPDXRef-File-.txt-${20_002}`);
});

test('uuidV5 is RFC 9562 version 5 (the RFC\'s own example: www.example.com in the DNS namespace)', () => {
  assert.equal(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
});

test('CycloneDX 1.6: valid under the library\'s strict JSON validator and byte-identical across runs, for every input kind', async (t) => {
  for (const [kind, input] of await inputs(tmpDir(t))) {
    const a = formatCycloneDx(input, { created: CREATED });
    const bom = await assertCdxValid(a);
    assert.equal(formatCycloneDx(input, { created: CREATED }), a, `${kind}: deterministic`);
    assert.equal(bom['specVersion'], '1.6');
    assert.match(String(bom['serialNumber']), /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal((bom['metadata'] as Json)['timestamp'], '2023-11-14T22:13:20.000Z');
    const later = formatCycloneDx(input, { created: new Date(1_800_000_000_000) });
    assert.notEqual((JSON.parse(later) as Json)['serialNumber'], bom['serialNumber']);
  }
});

test('CycloneDX from a lockfile: group, purl, hashes, licenses, dev property, optional scope, dependency graph', async () => {
  const bom = await assertCdxValid(formatCycloneDx(parseLockfile(Buffer.from(JSON.stringify(LOCK_V3))), { created: CREATED }));
  const comps = bom['components'] as Json[];
  const scoped = comps.find((c) => c['purl'] === 'pkg:npm/%40scope/lib@1.0.0')!;
  assert.equal(scoped['group'], '@scope');
  assert.equal(scoped['name'], 'lib');
  assert.deepEqual(scoped['hashes'], [{ alg: 'SHA-512', content: 'ab'.repeat(64) }]);
  assert.deepEqual(scoped['licenses'], [{ license: { id: 'Apache-2.0' } }]);
  const leftPad = comps.find((c) => c['purl'] === 'pkg:npm/left-pad@1.3.0')!;
  assert.deepEqual(leftPad['licenses'], [{ expression: 'MIT OR Apache-2.0' }]);
  const tester = comps.find((c) => c['name'] === 'tester')!;
  assert.deepEqual(tester['licenses'], [{ license: { name: 'UNLICENSED' } }]);
  assert.ok((tester['properties'] as Json[]).some((p) => p['name'] === 'cdx:npm:package:development' && p['value'] === 'true'));
  assert.equal(comps.find((c) => c['name'] === 'fsevents')!['scope'], 'optional');
  const deps = bom['dependencies'] as Array<{ ref: string; dependsOn?: string[] }>;
  assert.deepEqual(deps.find((d) => d.ref === 'root')!.dependsOn, [
    'pkg:npm/%40scope/lib@1.0.0',
    'pkg:npm/fsevents@2.3.3',
    'pkg:npm/left-pad@1.3.0',
    'pkg:npm/tester@2.0.0',
  ]);
  assert.deepEqual(deps.find((d) => d.ref === 'pkg:npm/%40scope/lib@1.0.0')!.dependsOn, ['pkg:npm/left-pad@1.0.0']);
});
