/**
 * vuln/scan's evaluation: the OSV schema's IsVulnerable algorithm over npm SemVer (introduced "0", fixed,
 * last_affected, limit, several intervals, pre-releases), the generic ECOSYSTEM ordering, and purl → OSV names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePurl } from '../../src/sbom/purl.ts';
import { purlToOsv, releaseMatches } from '../../src/vuln/ecosystem.ts';
import type { OsvEvent } from '../../src/vuln/osv.ts';
import { isAffected, severityRank } from '../../src/vuln/scan.ts';
import { compareDpkg, compareGeneric } from '../../src/vuln/version.ts';

const npm = (events: OsvEvent[], type: 'SEMVER' | 'ECOSYSTEM' = 'ECOSYSTEM', versions: string[] = []) => ({
  ecosystem: 'npm',
  versions,
  ranges: [{ type, events }],
});

function affected(v: string, a: ReturnType<typeof npm>): boolean {
  return isAffected(v, a) !== undefined;
}

test('introduced "0" + fixed: everything below the fix, the fix reported', () => {
  const a = npm([{ introduced: '0' }, { fixed: '4.17.21' }]);
  for (const v of ['0.0.1', '1.0.0', '4.17.20', '4.17.21-rc.1']) assert.equal(affected(v, a), true, v);
  for (const v of ['4.17.21', '4.17.22', '5.0.0']) assert.equal(affected(v, a), false, v);
  assert.deepEqual(isAffected('4.17.20', a), { fixed: '4.17.21' });
});

test('last_affected is inclusive, fixed is exclusive', () => {
  const la = npm([{ introduced: '1.0.0' }, { last_affected: '1.3.0' }], 'SEMVER');
  assert.equal(affected('0.9.9', la), false);
  assert.equal(affected('1.0.0', la), true);
  assert.equal(affected('1.3.0', la), true);
  assert.equal(affected('1.3.1', la), false);
  assert.deepEqual(isAffected('1.3.0', la), {}, 'no fixed version to report');
  const fx = npm([{ introduced: '1.0.0' }, { fixed: '1.3.0' }], 'SEMVER');
  assert.equal(affected('1.3.0', fx), false);
  assert.equal(affected('1.2.99', fx), true);
});

test('limit: only versions below some limit can be affected; "*" is infinity', () => {
  const lim = npm([{ introduced: '0' }, { limit: '2.0.0' }], 'SEMVER');
  assert.equal(affected('1.9.9', lim), true);
  assert.equal(affected('2.0.0', lim), false);
  assert.equal(affected('3.0.0', lim), false);
  const star = npm([{ introduced: '1.0.0' }, { limit: '*' }], 'SEMVER');
  assert.equal(affected('99.0.0', star), true);
  assert.equal(affected('0.5.0', star), false);
});

test('several intervals in one range, events unsorted in the record', () => {
  const a = npm([{ fixed: '3.2.5' }, { introduced: '3.0.0' }, { fixed: '1.0.2' }, { introduced: '1.0.0' }], 'SEMVER');
  const rows: Array<[string, boolean, string?]> = [
    ['0.9.0', false],
    ['1.0.0', true, '1.0.2'],
    ['1.0.1', true, '1.0.2'],
    ['1.0.2', false],
    ['2.5.0', false],
    ['3.0.0', true, '3.2.5'],
    ['3.2.4', true, '3.2.5'],
    ['3.2.5', false],
  ];
  for (const [v, want, fixed] of rows) {
    const r = isAffected(v, a);
    assert.equal(r !== undefined, want, v);
    if (fixed) assert.equal(r?.fixed, fixed, v);
  }
});

test('versions[] matches exactly, whatever the ranges say', () => {
  const a = npm([{ introduced: '5.0.0' }], 'SEMVER', ['1.2.3']);
  assert.equal(affected('1.2.3', a), true);
  assert.equal(affected('1.2.4', a), false);
});

test('a version that is not SemVer cannot be evaluated by a SEMVER range: skipped and reported, not guessed', () => {
  const unevaluable: string[] = [];
  assert.equal(isAffected('not-a-version', npm([{ introduced: '0' }], 'SEMVER'), unevaluable), undefined);
  assert.deepEqual(unevaluable, ['SEMVER']);
});

test('generic ECOSYSTEM ordering: numbers numerically, pre-releases below releases, post-releases above', () => {
  const ordered = ['0.9', '1.0~rc1', '1.0.0a1', '1.0.0b2', '1.0.0rc1', '1.0', '1.0.1', '1.0.1.post1', '1.2', '1.10', '2.0.0-alpha', '2.0.0', '10.0'];
  for (let i = 0; i + 1 < ordered.length; i++) {
    assert.ok(compareGeneric(ordered[i]!, ordered[i + 1]!)! < 0, `${ordered[i]} < ${ordered[i + 1]}`);
    assert.ok(compareGeneric(ordered[i + 1]!, ordered[i]!)! > 0, `${ordered[i + 1]} > ${ordered[i]}`);
  }
  assert.equal(compareGeneric('1.0.0', '1.0.0'), 0);
  assert.equal(compareGeneric('01.2', '1.2'), 0);
  assert.equal(compareGeneric('1.0', '1.0.0'), 0);
  const pypi = { ecosystem: 'PyPI', versions: [], ranges: [{ type: 'ECOSYSTEM' as const, events: [{ introduced: '0' }, { fixed: '2.20.0' }] }] };
  assert.deepEqual(isAffected('2.19.1', pypi), { fixed: '2.20.0' });
  assert.equal(isAffected('2.20.0', pypi), undefined);
});

test('Debian ECOSYSTEM ranges use dpkg ordering (Debian Policy §5.6.12): epochs, tildes, revisions', () => {
  const ordered = ['0.9', '1.0~rc1', '1.0', '1.0-1', '1.0-1ubuntu1', '1.0-2', '1.0a', '1.0+b1', '1.0.1', '3.0.10-1', '3.0.11-1~deb12u1', '3.0.11-1', '1:0.1'];
  for (let i = 0; i + 1 < ordered.length; i++) {
    assert.ok(compareDpkg(ordered[i]!, ordered[i + 1]!)! < 0, `${ordered[i]} < ${ordered[i + 1]}`);
    assert.ok(compareDpkg(ordered[i + 1]!, ordered[i]!)! > 0, `${ordered[i + 1]} > ${ordered[i]}`);
  }
  assert.equal(compareDpkg('1.0-0', '1.0'), 0);
  assert.equal(compareDpkg('0:1.2', '1.2'), 0);
  assert.equal(compareDpkg('1.002', '1.2'), 0);
  const deb = { ecosystem: 'Debian:12', versions: [], ranges: [{ type: 'ECOSYSTEM' as const, events: [{ introduced: '0' }, { fixed: '3.0.11-1~deb12u2' }] }] };
  assert.deepEqual(isAffected('3.0.11-1~deb12u1', deb), { fixed: '3.0.11-1~deb12u2' });
  assert.equal(isAffected('3.0.11-1', deb), undefined, '-1 sorts after -1~deb12u2');
});

test('purl → OSV ecosystem and name, per ecosystem', () => {
  const rows: Array<[string, string, string, string | undefined]> = [
    ['pkg:npm/%40angular/core@1.2.3', 'npm', '@angular/core', '1.2.3'],
    ['pkg:pypi/Django_Rest.Framework@3.0', 'PyPI', 'django-rest-framework', '3.0'],
    ['pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1', 'Maven', 'org.apache.logging.log4j:log4j-core', '2.14.1'],
    ['pkg:golang/github.com/foo/bar@v1.2.3', 'Go', 'github.com/foo/bar', '1.2.3'],
    ['pkg:cargo/smallvec@1.6.0', 'crates.io', 'smallvec', '1.6.0'],
    ['pkg:gem/rails@6.1.0', 'RubyGems', 'rails', '6.1.0'],
    ['pkg:nuget/Newtonsoft.Json@12.0.1', 'NuGet', 'newtonsoft.json', '12.0.1'],
    ['pkg:deb/debian/openssl@3.0.11-1?distro=debian-12', 'Debian', 'openssl', '3.0.11-1'],
    ['pkg:apk/alpine/busybox@1.36.1-r2?distro=alpine-3.18.4', 'Alpine', 'busybox', '1.36.1-r2'],
  ];
  for (const [purl, eco, name, version] of rows) {
    const r = purlToOsv(parsePurl(purl));
    assert.ok(r, purl);
    assert.deepEqual([r.ecosystem, r.name, r.version], [eco, name, version], purl);
  }
  assert.equal(purlToOsv(parsePurl('pkg:generic/thing@1.0')), undefined);
  assert.equal(releaseMatches('Debian:12', 'debian-12'), true);
  assert.equal(releaseMatches('Debian:11', 'debian-12'), false);
  assert.equal(releaseMatches('Alpine:v3.18', 'alpine-3.18.4'), true);
  assert.equal(releaseMatches('Alpine:v3.1', 'alpine-3.18.4'), false);
  assert.equal(releaseMatches('Debian:12', undefined), true);
  assert.equal(releaseMatches('npm', 'anything'), true);
});

test('Debian and Ubuntu codenames in the distro qualifier stand for their release numbers', () => {
  const yes: Array<[string, string]> = [
    ['Debian:12', 'bookworm'],
    ['Debian:12', 'debian-bookworm'],
    ['Debian:12', 'Bookworm'],
    ['Debian:12', 'debian-12'],
    ['Debian:12', '12'],
    ['Debian:11', 'bullseye'],
    ['Debian:10', 'buster'],
    ['Debian:13', 'trixie'],
    ['Debian:14', 'forky'],
    ['Debian:bookworm', 'debian-12'],
    ['Ubuntu:22.04:LTS', 'jammy'],
    ['Ubuntu:22.04:LTS', 'ubuntu-22.04'],
    ['Ubuntu:Pro:20.04:LTS', 'focal'],
    ['Ubuntu:24.04:LTS', 'noble'],
    ['Ubuntu:20.04', 'focal'],
  ];
  for (const [eco, distro] of yes) assert.equal(releaseMatches(eco, distro), true, `${eco} ~ ${distro}`);
  const no: Array<[string, string]> = [
    ['Debian:11', 'bookworm'],
    ['Debian:12', 'bullseye'],
    ['Debian:12', 'debian-11'],
    ['Debian:13', '12'],
    ['Ubuntu:22.04:LTS', 'noble'],
    ['Ubuntu:24.04:LTS', 'ubuntu-22.04'],
  ];
  for (const [eco, distro] of no) assert.equal(releaseMatches(eco, distro), false, `${eco} !~ ${distro}`);
});

test('severityRank orders none < low < medium < high < critical < unknown (a gate fails closed on unknown)', () => {
  const order = ['none', 'low', 'medium', 'high', 'critical', 'unknown'] as const;
  for (let i = 0; i + 1 < order.length; i++) assert.ok(severityRank(order[i]!) < severityRank(order[i + 1]!));
});
