/**
 * SHA256SUMS (attest/sums): the coreutils line formats byte for byte, the reading rules of `sha256sum -c`
 * (digest.c split_3), refusals of names that cannot round-trip, hostile input, and DSSE-signed sums.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SHA256SUMS_PAYLOAD_TYPE,
  SUMS_MAX_BYTES,
  SUMS_MAX_LINES,
  SUMS_MAX_LINE_BYTES,
  SUMS_MAX_NAME_BYTES,
  formatSums,
  formatSumsLine,
  keysFromPublicKeys,
  parseSums,
  signEnvelope,
  verdictName,
  verifySignedSums,
  type SumsEntry,
} from '../../src/attest/index.ts';
import { assertCode } from '../support/assert.ts';
import { key, NOW } from '../support/fixtures.ts';

const H = 'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb'; // sha256("a")
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const text = (u: Uint8Array): string => Buffer.from(u).toString('utf8');
const entry = (name: string, mode: SumsEntry['mode'] = 'text'): SumsEntry => ({ name: b(name), sha256: H, mode });

test('lines are written exactly as sha256sum, sha256sum -b and sha256sum --tag write them', () => {
  assert.equal(text(formatSumsLine(entry('a b'))), `${H}  a b\n`);
  assert.equal(text(formatSumsLine(entry('a b', 'binary'))), `${H} *a b\n`);
  assert.equal(text(formatSumsLine(entry('a b', 'tagged'))), `SHA256 (a b) = ${H}\n`);
  // Backslash, LF and CR are escaped and the line gets a leading backslash; UTF-8 and other bytes stay raw.
  assert.equal(text(formatSumsLine(entry('back\\slash'))), `\\${H}  back\\\\slash\n`);
  assert.equal(text(formatSumsLine(entry('new\nline', 'binary'))), `\\${H} *new\\nline\n`);
  assert.equal(text(formatSumsLine(entry('cr\rx', 'tagged'))), `\\SHA256 (cr\\rx) = ${H}\n`);
  assert.equal(text(formatSumsLine(entry('ünï\t'))), `${H}  ünï\t\n`);
  assert.equal(text(formatSums([entry('x'), entry('y')])), `${H}  x\n${H}  y\n`);
});

test('every written line reads back as the same name, digest and mode', () => {
  const names = ['a b', ' lead', 'trail ', '*star', '#hash', 'back\\slash', 'new\nline', 'cr\rx', '\\', 'p)a(r = x', 'ünï', 'SHA256 (x) = y'];
  for (const mode of ['text', 'binary', 'tagged'] as const) {
    for (const name of names) {
      const parsed = parseSums(formatSumsLine(entry(name, mode)));
      assert.deepEqual(parsed.malformed, [], `${mode} ${JSON.stringify(name)}`);
      assert.equal(parsed.entries.length, 1);
      assert.equal(text(parsed.entries[0]!.name), name);
      assert.equal(parsed.entries[0]!.mode, mode);
      assert.equal(parsed.entries[0]!.sha256, H);
    }
  }
});

test('names that would not read back are refused on create: ERR_SUMS_NAME_UNREPRESENTABLE', () => {
  assertCode(() => formatSumsLine(entry('')), 'ERR_SUMS_NAME_UNREPRESENTABLE', 'UsageError');
  assertCode(() => formatSumsLine(entry('-')), 'ERR_SUMS_NAME_UNREPRESENTABLE');
  assertCode(() => formatSumsLine(entry('x'.repeat(SUMS_MAX_NAME_BYTES + 1))), 'ERR_SUMS_NAME_UNREPRESENTABLE');
  assertCode(() => formatSumsLine({ name: Uint8Array.from([0x61, 0, 0x62]), sha256: H, mode: 'text' }), 'ERR_SUMS_NAME_UNREPRESENTABLE');
  assertCode(() => formatSumsLine({ name: b('x'), sha256: H.toUpperCase(), mode: 'text' }), 'ERR_FORMAT_HEX');
  // At the cap, every byte escaped, the line still fits the read cap.
  const worst = formatSumsLine(entry('\\'.repeat(SUMS_MAX_NAME_BYTES), 'tagged'));
  assert.ok(worst.length <= SUMS_MAX_LINE_BYTES);
});

test('reading follows sha256sum -c: comments, blank lines, CRLF, blanks, hex case, OpenSSL tags', () => {
  const file = [
    '# a comment',
    '',
    `${H}  plain`,
    `${H.toUpperCase()} *upper`,
    `  \t${H}  indented`,
    `${H}  crlf\r`,
    `SHA256(openssl)= ${H}`,
    `SHA256 (bsd)=${H}`,
    `\\SHA256 (esc\\\\aped) = ${H}`,
    '',
  ].join('\n');
  const p = parseSums(b(file));
  assert.deepEqual(p.malformed, []);
  assert.deepEqual(
    p.entries.map((e) => [text(e.name), e.mode, e.sha256, e.line]),
    [
      ['plain', 'text', H, 3],
      ['upper', 'binary', H, 4],
      ['indented', 'text', H, 5],
      ['crlf', 'text', H, 6],
      ['openssl', 'tagged', H, 7],
      ['bsd', 'tagged', H, 8],
      ['esc\\aped', 'tagged', H, 9],
    ],
  );
});

test('improperly formatted lines are counted like coreutils; strict mode refuses with ERR_SUMS_LINE_MALFORMED', () => {
  const bad = [
    'not a checksum line',
    `${H.slice(0, 63)}g  badhex`, // invalid hex
    `${H}0  longhex`, // 65 digits
    `${H}`, // no name
    `\\${H}  bad\\xescape`, // only \\, \n and \r may be escaped
    `\\${H}  trailing\\`,
    `SHA256 (noclose = ${H}`,
  ];
  const p = parseSums(b([`${H}  good`, ...bad].join('\n')));
  assert.equal(p.entries.length, 1);
  assert.deepEqual(p.malformed, [2, 3, 4, 5, 6, 7, 8]);
  assertCode(() => parseSums(b(`${H}  good\n${bad[1]}\n`), { strict: true }), 'ERR_SUMS_LINE_MALFORMED', 'FormatError');
});

test('the reversed BSD form "<hex> NAME" is read only while no standard line came first (coreutils bsd_reversed)', () => {
  const rev = parseSums(b(`${H} first\n${H}  second\n`));
  // Once reversed, a later "  second" line's name keeps its leading blank.
  assert.deepEqual(
    rev.entries.map((e) => text(e.name)),
    ['first', ' second'],
  );
  const std = parseSums(b(`${H}  first\n${H} second\n`));
  assert.deepEqual(std.entries.map((e) => text(e.name)), ['first']);
  assert.deepEqual(std.malformed, [2]);
});

test('hostile input: over the byte cap, an overlong line, too many lines, a NUL byte — each a coded refusal', () => {
  assertCode(() => parseSums(new Uint8Array(SUMS_MAX_BYTES + 1)), 'ERR_LIMIT_SIZE', 'LimitError');
  assertCode(() => parseSums(b(`${H}  ${'n'.repeat(SUMS_MAX_LINE_BYTES)}\n`)), 'ERR_LIMIT_SIZE');
  assertCode(() => parseSums(new Uint8Array(SUMS_MAX_LINES + 1).fill(0x0a)), 'ERR_LIMIT_COUNT', 'LimitError');
  assertCode(() => parseSums(b(`${H}  a\u0000b\n`)), 'ERR_SUMS_NUL_BYTE', 'FormatError');
  // Exactly at the line count cap is fine.
  assert.equal(parseSums(new Uint8Array(SUMS_MAX_LINES).fill(0x0a)).entries.length, 0);
});

test('verdict names are escaped as coreutils print_filename (2025, before 9.11) does', () => {
  assert.equal(verdictName(b('a b')), 'a b');
  assert.equal(verdictName(b('new\nline')), '\\new\\nline');
  assert.equal(verdictName(b('back\\slash')), '\\back\\\\slash');
  assert.equal(verdictName(b('cr\rx')), '\\cr\\rx');
});

test('signed sums: the envelope must verify over exactly the file bytes before they are used', () => {
  const a = key('sums-a');
  const c = key('sums-c');
  const file = formatSums([entry('app.psp')]);
  const env = signEnvelope(SHA256SUMS_PAYLOAD_TYPE, file, [a]);
  const v = verifySignedSums(env, file, keysFromPublicKeys([a.publicKey]), NOW);
  assert.deepEqual(Buffer.from(v.payload), Buffer.from(file));
  // Tampered file: the envelope signs other bytes.
  const tampered = formatSums([{ ...entry('app.psp'), sha256: '0'.repeat(64) }]);
  assertCode(() => verifySignedSums(env, tampered, keysFromPublicKeys([a.publicKey]), NOW), 'ERR_SUMS_PAYLOAD_MISMATCH', 'VerificationError');
  // Wrong key; a threshold of 2 with one signature; then two distinct keys meet it.
  assertCode(() => verifySignedSums(env, file, keysFromPublicKeys([c.publicKey]), NOW), 'ERR_DSSE_THRESHOLD_UNMET');
  assertCode(() => verifySignedSums(env, file, keysFromPublicKeys([a.publicKey, c.publicKey], 2), NOW), 'ERR_DSSE_THRESHOLD_UNMET');
  const both = signEnvelope(SHA256SUMS_PAYLOAD_TYPE, file, [a, c]);
  assert.equal(verifySignedSums(both, file, keysFromPublicKeys([a.publicKey, c.publicKey], 2), NOW).result.valid.length, 2);
  // The same key twice is one key.
  const twice = { ...env, signatures: [env.signatures[0]!, { ...env.signatures[0]!, keyid: 'other' }] };
  assertCode(() => verifySignedSums(twice, file, keysFromPublicKeys([a.publicKey, c.publicKey], 2), NOW), 'ERR_DSSE_THRESHOLD_UNMET');
  // An envelope of another payload type (an in-toto statement over the same bytes) is refused.
  const other = signEnvelope('application/vnd.in-toto+json', file, [a]);
  assertCode(() => verifySignedSums(other, file, keysFromPublicKeys([a.publicKey]), NOW), 'ERR_DSSE_PAYLOAD_TYPE');
});
