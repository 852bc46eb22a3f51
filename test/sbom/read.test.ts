/**
 * sbom/read: components, purls, licenses and file digests from SPDX 2.3 and CycloneDX 1.4-1.6 JSON, and the
 * refusals of hostile input (oversized, deeply nested, too many components, bad purls, wrong types).
 */
import * as CDX from '@cyclonedx/cyclonedx-library';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PackageURL } from 'packageurl-js';
import type { ErrorCode } from '../../src/errors.ts';
import { SBOM_MAX_FILES } from '../../src/sbom/collect.ts';
import * as sbomRead from '../../src/sbom/read.ts';
import { SBOM_MAX_BYTES, SBOM_MAX_NESTING, SBOM_READ_MAX_FILES, readSbomComponents } from '../../src/sbom/read.ts';
import { assertCode } from '../support/assert.ts';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const SHA256 = 'a'.repeat(64);
const SHA1 = 'b'.repeat(40);

export const SPDX_DOC = {
  spdxVersion: 'SPDX-2.3',
  dataLicense: 'CC0-1.0',
  SPDXID: 'SPDXRef-DOCUMENT',
  name: 'app',
  documentNamespace: 'https://example.com/spdx/app-1',
  creationInfo: { created: '2026-01-01T00:00:00Z', creators: ['Tool: custody'] },
  packages: [
    {
      SPDXID: 'SPDXRef-Package-lodash',
      name: 'lodash',
      versionInfo: '4.17.20',
      downloadLocation: 'NOASSERTION',
      licenseDeclared: 'MIT',
      licenseConcluded: 'NOASSERTION',
      externalRefs: [
        { referenceCategory: 'SECURITY', referenceType: 'cpe23Type', referenceLocator: 'cpe:2.3:a:lodash:lodash:4.17.20:*:*:*:*:*:*:*' },
        { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:npm/lodash@4.17.20' },
      ],
    },
    {
      SPDXID: 'SPDXRef-Package-core',
      name: '@angular/core',
      versionInfo: '1.2.3',
      downloadLocation: 'NOASSERTION',
      externalRefs: [{ referenceCategory: 'PACKAGE_MANAGER', referenceType: 'purl', referenceLocator: 'pkg:npm/%40angular/core@1.2.3' }],
    },
    { SPDXID: 'SPDXRef-Package-x', name: 'no-purl', downloadLocation: 'NOASSERTION', licenseDeclared: 'NONE' },
  ],
  files: [
    { SPDXID: 'SPDXRef-File-1', fileName: './bin/app', checksums: [{ algorithm: 'SHA1', checksumValue: SHA1 }, { algorithm: 'SHA256', checksumValue: SHA256 }] },
    { SPDXID: 'SPDXRef-File-2', fileName: './README', checksums: [{ algorithm: 'MD5', checksumValue: 'c'.repeat(32) }] },
  ],
};

export const CDX_DOC = {
  bomFormat: 'CycloneDX',
  specVersion: '1.6',
  version: 1,
  metadata: { component: { type: 'application', name: 'app', version: '1.0.0' } },
  components: [
    {
      type: 'library',
      name: 'requests',
      version: '2.19.0',
      purl: 'pkg:pypi/requests@2.19.0',
      licenses: [{ license: { id: 'Apache-2.0' } }],
      components: [{ type: 'library', name: 'urllib3', version: '1.24.1', purl: 'pkg:pypi/urllib3@1.24.1', licenses: [{ expression: 'MIT OR Apache-2.0' }] }],
    },
    { type: 'file', name: 'bin/app', hashes: [{ alg: 'SHA-256', content: SHA256.toUpperCase() }, { alg: 'SHA-1', content: SHA1 }] },
    { type: 'library', name: 'left-pad', version: '1.3.0', purl: 'pkg:npm/left-pad@1.3.0' },
  ],
};

test('SPDX 2.3: packages with purls (both category spellings) and licenses, files with SHA-1 and SHA-256', () => {
  const r = readSbomComponents(enc(SPDX_DOC));
  assert.equal(r.format, 'spdx');
  assert.equal(r.specVersion, 'SPDX-2.3');
  assert.deepEqual(r.components, [
    { name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20', licenses: ['MIT'] },
    { name: '@angular/core', version: '1.2.3', purl: 'pkg:npm/%40angular/core@1.2.3' },
    { name: 'no-purl' },
  ]);
  assert.deepEqual(r.files, [{ name: './bin/app', sha1: SHA1, sha256: SHA256 }, { name: './README' }]);
});

test('CycloneDX 1.6: nested components in document order, file components as files, digests lowercased', () => {
  const r = readSbomComponents(enc(CDX_DOC));
  assert.equal(r.format, 'cyclonedx');
  assert.equal(r.specVersion, '1.6');
  assert.deepEqual(r.components, [
    { name: 'requests', version: '2.19.0', purl: 'pkg:pypi/requests@2.19.0', licenses: ['Apache-2.0'] },
    { name: 'left-pad', version: '1.3.0', purl: 'pkg:npm/left-pad@1.3.0' },
    { name: 'urllib3', version: '1.24.1', purl: 'pkg:pypi/urllib3@1.24.1', licenses: ['MIT OR Apache-2.0'] },
  ]);
  assert.deepEqual(r.files, [{ name: 'bin/app', sha256: SHA256, sha1: SHA1 }]);
  for (const v of ['1.4', '1.5']) assert.equal(readSbomComponents(enc({ ...CDX_DOC, specVersion: v })).specVersion, v);
});

test('reads what @cyclonedx/cyclonedx-library serializes (1.4, 1.5, 1.6)', () => {
  const bom = new CDX.Models.Bom();
  const lodash = new CDX.Models.Component(CDX.Enums.ComponentType.Library, 'lodash', {
    version: '4.17.20',
    purl: new PackageURL('npm', undefined, 'lodash', '4.17.20', undefined, undefined).toString(),
  });
  lodash.licenses.add(new CDX.Models.SpdxLicense('MIT'));
  lodash.components.add(new CDX.Models.Component(CDX.Enums.ComponentType.Library, 'inner', { version: '1.0.0' }));
  bom.components.add(lodash);
  const file = new CDX.Models.Component(CDX.Enums.ComponentType.File, 'bin/app');
  file.hashes.set(CDX.Enums.HashAlgorithm['SHA-256'], SHA256);
  bom.components.add(file);
  for (const spec of [CDX.Spec.Spec1dot4, CDX.Spec.Spec1dot5, CDX.Spec.Spec1dot6]) {
    const json = new CDX.Serialize.JsonSerializer(new CDX.Serialize.JSON.Normalize.Factory(spec)).serialize(bom);
    const r = readSbomComponents(enc(json));
    assert.equal(r.specVersion, spec.version);
    assert.deepEqual(r.components, [
      { name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20', licenses: ['MIT'] },
      { name: 'inner', version: '1.0.0' },
    ]);
    assert.deepEqual(r.files, [{ name: 'bin/app', sha256: SHA256 }]);
  }
});

function nested(levels: number): unknown {
  let c: Record<string, unknown> = { type: 'library', name: 'leaf' };
  for (let i = 0; i < levels - 1; i++) c = { type: 'library', name: `n${i}`, components: [c] };
  return { bomFormat: 'CycloneDX', specVersion: '1.6', components: [c] };
}

test('nesting up to the cap is read, one level more is refused', () => {
  assert.equal(readSbomComponents(enc(nested(SBOM_MAX_NESTING))).components.length, SBOM_MAX_NESTING);
  assertCode(() => readSbomComponents(enc(nested(SBOM_MAX_NESTING + 1))), 'ERR_LIMIT_DEPTH');
});

const rows: Array<[string, () => Uint8Array, ErrorCode]> = [
  ['over the size cap (checked before parsing)', () => new Uint8Array(SBOM_MAX_BYTES + 1), 'ERR_LIMIT_SIZE'],
  ['JSON nested 10,000 deep', () => enc('['.repeat(10_000) + ']'.repeat(10_000)), 'ERR_LIMIT_DEPTH'],
  ['neither format', () => enc({ hello: 'world' }), 'ERR_SBOM_READ_UNKNOWN_FORMAT'],
  ['SPDX 3.0', () => enc({ ...SPDX_DOC, spdxVersion: 'SPDX-3.0' }), 'ERR_SBOM_READ_UNKNOWN_FORMAT'],
  ['CycloneDX 1.2', () => enc({ ...CDX_DOC, specVersion: '1.2' }), 'ERR_SBOM_READ_UNKNOWN_FORMAT'],
  ['not JSON', () => enc('{"spdxVersion": '), 'ERR_FORMAT_JSON'],
  ['duplicate key', () => enc('{"bomFormat":"CycloneDX","bomFormat":"x"}'), 'ERR_FORMAT_JSON_DUPLICATE_KEY'],
  ['__proto__ key', () => enc('{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"__proto__":{}}]}'), 'ERR_FORMAT_JSON_FORBIDDEN_KEY'],
  ['packages not an array', () => enc({ ...SPDX_DOC, packages: {} }), 'ERR_SBOM_READ_MALFORMED'],
  ['package without a name', () => enc({ ...SPDX_DOC, packages: [{ versionInfo: '1' }] }), 'ERR_SBOM_READ_MALFORMED'],
  ['version a number', () => enc({ ...CDX_DOC, components: [{ type: 'library', name: 'a', version: 1 }] }), 'ERR_SBOM_READ_MALFORMED'],
  ['invalid purl', () => enc({ ...CDX_DOC, components: [{ type: 'library', name: 'a', purl: 'not-a-purl' }] }), 'ERR_SBOM_READ_MALFORMED'],
  [
    'SHA256 not hex',
    () => enc({ ...SPDX_DOC, files: [{ fileName: 'a', checksums: [{ algorithm: 'SHA256', checksumValue: 'zz' }] }] }),
    'ERR_SBOM_READ_MALFORMED',
  ],
  [
    'too many components',
    () => enc({ bomFormat: 'CycloneDX', specVersion: '1.6', components: Array.from({ length: 200_001 }, () => ({ type: 'library', name: 'a' })) }),
    'ERR_LIMIT_COUNT',
  ],
];

for (const [what, input, code] of rows) {
  test(`refused: ${what} → ${code}`, () => {
    assertCode(() => readSbomComponents(input()), code);
  });
}

test('the file cap of the reader has its own name: SBOM_READ_MAX_FILES (1,000,000), not the SBOM_MAX_FILES of collect (100,000)', () => {
  assert.equal(SBOM_READ_MAX_FILES, 1_000_000);
  assert.equal(SBOM_MAX_FILES, 100_000);
  assert.equal('SBOM_MAX_FILES' in sbomRead, false, 'one exported name, one meaning');
});
