/**
 * vuln/cvss: CVSS v3.x base scores from vectors whose scores are published (NVD entries named per row, the CVSS
 * v3.1 specification's Appendix A rounding), the qualitative ratings of §5, and malformed vectors refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cvssRating, roundup31, scoreCvss3 } from '../../src/vuln/cvss.ts';

// [vector, base score, source of the published score]
const VECTORS: Array<[string, number, string]> = [
  ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'NVD, e.g. CVE-2014-6271 (Shellshock)'],
  ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0, 'NVD CVE-2021-44228 (Log4Shell)'],
  ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 7.5, 'NVD CVE-2014-0160 (Heartbleed)'],
  ['CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H', 7.2, 'NVD CVE-2021-23337 (lodash template)'],
  ['CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:C/C:H/I:N/A:N', 5.6, 'NVD CVE-2017-5753 (Spectre v1)'],
  ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1, 'NVD: the common reflected-XSS vector'],
  ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8, 'NVD: the common local privilege-escalation vector'],
  ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N', 6.8, 'the OSV schema severity example, FIRST calculator'],
  ['CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N', 1.6, 'FIRST calculator'],
  ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0.0, 'no impact is 0.0 by §7.1'],
  ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0, 'CVSS v3.0 vector, v3.0 roundup'],
  ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'NVD v3.0 entries, e.g. CVE-2017-5638 (Struts)'],
  ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C', 9.8, 'temporal metrics do not change the base score'],
];

for (const [vector, score, source] of VECTORS) {
  test(`${vector} scores ${score.toFixed(1)} (${source})`, () => {
    const r = scoreCvss3(vector);
    assert.ok(r, 'vector parsed');
    assert.equal(r.score, score);
    assert.equal(r.rating, cvssRating(score));
  });
}

test('CVSS v3.1 §5 ratings at every boundary', () => {
  const rows: Array<[number, string]> = [[0, 'none'], [0.1, 'low'], [3.9, 'low'], [4.0, 'medium'], [6.9, 'medium'], [7.0, 'high'], [8.9, 'high'], [9.0, 'critical'], [10, 'critical']];
  for (const [s, r] of rows) assert.equal(cvssRating(s), r, String(s));
});

test('Appendix A Roundup: floating-point noise does not round up, anything above does', () => {
  assert.equal(roundup31(4.000000000000001), 4.0);
  assert.equal(roundup31(4.0), 4.0);
  assert.equal(roundup31(4.02), 4.1);
  assert.equal(roundup31(4.00001), 4.1);
});

test('malformed vectors give undefined, never a score', () => {
  for (const v of [
    'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H', // A missing
    'CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', // repeated
    'CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', // value out of set
    'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:Q', // unknown metric
    'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
    'AV:N/AC:L/Au:N/C:P/I:P/A:P', // CVSS v2
    '',
    'CVSS:3.1/' + 'AV:N/'.repeat(100),
  ]) {
    assert.equal(scoreCvss3(v), undefined, v);
  }
});
