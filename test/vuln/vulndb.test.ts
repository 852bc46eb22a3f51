/**
 * vulndb import and scan, through the CLI: the OSV fixtures (test/fixtures/osv) imported from a directory and from a
 * ZIP built here, the unknown-range-type warning, atomic imports (a refused import leaves the database byte for byte
 * as it was, a refused first import leaves no file), and `custody scan` exit codes 0 / 1 / 2 on a real process.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readSbomComponents } from '../../src/sbom/read.ts';
import { defaultVulnDbPath, importOsv, openVulnDb, scanComponents } from '../../src/vuln/index.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { buildZip } from '../support/zip.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/osv/', import.meta.url));
const fixtureFiles = (): string[] => readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

function spdx(packages: Array<[string, string]>): string {
  return JSON.stringify({
    spdxVersion: 'SPDX-2.3',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: 't',
    packages: packages.map(([name, purl], i) => ({
      SPDXID: `SPDXRef-${i}`,
      name,
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl }],
    })),
  });
}

const VULNERABLE: Array<[string, string]> = [
  ['lodash', 'pkg:npm/lodash@4.17.20'],
  ['left-pad', 'pkg:npm/left-pad@1.3.0'],
  ['requests', 'pkg:pypi/requests@2.19.0'],
  ['gitonly', 'pkg:golang/github.com/example/gitonly@v1.0.0'],
  ['limited', 'pkg:npm/%40scope/limited@1.5.0'],
];
const CLEAN: Array<[string, string]> = [
  ['lodash', 'pkg:npm/lodash@4.17.21'],
  ['left-pad', 'pkg:npm/left-pad@1.3.1'],
  ['requests', 'pkg:pypi/requests@2.20.0'],
  ['gitonly', 'pkg:golang/github.com/example/gitonly@v1.0.1'],
  ['limited', 'pkg:npm/%40scope/limited@2.0.0'],
];

test('import a directory: every fixture read, the unknown range type warned about and counted, the withdrawn kept', async (t) => {
  const d = tmpDir(t);
  const r = await cli(['vulndb', 'import', FIXTURES, '--db', 'db/v.sqlite', '--json'], { cwd: d });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(out.files, fixtureFiles().length);
  assert.equal(out.imported, fixtureFiles().length);
  assert.equal(out.withdrawn, 1);
  assert.equal(out.git_ranges, 2);
  assert.deepEqual(out.unknown_range_types, { BISECT: 1 });
  assert.match(r.stderr, /custody: warning: PYSEC-unknown-range\.json: range type "BISECT" is unknown; that range was ignored/);
  assert.match(r.stderr, /1 range of unknown type ignored \(BISECT: 1\)/);
  const db = openVulnDb(join(d, 'db/v.sqlite'));
  t.after(() => db.close());
  assert.deepEqual(db.stats(), { records: 6, packages: 6 });
});

test('import a ZIP as osv.dev exports it: the same records; importing again changes nothing', async (t) => {
  const d = tmpDir(t);
  writeFileSync(join(d, 'all.zip'), buildZip(fixtureFiles().map((f) => ({ name: f, data: readFileSync(join(FIXTURES, f)) }))));
  const r = await cli(['vulndb', 'import', 'all.zip', '--db', 'v.sqlite'], { cwd: d });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^imported 6 records from 6 files into /);
  const again = await importOsv(join(d, 'all.zip'), join(d, 'v.sqlite'));
  assert.equal(again.imported, 6, 'same modified time: replaced (idempotent)');
  const db = openVulnDb(join(d, 'v.sqlite'));
  t.after(() => db.close());
  assert.deepEqual(db.stats(), { records: 6, packages: 6 });
});

test('a record is replaced by a newer one only; an older import leaves it', async (t) => {
  const d = tmpDir(t);
  const rec = (modified: string, fixed: string) => JSON.stringify({
    id: 'OSV-T-1',
    modified,
    affected: [{ package: { ecosystem: 'npm', name: 'x' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed }] }] }],
  });
  mkdirSync(join(d, 'new'));
  mkdirSync(join(d, 'old'));
  writeFileSync(join(d, 'new/r.json'), rec('2026-05-01T00:00:00Z', '2.0.0'));
  writeFileSync(join(d, 'old/r.json'), rec('2025-01-01T00:00:00Z', '1.0.0'));
  await importOsv(join(d, 'new'), join(d, 'v.sqlite'));
  const s = await importOsv(join(d, 'old'), join(d, 'v.sqlite'));
  assert.deepEqual([s.imported, s.unchanged], [0, 1]);
  const db = openVulnDb(join(d, 'v.sqlite'));
  t.after(() => db.close());
  assert.equal(scanComponents(db, [{ name: 'x', purl: 'pkg:npm/x@1.5.0' }]).findings[0]?.fixed, '2.0.0');
});

test('scan: findings for every rule of the fixtures, severities from CVSS v3 and GHSA, exit 1 with ERR_VULN_FOUND', async (t) => {
  const d = tmpDir(t);
  await importOsv(FIXTURES, join(d, 'v.sqlite'));
  writeFileSync(join(d, 'bad.spdx.json'), spdx(VULNERABLE));
  const r = await cli(['scan', 'bad.spdx.json', '--db', 'v.sqlite'], { cwd: d });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /custody: error: 5 findings in 5 components, highest severity unknown \[ERR_VULN_FOUND\]/);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'OSV-2026-0002  unknown  pkg:golang/github.com/example/gitonly@v1.0.0  no fixed version',
    'OSV-2026-0003  critical 10.0  pkg:npm/%40scope/limited@1.5.0  no fixed version',
    'GHSA-test-v4v4-0001  medium  pkg:npm/left-pad@1.3.0  no fixed version',
    'GHSA-35jh-r3h4-6jhm  high 7.2  pkg:npm/lodash@4.17.20  fixed in 4.17.21 (CVE-2021-23337)',
    'PYSEC-2026-0001  unknown  pkg:pypi/requests@2.19.0  fixed in 2.20.0 (CVE-2026-0001)',
  ]);
  const j = await cli(['scan', 'bad.spdx.json', '--db', 'v.sqlite', '--json'], { cwd: d });
  assert.equal(j.code, 1);
  const o = JSON.parse(j.stdout) as { ok: boolean; code: string; details: { findings: Array<Record<string, unknown>>; max_severity: string } };
  assert.equal(o.ok, false);
  assert.equal(o.code, 'ERR_VULN_FOUND');
  assert.equal(o.details.max_severity, 'unknown', 'unknown ranks above critical (fails closed)');
  assert.deepEqual(o.details.findings.find((f) => f.id === 'GHSA-35jh-r3h4-6jhm'), {
    id: 'GHSA-35jh-r3h4-6jhm',
    aliases: ['CVE-2021-23337'],
    purl: 'pkg:npm/lodash@4.17.20',
    name: 'lodash',
    version: '4.17.20',
    severity: 'high',
    score: 7.2,
    fixed: '4.17.21',
  });
});

test('scan: a clean SBOM (every version just past the ranges) exits 0; components that cannot be matched are warned about', async (t) => {
  const d = tmpDir(t);
  await importOsv(FIXTURES, join(d, 'v.sqlite'));
  writeFileSync(join(d, 'ok.spdx.json'), spdx(CLEAN));
  const r = await cli(['scan', 'ok.spdx.json', '--db', 'v.sqlite', '--json'], { cwd: d });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, components: 5, findings: [], max_severity: 'none' });
  writeFileSync(join(d, 'odd.cdx.json'), JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', components: [{ type: 'library', name: 'nopurl' }, { type: 'library', name: 'g', purl: 'pkg:generic/g@1' }] }));
  const w = await cli(['scan', 'odd.cdx.json', '--db', 'v.sqlite'], { cwd: d });
  assert.equal(w.code, 0);
  assert.match(w.stderr, /component "nopurl" has no purl; not matched/);
  assert.match(w.stderr, /purl type of pkg:generic\/g@1 has no OSV ecosystem/);
});

test('scan exit codes on a real process: 0 clean, 1 findings, 2 usage and missing database', async (t) => {
  const d = tmpDir(t);
  await importOsv(FIXTURES, join(d, 'v.sqlite'));
  writeFileSync(join(d, 'bad.json'), spdx(VULNERABLE.slice(0, 1)));
  writeFileSync(join(d, 'ok.json'), spdx(CLEAN.slice(0, 1)));
  const env = { CUSTODY_VULNDB: join(d, 'v.sqlite') };
  assert.equal((await spawnCli(['scan', 'ok.json'], { cwd: d, env })).code, 0);
  const bad = await spawnCli(['scan', 'bad.json'], { cwd: d, env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\[ERR_VULN_FOUND\]/);
  assert.equal((await spawnCli(['scan'], { cwd: d, env })).code, 2);
  const missing = await spawnCli(['scan', 'ok.json', '--db', 'nope.sqlite'], { cwd: d, env });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no vulnerability database at .*nope\.sqlite \[ERR_VULN_DB_MISSING\]/);
  assert.equal(existsSync(join(d, 'nope.sqlite')), false, 'a read-only open creates nothing');
  // A database whose directory is missing too (the default cache path before any import): the same refusal, not an
  // internal error; and verify-attestation's hint names its own option.
  const nodir = await spawnCli(['scan', 'ok.json', '--db', 'nodir/v.sqlite'], { cwd: d, env });
  assert.equal(nodir.code, 2, nodir.stderr);
  assert.match(nodir.stderr, /no vulnerability database at .*nodir\/v\.sqlite \[ERR_VULN_DB_MISSING\]\ncustody: hint: .*--vulndb PATH \(custody verify-attestation\)/);
  assert.equal(existsSync(join(d, 'nodir')), false);
});

test('a refused import leaves the database byte for byte as it was; a refused first import leaves no file', async (t) => {
  const d = tmpDir(t);
  await importOsv(FIXTURES, join(d, 'v.sqlite'));
  const before = sha(join(d, 'v.sqlite'));
  mkdirSync(join(d, 'bad'));
  for (const f of fixtureFiles()) copyFileSync(join(FIXTURES, f), join(d, 'bad', f));
  writeFileSync(join(d, 'bad/zz-new.json'), JSON.stringify({ id: 'NEW-1', modified: '2026-06-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'n' } }] }));
  writeFileSync(join(d, 'bad/zzz-broken.json'), JSON.stringify({ id: 'BROKEN-1', modified: '2026-06-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'b' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0', fixed: '1.0.0' }] }] }] }));
  const r = await cli(['vulndb', 'import', 'bad', '--db', 'v.sqlite'], { cwd: d });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /osv record zzz-broken\.json: .*exactly one of introduced, fixed, last_affected, limit \[ERR_VULN_RECORD_MALFORMED\]/);
  assert.equal(sha(join(d, 'v.sqlite')), before);
  assert.deepEqual(listTree(d).filter((f) => f.startsWith('v.sqlite') || f.startsWith('.v.sqlite')), ['v.sqlite']);

  const fresh = tmpDir(t);
  const r2 = await cli(['vulndb', 'import', join(d, 'bad'), '--db', 'db/new.sqlite'], { cwd: fresh });
  assert.equal(r2.code, 1);
  assert.deepEqual(listTree(fresh), ['db'], 'the directory may be made; no database, journal or temporary file');
});

test('import refusals: oversized record, not JSON, no records, a hostile ZIP, a database of another layout', async (t) => {
  const d = tmpDir(t);
  mkdirSync(join(d, 'big'));
  writeFileSync(join(d, 'big/huge.json'), `{"id":"X","modified":"2026-01-01T00:00:00Z","details":"${'a'.repeat(8 * 1024 * 1024)}"}`);
  await assertRejectsCode(importOsv(join(d, 'big'), join(d, 'a.sqlite')), 'ERR_VULN_RECORD_LIMIT');
  writeFileSync(join(d, 'big.zip'), buildZip([{ name: 'huge.json', data: readFileSync(join(d, 'big/huge.json')) }]));
  await assertRejectsCode(importOsv(join(d, 'big.zip'), join(d, 'a.sqlite'), { zipLimits: { maxRatio: 100_000 } }), 'ERR_VULN_RECORD_LIMIT');
  mkdirSync(join(d, 'notjson'));
  writeFileSync(join(d, 'notjson/r.json'), '{"id": "X", ');
  await assertRejectsCode(importOsv(join(d, 'notjson'), join(d, 'a.sqlite')), 'ERR_VULN_RECORD_MALFORMED');
  mkdirSync(join(d, 'empty'));
  writeFileSync(join(d, 'empty/readme.txt'), 'no records');
  await assertRejectsCode(importOsv(join(d, 'empty'), join(d, 'a.sqlite')), 'ERR_VULN_IMPORT_EMPTY');
  writeFileSync(join(d, 'evil.zip'), buildZip([{ name: '../evil.json', data: '{}' }]));
  const z = await cli(['vulndb', 'import', 'evil.zip', '--db', 'a.sqlite'], { cwd: d });
  assert.equal(z.code, 1);
  assert.match(z.stderr, /\[ERR_ZIP_PATH\]/);
  assert.equal(existsSync(join(d, 'a.sqlite')), false);
  writeFileSync(join(d, 'text.sqlite'), 'this is not a database, but a text file that is long enough to matter '.repeat(20));
  await assertRejectsCode(importOsv(FIXTURES, join(d, 'text.sqlite')), 'ERR_VULN_DB_INVALID');
  assertCode(() => openVulnDb(join(d, 'text.sqlite')), 'ERR_VULN_DB_INVALID');
});

test('the default database path: $CUSTODY_VULNDB, else $XDG_CACHE_HOME/custody, else ~/.cache/custody', () => {
  assert.equal(defaultVulnDbPath({ CUSTODY_VULNDB: '/x/v.db', XDG_CACHE_HOME: '/c' }, '/home/u'), '/x/v.db');
  assert.equal(defaultVulnDbPath({ XDG_CACHE_HOME: '/c' }, '/home/u'), '/c/custody/vulndb.sqlite');
  assert.equal(defaultVulnDbPath({ XDG_CACHE_HOME: 'relative' }, '/home/u'), '/home/u/.cache/custody/vulndb.sqlite');
  assert.equal(defaultVulnDbPath({}, '/home/u'), '/home/u/.cache/custody/vulndb.sqlite');
});

test('library path the policy gate uses: readSbomComponents → openVulnDb → scanComponents, maxSeverity without unknowns', async (t) => {
  const d = tmpDir(t);
  await importOsv(FIXTURES, join(d, 'v.sqlite'));
  const sbom = readSbomComponents(
    new TextEncoder().encode(
      JSON.stringify({
        bomFormat: 'CycloneDX',
        specVersion: '1.5',
        components: [
          { type: 'library', name: 'lodash', version: '4.17.20', purl: 'pkg:npm/lodash@4.17.20' },
          { type: 'library', name: 'left-pad', version: '1.2.0', purl: 'pkg:npm/left-pad@1.2.0' },
        ],
      }),
    ),
  );
  const db = openVulnDb(join(d, 'v.sqlite'));
  t.after(() => db.close());
  const warnings: string[] = [];
  const r = scanComponents(db, sbom.components, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(
    r.findings.map((f) => [f.id, f.severity, f.score ?? null]),
    [
      ['GHSA-test-v4v4-0001', 'medium', null],
      ['GHSA-35jh-r3h4-6jhm', 'high', 7.2],
    ],
  );
  assert.equal(r.maxSeverity, 'high');
  assert.deepEqual(warnings, []);
  assert.deepEqual(scanComponents(db, []), { findings: [], maxSeverity: 'none' });
});

test('a version a matching range cannot order (npm "1.2", not SemVer) is an undecided finding of severity unknown, not a pass', async (t) => {
  const d = tmpDir(t);
  await importOsv(FIXTURES, join(d, 'v.sqlite'));
  const db = openVulnDb(join(d, 'v.sqlite'));
  t.after(() => db.close());
  const warnings: string[] = [];
  const r = scanComponents(db, [{ name: 'lodash', purl: 'pkg:npm/lodash@1.2' }], { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(r.findings, [
    {
      id: 'GHSA-35jh-r3h4-6jhm',
      aliases: ['CVE-2021-23337'],
      purl: 'pkg:npm/lodash@1.2',
      name: 'lodash',
      version: '1.2',
      severity: 'unknown',
      undecided: true,
      note: 'a ECOSYSTEM range cannot order version 1.2; affected or not is undecided',
    },
  ]);
  assert.equal(r.maxSeverity, 'unknown', 'a gate on max severity fails closed');
  assert.deepEqual(warnings, ['GHSA-35jh-r3h4-6jhm: a ECOSYSTEM range cannot order version "1.2" of pkg:npm/lodash@1.2; reported as undecided (severity unknown)']);
  // A version the range decides is not undecided: 4.17.21 is past the fix, no finding at all.
  assert.deepEqual(scanComponents(db, [{ name: 'lodash', purl: 'pkg:npm/lodash@4.17.21' }]).findings, []);

  writeFileSync(join(d, 'odd.spdx.json'), spdx([['lodash', 'pkg:npm/lodash@1.2']]));
  const c = await cli(['scan', 'odd.spdx.json', '--db', 'v.sqlite'], { cwd: d });
  assert.equal(c.code, 1, 'the CLI exits 1, not 0 "no known vulnerabilities"');
  assert.match(c.stderr, /custody: error: 1 finding in 1 component, highest severity unknown \[ERR_VULN_FOUND\]/);
  assert.equal(c.stdout.trim(), 'GHSA-35jh-r3h4-6jhm  unknown  pkg:npm/lodash@1.2  undecided: a ECOSYSTEM range cannot order version 1.2; affected or not is undecided (CVE-2021-23337)');
});
